"""One outer update of each training algorithm, one class each: MAML and FO-MAML (`MamlStep`; first-order is one
flag), Reptile, the sinusoid baseline pretrained on all tasks jointly, and the Omniglot transfer baseline.

Every class draws its tasks from the run's generator, updates the parameters in place and returns a `StepLog`;
`STEPS` maps `TrainConfig.algo` to its class. The `Trainer` (maml_core.training) owns everything around the step:
weights, optimiser, schedules, validation, history and checkpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from .adam import Adam
from .algorithm import (
    LEARNED,
    InnerLR,
    adapt,
    adapt_and_measure,
    meta_loss_and_grad,
    query_loss_at_start,
    support_output,
)
from .config import TrainConfig
from .evaluation import task_sampler
from .heads import at_chance, shared_gradient
from .models import call
from .omniglot import DRAWINGS, OmniglotData, class_images, random_affine
from .tasks import Episode, SinusoidTasks, tasks_from_draw

Params = dict[str, Tensor]
log = logging.getLogger(__name__)


_INDUCTOR = {
    "cpp_wrapper": True,  # kernels called from generated C++ instead of Python: the same numbers, less overhead
    "cpp.vec_isa_ok": True,  # the CPU's vector ISA as it reports it, without a probe process per ISA in every run
    "cpp_cache_precompile_headers": False,  # a cached kernel needs no header; only a cold compile is slower without
    # A value read by more than one loop is computed once and stored, not recomputed inside each reduction that reads
    # it (the hidden activations inside every product): fewer operations for the same numbers (docs/SPEED.md).
    "realize_reads_threshold": 1,
}


def _compiling():
    """The settings a meta-step variant compiles under: `torch.autograd.grad` traced into the graph (instead of
    breaking it), and static shapes (what `torch.compile(dynamic=False)` would set around every call, at a cost)."""
    import torch._dynamo.config  # imported here: eager training never needs torch._dynamo

    return torch._dynamo.config.patch(trace_autograd_ops=True, automatic_dynamic_shapes=False,
                                      assume_static_by_default=True)


@dataclass(frozen=True)
class StepLog:
    """What one outer update reports."""

    loss: float  # the objective it descended: mean query loss after adaptation (MAML/FO-MAML), the training loss
    # (baselines), or Reptile's loss on each task's points after its inner steps
    query_losses: list[float]  # mean query loss after each inner step 0..S on tracked iterations, else after the
    # last step only; baselines: [loss]
    accuracies: list[float] | None  # query accuracy, as `query_losses` (classification), else None


def head_mode(config: TrainConfig) -> str:
    """How the N-way head is kept during training (`heads`): the configured mode for MAML/FO-MAML on Omniglot;
    every other run learns its head freely."""
    return config.model.head if config.problem == "omniglot" and config.algo in ("maml", "fomaml") else "learned"


def inner_lr_of(config: TrainConfig) -> InnerLR:
    """The inner learning rate a run adapts with: its learned rates (LSLR) or alpha."""
    return LEARNED if config.learn_inner_lr else config.inner_lr


def step_loss_weights(steps: int, iteration: int, anneal_iterations: int) -> torch.Tensor | None:
    """MAML++'s multi-step loss ("MSL", Antoniou et al. 2019, `get_per_step_loss_importance_vector` in
    their code): weights on the query loss after inner steps 1..S, uniform at first and annealed
    linearly to the last step only over `anneal_iterations` (non-final weights keep at least 0.03/S).
    Returns weights for steps 0..S (step 0 gets 0), or None when the multi-step loss is off."""
    if anneal_iterations <= 0 or steps <= 1:
        return None
    w = torch.full((steps,), 1.0 / steps)
    decay = 1.0 / steps / anneal_iterations
    floor = 0.03 / steps
    progress = min(iteration, anneal_iterations)
    w[:-1] = torch.clamp(w[:-1] - progress * decay, min=floor)
    w[-1] = min(1.0 / steps + progress * (steps - 1) * decay, 1.0 - (steps - 1) * floor)
    return torch.cat([torch.zeros(1), w])


def reptile_step_size(config: TrainConfig, iteration: int) -> float:
    """Reptile's epsilon at a 1-based iteration: `outer_step`, linearly annealed towards 0 (the authors' schedule)."""
    return config.outer_step * (1.0 - (iteration - 1) / config.iterations)


COMPILE_MIN_ITERATIONS = 5000  # below this, the cold compilation costs more time than the faster steps save


def compile_pays(config: TrainConfig) -> bool:
    """Whether the CLI compiles the meta-step when neither --compile nor --no-compile is given: sinusoid
    MAML/FO-MAML runs of at least COMPILE_MIN_ITERATIONS iterations, where it was measured to pay (docs/SPEED.md,
    "Compiling the meta-step"). Omniglot has not been measured: eager."""
    return config.problem == "sinusoid" and config.algo in ("maml", "fomaml") and \
        config.iterations >= COMPILE_MIN_ITERATIONS


class Compiled:
    """A function through `torch.compile` (fullgraph), called variant by variant: the first call of each variant (the
    arguments that change what is traced) compiles it. If compilation fails (no C++ compiler, an unsupported
    operation), it logs one warning and returns None from then on, and the caller computes the same thing eagerly.

    With `saved=True` each variant is compiled ahead of time (`torch.compile(...).aot_compile`) and written to the
    compiler's cache folder under a key of everything its graph depends on (`_precompiled_key`); a later process loads
    it instead of tracing it again, and calls it without dynamo's per-call frame evaluation and guards, which the key
    stands in for (docs/SPEED.md). `fn` must then be a module-level function (what a saved one refers to)."""

    def __init__(self, fn: Callable, what: str, saved: bool = False) -> None:
        # fullgraph: a graph break would be slower than eager, so it raises and the caller continues eagerly.
        self.fn: Callable | None = torch.compile(fn, fullgraph=True, options=_INDUCTOR)
        self.what, self.saved = what, saved
        self.compile_seconds = 0.0
        self.variants: dict[tuple, Callable] = {}  # compiled: what to call for each variant

    def __call__(self, variant: tuple, *args):
        if self.fn is None:
            return None
        if (call := self.variants.get(variant)) is not None:  # compiled: called without compile settings (faster)
            return call(*args)
        t0 = time.perf_counter()
        try:
            with _compiling():  # the sinusoid tasks form calls torch.autograd.grad (algorithm.py)
                call = (self._precompiled(args) if self.saved else None) or self.fn
                out = call(*args)
            self.variants[variant] = call
            self.compile_seconds += time.perf_counter() - t0
            return out
        except Exception as e:  # whatever the compiler raises, the eager computation gives the same numbers
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            log.warning("torch.compile could not compile %s (%s: %s); continuing without it", self.what,
                        type(e).__name__, first[:200])
            self.fn = None
            return None

    def _precompiled(self, args: tuple) -> Callable | None:
        """The variant for `args` loaded from the compiler's cache folder, or compiled ahead of time and saved there;
        None where the ahead-of-time path fails (the caller traces it as usual)."""
        try:
            path = _precompiled_folder() / f"{_precompiled_key(self.fn.__wrapped__, args)}.bin"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                self.fn.aot_compile((args, {})).save_compiled_function(str(path))
            # Loaded even right after saving: a first load builds its kernels into the cache, which the next
            # process then finds (a cold run pays it, not the first warm one), and it checks what was saved.
            import torch._inductor.config

            with path.open("rb") as f, torch._inductor.config.patch(_INDUCTOR):  # as compiled (no ISA probes)
                call = torch.compiler.load_compiled_function(f)
        except Exception as e:  # an experimental API (torch 2.13): tracing in this process still works
            log.info("no precompiled %s (%s: %s); tracing it", self.what, type(e).__name__, str(e)[:200])
            return None
        if not call.guard_check(*args):  # (the key describes the arguments, so this would be a bug in it)
            log.warning("the precompiled %s at %s does not fit these arguments; tracing it", self.what, path)
            return None
        call.disable_guard_check()  # the key holds what the guards check: shapes, types, constants, the code
        return call


def _precompiled_folder() -> Path:
    """Where precompiled variants live: beside inductor's own cache (TORCHINDUCTOR_CACHE_DIR), cleared with it."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    return Path(cache_dir()) / "maml_core"


def _precompiled_key(fn: Callable, args: tuple) -> str:
    """A digest of everything a compiled graph of `fn(*args)` depends on: torch, Python, the CPU's vector ISA (as
    inductor's own caches, which hold the kernels it builds for this CPU, tell machines apart), the compile options,
    torch's global state that dynamo guards (threads, grad mode, default dtype, determinism), this package's source,
    and every argument's value or (tensors) shape, dtype and layout."""
    import hashlib
    import platform

    def describe(a) -> object:
        if isinstance(a, Tensor):
            return ("tensor", tuple(a.shape), a.stride(), str(a.dtype), str(a.device), a.requires_grad)
        if isinstance(a, (tuple, list)):
            return tuple(describe(x) for x in a)
        if isinstance(a, nn.Module):
            return ("module", type(a).__qualname__, repr(a))
        return (type(a).__qualname__, repr(a))

    state = (torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype(),  # what dynamo's guards
             torch.are_deterministic_algorithms_enabled())  # check of torch's global state
    h = hashlib.sha256(repr((torch.__version__, platform.python_version(), platform.machine(),
                             torch.backends.cpu.get_cpu_capability(), sorted(_INDUCTOR.items()), state, fn.__module__,
                             fn.__qualname__, describe(args))).encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        h.update(source.read_bytes())
    return h.hexdigest()[:32]


class MetaStep:
    """`meta_loss_and_grad` for one model and inner loop, optionally through `torch.compile` (`Compiled`: eager
    where compilation fails, the same meta-gradient up to float rounding, only slower)."""

    def __init__(self, model: nn.Module, config: TrainConfig, compile: bool) -> None:
        self.model, self.config = model, config
        self.compiled = Compiled(self._eager, "the meta-step") if compile else None

    @property
    def compile_seconds(self) -> float:
        return self.compiled.compile_seconds if self.compiled is not None else 0.0

    def _eager(self, names, values, sx, sy, qx, qy, first_order: bool, track: bool, weights):
        batch = Episode(sx, sy, qx, qy)
        return meta_loss_and_grad(self.model, dict(zip(names, values)), batch, steps=self.config.inner_steps,
                                  inner_lr=inner_lr_of(self.config), first_order=first_order, track_steps=track,
                                  step_weights=weights)

    def __call__(self, params: Params, batch: Episode, first_order: bool, track: bool, weights):
        if _start_apart(self.compiled, self.config, track, weights) and batch.support_y.dtype.is_floating_point:
            loss, grads, logged = self(params, batch, first_order, False, None)
            return loss, grads, _with_start(query_loss_at_start(self.model, params, batch), logged)
        # The weights as a tuple: guarding a tuple of tensors costs less per call than guarding a dict of them.
        args = (tuple(params), tuple(params.values()), batch.support_x, batch.support_y, batch.query_x, batch.query_y,
                first_order, track, weights)
        if self.compiled is not None and (out := self.compiled((first_order, track, weights is None), *args)):
            return out
        return self._eager(*args)


def _start_apart(compiled: Compiled | None, config: TrainConfig, track: bool, weights) -> bool:
    """Whether a tracked iteration measures the start's query loss apart and runs the untracked compiled variant:
    one compiled variant fewer (a second costs a trace in every process). With one inner step the states are the
    start, measured apart, and the adapted weights, which the untracked variant measures."""
    return compiled is not None and compiled.fn is not None and track and weights is None and config.inner_steps == 1


def _with_start(start: Tensor, logged: Tensor) -> Tensor:
    """The logged figures of a tracked one-step iteration from the start's query loss and the untracked ones."""
    curve = torch.stack([start, logged[0, -1]])
    return torch.stack([curve, torch.zeros_like(curve)])


class CompiledDraw:
    """The tasks of an iteration's draw (`tasks_from_draw`) and their meta-gradient (`meta_loss_and_grad`) as one
    compiled graph, saved ahead of time (`Compiled(saved=True)`): the sinusoid MAML/FO-MAML iteration without
    Adam, which stays outside (`Adam.step`: Adam written out inside the graph trained worse initialisations,
    docs/SPEED.md). Returns `MetaStep`'s (loss, grads, logged), or None where compilation failed."""

    def __init__(self, model: nn.Module, config: TrainConfig, sampler: SinusoidTasks, device: torch.device) -> None:
        self.model, self.config = model, config
        self.shape = (config.meta_batch, *sampler.shots())
        self.affine = tuple(t.to(device) for t in sampler.affine(*self.shape))
        self.compiled = Compiled(_draw_meta_gradient, "the meta-step", saved=True)

    def __call__(self, params: Params, draw: Tensor, first_order: bool, track: bool,
                 weights) -> tuple[Tensor, Params, Tensor] | None:
        draw = draw.to(self.affine[0].device)
        start = None
        if _start_apart(self.compiled, self.config, track, weights):
            start = query_loss_at_start(self.model, params, tasks_from_draw(draw, *self.affine, *self.shape))
            track = False
        config = self.config
        out = self.compiled((first_order, track, weights is None), self.model, tuple(params), tuple(params.values()),
                            draw, *self.affine, self.shape, config.inner_steps, inner_lr_of(config), first_order,
                            track, weights)
        if out is None:
            return None
        loss, logged, grads = out
        return loss, dict(zip(params, grads)), logged if start is None else _with_start(start, logged)


def _draw_meta_gradient(model, names, values, draw, scale, offset, shape, steps, inner_lr, first_order: bool,
                        track: bool, weights) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
    """`CompiledDraw`'s graph: the tasks of `draw` and their meta-gradient. Module-level, with everything as
    arguments, so that a precompiled graph can be saved."""
    batch = tasks_from_draw(draw, scale, offset, *shape)
    loss, grads, logged = meta_loss_and_grad(model, dict(zip(names, values)), batch, steps=steps, inner_lr=inner_lr,
                                             first_order=first_order, track_steps=track, step_weights=weights)
    return loss, logged, tuple(grads[k] for k in names)


class AlgorithmStep:
    """One outer update of a training algorithm: `step(params, opt, iteration, track)` draws tasks from `g`,
    updates `params` in place (through `opt` where the algorithm uses it) and returns a `StepLog`. `iteration` is
    1-based; `track` asks for the query loss after every inner step (a forward pass per step)."""

    autograd: ClassVar[bool] = False  # record an autograd graph: the baselines need one, torch.func does not

    def __init__(self, config: TrainConfig, model: nn.Module, splits: dict[str, OmniglotData] | None,
                 g: torch.Generator, device: torch.device, compile: bool = False) -> None:
        self.config, self.model, self.g, self.device = config, model, g, device

    def step(self, params: Params, opt: Adam, iteration: int, track: bool) -> StepLog:
        raise NotImplementedError

    @property
    def compile_seconds(self) -> float:
        """Seconds spent in torch.compile so far (0 where nothing is compiled)."""
        return 0.0


class MamlStep(AlgorithmStep):
    """MAML (second order) and FO-MAML (`config.first_order`, or the first `first_order_iterations` iterations:
    MAML++ "DA"), with MAML++'s multi-step loss and the head kept as `head_mode` says."""

    def __init__(self, config: TrainConfig, model: nn.Module, splits: dict[str, OmniglotData] | None,
                 g: torch.Generator, device: torch.device, compile: bool = False) -> None:
        super().__init__(config, model, splits, g, device)
        self.sampler = task_sampler(config, splits["train"] if splits else None, training=True)
        self.head = head_mode(config)
        self.classify = config.problem == "omniglot"
        # Sinusoid: the tasks and the meta-gradient compiled together (the head's modes are Omniglot's); Omniglot: the
        # meta-gradient.
        whole = compile and isinstance(self.sampler, SinusoidTasks) and self.head == "learned"
        self.draw_step = CompiledDraw(model, config, self.sampler, device) if whole else None
        self.meta_step = MetaStep(model, config, compile and not whole)

    def step(self, params: Params, opt: Adam, iteration: int, track: bool) -> StepLog:
        config = self.config
        first_order = config.first_order or iteration <= config.first_order_iterations
        weights = step_loss_weights(config.inner_steps, iteration, config.multi_step_loss_iterations)
        weights = None if weights is None else weights.to(self.device)
        out = None
        if self.draw_step is not None:
            draw = self.sampler.draw(config.meta_batch, self.g)
            out = self.draw_step(params, draw, first_order, track, weights)
            batch = None if out else self.sampler.from_draw(draw, config.meta_batch).to(self.device)  # the same tasks
        else:
            batch = self.sampler.sample(config.meta_batch, self.g).to(self.device)
        loss, grads, logged = out or self.meta_step(params, batch, first_order, track, weights)
        shared_gradient(grads, self.head)
        opt.step(grads)
        at_chance(params, self.head)
        losses, accuracies = logged.tolist()
        return StepLog(float(loss), losses, accuracies if self.classify else None)

    @property
    def compile_seconds(self) -> float:
        return self.meta_step.compile_seconds + (self.draw_step.compiled.compile_seconds if self.draw_step else 0.0)


class ReptileStep(AlgorithmStep):
    """Reptile (Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms", 2018, Algorithm 2, batched):
    each task's weights phi_i after k = `inner_steps` SGD steps of `inner_lr` on all of its points (Reptile has no
    support/query split), then theta += epsilon * mean_i(phi_i - theta), without the optimiser. Plain SGD inner
    steps, as every method adapts at test time. Logged: the query loss after each inner step on the support set
    alone (tracked iterations), else the loss on the task's points after its k steps."""

    def __init__(self, config: TrainConfig, model: nn.Module, splits: dict[str, OmniglotData] | None,
                 g: torch.Generator, device: torch.device, compile: bool = False) -> None:
        super().__init__(config, model, splits, g, device)
        self.sampler = task_sampler(config, training=True)

    def _phi(self, params: Params, x: Tensor, y: Tensor) -> tuple[Params, Tensor]:
        k, lr = self.config.inner_steps, self.config.inner_lr
        states = adapt(self.model, params, x, y, steps=k, inner_lr=lr, first_order=True)
        return states[-1], F.mse_loss(support_output(self.model, states[-1], x), y)

    def _measured(self, params: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        k, lr = self.config.inner_steps, self.config.inner_lr
        return adapt_and_measure(self.model, params, sx, sy, qx, qy, steps=k, inner_lr=lr,
                                 support_loss=False)["query_loss"]

    def step(self, params: Params, opt: Adam, iteration: int, track: bool) -> StepLog:
        batch = self.sampler.sample(self.config.meta_batch, self.g).to(self.device)
        x = torch.cat([batch.support_x, batch.query_x], 1)
        y = torch.cat([batch.support_y, batch.query_y], 1)
        with torch.no_grad():
            phis, after = vmap(self._phi, in_dims=(None, 0, 0))(params, x, y)
            eps = reptile_step_size(self.config, iteration)
            for name, p in params.items():
                p.add_(eps * (phis[name].mean(0) - p))
            loss = float(after.mean())
            if track:
                curve = vmap(self._measured, in_dims=(None, 0, 0, 0, 0))(
                    params, batch.support_x, batch.support_y, batch.query_x, batch.query_y).mean(0).tolist()
            else:
                curve = [loss]
        return StepLog(loss, curve, None)


class PretrainStep(AlgorithmStep):
    """The paper's sinusoid baseline: one network regressed on points of all tasks jointly (no adaptation, so
    `track` changes nothing)."""

    autograd = True

    def __init__(self, config: TrainConfig, model: nn.Module, splits: dict[str, OmniglotData] | None,
                 g: torch.Generator, device: torch.device, compile: bool = False) -> None:
        super().__init__(config, model, splits, g, device)
        self.sampler = task_sampler(config, training=True)
        self.n_points = config.sinusoid.k_shot + config.sinusoid.n_query

    def step(self, params: Params, opt: Adam, iteration: int, track: bool) -> StepLog:
        x, y = self.sampler.sample_joint(self.config.meta_batch, self.n_points, self.g)
        x, y = x.to(self.device), y.to(self.device)
        loss = F.mse_loss(call(self.model, params, x), y)
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
        opt.step(grads)
        value = float(loss.detach())
        return StepLog(value, [value], None)


class TransferStep(AlgorithmStep):
    """The Omniglot transfer baseline: an ordinary classifier of every training class (rotations included), fed
    as many drawings per iteration as a meta-batch of episodes holds (no adaptation, so `track` changes nothing).
    Its head is replaced at test time (`heads.fresh_zero`)."""

    autograd = True

    def __init__(self, config: TrainConfig, model: nn.Module, splits: dict[str, OmniglotData] | None,
                 g: torch.Generator, device: torch.device, compile: bool = False) -> None:
        super().__init__(config, model, splits, g, device)
        o = config.omniglot
        self.images = splits["train"].float_images()  # (C, 20, 1, 28, 28)
        self.n_classes = self.images.shape[0] * (4 if o.rotations else 1)
        self.batch_size = config.meta_batch * o.n_way * (o.k_shot + o.n_query)

    def step(self, params: Params, opt: Adam, iteration: int, track: bool) -> StepLog:
        cls = torch.randint(0, self.n_classes, (self.batch_size,), generator=self.g)
        draw = torch.randint(0, DRAWINGS, (self.batch_size,), generator=self.g)
        x = class_images(self.images, cls, draw)  # (batch, 1, 28, 28)
        if self.config.omniglot.augment:  # the same distortions as the meta-learners' training episodes
            x = random_affine(x, self.g)
        x, cls = x.to(self.device), cls.to(self.device)
        out = call(self.model, params, x)
        loss = F.cross_entropy(out, cls)
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
        opt.step(grads)
        acc = float((out.argmax(-1) == cls).float().mean())
        value = float(loss.detach())
        return StepLog(value, [value], [acc])


STEPS: dict[str, type[AlgorithmStep]] = {
    "maml": MamlStep, "fomaml": MamlStep, "reptile": ReptileStep, "pretrain": PretrainStep, "transfer": TransferStep,
}


def step_class(config: TrainConfig) -> type[AlgorithmStep]:
    """The class that runs `config.algo`."""
    if config.algo not in STEPS:
        raise ValueError(f"unknown algorithm {config.algo!r}: choose one of {', '.join(STEPS)}")
    return STEPS[config.algo]


def make_step(config: TrainConfig, model: nn.Module, splits: dict[str, OmniglotData] | None, g: torch.Generator,
              device: torch.device, compile: bool = False) -> AlgorithmStep:
    """The outer update of `config.algo` for `model`, drawing tasks from `g` (and from `splits["train"]` for
    Omniglot); `compile` runs the MAML/FO-MAML meta-step through `torch.compile`."""
    return step_class(config)(config, model, splits, g, device, compile=compile)

"""Meta-training for every algorithm: MAML, FO-MAML, and the baselines (sinusoid 'pretrained on
all tasks', Omniglot transfer learning), with a per-iteration callback, periodic checkpoints,
resume, and model selection on validation tasks."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .algorithm import LEARNED, InnerLR, adapt, adapt_and_measure, initial_rates, meta_loss_and_grad, support_output
from .checkpoints import CheckpointError, read_blob, save_checkpoint
from .config import TrainConfig
from .evaluation import EVAL_SEED, adaptation_curves, task_sampler
from .heads import at_chance, fresh_zero, shared_gradient
from .models import OmniglotConvNet, build_model, get_params, seeded
from .omniglot import OmniglotData, random_affine, split
from .tasks import Episode

Params = dict[str, Tensor]
log = logging.getLogger(__name__)


@dataclass
class StepInfo:
    """What the callback receives after each iteration."""

    iteration: int  # 1-based
    iterations: int  # total planned
    meta_loss: float  # mean query loss after adaptation (MAML/FO-MAML), training loss (baselines), or
    # Reptile's loss on each task's points after its inner steps
    query_losses: list[float]  # mean query loss after each inner step 0..S on tracked iterations (the first,
    # every `track_every`-th, the last), else only after the last step; baselines: [meta_loss]
    accuracies: list[float] | None  # query accuracy after each inner step (Omniglot)
    its_per_sec: float
    elapsed: float  # seconds
    params: Params  # the current initialisation (do not modify)
    val: dict[str, float] | None = None  # set on iterations where validation ran


@dataclass
class TrainResult:
    config: TrainConfig
    params: Params  # the selected initialisation (best on validation for Omniglot, else last)
    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)  # averaged every `log_every` iterations
    seconds: float = 0.0
    iterations_done: int = 0
    stopped_early: bool = False
    best_val: float | None = None
    data: dict[str, OmniglotData] | None = None
    compile_seconds: float = 0.0  # of `seconds`, spent in torch.compile (first calls of each compiled variant)

    def portable(self) -> dict[str, Any]:
        """The result without its network and data (e.g. to send it to another process): plain values and CPU
        tensors; `from_portable` rebuilds it."""
        return {"params": {k: v.detach().cpu() for k, v in self.params.items()}, "history": self.history,
                "seconds": self.seconds, "iterations_done": self.iterations_done, "stopped_early": self.stopped_early,
                "best_val": self.best_val, "compile_seconds": self.compile_seconds}

    @classmethod
    def from_portable(cls, config: TrainConfig, d: dict[str, Any]) -> TrainResult:
        """A result from `portable()`'s dict, with a fresh network of the config's shape."""
        return cls(config, d["params"], build_model(config.model), d["history"], d["seconds"], d["iterations_done"],
                   d["stopped_early"], d["best_val"], None, d["compile_seconds"])


def _splits(config: TrainConfig, data: OmniglotData | dict[str, OmniglotData] | None) -> dict[str, OmniglotData] | None:
    if config.problem != "omniglot":
        return None
    if data is None:
        from .omniglot import load_omniglot
        data = load_omniglot(config.omniglot.data_dir)
    return data if isinstance(data, dict) else split(data, config.omniglot)


def meta_train(config: TrainConfig, *, on_step: Callable[[StepInfo], Any] | None = None,
               data: OmniglotData | dict[str, OmniglotData] | None = None, init_params: Params | None = None,
               checkpoint_path: str | Path | None = None, checkpoint_every: int = 1000, resume: bool = False,
               max_seconds: float | None = None, log_every: int = 100, track_every: int = 10,
               device: str | torch.device = "cpu", compile: bool = False) -> TrainResult:
    """Meta-train `config.algo` on `config.problem`: a `Trainer` stepped to the end.

    on_step(StepInfo) is called after every iteration; returning False stops the run (the result
    holds what was learned so far). For Omniglot, `data` is the loaded archive (or its split);
    without it the data is loaded from `config.omniglot.data_dir`. `init_params` starts from given
    weights (e.g. a first-order warm-up before second-order training). With `checkpoint_path`, the
    full training state is saved there every `checkpoint_every` iterations and, with `resume`, a
    run continues from it. `max_seconds` bounds the training time. The query losses after every inner
    step are computed on the first, every `track_every`-th and the last iteration (they cost a forward
    pass per step); other iterations report the loss after the last step only. `device` runs the
    arithmetic there (e.g. "cuda"); tasks are still sampled on the CPU with the seeded generator, and
    the result's weights come back on the CPU. `compile` runs the MAML/FO-MAML meta-step through
    `torch.compile` (the numbers are the same; the first iteration compiles, about a minute cold):
    `compile_pays` says where that was measured to pay, which is what the CLI does by default.
    """
    trainer = Trainer(config, data=data, init_params=init_params, checkpoint_path=checkpoint_path, resume=resume,
                      log_every=log_every, track_every=track_every, device=device, compile=compile)
    stopped = False
    while not trainer.done:
        info = trainer.step()
        if on_step is not None and on_step(info) is False:
            stopped = True
        if checkpoint_path is not None and info.iteration % checkpoint_every == 0:
            trainer.save()
        if stopped or (max_seconds is not None and info.elapsed >= max_seconds):
            break
    return trainer.finish()


class Trainer:
    """One meta-training run, one iteration at a time: `step()` until `done`, then `finish()`.

    `meta_train` drives one to the end; the live page interleaves several, iteration for iteration
    (lockstep) or by equal time slices, in one thread. The state that resumes a run is `TrainState`."""

    def __init__(self, config: TrainConfig, *, data: OmniglotData | dict[str, OmniglotData] | None = None,
                 init_params: Params | None = None, checkpoint_path: str | Path | None = None,
                 resume: bool = False, log_every: int = 100, track_every: int = 10,
                 device: str | torch.device = "cpu", compile: bool = False) -> None:
        self.config, self.log_every, self.track_every = config, log_every, track_every
        self.splits = _splits(config, data)
        # The run's randomness is its own: the initial weights come from `config.seed` and every task is drawn from
        # this generator, so a Trainer never reads or moves torch's global RNG (several may run in one process).
        self.g = torch.Generator().manual_seed(config.seed)
        if config.algo == "transfer":  # a plain classifier of every training class (its head is replaced at test time)
            n_classes = len(self.splits["train"]) * (4 if config.omniglot.rotations else 1)
            self.model = seeded(lambda: OmniglotConvNet(n_classes, config.model.channels, config.model.norm),
                                config.seed)
        else:
            self.model = build_model(config.model, seed=config.seed)
        params = get_params(self.model)
        if config.learn_inner_lr:  # MAML++ LSLR: the rates are meta-parameters beside the weights
            params.update(initial_rates(params, config.inner_steps, config.inner_lr))
        if init_params is not None:
            params = _warm_start(params, init_params)
        params = {k: v.to(device) for k, v in params.items()}
        self.head = config.model.head if config.problem == "omniglot" and config.algo in ("maml", "fomaml") \
            else "learned"
        at_chance(params, self.head)
        # torch.func differentiates MAML/FO-MAML by itself: recording a regular autograd graph as well would
        # only cost time (~6% per iteration, measured). The baselines use plain autograd.
        self.params = {k: v.requires_grad_(config.algo in ("pretrain", "transfer")) for k, v in params.items()}
        self.opt = torch.optim.Adam(self.params.values(), lr=config.meta_lr, fused=True)  # one kernel for all
        self.state = TrainState()
        self.path = Path(checkpoint_path) if checkpoint_path else None
        if resume and self.path is not None and self.path.exists():
            self.state = TrainState.restore(self.path, config, self.params, self.opt, self.g)
        self._step = _make_step(config, self.model, self.splits, self.g, torch.device(device), compile=compile)
        self._val_sampler = task_sampler(config, self.splits["val"] if self.splits else None)
        self._pending: list = []  # (meta_loss, logged) since the last history row

    @property
    def iteration(self) -> int:
        return self.state.iteration

    @property
    def done(self) -> bool:
        return self.state.iteration >= self.config.iterations

    def step(self) -> StepInfo:
        """One outer update (plus validation on the iterations it is due); its time counts in `elapsed`."""
        config, state = self.config, self.state
        t0 = time.perf_counter()
        it = state.iteration + 1
        track = it == 1 or it % self.track_every == 0 or it == config.iterations
        for group in self.opt.param_groups:
            group["lr"] = meta_lr_at(config, it)
        meta_loss, logged = self._step(self.params, self.opt, track, it, self.head)
        ips = 1.0 / max(time.perf_counter() - t0, 1e-9)
        self._pending.append((meta_loss, logged))
        val = None
        if config.problem == "omniglot" and (it % config.val_every == 0 or it == config.iterations):
            score = _validate(config, self.model, self.params, self._val_sampler)
            val = {"val_acc": score}
            if state.best_val is None or score >= state.best_val:
                state.best_val, state.best = score, {k: v.detach().cpu().clone() for k, v in self.params.items()}
        state.iteration = it
        state.elapsed += time.perf_counter() - t0
        if it % self.log_every == 0 or it == config.iterations:
            state.history.append(_summarise(it, self._pending, state.elapsed, val))
            self._pending = []
        elif val is not None and state.history:
            state.history[-1].update(val)
        return StepInfo(it, config.iterations, meta_loss, logged[0],
                        logged[1] if config.problem == "omniglot" else None, ips, state.elapsed, self.params, val)

    def save(self) -> None:
        """Write the full training state to the checkpoint path (for --resume)."""
        if self.path is not None:
            self.state.save(self.path, self.config, self.params, self.opt, self.g)

    def finish(self) -> TrainResult:
        """The result so far (a run may finish early): the selected weights on the CPU, the history, and the
        state saved for resuming when there is a checkpoint path."""
        state = self.state
        if self._pending:
            state.history.append(_summarise(state.iteration, self._pending, state.elapsed, None))
            self._pending = []
        self.save()
        final = state.best if state.best is not None else {k: v.detach().clone() for k, v in self.params.items()}
        final = {k: v.cpu() for k, v in final.items()}
        model = self.model
        if self.config.algo == "transfer":
            final, model = _transfer_head(self.config, final)
        meta_step = getattr(self._step, "meta_step", None)
        return TrainResult(self.config, final, model, state.history, state.elapsed, state.iteration,
                           state.iteration < self.config.iterations, state.best_val, self.splits,
                           meta_step.compile_seconds if meta_step is not None else 0.0)


def meta_lr_at(config: TrainConfig, iteration: int) -> float:
    """beta at a 1-based iteration: constant, or cosine-annealed from beta to beta / 100 over the run
    (MAML++ "CA", Antoniou et al. 2019, whose code anneals 0.001 to 0.00001)."""
    if config.meta_lr_schedule == "constant":
        return config.meta_lr
    low = config.meta_lr / 100
    return low + (config.meta_lr - low) * 0.5 * (1 + math.cos(math.pi * (iteration - 1) / config.iterations))


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


def _warm_start(params: Params, init: Params) -> Params:
    """Start from `init` where shapes match; keep the fresh initialisation elsewhere (e.g. a 20-way
    head when warm-starting from a 5-way model), and say which tensors were not copied."""
    out, fresh = {}, []
    for k, v in params.items():
        if k in init and tuple(init[k].shape) == tuple(v.shape):
            out[k] = init[k].detach().clone()
        else:
            out[k] = v
            fresh.append(k)
    if fresh:
        log.warning("warm start: kept a fresh initialisation for %s (no matching tensor in the initial weights)",
                    ", ".join(fresh))
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _summarise(it: int, acc: list, elapsed: float, val: dict | None) -> dict[str, float]:
    row = {"iteration": it, "elapsed": round(elapsed, 2),
           "meta_loss": sum(a[0] for a in acc) / len(acc),
           "query_loss_last": sum(a[1][0][-1] for a in acc) / len(acc),
           "query_loss_first": _mean([a[1][0][0] for a in acc if len(a[1][0]) > 1] or [a[1][0][0] for a in acc])}
    if acc[0][1][1] is not None and any(acc[0][1][1]):
        row["query_acc_last"] = sum(a[1][1][-1] for a in acc) / len(acc)
    if val:
        row.update(val)
    return row


COMPILE_MIN_ITERATIONS = 5000  # below this, compiling (about a minute cold) costs more than it saves


def compile_pays(config: TrainConfig) -> bool:
    """Whether the CLI compiles the meta-step when neither --compile nor --no-compile is given: measured to
    pay for sinusoid MAML/FO-MAML runs of at least COMPILE_MIN_ITERATIONS iterations (compiled step 8.4x faster
    than eager in one process, meta-gradient equal to 6e-8; compilation took 7.5 minutes cold, measured once, niced,
    with both cores busy).
    Omniglot has not been measured: eager."""
    return config.problem == "sinusoid" and config.algo in ("maml", "fomaml") and \
        config.iterations >= COMPILE_MIN_ITERATIONS


class MetaStep:
    """`meta_loss_and_grad` for one model and inner loop, optionally through `torch.compile`. If compilation
    fails (no C++ compiler, an unsupported operation), it logs one warning and continues eagerly: the same
    numbers, only slower."""

    def __init__(self, model: nn.Module, config: TrainConfig, compile: bool) -> None:
        self.model, self.config = model, config
        self.compiled = torch.compile(self._eager, dynamic=False) if compile else None
        self.compile_seconds = 0.0  # the first call of each variant (order, tracking, step weights) compiles it
        self._variants: set[tuple] = set()

    def _eager(self, params, sx, sy, qx, qy, first_order: bool, track: bool, weights):
        batch = Episode(sx, sy, qx, qy)
        return meta_loss_and_grad(self.model, params, batch, steps=self.config.inner_steps,
                                  inner_lr=inner_lr_of(self.config), first_order=first_order, track_steps=track,
                                  step_weights=weights)

    def __call__(self, params: Params, batch: Episode, first_order: bool, track: bool, weights):
        args = (params, batch.support_x, batch.support_y, batch.query_x, batch.query_y, first_order, track, weights)
        if self.compiled is not None:
            variant = (first_order, track, weights is None)
            t0 = time.perf_counter()
            try:
                out = self.compiled(*args)
                if variant not in self._variants:
                    self._variants.add(variant)
                    self.compile_seconds += time.perf_counter() - t0
                return out
            except Exception as e:  # whatever the compiler raises, the eager step computes the same thing
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                log.warning("torch.compile could not compile the meta-step (%s: %s); continuing without it",
                            type(e).__name__, first[:200])
                self.compiled = None
        return self._eager(*args)


def _make_step(config: TrainConfig, model: nn.Module, splits, g: torch.Generator, device: torch.device,
               compile: bool = False):
    """One optimisation step for the configured algorithm: (params, opt) -> (loss, logged)."""
    if config.algo in ("maml", "fomaml"):
        train_sampler = task_sampler(config, splits["train"] if splits else None, training=True)
        meta_step = MetaStep(model, config, compile)

        def step(params, opt, track, it, head):
            batch = train_sampler.sample(config.meta_batch, g).to(device)
            first_order = config.first_order or it <= config.first_order_iterations  # MAML++ "DA"
            weights = step_loss_weights(config.inner_steps, it, config.multi_step_loss_iterations)
            weights = None if weights is None else weights.to(device)
            loss, grads, logged = meta_step(params, batch, first_order, track, weights)
            shared_gradient(grads, head)
            _apply(opt, params, grads)
            at_chance(params, head)
            return float(loss), logged.tolist()
        step.meta_step = meta_step  # (its compile time, for the result)
        return step

    if config.algo == "reptile":
        return _reptile_step(config, model, g, device)

    if config.algo == "pretrain":  # one network regressed on all tasks jointly (paper's baseline)
        sampler = task_sampler(config, training=True)
        n_points = config.sinusoid.k_shot + config.sinusoid.n_query

        def step(params, opt, track, it, head):  # baselines: one figure per iteration; `track` changes nothing
            x, y = sampler.sample_joint(config.meta_batch, n_points, g)
            x, y = x.to(device), y.to(device)
            loss = F.mse_loss(functional_call(model, params, (x,)), y)
            grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
            _apply(opt, params, grads)
            return float(loss.detach()), [[float(loss.detach())], [0.0]]
        return step

    if config.algo == "transfer":  # an ordinary classifier on all training classes
        train = splits["train"]
        images = train.float_images()  # (C, 20, 1, 28, 28)
        rot = 4 if config.omniglot.rotations else 1
        n_char = images.shape[0]
        batch_size = config.meta_batch * config.omniglot.n_way * (config.omniglot.k_shot + config.omniglot.n_query)

        def step(params, opt, track, it, head):  # baselines: one figure per iteration; `track` changes nothing
            cls = torch.randint(0, n_char * rot, (batch_size,), generator=g)
            draw = torch.randint(0, 20, (batch_size,), generator=g)
            x = images[cls % n_char, draw].clone()
            for r in range(1, rot):
                m = (cls // n_char) == r
                if m.any():
                    x[m] = torch.rot90(x[m], r, dims=(-2, -1))
            if config.omniglot.augment:  # the same distortions as the meta-learners' training episodes
                x = random_affine(x, g)
            x, cls = x.to(device), cls.to(device)
            out = functional_call(model, params, (x,))
            loss = F.cross_entropy(out, cls)
            grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
            _apply(opt, params, grads)
            acc = float((out.argmax(-1) == cls).float().mean())
            return float(loss.detach()), [[float(loss.detach())], [acc]]
        return step
    raise ValueError(f"unknown algorithm {config.algo!r}")


def reptile_step_size(config: TrainConfig, iteration: int) -> float:
    """Reptile's epsilon at a 1-based iteration: `outer_step`, linearly annealed towards 0 (the authors' schedule)."""
    return config.outer_step * (1.0 - (iteration - 1) / config.iterations)


def _reptile_step(config: TrainConfig, model: nn.Module, g: torch.Generator, device: torch.device):
    """Reptile (Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms", 2018, Algorithm 2, batched):
    each task's weights phi_i after k = `inner_steps` SGD steps of `inner_lr` on all of its points (Reptile has no
    support/query split), then theta += epsilon * mean_i(phi_i - theta). Plain SGD inner steps, as every method
    adapts at test time. Logged: the query loss after each inner step on the support set alone (tracked
    iterations), else the loss on the task's points after its k steps."""
    sampler = task_sampler(config, training=True)
    k, lr = config.inner_steps, config.inner_lr

    def phi(params, x, y):
        states = adapt(model, params, x, y, steps=k, inner_lr=lr, first_order=True)
        return states[-1], F.mse_loss(support_output(model, states[-1], x), y)

    def measured(params, sx, sy, qx, qy):
        return adapt_and_measure(model, params, sx, sy, qx, qy, steps=k, inner_lr=lr, support_loss=False)["query_loss"]

    def step(params, opt, track, it, head):
        batch = sampler.sample(config.meta_batch, g).to(device)
        x = torch.cat([batch.support_x, batch.query_x], 1)
        y = torch.cat([batch.support_y, batch.query_y], 1)
        with torch.no_grad():
            phis, after = vmap(phi, in_dims=(None, 0, 0))(params, x, y)
            eps = reptile_step_size(config, it)
            for name, p in params.items():
                p.add_(eps * (phis[name].mean(0) - p))
            loss = float(after.mean())
            if track:
                curve = vmap(measured, in_dims=(None, 0, 0, 0, 0))(
                    params, batch.support_x, batch.support_y, batch.query_x, batch.query_y).mean(0).tolist()
            else:
                curve = [loss]
        return loss, [curve, [0.0] * len(curve)]
    return step


def _apply(opt: torch.optim.Optimizer, params: Params, grads: Params) -> None:
    for k, p in params.items():
        p.grad = grads[k]
    opt.step()
    opt.zero_grad(set_to_none=True)


def _transfer_head(config: TrainConfig, params: Params) -> tuple[Params, nn.Module]:
    """The transfer baseline's test-time network: the trained features and a fresh, zero N-way head
    (`heads.fresh_zero`). The network's own weights are seeded (they are never read)."""
    model = build_model(config.model, seed=config.seed)
    return fresh_zero(params, model.head.weight.shape[0]), model


def inner_lr_of(config: TrainConfig) -> InnerLR:
    """The inner learning rate a run adapts with: its learned rates (LSLR) or alpha."""
    return LEARNED if config.learn_inner_lr else config.inner_lr


def _validate(config: TrainConfig, model: nn.Module, params: Params, sampler) -> float:
    """Validation accuracy after `eval_steps` steps at the training inner learning rate."""
    p = {k: v.detach() for k, v in params.items()}
    if config.algo == "transfer":
        p, model = _transfer_head(config, p)
    c = adaptation_curves(model, p, sampler, tasks=config.val_tasks, steps=config.eval_steps,
                          inner_lr=inner_lr_of(config), seed=EVAL_SEED + 1)
    return c.headline()[0]


@dataclass
class TrainState:
    """Everything a run needs to continue where it stopped (written to OUT.state, read by --resume)."""

    iteration: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best: Params | None = None  # the best initialisation on validation so far (Omniglot)
    best_val: float | None = None
    elapsed: float = 0.0  # training seconds so far, over all sessions

    def save(self, path: Path, config: TrainConfig, params: Params, opt: torch.optim.Optimizer,
             g: torch.Generator) -> None:
        extra = {"optimizer": opt.state_dict(), "rng": g.get_state(),
                 "iteration": self.iteration, "history": self.history, "elapsed": self.elapsed,
                 "best_val": self.best_val if self.best_val is not None else float("nan")}
        if self.best is not None:
            extra["best"] = self.best
        save_checkpoint(path, config, params, info={"iteration": self.iteration, "kind": "training state"},
                        extra=extra)

    @classmethod
    def restore(cls, path: Path, config: TrainConfig, params: Params, opt: torch.optim.Optimizer,
                g: torch.Generator) -> TrainState:
        """Load the state at `path` into `params`, `opt` and `g` (in place) and return the rest."""
        blob = read_blob(path)
        if TrainConfig.from_dict(blob["config"]).replace(iterations=config.iterations) != config:
            raise CheckpointError(f"{path} holds a run with a different configuration: resume with the same flags "
                                  "(only --iterations may change), or start a new run with another --out")
        extra = blob.get("extra")
        if not extra:
            raise CheckpointError(f"{path} has no training state to resume from")
        with torch.no_grad():
            for k, v in params.items():
                v.copy_(blob["params"][k])
        opt.load_state_dict(extra["optimizer"])
        g.set_state(extra["rng"])  # older states also hold "torch_rng", the global RNG: no step reads it
        best_val = extra.get("best_val")
        best_val = None if best_val is None or math.isnan(best_val) else float(best_val)
        return cls(int(extra["iteration"]), list(extra["history"]), extra.get("best"), best_val,
                   float(extra.get("elapsed", 0.0)))

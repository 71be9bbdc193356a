"""Meta-training for every algorithm: MAML, FO-MAML, Reptile and the baselines (sinusoid 'pretrained on
all tasks', Omniglot transfer learning), with a per-iteration callback, periodic checkpoints,
resume, and model selection on validation tasks. Each algorithm's outer update is a class in
maml_core.steps; the `Trainer` here owns the weights, optimiser, schedules, validation and history."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .adam import Adam
from .algorithm import initial_rates
from .checkpoints import CheckpointError, read_blob, save_checkpoint
from .config import TrainConfig
from .evaluation import EVAL_SEED, adaptation_curves, task_sampler
from .heads import at_chance, fresh_zero
from .models import OmniglotConvNet, build_model, get_params, seeded
from .omniglot import OmniglotData, split
from .steps import (  # noqa: F401 (some only re-exported: they were defined here, and callers import them from here)
    COMPILE_MIN_ITERATIONS,
    MetaStep,
    StepLog,
    compile_pays,
    head_mode,
    inner_lr_of,
    make_step,
    reptile_step_size,
    step_class,
    step_loss_weights,
)

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
    the result's weights come back on the CPU. `compile` runs MAML/FO-MAML through
    `torch.compile` (sinusoid: the tasks and their meta-gradient; Omniglot: the meta-step; the same numbers up to
    float rounding; the first iteration compiles, which is slow without a warm compiler cache): `compile_pays` says
    where that pays, which is what the CLI does by default.
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
        at_chance(params, head_mode(config))
        autograd = step_class(config).autograd  # only the baselines differentiate with a regular autograd graph
        self.params = {k: v.requires_grad_(autograd) for k, v in params.items()}
        self.opt = Adam(self.params, lr=config.meta_lr)
        self.state = TrainState()
        self.path = Path(checkpoint_path) if checkpoint_path else None
        if resume and self.path is not None and self.path.exists():
            self.state = TrainState.restore(self.path, config, self.params, self.opt, self.g)
        self._algorithm = make_step(config, self.model, self.splits, self.g, torch.device(device), compile=compile)
        self._val_sampler = task_sampler(config, self.splits["val"] if self.splits else None)
        self._pending: list[StepLog] = []  # since the last history row

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
        self.opt.lr = meta_lr_at(config, it)
        logged = self._algorithm.step(self.params, self.opt, it, track)
        ips = 1.0 / max(time.perf_counter() - t0, 1e-9)
        self._pending.append(logged)
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
        return StepInfo(it, config.iterations, logged.loss, logged.query_losses, logged.accuracies, ips,
                        state.elapsed, self.params, val)

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
        return TrainResult(self.config, final, model, state.history, state.elapsed, state.iteration,
                           state.iteration < self.config.iterations, state.best_val, self.splits,
                           self._algorithm.compile_seconds)


def meta_lr_at(config: TrainConfig, iteration: int) -> float:
    """beta at a 1-based iteration: constant, or cosine-annealed from beta to beta / 100 over the run
    (MAML++ "CA", Antoniou et al. 2019, whose code anneals 0.001 to 0.00001)."""
    if config.meta_lr_schedule == "constant":
        return config.meta_lr
    low = config.meta_lr / 100
    return low + (config.meta_lr - low) * 0.5 * (1 + math.cos(math.pi * (iteration - 1) / config.iterations))


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


def _summarise(it: int, logs: list[StepLog], elapsed: float, val: dict | None) -> dict[str, float]:
    """One history row: the means over the iterations since the last row (the loss before adaptation only from
    the tracked iterations that measured it, when there are any)."""
    row = {"iteration": it, "elapsed": round(elapsed, 2),
           "meta_loss": sum(a.loss for a in logs) / len(logs),
           "query_loss_last": sum(a.query_losses[-1] for a in logs) / len(logs),
           "query_loss_first": _mean([a.query_losses[0] for a in logs if len(a.query_losses) > 1]
                                     or [a.query_losses[0] for a in logs])}
    if logs[0].accuracies is not None and any(logs[0].accuracies):
        row["query_acc_last"] = sum(a.accuracies[-1] for a in logs) / len(logs)
    if val:
        row.update(val)
    return row


def _transfer_head(config: TrainConfig, params: Params) -> tuple[Params, nn.Module]:
    """The transfer baseline's test-time network: the trained features and a fresh, zero N-way head
    (`heads.fresh_zero`). The network's own weights are seeded (they are never read)."""
    model = build_model(config.model, seed=config.seed)
    return fresh_zero(params, model.head.weight.shape[0]), model


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

    def save(self, path: Path, config: TrainConfig, params: Params, opt: Adam,
             g: torch.Generator) -> None:
        extra = {"optimizer": opt.state_dict(), "rng": g.get_state(),
                 "iteration": self.iteration, "history": self.history, "elapsed": self.elapsed,
                 "best_val": self.best_val if self.best_val is not None else float("nan")}
        if self.best is not None:
            extra["best"] = self.best
        save_checkpoint(path, config, params, info={"iteration": self.iteration, "kind": "training state"},
                        extra=extra)

    @classmethod
    def restore(cls, path: Path, config: TrainConfig, params: Params, opt: Adam,
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

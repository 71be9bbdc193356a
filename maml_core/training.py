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
from torch.func import functional_call

from .algorithm import meta_loss_and_grad
from .checkpoints import CheckpointError, read_blob, save_checkpoint
from .config import TrainConfig
from .evaluation import EVAL_SEED, adaptation_curves, task_sampler
from .models import OmniglotConvNet, build_model, get_params
from .omniglot import OmniglotData, split

Params = dict[str, Tensor]
log = logging.getLogger(__name__)


@dataclass
class StepInfo:
    """What the callback receives after each iteration."""

    iteration: int  # 1-based
    iterations: int  # total planned
    meta_loss: float  # mean query loss after adaptation (MAML/FO-MAML) or training loss (baselines)
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
               max_seconds: float | None = None, log_every: int = 100, track_every: int = 10) -> TrainResult:
    """Meta-train `config.algo` on `config.problem`.

    on_step(StepInfo) is called after every iteration; returning False stops the run (the result
    holds what was learned so far). For Omniglot, `data` is the loaded archive (or its split);
    without it the data is loaded from `config.omniglot.data_dir`. `init_params` starts from given
    weights (e.g. a first-order warm-up before second-order training). With `checkpoint_path`, the
    full training state is saved there every `checkpoint_every` iterations and, with `resume`, a
    run continues from it. `max_seconds` bounds the wall time. The query losses after every inner
    step are computed on the first, every `track_every`-th and the last iteration (they cost a forward
    pass per step); other iterations report the loss after the last step only.
    """
    torch.manual_seed(config.seed)
    splits = _splits(config, data)
    g = torch.Generator().manual_seed(config.seed)
    if config.algo == "transfer":
        n_classes = len(splits["train"]) * (4 if config.omniglot.rotations else 1)
        model = OmniglotConvNet(n_classes, config.model.channels)
    else:
        model = build_model(config.model)
    params = get_params(model)
    if init_params is not None:
        params = _warm_start(params, init_params)
    # torch.func differentiates MAML/FO-MAML by itself: recording a regular autograd graph as well would
    # only cost time (~6% per iteration, measured). The baselines use plain autograd.
    params = {k: v.requires_grad_(config.algo in ("pretrain", "transfer")) for k, v in params.items()}
    opt = torch.optim.Adam(params.values(), lr=config.meta_lr, fused=True)  # one kernel for all tensors
    start, history, best, best_val, elapsed0 = 0, [], None, None, 0.0
    resume_path = Path(checkpoint_path) if checkpoint_path else None
    if resume and resume_path is not None and resume_path.exists():
        start, history, best, best_val, elapsed0 = _restore(resume_path, config, params, opt, g)

    step_fn = _make_step(config, model, splits, g)
    val_sampler = task_sampler(config, splits["val"] if splits else None)
    t0, last, acc = time.perf_counter(), time.perf_counter(), []
    it = start
    stopped = False
    for it in range(start + 1, config.iterations + 1):
        track = it == 1 or it % track_every == 0 or it == config.iterations
        meta_loss, logged = step_fn(params, opt, track)
        now = time.perf_counter()
        ips = 1.0 / max(now - last, 1e-9)
        last = now
        elapsed = elapsed0 + now - t0
        acc.append((meta_loss, logged))
        val = None
        if config.problem == "omniglot" and (it % config.val_every == 0 or it == config.iterations):
            score = _validate(config, model, params, val_sampler)
            val = {"val_acc": score}
            if best_val is None or score >= best_val:
                best_val, best = score, {k: v.detach().clone() for k, v in params.items()}
        if it % log_every == 0 or it == config.iterations:
            history.append(_summarise(it, acc, elapsed, val))
            acc = []
        elif val is not None and history:
            history[-1].update(val)
        if on_step is not None:
            info = StepInfo(it, config.iterations, meta_loss, logged[0],
                            logged[1] if config.problem == "omniglot" else None, ips, elapsed,
                            params, val)
            if on_step(info) is False:
                stopped = True
        if resume_path is not None and (it % checkpoint_every == 0):
            _save_state(resume_path, config, params, opt, g, it, history, best, best_val, elapsed)
        if stopped or (max_seconds is not None and elapsed >= max_seconds):
            stopped = it < config.iterations
            break
    if acc:
        history.append(_summarise(it, acc, elapsed0 + time.perf_counter() - t0, None))
    if resume_path is not None:
        _save_state(resume_path, config, params, opt, g, it, history, best, best_val,
                    elapsed0 + time.perf_counter() - t0)
    final = best if best is not None else {k: v.detach().clone() for k, v in params.items()}
    if config.algo == "transfer":
        final, model = _transfer_head(config, final)
    return TrainResult(config, final, model, history, elapsed0 + time.perf_counter() - t0, it, stopped,
                       best_val, splits)


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


def _make_step(config: TrainConfig, model: nn.Module, splits, g: torch.Generator):
    """One optimisation step for the configured algorithm: (params, opt) -> (loss, logged)."""
    if config.algo in ("maml", "fomaml"):
        train_sampler = task_sampler(config, splits["train"] if splits else None, training=True)

        def step(params, opt, track):
            batch = train_sampler.sample(config.meta_batch, g)
            loss, grads, logged = meta_loss_and_grad(model, params, batch, steps=config.inner_steps,
                                                     inner_lr=config.inner_lr, first_order=config.first_order,
                                                     track_steps=track)
            _apply(opt, params, grads)
            return float(loss), logged.tolist()
        return step

    if config.algo == "pretrain":  # one network regressed on all tasks jointly (paper's baseline)
        sampler = task_sampler(config, training=True)
        n_points = config.sinusoid.k_shot + config.sinusoid.n_query

        def step(params, opt, track):  # baselines: one figure per iteration, `track` changes nothing
            x, y = sampler.sample_joint(config.meta_batch, n_points, g)
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

        def step(params, opt, track):  # baselines: one figure per iteration, `track` changes nothing
            cls = torch.randint(0, n_char * rot, (batch_size,), generator=g)
            draw = torch.randint(0, 20, (batch_size,), generator=g)
            x = images[cls % n_char, draw].clone()
            for r in range(1, rot):
                m = (cls // n_char) == r
                if m.any():
                    x[m] = torch.rot90(x[m], r, dims=(-2, -1))
            out = functional_call(model, params, (x,))
            loss = F.cross_entropy(out, cls)
            grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
            _apply(opt, params, grads)
            acc = float((out.argmax(-1) == cls).float().mean())
            return float(loss.detach()), [[float(loss.detach())], [acc]]
        return step
    raise ValueError(f"unknown algorithm {config.algo!r}")


def _apply(opt: torch.optim.Optimizer, params: Params, grads: Params) -> None:
    for k, p in params.items():
        p.grad = grads[k]
    opt.step()
    opt.zero_grad(set_to_none=True)


def _transfer_head(config: TrainConfig, params: Params) -> tuple[Params, nn.Module]:
    """The transfer baseline's test-time network: the trained features and a fresh, zero N-way head
    (fine-tuning on the support set learns it)."""
    model = build_model(config.model)
    out = {k: v.detach().clone() for k, v in params.items() if not k.startswith("head.")}
    out["head.weight"] = torch.zeros_like(model.head.weight)
    out["head.bias"] = torch.zeros_like(model.head.bias)
    return out, model


def _validate(config: TrainConfig, model: nn.Module, params: Params, sampler) -> float:
    """Validation accuracy after `eval_steps` steps at the training inner learning rate."""
    p = {k: v.detach() for k, v in params.items()}
    if config.algo == "transfer":
        p, model = _transfer_head(config, p)
    c = adaptation_curves(model, p, sampler, tasks=config.val_tasks, steps=config.eval_steps,
                          inner_lr=config.inner_lr, seed=EVAL_SEED + 1)
    return c.headline()[0]


def _save_state(path: Path, config, params, opt, g, it, history, best, best_val, elapsed) -> None:
    extra = {"optimizer": opt.state_dict(), "rng": g.get_state(), "torch_rng": torch.get_rng_state(),
             "iteration": it, "history": history, "best_val": best_val if best_val is not None else float("nan"),
             "elapsed": elapsed}
    if best is not None:
        extra["best"] = best
    save_checkpoint(path, config, params, info={"iteration": it, "kind": "training state"}, extra=extra)


def _restore(path: Path, config: TrainConfig, params: Params, opt, g) -> tuple:
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
    g.set_state(extra["rng"])
    torch.set_rng_state(extra["torch_rng"])
    best_val = extra.get("best_val")
    best_val = None if best_val is None or math.isnan(best_val) else best_val
    return extra["iteration"], list(extra["history"]), extra.get("best"), best_val, float(extra.get("elapsed", 0.0))

"""Self-describing checkpoints: weights, the full config, the metrics measured, the command and
machine that produced them, and a format version. One loader for the CLI, tests, benchmarks and app.
"""

from __future__ import annotations

import os
import pickle
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .algorithm import LEARNED, initial_rates
from .config import ConfigError, TrainConfig
from .models import build_model

FORMAT = "maml_core.checkpoint"
VERSION = 2  # 2: the Omniglot network's normalisation and head are recorded in config.model (norm, head)
Params = dict[str, Tensor]


@dataclass(frozen=True)
class Headline:
    """The held-out figure a checkpoint is known by: query accuracy (Omniglot) or MSE (sinusoid) after
    `steps` inner steps at `inner_lr`, mean and 95% CI half-width over `tasks` test tasks."""

    metric: str  # "accuracy" or "mse"
    value: float
    ci95: float
    steps: int
    inner_lr: float | str  # or "learned": the checkpoint's own per-layer, per-step rates (LSLR)
    tasks: int
    seed: int = 0
    split: str = "test"
    k_shot: int = 1

    def describe(self) -> str:
        if self.metric == "accuracy":
            return f"{100 * self.value:.1f}% ± {100 * self.ci95:.1f}"
        return f"MSE {self.value:.3f} ± {self.ci95:.3f}"


@dataclass
class Metrics:
    """What was measured about a checkpoint; the only code that knows the stored keys.

    `inner_lr` and `eval_steps` are the test-time settings chosen on validation data (None: not
    chosen; the config's training values apply). `curves` holds `Curves.to_dict()` per test set,
    `history` the training log, `selection` the validation scores the settings were chosen from."""

    inner_lr: float | str | None = None  # a number, or "learned" (the checkpoint's LSLR rates)
    eval_steps: int | None = None
    headline: Headline | None = None
    curves: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    best_val: float | None = None
    selection: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Metrics:
        d = dict(d or {})
        h = d.get("headline")
        headline = Headline(**{k: h[k] for k in Headline.__dataclass_fields__ if k in h}) \
            if isinstance(h, dict) and {"metric", "value", "ci95", "steps", "inner_lr", "tasks"} <= set(h) else None
        lr = d.get("inner_lr")
        return cls(None if lr is None else lr if lr == LEARNED else float(lr),
                   None if d.get("eval_steps") is None else int(d["eval_steps"]), headline,
                   dict(d.get("curves") or {}), list(d.get("history") or []),
                   None if d.get("best_val") is None else float(d["best_val"]), dict(d.get("selection") or {}))

    def to_dict(self) -> dict[str, Any]:
        out = {"inner_lr": self.inner_lr, "eval_steps": self.eval_steps, "curves": self.curves,
               "history": self.history, "best_val": self.best_val, "selection": self.selection,
               "headline": None if self.headline is None else dict(self.headline.__dict__)}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or not one of ours; the message says which and what to do."""


@dataclass
class Checkpoint:
    """A trained initialisation. `model` is a plain module for `predict`/`adapt`; `params` is the
    learned initial state theta (never modified by adaptation). `inner_lr` and `eval_steps` are the
    test-time settings it was validated with. `predict`/`adapt` call the module through
    `torch.func.functional_call`, which swaps parameters on it while it runs: threads that share one
    checkpoint (e.g. a web server's sessions) should each use `copy.deepcopy(checkpoint.model)`."""

    config: TrainConfig
    params: Params
    metrics: Metrics = field(default_factory=Metrics)
    info: dict[str, Any] = field(default_factory=dict)  # command, training time, machine, iteration
    model: nn.Module = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = build_model(self.config.model)
        expected = {k: tuple(v.shape) for k, v in self.model.named_parameters()}
        if self.config.learn_inner_lr:  # the learned inner learning rates, one per tensor and training step
            expected.update({k: tuple(v.shape) for k, v in initial_rates(
                dict(self.model.named_parameters()), self.config.inner_steps, self.config.inner_lr).items()})
        got = {k: tuple(v.shape) for k, v in self.params.items()}
        if expected != got:
            diff = [f"{k}: expected {expected.get(k)}, got {got.get(k)}" for k in sorted(set(expected) | set(got))
                    if expected.get(k) != got.get(k)]
            raise CheckpointError(f"the weights do not fit the model the config describes ({'; '.join(diff[:3])}"
                                  f"{'; ...' if len(diff) > 3 else ''}): the file is damaged or from another version")
        self.params = {k: v.detach().float() for k, v in self.params.items()}
        self.model.load_state_dict(self.params, strict=False)
        self.model.requires_grad_(False)

    @property
    def inner_lr(self) -> float | str:
        """What `adapt` takes: the validated alpha, or LEARNED for a checkpoint with learned rates (LSLR)."""
        if self.metrics.inner_lr is not None:
            return self.metrics.inner_lr
        return LEARNED if self.config.learn_inner_lr else self.config.inner_lr

    @property
    def eval_steps(self) -> int:
        return self.config.eval_steps if self.metrics.eval_steps is None else self.metrics.eval_steps

    @property
    def algo(self) -> str:
        return self.config.algo

    def held_out(self) -> str | None:
        """The recorded held-out figure in words, e.g. '86.4% ± 0.8 on 600 held-out 5-way 1-shot tasks after
        3 steps' (None when the checkpoint records none, e.g. one trained in the browser)."""
        h = self.metrics.headline
        if h is None:
            return None
        c = self.config
        task = (f"{c.omniglot.n_way}-way {h.k_shot}-shot tasks (unseen characters)" if c.problem == "omniglot"
                else f"{h.k_shot}-shot sinusoid tasks")
        return f"{h.describe()} on {h.tasks} held-out {task} after {h.steps} step{'' if h.steps == 1 else 's'}"

    def describe(self) -> str:
        c = self.config
        task = (f"{c.omniglot.n_way}-way {c.omniglot.k_shot}-shot Omniglot" if c.problem == "omniglot"
                else f"sinusoid K={c.sinusoid.k_shot}")
        return f"{c.algo.upper()} on {task}, {self.info.get('iteration', c.iterations)} iterations"


def machine_description() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, torch {torch.__version__}"


def save_checkpoint(path: str | Path, config: TrainConfig, params: Params, *, metrics: Metrics | None = None,
                    info: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (a crash mid-write never leaves a half file at `path`).
    `extra` holds plain tensors/values for resuming (optimizer state, RNG state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(),
        "params": {k: v.detach().cpu().contiguous() for k, v in params.items()},
        "metrics": (metrics or Metrics()).to_dict(), "info": {"machine": machine_description(), **(info or {})},
    }
    if extra:
        blob["extra"] = extra
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def read_blob(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dictionary, validated (used for resuming)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: check the path, or train one with `python -m maml_core train`")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" not in str(e).lower():
            raise CheckpointError(f"{path} is not a readable checkpoint ({_first_line(e)}): it may be truncated or "
                                  "not a PyTorch file; re-download or re-train it") from e
        # torch's message advises weights_only=False, which would run code from the file: never that here.
        raise CheckpointError(f"{path} is not a readable checkpoint: it holds Python objects, not only tensors and "
                              "numbers, so it was not loaded (loading it could run code). Use a checkpoint written "
                              "by `python -m maml_core train`") from e
    except Exception as e:  # arbitrary bytes make the unpickler raise almost anything (IndexError, KeyError...)
        first = _first_line(e)
        raise CheckpointError(f"{path} is not a readable checkpoint ({first}): it may be truncated or not a "
                              "PyTorch file; re-download or re-train it") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a maml_core checkpoint (no '{FORMAT}' header): "
                              "use a file written by `python -m maml_core train`")
    if blob.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint format {blob.get('version')}, newer than this code "
                              f"understands ({VERSION}): update maml_core")
    return _upgrade(blob)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _upgrade(blob: dict[str, Any]) -> dict[str, Any]:
    """Read older formats. Version 1 conv networks normalised with GroupNorm(1, C) (layer norm) and
    meta-learned their head freely; the parameter names are unchanged."""
    model = blob.get("config", {}).get("model") if isinstance(blob.get("config"), dict) else None
    if blob.get("version", 0) < 2 and isinstance(model, dict) and model.get("kind") == "conv":
        blob["config"]["model"] = {"norm": "layer", "head": "learned", **model}
        omniglot = blob["config"].get("omniglot")
        if isinstance(omniglot, dict):
            blob["config"]["omniglot"] = {"augment": False, **omniglot}
    return blob


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint written by `save_checkpoint` (with `weights_only=True`: no code runs).
    Raises `CheckpointError` for a missing, truncated, foreign or inconsistent file."""
    blob = read_blob(path)
    try:
        config = TrainConfig.from_dict(blob["config"])
        return Checkpoint(config, dict(blob["params"]), Metrics.from_dict(blob.get("metrics")),
                          dict(blob.get("info", {})))
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    except (KeyError, TypeError, ConfigError, AttributeError) as e:
        raise CheckpointError(f"{path} is a maml_core checkpoint with a damaged or incompatible config "
                              f"({type(e).__name__}: {e}); re-train it") from e

"""Self-describing checkpoints: weights, the full config, the metrics measured, the command and
machine that produced them, and a format version. One loader for the CLI, tests, benchmarks and app.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .config import ConfigError, TrainConfig
from .models import build_model

FORMAT = "maml_core.checkpoint"
VERSION = 2  # 2: the Omniglot network's normalisation and head are recorded in config.model (norm, head)
Params = dict[str, Tensor]


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
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # command, training time, machine, iteration
    model: nn.Module = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = build_model(self.config.model)
        expected = {k: tuple(v.shape) for k, v in self.model.named_parameters()}
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
    def inner_lr(self) -> float:
        return float(self.metrics.get("inner_lr", self.config.inner_lr))

    @property
    def eval_steps(self) -> int:
        return int(self.metrics.get("eval_steps", self.config.eval_steps))

    @property
    def algo(self) -> str:
        return self.config.algo

    def describe(self) -> str:
        c = self.config
        task = (f"{c.omniglot.n_way}-way {c.omniglot.k_shot}-shot Omniglot" if c.problem == "omniglot"
                else f"sinusoid K={c.sinusoid.k_shot}")
        return f"{c.algo.upper()} on {task}, {self.info.get('iteration', c.iterations)} iterations"


def machine_description() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, torch {torch.__version__}"


def save_checkpoint(path: str | Path, config: TrainConfig, params: Params, *, metrics: dict[str, Any] | None = None,
                    info: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (a crash mid-write never leaves a half file at `path`).
    `extra` holds plain tensors/values for resuming (optimizer state, RNG state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(),
        "params": {k: v.detach().cpu().contiguous() for k, v in params.items()},
        "metrics": metrics or {}, "info": {"machine": machine_description(), **(info or {})},
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
    except Exception as e:  # arbitrary bytes make the unpickler raise almost anything (IndexError, KeyError...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({first}): it may be truncated or not a "
                              "PyTorch file; re-download or re-train it") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a maml_core checkpoint (no '{FORMAT}' header): "
                              "use a file written by `python -m maml_core train`")
    if blob.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint format {blob.get('version')}, newer than this code "
                              f"understands ({VERSION}): update maml_core")
    return _upgrade(blob)


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
        return Checkpoint(config, dict(blob["params"]), dict(blob.get("metrics", {})), dict(blob.get("info", {})))
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    except (KeyError, TypeError, ConfigError, AttributeError) as e:
        raise CheckpointError(f"{path} is a maml_core checkpoint with a damaged or incompatible config "
                              f"({type(e).__name__}: {e}); re-train it") from e

"""Self-describing checkpoints: weights, the full config, the metrics measured, the command and
machine that produced them, and a format version. One loader for the CLI, tests, benchmarks and app.
"""

from __future__ import annotations

import io
import os
import pickle
import platform
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .algorithm import LEARNED, initial_rates
from .config import ConfigError, ModelConfig, TrainConfig
from .models import build_model

FORMAT = "maml_core.checkpoint"
VERSION = 2  # 2: the Omniglot network's normalisation and head are recorded in config.model (norm, head)
Params = dict[str, Tensor]
# An upload larger than this is refused unread: the app's largest network (the Omniglot conv net, ~113k weights)
# with its training log is well under 1 MB.
UPLOAD_MAX_BYTES = 5_000_000


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


def _blob(config: TrainConfig, params: Params, metrics: Metrics | None, info: dict[str, Any] | None,
          extra: dict[str, Any] | None) -> dict[str, Any]:
    blob = {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(),
        "params": {k: v.detach().cpu().contiguous() for k, v in params.items()},
        "metrics": (metrics or Metrics()).to_dict(), "info": {"machine": machine_description(), **(info or {})},
    }
    if extra:
        blob["extra"] = extra
    return blob


def save_checkpoint(path: str | Path, config: TrainConfig, params: Params, *, metrics: Metrics | None = None,
                    info: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (a crash mid-write never leaves a half file at `path`).
    `extra` holds plain tensors/values for resuming (optimizer state, RNG state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(_blob(config, params, metrics, info, extra), tmp)
    tmp.replace(path)
    return path


def checkpoint_bytes(config: TrainConfig, params: Params, *, metrics: Metrics | None = None,
                     info: dict[str, Any] | None = None) -> bytes:
    """The file `save_checkpoint` would write, as bytes (a download in the app); `load_checkpoint` reads it."""
    buf = io.BytesIO()
    torch.save(_blob(config, params, metrics, info, None), buf)
    return buf.getvalue()


def read_blob(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dictionary, validated (used for resuming)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: check the path, or train one with `python -m maml_core train`")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    with open(path, "rb") as f:
        head = f.read(64)
    return _read(path, head, str(path))


def _read(source: Path | io.BytesIO, head: bytes, name: str) -> dict[str, Any]:
    """torch.load(weights_only=True) of `source`, whose first bytes are `head`, with every failure in words."""
    not_torch = _not_a_torch_file(head)
    if not_torch:
        raise CheckpointError(f"{name} is not a readable checkpoint: {not_torch}, not a PyTorch file. Give a .pt file "
                              "written by `python -m maml_core train` or downloaded from the app's Meta-training "
                              "page (the shipped ones are in assets/)")
    try:
        blob = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "unsupported global" not in str(e).lower():  # e.g. "Unsupported operand": bytes that are no pickle
            raise CheckpointError(f"{name} is not a readable checkpoint ({_torch_reason(e)}): it may be truncated "
                                  "or damaged; re-download or re-train it") from e
        # torch's message advises weights_only=False, which would run code from the file: never that here.
        raise CheckpointError(f"{name} is not a readable checkpoint: it holds Python objects, not only tensors and "
                              "numbers, so it was not loaded (loading it could run code). Use a checkpoint written "
                              "by `python -m maml_core train`") from e
    except Exception as e:  # arbitrary bytes make the unpickler raise almost anything (IndexError, KeyError...)
        raise CheckpointError(f"{name} is not a readable checkpoint ({first_line(e)}): it may be truncated or "
                              "damaged; re-download or re-train it") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{name} is a PyTorch file but not a maml_core checkpoint (no '{FORMAT}' header): "
                              "use a file written by `python -m maml_core train`")
    if not isinstance(blob.get("version", 0), int) or blob.get("version", 0) > VERSION:
        raise CheckpointError(f"{name} has checkpoint format {blob.get('version')}, newer than this code "
                              f"understands ({VERSION}): update maml_core")
    return _upgrade(blob)


def _not_a_torch_file(head: bytes) -> str:
    """Why bytes beginning with `head` cannot be a torch.save file (a zip archive, or a legacy pickle); "" if
    they might be one."""
    if head.startswith(b"PK") or head.startswith(b"\x80"):
        return ""
    if not head:
        return "it is empty (0 bytes)"
    text = ""
    for cut in range(4):  # the 64 bytes may end inside a multi-byte character
        try:
            text = head[:len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        first = text.splitlines()[0][:20].strip() if text.strip() else ""
        return f"it is a text file (it begins '{first}')" if first else "it is a text file"
    return f"it is binary data of another kind (it begins {head[:8].hex(' ')})"


def _torch_reason(e: Exception) -> str:
    """The line of torch's weights-only error that says what it met (its advice to load unsafely left out)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("Unsupported"):
            return ln
        if "WeightsUnpickler error" in ln and i + 1 < len(lines) and "weights_only" not in lines[i + 1]:
            return lines[i + 1]
    return "unreadable bytes"


def checkpoint_from_bytes(data: bytes, name: str = "the uploaded file", *, model: ModelConfig | None = None,
                          max_bytes: int = UPLOAD_MAX_BYTES) -> Checkpoint:
    """A checkpoint from untrusted bytes (a browser upload). Refused, with what is wrong and what to do, when it
    is over `max_bytes` (or its zip entries unpack past it), is not a PyTorch file, holds anything but tensors and
    plain values (read with weights_only=True: nothing in it runs), or, with `model`, describes another network
    or holds tensors other than exactly that network's (names, shapes, float32): checked before any network the
    file describes is built."""
    mb = lambda n: f"{n / 1e6:.2g} MB" if n < 1e6 else f"{n / 1e6:.1f} MB"  # noqa: E731
    limit = f"{max_bytes / 1e6:g} MB"
    if len(data) > max_bytes:
        raise CheckpointError(f"{name} is {mb(len(data))}, more than the {limit} a checkpoint of this app can be: "
                              "upload a .pt file downloaded from the Meta-training page")
    if data.startswith(b"PK"):
        try:
            unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
        except (zipfile.BadZipFile, ValueError, OSError):
            unpacked = 0  # torch's reader reports a damaged archive below
        if unpacked > max_bytes:
            raise CheckpointError(f"{name} unpacks to {mb(unpacked)}, more than the {limit} a checkpoint of this "
                                  "app can be: upload a .pt file downloaded from the Meta-training page")
    blob = _read(io.BytesIO(data), data[:64], name)
    try:
        config = TrainConfig.from_dict(blob["config"])
    except (KeyError, TypeError, ConfigError, AttributeError, ValueError) as e:
        raise CheckpointError(f"{name} is a maml_core checkpoint with a damaged or incompatible config "
                              f"({type(e).__name__}: {e}); re-train it") from e
    params = blob.get("params")
    if not isinstance(params, dict):
        raise CheckpointError(f"{name} is a maml_core checkpoint without weights: re-train it")
    if model is not None:
        if config.model != model:
            raise CheckpointError(f"{name} describes a {_network(config.model)}; this page's model is the "
                                  f"{_network(model)}: upload a checkpoint of this page's problem")
        _check_tensors(name, params, _expected_tensors(model, config))
    try:
        return Checkpoint(config, dict(params), Metrics.from_dict(blob.get("metrics")),
                          dict(blob.get("info") or {}))
    except (CheckpointError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{name}: {e}") from e


def _network(m: ModelConfig) -> str:
    size = f"hidden {'-'.join(map(str, m.hidden))}" if m.kind == "mlp" else f"{m.channels} channels, {m.norm}"
    return f"{m.kind} network ({m.n_out} output{'' if m.n_out == 1 else 's'}, {size})"


def _expected_tensors(model: ModelConfig, config: TrainConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    net = build_model(model)  # the page's model, never the file's
    expected = {k: (tuple(v.shape), v.dtype) for k, v in net.named_parameters()}
    if config.learn_inner_lr:
        rates = initial_rates(dict(net.named_parameters()), config.inner_steps, config.inner_lr)
        expected.update({k: (tuple(v.shape), v.dtype) for k, v in rates.items()})
    return expected


def _check_tensors(name: str, params: dict, expected: dict[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
    def fix(what: str) -> CheckpointError:
        return CheckpointError(f"{name} does not fit this page's model: {what}. Upload a checkpoint downloaded from "
                               "the Meta-training page for this problem")

    for k in params:
        if k not in expected:
            raise fix(f"an unexpected tensor {str(k)[:60]}")
    for k, (shape, dtype) in expected.items():
        v = params.get(k)
        if v is None:
            raise fix(f"{k} is missing")
        if not isinstance(v, Tensor) or v.layout != torch.strided:
            raise fix(f"{k} is not a tensor")
        if v.dtype != dtype:
            raise fix(f"{k} has dtype {str(v.dtype).removeprefix('torch.')}, the page's model needs "
                      f"{str(dtype).removeprefix('torch.')}")
        if tuple(v.shape) != shape:
            raise fix(f"{k} has shape {tuple(v.shape)}, the page's model needs {shape}")


def first_line(e: Exception) -> str:
    """An exception's message in one line for a user-facing sentence (its type's name when it has none)."""
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

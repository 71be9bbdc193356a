"""The values a page's state keeps between reruns (ui/page_state.py): the Sinusoid page's support points and
adaptation results, the Omniglot page's runs and episode. A leaf: it imports no view, so page_state and every view
can depend on it (the views re-export these names: `sinusoid_view.Point`, `omniglot_view.EpisodeResult`, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from maml_core import DIVERGED_LOSS, diverged_at

# --- Sinusoid ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One support point. `y is None` means it lies on the true curve and follows the task sliders."""

    x: float
    y: float | None = None


@dataclass
class MethodResult:
    key: str
    label: str
    inner_lr: float | str  # or maml_core.LEARNED: the checkpoint's learned rates (LSLR)
    preds: np.ndarray  # (S + 1, G) predictions on sinusoid_view.PLOT_X after each inner step
    support_loss: np.ndarray  # (S + 1,) MSE on the support set (nan without points)
    query_mse: np.ndarray  # (S + 1,) MSE against the true curve on PLOT_X's 121 points in [-5, 5]
    diverged_at: int | None  # first step whose support loss exploded or is not finite


# --- Omniglot ---------------------------------------------------------------------------------------------------

LOSS_CAP = DIVERGED_LOSS  # charts clip a support loss where it counts as diverged (maml_core.evaluation)


@dataclass
class MethodRun:
    """One method adapted to one episode. probs (S+1, M, N): softmax over the N classes for each
    query after each inner step; support_loss (S+1,); query_acc (S+1,) when query labels are known."""

    method: str
    inner_lr: float | str  # or maml_core.LEARNED (a checkpoint trained with learned rates)
    eval_steps: int  # the number of steps validated for this checkpoint
    probs: Tensor
    support_loss: Tensor
    query_acc: Tensor | None = None

    @property
    def diverged_at(self) -> int | None:
        """The first step whose support loss diverged (maml_core.diverged_at) or whose probabilities are not numbers
        (an inner learning rate far too large); None if every step is fine."""
        loss = torch.where(torch.isfinite(self.probs).reshape(self.probs.shape[0], -1).all(-1),
                           self.support_loss, torch.full_like(self.support_loss, float("nan")))
        return diverged_at(loss)

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def steps(self) -> int:
        return self.probs.shape[0] - 1

    def prediction(self, query: int = 0, step: int | None = None) -> tuple[int, float]:
        """(predicted class, its probability) for one query after `step` steps (default: the last)."""
        p = self.probs[self.steps if step is None else step, query]
        return int(p.argmax()), float(p.max())


@dataclass
class EpisodeResult:
    """What "Adapt" produced, kept by the page (`OmniglotState.result`) until the inputs change or are cleared:
    every method's run and the episode it ran on. support_x (N*K, 1, 28, 28); query_x (M, 1, 28, 28); query_y (M,)
    for a dataset episode, None for a drawn query; class_tiles: one support input per class."""

    inputs_fp: str  # fingerprint of the inputs (`fingerprint`): results of other inputs say so
    settings_fp: str  # fingerprint of the sidebar settings and weights: a change re-adapts by itself
    runs: dict[str, MethodRun]
    n_way: int
    k_shot: int
    source: str  # "draw" or "dataset"
    support_x: Tensor
    query_x: Tensor
    query_y: Tensor | None
    class_tiles: list[Tensor]
    query_labels: list[str]  # one per query, for the "Query to inspect" slider
    mode: str = "validated"  # how the methods were compared (ui/omniglot_compare.MODES)

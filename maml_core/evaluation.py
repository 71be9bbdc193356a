"""Adaptation curves: for 0..S inner steps, the support loss and the query MSE or accuracy, mean and
95% confidence interval over many tasks (600 by default, as in the paper)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from .algorithm import InnerLR, adapt_curves
from .config import EVAL_SEED, TrainConfig
from .omniglot import OmniglotData, OmniglotTasks
from .tasks import Episode, SinusoidTasks, mean_ci95

Params = dict[str, Tensor]
SINUSOID_EVAL_QUERIES = 100
# A sinusoid task whose query MSE exceeds this has diverged (plain SGD overshooting), not merely fitted badly:
# predicting zero everywhere scores at most A_max^2 / 2 = 12.5 on the paper's tasks.
DIVERGED_MSE = 100.0
# An adaptation whose support loss exceeds this (or is not a number) has diverged: the inner learning rate is far too
# large for the task. Far above any loss a working adaptation reaches (sinusoid MSE <= 12.5 at zero, cross-entropy
# ln N < 3 at chance), so a merely poor fit is never called diverged.
DIVERGED_LOSS = 1e4


def diverged_at(support_loss: Tensor) -> int | None:
    """The first inner step (index into the (S + 1,) support losses) whose loss diverged (above DIVERGED_LOSS or
    not finite); None if none did."""
    bad = ~torch.isfinite(support_loss) | (support_loss > DIVERGED_LOSS)
    return int(bad.nonzero()[0]) if bool(bad.any()) else None
OMNIGLOT_EVAL_QUERIES = 5  # per class; more queries per task narrow the interval, not the mean


@dataclass
class Curves:
    """Per inner step 0..S: mean and 95% CI half-width over `tasks` tasks."""

    steps: int
    inner_lr: float | str  # or "learned" (LSLR)
    tasks: int
    support_loss: tuple[list[float], list[float]]
    query_loss: tuple[list[float], list[float]]
    query_acc: tuple[list[float], list[float]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def classification(self) -> bool:
        return self.query_acc is not None

    def headline(self, step: int | None = None) -> tuple[float, float]:
        """Query accuracy (classification) or MSE (regression) after `step` steps (default: the last)."""
        s = self.steps if step is None else step
        mean, ci = self.query_acc if self.classification else self.query_loss
        return mean[s], ci[s]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "inner_lr": self.inner_lr, "tasks": self.tasks,
                "support_loss": list(map(list, self.support_loss)), "query_loss": list(map(list, self.query_loss)),
                "query_acc": None if self.query_acc is None else list(map(list, self.query_acc)), "meta": self.meta}


def task_sampler(config: TrainConfig, data: OmniglotData | None = None, *, k_shot: int | None = None,
                 n_way: int | None = None, n_query: int | None = None, training: bool = False):
    """A sampler for evaluation (or training, with the paper's rotation augmentation)."""
    if config.problem == "sinusoid":
        sc = config.sinusoid
        return SinusoidTasks(replace(sc, k_shot=k_shot or sc.k_shot,
                                     n_query=n_query or (sc.n_query if training else SINUSOID_EVAL_QUERIES)))
    if data is None:
        raise ValueError("Omniglot evaluation needs the data split to sample from (see maml_core.omniglot.split)")
    o = config.omniglot
    return OmniglotTasks(data, n_way or o.n_way, k_shot or o.k_shot,
                         n_query or (o.n_query if training else OMNIGLOT_EVAL_QUERIES),
                         rotations=o.rotations and training, augment=o.augment and training)


def task_curves(model: nn.Module, params: Params, sampler, *, tasks: int = 600, steps: int = 10,
                inner_lr: InnerLR = 0.01, seed: int = EVAL_SEED, chunk: int = 50, queries_alone: bool = False,
                only: Collection[str] | None = None) -> dict[str, Tensor]:
    """Every task's curves, unsummarised: `adapt_curves` over `tasks` tasks from `sampler` (fixed `seed`, in
    chunks), e.g. support_loss and query_loss (tasks, steps + 1). `adaptation_curves` summarises them."""
    if tasks < 1:
        raise ValueError(f"adaptation curves need at least one task, got tasks={tasks}: there is nothing to average")
    g = torch.Generator().manual_seed(seed)  # tasks are sampled on the CPU, then moved to the weights' device
    device = next(iter(params.values())).device
    parts: dict[str, list[Tensor]] = {}
    done = 0
    while done < tasks:
        n = min(chunk, tasks - done)
        batch: Episode = sampler.sample(n, g).to(device)
        out = adapt_curves(model, params, batch, steps=steps, inner_lr=inner_lr, queries_alone=queries_alone,
                           only=only)
        for k, v in out.items():
            parts.setdefault(k, []).append(v.cpu())
        done += n
    return {k: torch.cat(v) for k, v in parts.items()}


def adaptation_curves(model: nn.Module, params: Params, sampler, *, tasks: int = 600, steps: int = 10,
                      inner_lr: InnerLR = 0.01, seed: int = EVAL_SEED, chunk: int = 50,
                      queries_alone: bool = False) -> Curves:
    """Adapt `params` to `tasks` tasks from `sampler` (fixed `seed`) and summarise per step.
    `queries_alone` predicts each query in a batch of its own (only the transductive batch norm cares)."""
    cat = task_curves(model, params, sampler, tasks=tasks, steps=steps, inner_lr=inner_lr, seed=seed, chunk=chunk,
                      queries_alone=queries_alone)

    def summary(k: str) -> tuple[list[float], list[float]]:
        m, ci = mean_ci95(torch.nan_to_num(cat[k], nan=float("inf")))
        return m.tolist(), ci.tolist()

    lr = inner_lr if isinstance(inner_lr, str) else float(inner_lr)  # a number, or "learned"
    return Curves(steps, lr, tasks, summary("support_loss"), summary("query_loss"),
                  summary("query_acc") if "query_acc" in cat else None)


def choose_test_settings(model: nn.Module, params: Params, sampler, *, lrs: list[InnerLR], max_steps: int,
                         tasks: int = 200, seed: int = EVAL_SEED + 1) -> tuple[InnerLR, int, dict[str, Any]]:
    """Pick the inner learning rate and number of steps that do best on validation tasks (highest
    accuracy, or lowest MSE). Returns (inner_lr, steps, the table that was compared)."""
    best: tuple[float, float, int] | None = None
    table = {}
    for lr in lrs:
        c = adaptation_curves(model, params, sampler, tasks=tasks, steps=max_steps, inner_lr=lr, seed=seed)
        scores = c.query_acc[0] if c.classification else [-v for v in c.query_loss[0]]
        table[str(lr)] = scores if c.classification else c.query_loss[0]
        for s, v in enumerate(scores):
            if v == v and (best is None or v > best[0] + 1e-9):
                best = (v, lr, s)
    assert best is not None
    return best[1], best[2], table

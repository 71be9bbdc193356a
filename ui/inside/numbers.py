"""Inside MAML, sinusoid: the numbers behind the page (app_pages/inside.py). Each `compute_*` calls the engine
(`maml_core.geometry`, `maml_core.adapt`) and returns plain arrays; the charts (ui/inside/charts.py) and the sentences
(ui/inside/explain.py) are built only from them, so what a sentence says is what the chart beside it shows.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from maml_core import Episode, SinusoidTaskConfig, adapt, sinusoid
from maml_core import geometry as G

GRID = 41  # points per side of the loss grid (the 41 x 41)
QUERY_X = torch.linspace(-5.0, 5.0, 100).reshape(-1, 1)  # each task's query set: its curve on the trained range
PLANES = {
    "gradients": "two tasks' first inner steps",
    "adapted": "two tasks' adapted weights",
    "random": "random directions (filter-normalised)",
}
LINE_T = np.linspace(-0.5, 1.5, 41)  # the meta-objective's line: t = 0 the pretrained start, t = 1 MAML's
LINE_STEPS = (0, 1, 2, 5, 10)
MANY_TASKS, MANY_SHOTS, MANY_STEPS = 600, 5, 10  # docs/RESULTS.md's 5-shot table: the same 600 test tasks
# Grid points and line points evaluated at once: the whole batch at once held several hundred MB for a moment, more
# than Community Cloud's smallest box can spare (benchmarks/bench_app.py (c)), and these chunks cost little time.
GRID_CHUNK, LINE_CHUNK = 256, 4


@dataclass(frozen=True)
class Task:
    """One sinusoid task on the page: its curve and support set (x, y as the user or the sampler gave them)."""

    amplitude: float
    phase: float
    x: tuple[float, ...]
    y: tuple[float, ...]
    label: str


def page_tasks(user: Task | None, k: int, seed: int, n: int = 4) -> list[Task]:
    """The user's task (from the Sinusoid page) and random tasks of the paper's family, with the same K."""
    rng = np.random.default_rng([seed, 7])
    tasks = [user] if user is not None else []
    family = SinusoidTaskConfig()
    while len(tasks) < n:
        a, p = float(rng.uniform(*family.amplitude)), float(rng.uniform(*family.phase))
        x = rng.uniform(*family.x_range, size=k)
        y = sinusoid(torch.as_tensor(x), a, p).numpy()
        tasks.append(Task(round(a, 2), round(p, 2), tuple(np.round(x, 3)), tuple(np.round(y, 4)),
                          f"task {len(tasks) + 1}"))
    return tasks


def episode(tasks: Sequence[Task]) -> Episode:
    """The tasks as one batch: support (T, K, 1), query (T, 100, 1) on x in [-5, 5]."""
    sx = torch.tensor([t.x for t in tasks], dtype=torch.float32)[..., None]
    sy = torch.tensor([t.y for t in tasks], dtype=torch.float32)[..., None]
    qy = torch.stack([sinusoid(QUERY_X, t.amplitude, t.phase) for t in tasks])
    return Episode(sx, sy, QUERY_X.expand(len(tasks), -1, -1), qy, 1, sx.shape[1], QUERY_X.shape[0])


@dataclass(frozen=True)
class Landscape:
    """The plane and every task's support loss over its grid: loss (T, R, R), rows along b."""

    plane: G.Plane
    a: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    starts: dict[str, G.Projection]  # every start's projection onto the plane


def compute_landscape(model: nn.Module, starts: dict[str, dict], origin: str, kind: str, tasks: Episode,
                      steps: int, inner_lr: float) -> Landscape:
    """The plane through the `origin` start (built as `kind` says from the first two tasks), sized to hold both
    tasks' paths with a margin, and every task's support loss on a GRID x GRID grid of it."""
    theta = starts[origin]
    t1, t2 = tasks.task(0), tasks.task(1)
    if kind == "gradients":
        plane, half = G.gradient_plane(model, theta, t1, t2), 0.0
    elif kind == "adapted":
        ends = [adapt(model, theta, t.support_x, t.support_y, steps=max(steps, 1), inner_lr=inner_lr)[-1]
                for t in (t1, t2)]
        plane, half = G.plane_through(theta, *ends), 0.0
    else:
        plane, half = G.random_plane(theta)
    paths = compute_paths(model, plane, theta, tasks, max(steps, 1), inner_lr)
    reach = float(np.abs(paths.coords[np.isfinite(paths.coords)]).max(initial=0.0))
    half = max(half if kind == "random" else 0.0, 1.4 * reach, 1e-3)
    axis = torch.linspace(-half, half, GRID)
    loss = G.loss_grid(model, plane, tasks, axis, axis, which="support", chunk=GRID_CHUNK)
    return Landscape(plane, axis.numpy(), axis.numpy(), loss.numpy(),
                     {m: plane.project(p) for m, p in starts.items()})


@dataclass(frozen=True)
class Paths:
    """Each task's inner-step path from one start, projected: coords (T, S+1, 2), off (T, S+1) the distance
    off the plane and off_share its share of the distance from the plane's origin; the losses (T, S+1)."""

    coords: np.ndarray
    off: np.ndarray
    off_share: np.ndarray
    support_loss: np.ndarray
    query_loss: np.ndarray
    start_off: float  # how far the start itself lies off the plane (0 for the plane's own origin)


def compute_paths(model: nn.Module, plane: G.Plane, start: dict, tasks: Episode, steps: int,
                  inner_lr: float, only: Collection[str] | None = None) -> Paths:
    states, support, query = G.task_paths(model, start, tasks, steps=steps, inner_lr=inner_lr, only=only)
    paths = [plane.project_path([{k: v[i] for k, v in s.items()} for s in states])
             for i in range(tasks.support_x.shape[0])]
    return Paths(np.stack([p.coords.numpy() for p in paths]), np.stack([p.off.numpy() for p in paths]),
                 np.stack([p.off_share.numpy() for p in paths]), support.numpy(), query.numpy(),
                 float(plane.project(start).off))


@dataclass(frozen=True)
class DirectionTable:
    norms: dict[str, float]
    cosines: dict[tuple[str, str], float]
    second_order_share: float
    in_plane: dict[str, tuple[float, float, float]]  # (da, db, share of the vector inside the plane)
    reptile_steps: int


def compute_directions(model: nn.Module, plane: G.Plane, theta: dict, tasks: Episode, steps: int,
                       inner_lr: float) -> DirectionTable:
    d = G.update_directions(model, theta, tasks, steps=max(steps, 1), inner_lr=inner_lr,
                            reptile_steps=max(steps, 1))
    in_plane = {}
    for m, v in d.vectors.items():
        da, db = float(v @ plane.u), float(v @ plane.v)
        n = float(v.norm())
        in_plane[m] = (da, db, math.hypot(da, db) / n if n > 0 else 0.0)
    pairs = [(a, b) for i, a in enumerate(G.METHODS) for b in G.METHODS[i + 1:]]
    return DirectionTable({m: d.norm(m) for m in G.METHODS}, {p: d.cosine(*p) for p in pairs},
                          d.second_order_share(), in_plane, d.reptile_steps)


def compute_line(model: nn.Module, pretrained: dict, maml: dict, tasks: Episode, inner_lr: float) -> np.ndarray:
    """The meta-objective (mean query loss after m steps) along the line from the pretrained start (t = 0) to
    MAML's (t = 1) and beyond: (len(LINE_STEPS), len(LINE_T))."""
    points = G.line_points(pretrained, maml, torch.tensor(LINE_T, dtype=torch.float32))
    return np.stack([G.meta_objective(model, points, tasks, steps=m, inner_lr=inner_lr, chunk=LINE_CHUNK).numpy()
                     for m in LINE_STEPS])


def compute_layers(model: nn.Module, start: dict, task: Episode, steps: int, inner_lr: float) -> G.LayerChanges:
    return G.layer_changes(adapt(model, start, task.support_x, task.support_y, steps=steps, inner_lr=inner_lr))


def drawn(p: G.Projection, half: float) -> bool:
    """A start is drawn where it projects only if it lies near the plane (a far start would land at a
    misleading spot: the pretrained start is tens of units off any plane that shows a path)."""
    return abs(p.a) <= half and abs(p.b) <= half and p.off <= 0.5 * half


def compute_many(nets: dict[str, tuple[nn.Module, dict]], config, inner_lr: float) -> dict[str, np.ndarray]:
    """Each start's query MSE on the 600 test tasks of docs/RESULTS.md (5 shots, test seed) after 0..10 steps:
    method -> (600, 11)."""
    from maml_core import task_curves, task_sampler

    sampler = task_sampler(config, k_shot=MANY_SHOTS)
    return {m: task_curves(model, params, sampler, tasks=MANY_TASKS, steps=MANY_STEPS,
                           inner_lr=inner_lr)["query_loss"].numpy() for m, (model, params) in nets.items()}


@dataclass(frozen=True)
class AlongTraining:
    """At each snapshot of a MAML run: the MAML/FO-MAML cosine, the second-order share, Reptile's cosine with MAML."""

    iterations: list[int]
    maml_fomaml: list[float]
    second_order: list[float]
    reptile: list[float]


def compute_along(model: nn.Module, snapshots: dict[int, dict], tasks: Episode, inner_lr: float,
                  steps: int = 1) -> AlongTraining:
    """The update directions at each snapshot on one fixed batch of tasks (the training protocol's 1 step)."""
    its = sorted(snapshots)
    ds = [G.update_directions(model, snapshots[i], tasks, steps=steps, inner_lr=inner_lr, reptile_steps=5)
          for i in its]
    return AlongTraining(its, [d.cosine("maml", "fomaml") for d in ds], [d.second_order_share() for d in ds],
                         [d.cosine("maml", "reptile") for d in ds])


def finite(v: np.ndarray) -> np.ndarray:
    """Not-a-number (a diverged task) as infinity: a diverged task ranks worst and makes a mean infinite."""
    return np.nan_to_num(v, nan=np.inf)

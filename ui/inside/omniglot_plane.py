"""Inside MAML, Omniglot: the loss landscape of a test episode around the shipped 5-way MAML network, on the plane
through its start and the episode's weights after one and after all inner steps (maml_core.geometry), with the
episode's inner steps adapting all layers and the head alone (ANIL).

A zero head (the zeroing trick) makes the first inner gradient a head-only direction (a gradient plane would show the
head alone); this plane holds that first step and the path's end, and the end moves every layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from maml_core import adapt, head_names
from maml_core import geometry as G
from maml_core.tasks import Episode

from .numbers import Landscape, Paths, compute_paths

OMNI_GRID = 21  # 21 x 21: the Inside MAML issue's Omniglot target (a 41 x 41 grid takes 4x as long)
OMNI_STEPS = 10  # inner steps drawn (as scripts/inside_omniglot.py's figures beside it)
OMNI_CHUNK = 21  # grid points evaluated at once: one row (fastest of 21, 63 and all 441 on one thread)
PATH_NAMES = ("all layers", "head only (ANIL)")


@dataclass(frozen=True)
class EpisodeLabel:
    """A path's label, as the landscape chart takes a task's (an Omniglot episode has no amplitude or phase)."""

    label: str


LABELS = tuple(EpisodeLabel(n) for n in PATH_NAMES)


@dataclass(frozen=True)
class OmniglotPlane:
    """One episode's query loss over the plane (a Landscape of one task) and its two inner-step paths from the
    start: all layers, and the head alone."""

    land: Landscape
    paths: Paths
    head_share_first_step: float  # the share of the first step's length that lies in the head
    inner_lr: float


def compute_omniglot_plane(model: nn.Module, theta: dict, episode: Episode, steps: int, inner_lr: float,
                           progress: Callable[[float], None] | None = None) -> OmniglotPlane:
    """The plane through `theta`, its weights after one inner step and after `steps` (a batch of one episode), sized
    to hold both paths with a margin; the episode's query loss (its support set normalises: TaskNorm) on an
    OMNI_GRID square grid, a row at a time, calling `progress(fraction done)` after each row."""
    task = episode.task(0)
    states = adapt(model, theta, task.support_x, task.support_y, steps=max(steps, 1), inner_lr=inner_lr)
    states = [{k: v.detach() for k, v in s.items()} for s in states]
    plane = G.plane_through(theta, states[1], states[-1])
    full = compute_paths(model, plane, theta, episode, steps, inner_lr)
    head = head_names(model)
    anil = compute_paths(model, plane, theta, episode, steps, inner_lr, only=head)
    paths = Paths(*(np.concatenate([getattr(full, f), getattr(anil, f)]) for f in
                    ("coords", "off", "off_share", "support_loss", "query_loss")), full.start_off)
    reach = float(np.abs(paths.coords[np.isfinite(paths.coords)]).max(initial=0.0))
    axis = torch.linspace(-max(1.4 * reach, 1e-3), max(1.4 * reach, 1e-3), OMNI_GRID)
    rows = []
    for i in range(OMNI_GRID):
        rows.append(G.loss_grid(model, plane, episode, axis, axis[i:i + 1], which="query", chunk=OMNI_CHUNK))
        if progress is not None:
            progress((i + 1) / OMNI_GRID)
    loss = torch.cat(rows, dim=1).numpy()
    step = {k: (states[1][k] - theta[k]).flatten() for k in theta if k in states[1]}
    total = float(torch.cat(list(step.values())).norm())
    in_head = float(torch.cat([step[k] for k in head]).norm())
    return OmniglotPlane(Landscape(plane, axis.numpy(), axis.numpy(), loss,
                                   {"maml": plane.project(theta)}), paths, in_head / total if total > 0 else 0.0,
                         inner_lr)


def explain(f: OmniglotPlane, step: int) -> list[str]:
    """Sentences from the numbers on screen: where the first step goes, each path's query loss at the step shown,
    and how much of each path the plane shows."""
    p = f.paths
    s = min(step, p.coords.shape[1] - 1)
    out = [f"The first inner step lies {100 * f.head_share_first_step:.0f}% in the head: with the zeroing trick the "
           "head starts at zero, so no gradient reaches the layers below it until the head has moved."]
    start = p.query_loss[:, 0]
    if np.allclose(start, np.log(5), atol=1e-3):
        out.append(f"At the start the query loss is {float(start[0]):.2f} = ln 5: every class gets the same score.")
    for i, name in enumerate(PATH_NAMES):
        out.append(f"Adapting {name}: query loss {float(p.query_loss[i, 0]):.2f} → {float(p.query_loss[i, s]):.2f} "
                   f"after {s} step{'' if s == 1 else 's'}; {100 * float(p.off_share[i, s]):.0f}% of its "
                   "displacement lies off this plane.")
    if s >= 2:
        gap = float(np.hypot(*(p.coords[0, s] - p.coords[1, s])))
        length = float(np.hypot(*(p.coords[0, s] - p.coords[0, 0])))
        out.append(f"By step {s} the two paths end {gap:.2g} apart in the plane, {100 * gap / max(length, 1e-12):.0f}% "
                   "of the distance all layers travelled: the body's own steps change little (feature reuse).")
    return out

"""Inside MAML, sinusoid: the numbers behind the page (app_pages/inside.py), its charts and its sentences.

`compute_landscape` and `compute_paths` call the engine (`maml_core.geometry`, `maml_core.adapt`) and return plain
numpy arrays; the figures and the sentences are built only from those arrays, so what a sentence says is what the
chart beside it shows. No widgets here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from maml_core import Episode, adapt, adapt_and_measure, sinusoid
from maml_core import geometry as G

from . import figures
from .common import METHOD_COLORS, METHOD_LABELS

GRID = 41  # points per side of the loss grid (the 41 x 41)
QUERY_X = torch.linspace(-5.0, 5.0, 100).reshape(-1, 1)  # each task's query set: its curve on the trained range
TASK_COLORS = ("#000000", "#CC79A7", "#56B4E9", "#D55E00")  # the user's task first (black), then the others
PLANES = {
    "gradients": "two tasks' first inner steps",
    "adapted": "two tasks' adapted weights",
    "random": "random directions (filter-normalised)",
}
START_SYMBOLS = {"maml": "star", "fomaml": "diamond", "pretrain": "square"}
LINE_T = np.linspace(-0.5, 1.5, 41)  # the meta-objective's line: t = 0 the pretrained start, t = 1 MAML's
LINE_STEPS = (0, 1, 2, 5, 10)


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
    while len(tasks) < n:
        a, p = float(rng.uniform(0.1, 5.0)), float(rng.uniform(0.0, math.pi))
        x = rng.uniform(-5.0, 5.0, size=k)
        tasks.append(Task(round(a, 2), round(p, 2), tuple(np.round(x, 3)),
                          tuple(np.round(a * np.sin(x - p), 4)), f"task {len(tasks) + 1}"))
    return tasks


def episode(tasks: Sequence[Task]) -> Episode:
    """The tasks as one batch: support (T, K, 1), query (T, 100, 1) on x in [-5, 5]."""
    sx = torch.tensor([t.x for t in tasks], dtype=torch.float32)[..., None]
    sy = torch.tensor([t.y for t in tasks], dtype=torch.float32)[..., None]
    qy = torch.stack([sinusoid(QUERY_X, t.amplitude, t.phase) for t in tasks])
    return Episode(sx, sy, QUERY_X.expand(len(tasks), -1, -1), qy, 1, sx.shape[1], QUERY_X.shape[0])


# --- the numbers ------------------------------------------------------------------------------------------------

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
    loss = G.loss_grid(model, plane, tasks, axis, axis, which="support")
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
                  inner_lr: float) -> Paths:
    coords, off, share, sl, ql = [], [], [], [], []
    for i in range(tasks.support_x.shape[0]):
        t = tasks.task(i)
        with torch.no_grad():
            states = adapt(model, start, t.support_x, t.support_y, steps=steps, inner_lr=inner_lr, first_order=True)
            m = adapt_and_measure(model, start, t.support_x, t.support_y, t.query_x, t.query_y, steps=steps,
                                  inner_lr=inner_lr)
        path = plane.project_path(states)
        coords.append(path.coords.numpy())
        off.append(path.off.numpy())
        share.append(path.off_share.numpy())
        sl.append(m["support_loss"].numpy())
        ql.append(m["query_loss"].numpy())
    return Paths(np.array(coords), np.array(off), np.array(share), np.array(sl), np.array(ql),
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
    return np.stack([G.meta_objective(model, points, tasks, steps=m, inner_lr=inner_lr).numpy()
                     for m in LINE_STEPS])


def compute_layers(model: nn.Module, start: dict, task: Episode, steps: int, inner_lr: float) -> G.LayerChanges:
    return G.layer_changes(adapt(model, start, task.support_x, task.support_y, steps=steps, inner_lr=inner_lr))


# --- charts -----------------------------------------------------------------------------------------------------

START_TRACE_NAME = "starts"  # (the landscape's last trace: the click listener needs no trace of points)


def _levels(loss: np.ndarray) -> tuple[float, float, float]:
    """Contour levels in log10 of the loss: the losses span orders of magnitude (a linear scale shows nothing)."""
    finite = np.log10(np.clip(loss[np.isfinite(loss)], 1e-8, None))
    lo, hi = (float(np.percentile(finite, 1)), float(np.percentile(finite, 99))) if finite.size else (0.0, 1.0)
    if hi - lo < 1e-6:
        hi = lo + 1.0
    return lo, hi, (hi - lo) / 8


def drawn(p: G.Projection, half: float) -> bool:
    """A start is drawn where it projects only if it lies near the plane (a far start would land at a
    misleading spot: the pretrained start is tens of units off any plane that shows a path)."""
    return abs(p.a) <= half and abs(p.b) <= half and p.off <= 0.5 * half


def landscape_figure(land: Landscape, paths: Paths, step: int, tasks: Sequence[Task], origin: str,
                     clicked: tuple[float, float], height: int) -> figures.Figure:
    """Each task's support-loss contours on the plane (log scale, in the task's colour), each task's inner-step
    path up to `step` with an arrow on its last step, the starts that lie on the drawn square, and the clicked
    start."""
    data: list[dict] = []
    lo, hi, size = _levels(land.loss)
    half = float(land.a[-1])
    for i, task in enumerate(tasks):
        z = np.log10(np.clip(land.loss[i], 1e-8, None))
        c = TASK_COLORS[i % len(TASK_COLORS)]
        data.append(dict(type="contour", x=land.a.tolist(), y=land.b.tolist(), z=np.round(z, 4).tolist(),
                         contours=dict(coloring="lines", start=lo, end=hi, size=size), showscale=False,
                         colorscale=[[0, c], [1, c]], line=dict(width=1.2), opacity=0.75, name=task.label,
                         hovertemplate=f"{task.label}: support loss 10^%{{z:.2f}}<extra></extra>", showlegend=False))
    annotations = []
    for i, task in enumerate(tasks):
        c = TASK_COLORS[i % len(TASK_COLORS)]
        xy = paths.coords[i, : step + 1]
        data.append(dict(type="scatter", mode="lines+markers", x=np.round(xy[:, 0], 5).tolist(),
                         y=np.round(xy[:, 1], 5).tolist(),
                         name=f"{task.label} ({100 * paths.off_share[i, step]:.0f}% off the plane)",
                         line=dict(color=c, width=2.5), marker=dict(color=c, size=6),
                         customdata=np.round(paths.off[i, : step + 1], 4).tolist(),
                         hovertemplate="step %{pointNumber}: off the plane %{customdata}<extra></extra>"))
        if step > 0:
            annotations.append(dict(x=float(xy[-1, 0]), y=float(xy[-1, 1]), ax=float(xy[-2, 0]), ay=float(xy[-2, 1]),
                                    xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=3,
                                    arrowsize=1.4, arrowwidth=2.5, arrowcolor=c, text=""))
    for m, p in land.starts.items():
        if drawn(p, half):
            data.append(dict(type="scatter", mode="markers", x=[p.a], y=[p.b], name=f"{METHOD_LABELS[m]} start",
                             marker=dict(symbol=START_SYMBOLS[m], size=16, color=METHOD_COLORS[m],
                                         line=dict(color="white", width=1.5)),
                             hovertemplate=f"{METHOD_LABELS[m]} start, {p.off:.3g} off the plane<extra></extra>"))
    if clicked != (0.0, 0.0):
        data.append(dict(type="scatter", mode="markers", x=[clicked[0]], y=[clicked[1]], name="θ you clicked",
                         marker=dict(symbol="x", size=14, color="#444")))
    return figures.figure(data, height, xaxis=dict(title="direction 1 (u)", range=[-half, half], zeroline=False,
                                                    gridcolor=figures.GRID, constrain="domain"),
                          yaxis=dict(title="direction 2 (v)", range=[-half, half], zeroline=False,
                                     gridcolor=figures.GRID, scaleanchor="x", constrain="domain"),
                          annotations=annotations, hovermode="closest")


def directions_figure(table: DirectionTable, height: int) -> figures.Figure:
    """The four update directions from theta, each as a unit vector projected on the plane: an arrow's angle is
    its direction in the plane and its length the share of it that lies in the plane (gradients and Reptile's
    displacement have different units: their lengths are in the table, not here)."""
    data, notes = [], []
    for m, (da, db, share) in table.in_plane.items():
        k = share / (math.hypot(da, db) or 1.0)
        c = REPTILE_COLOR if m == "reptile" else METHOD_COLORS[m]
        notes.append(dict(x=da * k, y=db * k, ax=0, ay=0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                          arrowhead=3, arrowsize=1.3, arrowwidth=3, arrowcolor=c, text=""))
        data.append(dict(type="scatter", mode="markers+text", x=[da * k], y=[db * k], text=[DIRECTION_LABELS[m]],
                         textposition="top center", marker=dict(color=c, size=4), name=DIRECTION_LABELS[m],
                         hovertemplate=f"{DIRECTION_LABELS[m]}: {100 * share:.0f}% of it lies in this plane"
                                       "<extra></extra>"))
    return figures.figure(data, height, showlegend=False, annotations=notes,
                          xaxis=dict(range=[-1, 1], title="direction 1 (u)", zeroline=True, gridcolor=figures.GRID),
                          yaxis=dict(range=[-1, 1], title="direction 2 (v)", zeroline=True, gridcolor=figures.GRID,
                                     scaleanchor="x"))


DIRECTION_LABELS = {"maml": "MAML", "fomaml": "FO-MAML", "reptile": "Reptile", "pretrain": "Pretraining"}
REPTILE_COLOR = "#CC79A7"  # (reddish purple: the Okabe-Ito colour no other method uses)


def label(method: str) -> str:
    """A start's name (the methods' labels on every page)."""
    return METHOD_LABELS.get(method, method)


def line_figure(values: np.ndarray, height: int) -> figures.Figure:
    """The meta-objective after m steps along the line pretrained (t = 0) -> MAML (t = 1), one curve per m, its
    lowest point marked (log y: the losses far along the line reach thousands)."""
    data = []
    shades = ("#009E73", "#7FB8D9", "#4C9BC8", "#1F77B4", "#0B3C5D")
    for j, m in enumerate(LINE_STEPS):
        v = np.where(np.isfinite(values[j]), values[j], np.nan)
        data.append(dict(type="scatter", mode="lines", x=LINE_T.tolist(), y=[None if np.isnan(y) else round(float(y), 5)
                                                                          for y in v],
                         name=f"m = {m}", line=dict(color=shades[j % len(shades)], width=2.5)))
        if np.isfinite(v).any():
            i = int(np.nanargmin(v))
            data.append(dict(type="scatter", mode="markers", x=[float(LINE_T[i])], y=[float(v[i])], showlegend=False,
                             marker=dict(color=shades[j % len(shades)], size=11, symbol="circle-open",
                                         line=dict(width=3)),
                             hovertemplate=f"m = {m}: lowest at t = %{{x:.2f}}<extra></extra>"))
    shapes = [dict(type="line", x0=t, x1=t, yref="paper", y0=0, y1=1, line=dict(color="#999", dash="dot"))
              for t in (0, 1)]
    inside = (LINE_T >= -0.15) & (LINE_T <= 1.15)  # the y range follows the stretch around both starts
    seen = values[:, inside][np.isfinite(values[:, inside])]
    y_range = [math.log10(max(float(seen.min()), 1e-6)) - 0.3, math.log10(float(seen.max())) + 1.0] if seen.size \
        else None
    marks = [dict(x=t, y=1, yref="paper", text=name, showarrow=False, yanchor="bottom")
             for t, name in ((0, "pretrained"), (1, "MAML"))]
    return figures.figure(data, height, shapes=shapes, annotations=marks,
                          xaxis=dict(title="t along the line (0 = pretrained start, 1 = MAML start)",
                                     gridcolor=figures.GRID),
                          yaxis=dict(title="mean query MSE after m steps", type="log", gridcolor=figures.GRID,
                                     range=y_range, dtick=1))


LAYER_NAMES = {"net.0": "layer 1", "net.2": "layer 2", "net.4": "output layer"}


def layer_label(name: str) -> str:
    mod, _, kind = name.rpartition(".")
    if not mod:
        return name
    return f"{LAYER_NAMES.get(mod, mod)} {'weights' if kind == 'weight' else kind}"


def layers_figure(changes: G.LayerChanges, step: int, height: int) -> figures.Figure:
    """Each tensor's change from the start after `step` inner steps, relative to its size at the start (%)."""
    names = [layer_label(n) for n in changes.names]
    rel = changes.relative[step].numpy() * 100
    return figures.figure([dict(type="bar", x=names, y=[None if np.isnan(v) else round(float(v), 4) for v in rel],
                                marker=dict(color=METHOD_COLORS["maml"]), name="change",
                                hovertemplate="%{x}: %{y:.3g}% of its size<extra></extra>")],
                          height, showlegend=False,
                          yaxis=dict(title=f"|θ_{step} − θ_0| / |θ_0| (%)", gridcolor=figures.GRID),
                          xaxis=dict(title=f"after {step} inner step{'' if step == 1 else 's'}"))


# --- sentences (from the numbers the charts show) ---------------------------------------------------------------

def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def _list(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def landscape_text(land: Landscape, paths: Paths, tasks: Sequence[Task], step: int, origin: str,
                   clicked: tuple[float, float]) -> list[str]:
    """What the landscape shows at `step`: where the losses went, how much of each path the slice holds, and
    which starts lie off it."""
    where = "the θ you clicked" if clicked != (0.0, 0.0) else f"the {label(origin)} start"
    out = []
    if step == 0:
        out.append(f"Step 0: every path starts at {where}. Press *Next* or *Play* to walk the inner steps.")
    else:
        moves = [f"{t.label} {paths.support_loss[i, 0]:.3g} → {paths.support_loss[i, step]:.3g}"
                 for i, t in enumerate(tasks)]
        out.append(f"After {step} inner step{'' if step == 1 else 's'} from {where}, the support losses went "
                   f"{_list(moves)}.")
        shares = [f"{t.label} {_pct(paths.off_share[i, step])}" for i, t in enumerate(tasks)]
        worst = float(paths.off_share[:, step].max())
        verdict = ("so the plane holds these paths exactly" if worst < 0.005 else
                   "so the arrows show most of each path" if worst < 0.3 else
                   "so part of the movement is not in this picture")
        out.append(f"Off the plane (the share of each path's movement this slice cannot show): {_list(shares)}, "
                   f"{verdict}.")
    half = float(land.a[-1])
    far = [f"the {label(m)} start is {math.sqrt(p.a ** 2 + p.b ** 2 + p.off ** 2):.3g} away, "
           f"{_pct(p.off_share)} of that off the plane" for m, p in land.starts.items() if not drawn(p, half)]
    if far:
        out.append("Not drawn, because they lie far from this square: " + _list(far) + ".")
    return out


def directions_text(table: DirectionTable) -> list[str]:
    c = table.cosines[("maml", "fomaml")]
    angle = math.degrees(math.acos(max(-1.0, min(1.0, c))))
    out = [f"MAML's and FO-MAML's directions have cosine {c:.2f} (they differ by {angle:.0f}°): the second-order "
           f"term that FO-MAML drops is {_pct(table.second_order_share)} of the length of MAML's meta-gradient."]
    r, j = table.cosines[("maml", "reptile")], table.cosines[("maml", "pretrain")]
    out.append(f"Reptile's update ({table.reptile_steps} inner step{'' if table.reptile_steps == 1 else 's'} per "
               f"task, no query set) has cosine {r:.2f} with MAML's; pretraining's gradient {j:.2f}.")
    shares = [f"{DIRECTION_LABELS[m]} {_pct(v[2])}" for m, v in table.in_plane.items()]
    out.append(f"Each arrow is its direction's part inside this plane, as a share of its length ({_list(shares)}).")
    return out


def line_text(values: np.ndarray) -> list[str]:
    out = []
    for j, m in enumerate(LINE_STEPS):
        v = values[j]
        if not np.isfinite(v).any():
            continue
        i = int(np.nanargmin(np.where(np.isfinite(v), v, np.nan)))
        t = float(LINE_T[i])
        near = " (the pretrained start)" if abs(t) < 0.13 else " (the MAML start)" if abs(t - 1) < 0.13 else ""
        out.append(f"m = {m}: lowest at t = {t:.2f}{near}, MSE {v[i]:.3g}")
    return ["Where each curve is lowest: " + "; ".join(out) + ". m = 0 is the loss before any inner step, which "
            "pretraining minimises; MAML minimises the loss after its inner steps."] if out else []


def layers_text(changes: G.LayerChanges, step: int) -> str:
    if step == 0:
        return "Step 0: nothing has moved yet."
    rel = changes.relative[step].numpy()
    known = np.flatnonzero(np.isfinite(rel))  # a tensor that starts at zero has no relative change
    if known.size == 0:
        return f"After {step} steps, no tensor has a size to compare its change with."
    top, low = known[np.argmax(rel[known])], known[np.argmin(rel[known])]
    text = (f"After {step} step{'' if step == 1 else 's'}, {layer_label(changes.names[top])} moved most "
            f"({100 * rel[top]:.2g}% of its size) and {layer_label(changes.names[low])} least "
            f"({100 * rel[low]:.2g}%)")
    if np.all(np.isfinite(rel)) and rel.min() > 0 and rel.max() < 0.2:
        return text + ": every layer changes, each by a small fraction of its size."
    return text + "."


# --- many tasks at once ------------------------------------------------------------------------------------------

MANY_TASKS, MANY_SHOTS, MANY_STEPS = 600, 5, 10  # docs/RESULTS.md's 5-shot table: the same 600 test tasks
PAPER_MEANS = {"maml": {1: 0.67, 5: 0.38, 10: 0.35}, "pretrain": {1: 2.41, 5: 2.23, 10: 2.19}}  # (docs/RESULTS.md)


def compute_many(nets: dict[str, tuple[nn.Module, dict]], config, inner_lr: float) -> dict[str, np.ndarray]:
    """Each start's query MSE on the 600 test tasks of docs/RESULTS.md (5 shots, test seed) after 0..10 steps:
    method -> (600, 11)."""
    from maml_core import task_curves, task_sampler

    sampler = task_sampler(config, k_shot=MANY_SHOTS)
    return {m: task_curves(model, params, sampler, tasks=MANY_TASKS, steps=MANY_STEPS,
                           inner_lr=inner_lr)["query_loss"].numpy() for m, (model, params) in nets.items()}


def _finite(v: np.ndarray) -> np.ndarray:
    return np.nan_to_num(v, nan=np.inf)


def many_figure(many: dict[str, np.ndarray], step: int, mine: np.ndarray | None, height: int) -> figures.Figure:
    """Per start: the median query MSE over the 600 tasks after each step, a band from the 10th to the 90th
    percentile, and the mean (dots); the paper's means (crosses); the task on screen (black)."""
    data: list[dict] = []
    x = list(range(MANY_STEPS + 1))
    for m, v in many.items():
        c = METHOD_COLORS.get(m, REPTILE_COLOR)
        lo, med, hi = (np.percentile(_finite(v), q, axis=0) for q in (10, 50, 90))
        rgba = _rgba(c, 0.15)
        data.append(dict(type="scatter", x=x + x[::-1], y=[float(y) for y in np.r_[hi, lo[::-1]]], fill="toself",
                         fillcolor=rgba, line=dict(width=0), hoverinfo="skip", showlegend=False))
        data.append(dict(type="scatter", mode="lines", x=x, y=np.round(med, 5).tolist(), name=f"{label(m)} (median)",
                         line=dict(color=c, width=2.5)))
        data.append(dict(type="scatter", mode="markers", x=x, y=np.round(_mean(v), 5).tolist(), name=f"{label(m)} mean",
                         marker=dict(color=c, size=7, symbol="circle"), showlegend=False,
                         hovertemplate=f"{label(m)}: mean %{{y:.3g}} after %{{x}} steps<extra></extra>"))
        if m in PAPER_MEANS:
            steps = sorted(PAPER_MEANS[m])
            data.append(dict(type="scatter", mode="markers", x=steps, y=[PAPER_MEANS[m][s] for s in steps],
                             name=f"paper, {label(m)} mean", marker=dict(color=c, size=11, symbol="x-thin",
                                                                         line=dict(width=2.5, color=c))))
    if mine is not None:
        data.append(dict(type="scatter", mode="lines+markers", x=x[: len(mine)], y=np.round(mine, 5).tolist(),
                         name="the task on screen", line=dict(color="#000", width=2, dash="dot"),
                         marker=dict(color="#000", size=6)))
    return figures.figure(data, height, shapes=[figures.step_line(step)],
                          xaxis=dict(title="inner step", dtick=1, gridcolor=figures.GRID),
                          yaxis=dict(title="query MSE (log scale)", type="log", dtick=1, gridcolor=figures.GRID))


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def _mean(v: np.ndarray) -> np.ndarray:
    return _finite(v).mean(axis=0)


def many_text(many: dict[str, np.ndarray], step: int, mine: float | None, mine_method: str | None,
              k: int) -> list[str]:
    """The 600 tasks' mean ± 95% CI and median per start at `step`, and where the task on screen falls."""
    s = min(step, MANY_STEPS)
    parts = []
    for m, v in many.items():
        col = _finite(v[:, s])
        ci = 1.96 * col.std(ddof=1) / math.sqrt(len(col)) if np.isfinite(col).all() else float("inf")
        parts.append(f"{label(m)} {col.mean():.3g} ± {ci:.2g} (median {np.median(col):.2g})")
    out = [f"After {s} step{'' if s == 1 else 's'} on the {MANY_TASKS} test tasks of docs/RESULTS.md "
           f"({MANY_SHOTS} shots, mean ± 95% CI): {_list(parts)}."]
    if mine is not None and mine_method in many:
        col = _finite(many[mine_method][:, s])
        better = float((col > mine).mean())
        shots = "" if k == MANY_SHOTS else f" (it has {k} support points, they have {MANY_SHOTS})"
        out.append(f"The task on screen, from the {label(mine_method)} start, ends at {mine:.3g}: better than "
                   f"{_pct(better)} of those tasks{shots}.")
    return out


# --- along meta-training -----------------------------------------------------------------------------------------

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


def along_figure(along: AlongTraining, height: int) -> figures.Figure:
    x = [max(i, 1) for i in along.iterations]  # (a log axis: iteration 0, the initialisation, is drawn at 1)
    series = (("cosine MAML / FO-MAML", along.maml_fomaml, METHOD_COLORS["fomaml"]),
              ("second-order share of MAML's gradient", along.second_order, METHOD_COLORS["maml"]),
              ("cosine MAML / Reptile", along.reptile, REPTILE_COLOR))
    data = [dict(type="scatter", mode="lines+markers", x=x, y=[round(v, 4) for v in ys], name=name,
                 line=dict(color=c, width=2.5), marker=dict(color=c, size=7)) for name, ys, c in series]
    return figures.figure(data, height, xaxis=dict(title="meta-training iteration (log scale; 1 = the initialisation)",
                                                   type="log", gridcolor=figures.GRID),
                          yaxis=dict(title="cosine / share", gridcolor=figures.GRID,
                                     range=[-1.05, max(1.05, max(along.second_order) + 0.1)]))


def along_text(along: AlongTraining) -> str:
    first, last = 0, len(along.iterations) - 1
    return (f"At the initialisation MAML's and FO-MAML's directions have cosine {along.maml_fomaml[first]:.2f} and "
            f"the second-order term is {_pct(along.second_order[first])} of MAML's gradient; after "
            f"{along.iterations[last]:,} iterations, {along.maml_fomaml[last]:.2f} and "
            f"{_pct(along.second_order[last])}. Reptile's cosine with MAML goes from {along.reptile[first]:.2f} to "
            f"{along.reptile[last]:.2f}.")

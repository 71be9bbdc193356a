"""Inside MAML, sinusoid: the charts, drawn only from the numbers of ui/inside/numbers.py."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from maml_core import geometry as G

from .. import figures
from ..common import METHOD_COLORS
from .names import DIRECTION_LABELS, label, layer_label
from .numbers import (
    LINE_STEPS,
    LINE_T,
    MANY_STEPS,
    AlongTraining,
    DirectionTable,
    Landscape,
    Paths,
    Task,
    drawn,
    finite,
)

TASK_COLORS = ("#000000", "#56B4E9", "#D55E00", "#882255", "#999933")  # the user's task first (black), then the others


def task_colors(tasks: Sequence[Task]) -> tuple[str, ...]:
    """Black only for the user's task (the page says so): random tasks alone start at the next colour."""
    return TASK_COLORS if tasks and tasks[0].label == "your task" else TASK_COLORS[1:]
START_SYMBOLS = {"maml": "star", "fomaml": "diamond", "reptile": "triangle-up", "pretrain": "square"}
PAPER_MEANS = {"maml": {1: 0.67, 5: 0.38, 10: 0.35}, "pretrain": {1: 2.41, 5: 2.23, 10: 2.19}}  # (docs/RESULTS.md)


def _levels(loss: np.ndarray) -> tuple[float, float, float]:
    """Contour levels in log10 of the loss: the losses span orders of magnitude (a linear scale shows nothing)."""
    finite = np.log10(np.clip(loss[np.isfinite(loss)], 1e-8, None))
    lo, hi = (float(np.percentile(finite, 1)), float(np.percentile(finite, 99))) if finite.size else (0.0, 1.0)
    if hi - lo < 1e-6:
        hi = lo + 1.0
    return lo, hi, (hi - lo) / 8


def landscape_figure(land: Landscape, paths: Paths, step: int, tasks: Sequence[Task], origin: str,
                     clicked: tuple[float, float], height: int, loss_name: str = "support loss") -> figures.Figure:
    """Each task's support-loss contours on the plane (log scale, in the task's colour; in grey when one task's
    loss carries several paths), each path up to `step` with an arrow on its last step, the starts that lie on the
    drawn square, and the clicked start."""
    data: list[dict] = []
    lo, hi, size = _levels(land.loss)
    half = float(land.a[-1])
    colors = task_colors(tasks)
    shared = len(land.loss) == 1 and len(tasks) > 1  # one task's loss, several paths on it (in grey: no path's)
    for i in range(len(land.loss)):
        z = np.log10(np.clip(land.loss[i], 1e-8, None))
        c, name = ("#8a8a8a", "the task") if shared else (colors[i % len(colors)], tasks[i].label)
        data.append(dict(type="contour", x=land.a.tolist(), y=land.b.tolist(), z=np.round(z, 4).tolist(),
                         contours=dict(coloring="lines", start=lo, end=hi, size=size), showscale=False,
                         colorscale=[[0, c], [1, c]], line=dict(width=1.2), opacity=0.75, name=name,
                         hovertemplate=f"{name}: {loss_name} 10^%{{z:.2f}}<extra></extra>", showlegend=False))
    annotations = []
    for i, task in enumerate(tasks):
        c = colors[i % len(colors)]
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
            data.append(dict(type="scatter", mode="markers", x=[p.a], y=[p.b], name=f"{label(m)} start",
                             marker=dict(symbol=START_SYMBOLS[m], size=16, color=METHOD_COLORS[m],
                                         line=dict(color="white", width=1.5)),
                             hovertemplate=f"{label(m)} start, {p.off:.3g} off the plane<extra></extra>"))
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
        c = METHOD_COLORS[m]
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


def _mean(v: np.ndarray) -> np.ndarray:
    return finite(v).mean(axis=0)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def many_figure(many: dict[str, np.ndarray], step: int, mine: np.ndarray | None, height: int) -> figures.Figure:
    """Per start: the median query MSE over the 600 tasks after each step, a band from the 10th to the 90th
    percentile, and the mean (dots); the paper's means (crosses); the task on screen (black)."""
    data: list[dict] = []
    x = list(range(MANY_STEPS + 1))
    for m, v in many.items():
        c = METHOD_COLORS[m]
        lo, med, hi = (np.percentile(finite(v), q, axis=0) for q in (10, 50, 90))
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


def along_figure(along: AlongTraining, height: int) -> figures.Figure:
    x = [max(i, 1) for i in along.iterations]  # (a log axis: iteration 0, the initialisation, is drawn at 1)
    series = (("cosine MAML / FO-MAML", along.maml_fomaml, METHOD_COLORS["fomaml"]),
              ("second-order share of MAML's gradient", along.second_order, METHOD_COLORS["maml"]),
              ("cosine MAML / Reptile", along.reptile, METHOD_COLORS["reptile"]))
    data = [dict(type="scatter", mode="lines+markers", x=x, y=[round(v, 4) for v in ys], name=name,
                 line=dict(color=c, width=2.5), marker=dict(color=c, size=7)) for name, ys, c in series]
    return figures.figure(data, height, xaxis=dict(title="meta-training iteration (log scale; 1 = the initialisation)",
                                                   type="log", gridcolor=figures.GRID),
                          yaxis=dict(title="cosine / share", gridcolor=figures.GRID,
                                     range=[-1.05, max(1.05, max(along.second_order) + 0.1)]))

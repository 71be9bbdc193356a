"""The Sinusoid page's adaptation (every method at once, `maml_core.adapt_starts`), its scene in the URL and its
figures. The support points live in ui/sinusoid_points.py and the sentences in ui/sinusoid_text.py (both
re-exported here for the page and the tests). Shapes: support x and y (K, 1); the plotting/query grid PLOT_X (G, 1);
predictions per method (S + 1, G).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
import torch
from torch import Tensor, nn

from maml_core import DIVERGED_LOSS, adapt_starts, describe_lr, diverged_at, sinusoid

from . import figures, scene
from .common import METHOD_COLORS, METHOD_LABELS, font_size
from .page_state import SinusoidState
from .sinusoid_points import (  # noqa: F401  (the page and the tests read the support-set pieces from here too)
    AMPLITUDE,
    AMPLITUDE_MAX,
    MAX_POINTS,
    PHASE,
    PHASE_MAX,
    PLOT_X,
    QUERY_SLICE,
    X_RANGE,
    X_VIEW,
    Y_LIMIT,
    PointsError,
    apply_editor_delta,
    click_action,
    editor_frame,
    outside_reasons,
    outside_training,
    parse_csv,
    points_csv,
    random_task,
    remove_nearest,
    resolve,
    sample_points,
    y_limit,
)
from .sinusoid_text import _listed, explanation  # noqa: F401
from .state_types import MethodResult, Point

SUPPORT_TRACE = 1  # trace order in the prediction figure: truth, support points, then one per method
LOSS_CAP = 1e6  # losses are clipped to this on charts (a diverging run still plots)
PRED_CAP = 1e3

# --- adaptation -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MethodModel:
    """A method to adapt: its network, initial weights theta (never modified), step size, and where it came from."""

    key: str
    model: nn.Module
    params: dict[str, Tensor]
    inner_lr: float
    source: str  # e.g. "shipped: MAML on sinusoid K=10, 70000 iterations" or "your run: ..."
    # Names these exact weights for every user of the server ("shipped:FILE:MTIME", "random:SEED"); None for
    # weights only one user has (their own run), whose results are never shared.
    weights_id: str | None = None

    @property
    def label(self) -> str:
        return method_label(self.key)


MINE = ":mine"  # key suffix of a user's own run shown beside the shipped weights of the same method


def method_label(key: str) -> str:
    """'MAML', or 'MAML (my run)' for a user's own run beside the shipped one."""
    base = key.removesuffix(MINE)
    return METHOD_LABELS.get(base, base) + (" (my run)" if key.endswith(MINE) else "")


def method_line(key: str, width: float) -> dict:
    """The method's colour; a user's own run beside the shipped one is the same colour, dash-dotted."""
    line = dict(color=METHOD_COLORS.get(key.removesuffix(MINE), "#555"), width=width)
    if key.endswith(MINE):
        line["dash"] = "dashdot"
    elif key == "reptile":  # beside FO-MAML's orange, told apart without colour too
        line["dash"] = "longdash"
    return line


def adapt_methods(methods: Sequence[MethodModel], x: np.ndarray, y: np.ndarray, amplitude: float, phase: float,
                  steps: int) -> dict[str, MethodResult]:
    """Adapt every method to the support set (x, y) for `steps` inner steps and record the prediction, support
    loss and query MSE (against the true curve) after each step. Without points nothing adapts: only step 0 is
    returned. Diverging runs give inf/nan, never an exception. Methods whose networks have the same shape adapt
    together (`maml_core.adapt_starts`, one `vmap`)."""
    sx = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1)  # (K, 1)
    sy = torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    qy = sinusoid(PLOT_X, amplitude, phase)[:, 0]  # (G,)
    steps = steps if len(x) else 0
    groups: dict[tuple, list[MethodModel]] = {}
    for m in methods:
        shape = (type(m.model), tuple((k, tuple(v.shape)) for k, v in m.params.items()), isinstance(m.inner_lr, str))
        groups.setdefault(shape, []).append(m)
    out: dict[str, MethodResult] = {}
    for members in groups.values():  # LEARNED: the group adapts with the rates stored in each member's params
        lrs = members[0].inner_lr if isinstance(members[0].inner_lr, str) else [m.inner_lr for m in members]
        res = adapt_starts(members[0].model, [m.params for m in members], lrs, sx, sy, PLOT_X, steps=steps)
        preds, support = res["eval_out"][..., 0], res["support_loss"]  # (M, S + 1, G), (M, S + 1)
        query = ((preds[..., QUERY_SLICE] - qy[QUERY_SLICE]) ** 2).mean(-1)  # on [-5, 5] only: (M, S + 1)
        for i, m in enumerate(members):
            out[m.key] = MethodResult(m.key, m.label, m.inner_lr, preds[i].double().numpy(),
                                      support[i].double().numpy(), query[i].double().numpy(),
                                      diverged_at(support[i]) if len(x) else None)  # (no points: no loss at all)
    return {m.key: out[m.key] for m in methods}


@st.cache_data(max_entries=256, show_spinner=False)
def adapt_sinusoid_shared(fingerprint: tuple, _methods: tuple, px: tuple, py: tuple, amplitude: float, phase: float,
                          steps: int) -> dict:
    """`adapt_methods`, shared by every session on the server: results depend only on the weights
    (named by `fingerprint`: each method's key, inner lr and weights_id), the points, the task and the steps, so
    a lecture hall opening the same view costs one computation. Bounded (256 results, ~50 KB each)."""
    return adapt_methods(list(_methods), np.asarray(px), np.asarray(py), amplitude, phase, steps)


def divergence_warnings(results: dict[str, MethodResult], *, own_lr: bool = False,
                        outside: Sequence[str] = (), amplitude: float | None = None) -> list[str]:
    """One message naming every method whose inner loop blew up, where, and advice that fits the case (empty if
    none did): `own_lr` says each method ran at its validated α, `outside` is `outside_reasons` for the task and
    points, `amplitude` the task's A."""
    bad = [r for r in results.values() if r.diverged_at is not None]
    if not bad:
        return []
    parts = [f"**{r.label}** (α = {describe_lr(r.inner_lr)}) at inner step {r.diverged_at}: support loss "
             f"{r.support_loss[0]:.3g} → {_fmt(r.support_loss[r.diverged_at])}" for r in bad]
    lrs = [float(r.inner_lr) for r in bad if not isinstance(r.inner_lr, str)]
    smaller = f"{min(lrs) / 10:g}" if lrs else "0.001"
    turn_off = f"turn off *Use each model's validated learning rate* in the sidebar and try α = {smaller}"
    validated = ("each model's validated learning rate (chosen on the training tasks"
                 + ("; Random init takes 0.01" if any(r.key == "random" for r in bad) else "") + ")")
    if own_lr and outside:
        big_a = amplitude is not None and amplitude > AMPLITUDE[1]
        advice = (f"This α is {validated}, and this task is outside the training range (" + " and ".join(outside)
                  + "): that is why"
                  + (": its larger errors give larger gradients, so each step of the same α goes too far"
                     if big_a else "") + ". Try a task inside the range, or a smaller α: " + turn_off + ".")
    elif own_lr:
        advice = (f"This α is {validated}; on a few support sets even it overshoots. Try other points, or a smaller "
                  "α: " + turn_off + ".")
    else:
        advice = ("Lower the inner learning rate α in the sidebar (the shipped models were validated at 0.01)"
                  + (f"; this task is outside the training range ({' and '.join(outside)}), where a step size "
                     "that suits the training tasks can be too large" if outside else "") + ".")
    return ["The loss diverged for " + "; ".join(parts) + ". Each step overshoots the minimum and lands further "
            "away. " + advice + " The charts clip the values so you can still see it happen; curves that left the "
            "chart are off-scale, not missing."]


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "∞ (overflow)" if not math.isnan(v) else "not a number (overflow)"
    return f"{v:.3g}"


def _clip_loss(v: np.ndarray) -> np.ndarray:
    v = np.nan_to_num(v, nan=LOSS_CAP, posinf=LOSS_CAP, neginf=LOSS_CAP)
    return np.clip(v, 1e-6, LOSS_CAP)


def _clip_pred(v: np.ndarray) -> list[float | None]:
    v = np.clip(v, -PRED_CAP, PRED_CAP)
    return [None if not math.isfinite(a) else round(float(a), 4) for a in v]


# --- the scene in the URL ------------------------------------------------------------------------------------------

def _read_points(values: list[str]) -> dict[str, Any]:
    if len(values) > MAX_POINTS:
        raise ValueError(f"has {len(values)} points; at most {MAX_POINTS} fit a support set")
    pts = []
    for v in values:
        x_text, _, y_text = v.partition("_")
        checks = (("x", x_text, scene.number(*X_VIEW)), ("y", y_text, scene.number(-Y_LIMIT, Y_LIMIT)))
        for coord, text, parse in checks:
            if coord == "y" and text == "c":
                continue
            try:
                parse(text)
            except ValueError as e:
                raise ValueError(f"has a point “{v}” whose {coord} {e} (write x_y, or x_c for a point on the true "
                                 "curve)") from None
        pts.append(Point(float(x_text), None if y_text == "c" else float(y_text)))
    return {"points": pts}


def _write_points(ss: Any) -> list[str]:
    points = SinusoidState.of(ss).points or []
    return [f"{scene.fmt(p.x)}_{'c' if p.y is None else scene.fmt(p.y)}" for p in points] or ["none"]


def scene_params(methods_key: str, methods: Sequence[str]) -> list[scene.Param]:
    """The Sinusoid page's scene: task, points and K, then the shared sidebar settings."""

    def read_points(values: list[str]) -> dict[str, Any]:
        return {"points": []} if values == ["none"] else _read_points(values)

    return [
        scene.Param("A", "amplitude A", scene.one("sin_amp", scene.number(AMPLITUDE[0], AMPLITUDE_MAX)),
                    lambda ss: [scene.fmt(ss.get("sin_amp", 3.0), 2)]),
        scene.Param("phi", "phase φ", scene.one("sin_phase", scene.number(PHASE[0], PHASE_MAX)),
                    lambda ss: [scene.fmt(ss.get("sin_phase", 0.5), 2)]),
        scene.Param("K", "K", scene.one("sin_k", scene.number(1, 50, integer=True)),
                    lambda ss: [str(ss.get("sin_k", 5))]),
        scene.Param("p", "the support points", read_points, _write_points, page_state=True),
        scene.switch("present", "presenter layout", "sin_present"),
        *scene.settings_params(methods_key, methods, SinusoidState),
    ]


# --- figures ----------------------------------------------------------------------------------------------------

def prediction_figure(results: dict[str, MethodResult], px: np.ndarray, py: np.ndarray, amplitude: float,
                      phase: float, step: int, height: int = 480) -> figures.Figure:
    """True curve, support points and each method's prediction at `step` (the page's step control picks it).
    Clicks on it are read by ui/chart_click.py (the support points are trace SUPPORT_TRACE)."""
    grid_x = PLOT_X[:, 0].numpy().round(4).tolist()
    truth = sinusoid(PLOT_X[:, 0].double(), amplitude, phase).numpy().round(4).tolist()
    n_steps = max((len(r.preds) for r in results.values()), default=1) - 1
    step = min(step, n_steps)
    lim = y_limit(amplitude, py)
    data: list[dict[str, Any]] = [
        dict(type="scatter", x=grid_x, y=truth, mode="lines", name="true curve", hoverinfo="skip",
             line=dict(color=METHOD_COLORS["truth"], width=2, dash="dash")),
        dict(type="scatter", x=np.round(px, 4).tolist(), y=np.round(py, 4).tolist(), mode="markers",
             name=f"support points (K = {len(px)})",
             marker=dict(size=13, color=METHOD_COLORS["support"], line=dict(color="white", width=1.5)),
             hovertemplate="support point (%{x:.2f}, %{y:.2f})<br>click to remove it<extra></extra>"),
    ]
    for r in results.values():
        data.append(dict(type="scatter", x=grid_x, y=_clip_pred(r.preds[min(step, len(r.preds) - 1)]),
                         mode="lines", name=r.label, hoverinfo="skip",
                         line=method_line(r.key, 3.5 if r.key == "maml" else 2.5)))
    # Inputs the networks never saw in training: shaded, on every chart (the lesson at the edges of [-5, 5]).
    shapes = [dict(type="rect", xref="x", yref="paper", x0=a, x1=b, y0=0, y1=1, layer="below",
                   fillcolor="rgba(0,0,0,0.06)", line=dict(width=0))
              for a, b in ((X_VIEW[0] - 0.1, X_RANGE[0]), (X_RANGE[1], X_VIEW[1] + 0.1))]
    notes = [dict(text="x not<br>trained on", xref="x", yref="paper", x=(X_VIEW[0] + X_RANGE[0]) / 2, y=0.01,
                  yanchor="bottom", showarrow=False, font=dict(color="#777", size=font_size() - 2))]
    if outside_training(amplitude, phase, px):
        notes.append(dict(text="⚠ task outside the training range", xref="paper", yref="paper", x=0.01, y=0.99,
                          xanchor="left", yanchor="top", showarrow=False,
                          font=dict(color="#b00020", size=font_size() + 1), bgcolor="rgba(255,255,255,0.8)"))
    return figures.figure(
        data, height, dragmode=False, hovermode="closest", shapes=shapes, annotations=notes,
        xaxis=dict(range=[X_VIEW[0] - 0.1, X_VIEW[1] + 0.1], fixedrange=True, title="x", zeroline=False,
                   gridcolor=figures.GRID),
        yaxis=dict(range=[-lim - 0.5, lim + 0.5], fixedrange=True, title="y", zeroline=False, gridcolor=figures.GRID),
        margin=dict(l=10, r=10, t=70, b=10))


def loss_figure(results: dict[str, MethodResult], step: int, height: int = 360) -> figures.Figure:
    """Query MSE (solid) and support loss (dotted) per inner step for every method, log scale, clipped."""
    data = []
    for r in results.values():
        steps = list(range(len(r.query_mse)))
        color = method_line(r.key, 3)["color"]
        data.append(dict(type="scatter", x=steps, y=_clip_loss(r.query_mse).tolist(), mode="lines+markers",
                         name=r.label, line=method_line(r.key, 3), legendgroup=r.key,
                         hovertemplate=f"{r.label}<br>step %{{x}}: query MSE %{{y:.3g}}<extra></extra>"))
        if np.isfinite(r.support_loss).any() or r.diverged_at is not None:
            data.append(dict(type="scatter", x=steps, y=_clip_loss(r.support_loss).tolist(), mode="lines+markers",
                             name=f"{r.label}: support loss", legendgroup=r.key, showlegend=False,
                             line=dict(color=color, width=2, dash="dot"), marker=dict(symbol="circle-open"),
                             hovertemplate=f"{r.label}<br>step %{{x}}: support loss %{{y:.3g}}<extra></extra>"))
    n = max((len(r.query_mse) for r in results.values()), default=1) - 1
    return figures.figure(
        data, height, hovermode="closest", margin=dict(l=10, r=10, t=80, b=10),
        shapes=[figures.step_line(step)] if n > 0 else [],
        xaxis=dict(title="inner step", range=[-0.3, max(n, 1) + 0.3], dtick=1 if n <= 10 else 2, fixedrange=True,
                   gridcolor=figures.GRID),
        yaxis=dict(title="MSE (log scale)", type="log", dtick=1, fixedrange=True, gridcolor=figures.GRID),
        title=dict(text="solid: query MSE · dotted: support loss", x=0, y=0.99,
                   font=dict(size=font_size(), color="#555")))


def summary_table(results: dict[str, MethodResult], step: int | None = None) -> pd.DataFrame:
    """The numbers behind the charts: per method, α and the losses at step 0 → `step` (default: the last)."""
    rows = []
    for r in results.values():
        s = len(r.query_mse) - 1 if step is None else min(step, len(r.query_mse) - 1)
        q0, qs = r.query_mse[0], r.query_mse[s]
        gone = r.diverged_at is not None and s >= r.diverged_at
        end = (lambda v: "diverged") if gone else _num  # noqa: E731
        rows.append({
            "method": r.label, "α": describe_lr(r.inner_lr),
            "query MSE": f"{_num(q0)} → {end(qs)}",
            "support loss": f"{_num(r.support_loss[0])} → {end(r.support_loss[s])}",
            "change": ("diverged" if gone or not math.isfinite(qs)
                       else f"{(qs - q0) / q0:+.0%}" if q0 > 0 and s > 0 else "–"),
        })
    return pd.DataFrame(rows)


def _num(v: float) -> str:
    if math.isnan(v):
        return "–"
    if not math.isfinite(v) or v > DIVERGED_LOSS:
        return "diverged"
    return f"{v:.3g}"


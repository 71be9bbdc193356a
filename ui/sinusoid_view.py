"""The Sinusoid page's pieces: the user's support points (sampling, CSV, table edits, clicks on the plot, each
validated with a message that says what to do), adapting every method with `maml_core.adapt`, and the figures.
`app_pages/sinusoid.py` lays them out; the tests call the same functions.

Shapes: support x and y (K, 1); the plotting/query grid PLOT_X (G, 1); predictions per method (S + 1, G).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
import torch
from torch import Tensor, nn

from maml_core import DIVERGED_LOSS, SinusoidTaskConfig, adapt_starts, describe_lr, diverged_at, sinusoid

from . import figures, scene
from .chart_click import ChartClick
from .common import METHOD_COLORS, METHOD_LABELS, font_size
from .page_state import SinusoidState
from .state_types import MethodResult, Point

# The paper's tasks (every shipped network was meta-trained on these; the engine's config), and the wider range the
# page offers to show where meta-learning stops working: amplitudes up to 10 and phases up to 2 pi, marked as such.
_PAPER = SinusoidTaskConfig()
X_RANGE, AMPLITUDE, PHASE = _PAPER.x_range, _PAPER.amplitude, _PAPER.phase
AMPLITUDE_MAX = 10.0
PHASE_MAX = round(2 * math.pi, 2)
Y_LIMIT = 11.0  # points beyond +-11 are refused (the chart's y range follows the task: +-6 for the paper's)
MAX_POINTS = 100  # a support set is a few shots; this also bounds the work per rerun
MAX_UPLOAD_BYTES = 200_000
X_VIEW = (-7.5, 7.5)  # the chart and the accepted points: inputs beyond +-5 show where the networks were not trained
# Predictions are drawn on PLOT_X; the query MSE is measured on its 121 points in [-5, 5] (QUERY_SLICE), as before.
PLOT_X = torch.linspace(X_VIEW[0], X_VIEW[1], 181).reshape(-1, 1)
QUERY_SLICE = slice(30, 151)
SUPPORT_TRACE = 1  # trace order in the prediction figure: truth, support points, then one per method
LOSS_CAP = 1e6  # losses are clipped to this on charts (a diverging run still plots)
PRED_CAP = 1e3


class PointsError(ValueError):
    """The user's points cannot be used; the message says why and what to do."""


def resolve(points: Sequence[Point], amplitude: float, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays (K,) of the support set, y taken from the true curve for points that follow it."""
    x = np.array([p.x for p in points], dtype=np.float64)
    on_curve = sinusoid(torch.as_tensor(x), amplitude, phase).numpy()
    y = np.array([on_curve[i] if p.y is None else p.y for i, p in enumerate(points)], dtype=np.float64)
    return x, y


def sample_points(k: int, rng: np.random.Generator) -> list[Point]:
    """K points with x ~ U[-5, 5] on the true curve (the paper's way of drawing a support set)."""
    return [Point(round(float(x), 3)) for x in rng.uniform(X_RANGE[0], X_RANGE[1], size=int(k))]


def random_task(rng: np.random.Generator) -> tuple[float, float]:
    """Amplitude ~ U[0.1, 5] and phase ~ U[0, pi], as in the paper, rounded to what the sliders show."""
    return round(float(rng.uniform(*AMPLITUDE)), 2), round(float(rng.uniform(*PHASE)), 2)


def phase_in_training(phase: float) -> bool:
    """Whether φ gives a training task: sin(x - φ) repeats every 2π, so φ = 6.28 is the curve of φ = 0 (the slider's
    steps of 0.01 reach 2π only to within 0.005, hence the tolerance)."""
    wrapped = float(phase) % (2 * math.pi)
    return PHASE[0] - 0.005 <= wrapped <= PHASE[1] + 0.005 or wrapped >= 2 * math.pi - 0.005


def outside_reasons(amplitude: float, phase: float, xs: Sequence[float] = ()) -> list[str]:
    """What lies outside what the networks were trained on, one phrase each ("A = 10 (trained on 0.1 to 5)")."""
    out = []
    far = [x for x in xs if not X_RANGE[0] <= x <= X_RANGE[1]]
    if far:
        out.append(f"{len(far)} support point{'s' if len(far) > 1 else ''} at x beyond ±5 (trained on -5 to 5)")
    if not AMPLITUDE[0] <= amplitude <= AMPLITUDE[1]:
        out.append(f"A = {amplitude:g} (trained on {AMPLITUDE[0]:g} to {AMPLITUDE[1]:g})")
    if not phase_in_training(phase):
        out.append(f"φ = {phase:g} (trained on 0 to π ≈ 3.14, or the same curves shifted by 2π)")
    return out


def outside_training(amplitude: float, phase: float, xs: Sequence[float] = ()) -> str | None:
    """A sentence when the task or a support point lies outside what the networks were trained on (None inside)."""
    out = outside_reasons(amplitude, phase, xs)
    if not out:
        return None
    return ("Outside the training tasks: " + " and ".join(out) + ". No method was meta-trained on anything like "
            "this: watch whether a few steps from a meta-learned start still get close.")


def y_limit(amplitude: float, py: np.ndarray | None = None) -> float:
    """Half the chart's y range: the paper's +-6, widened for a larger amplitude or points further out."""
    far = float(np.max(np.abs(py))) if py is not None and len(py) else 0.0
    return float(min(Y_LIMIT, max(6.0, math.ceil(max(abs(amplitude), far)) + 1.0)))


def _bad_value(name: str, value: Any) -> str | None:
    """Why a single x or y value is unusable, or None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"{name} is empty"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return f"{name} = {str(value)[:20]!r} is not a number"
    if not math.isfinite(v):
        return f"{name} = {value} is not a finite number"
    if name == "x" and not X_VIEW[0] <= v <= X_VIEW[1]:
        return (f"x = {v:g} is outside [{X_VIEW[0]:g}, {X_VIEW[1]:g}] (the chart's range; the networks were trained "
                f"on [{X_RANGE[0]:g}, {X_RANGE[1]:g}])")
    if name == "y" and abs(v) > Y_LIMIT:
        return f"y = {v:g} is outside [{-Y_LIMIT:g}, {Y_LIMIT:g}]"
    return None


def _summarise_skips(skipped: list[str], what: str) -> str:
    shown = "; ".join(skipped[:3]) + (f"; and {len(skipped) - 3} more" if len(skipped) > 3 else "")
    return f"Skipped {len(skipped)} {what}: {shown}."


def parse_csv(data: bytes, name: str = "the file") -> tuple[list[Point], list[str]]:
    """Support points from CSV bytes with columns x,y (a header row named x and y, or two unnamed numeric
    columns). Returns (points, warnings about skipped rows). Raises `PointsError` when nothing usable is in it.
    Rows with text, NaN/inf, x outside [-5, 5] or |y| > 6 are skipped, each reason reported."""
    if len(data) == 0:
        raise PointsError(f"{name} is empty: upload a CSV with a header line `x,y` and one point per line.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise PointsError(f"{name} is {len(data) / 1e3:.0f} kB; a support set is at most {MAX_POINTS} points "
                          f"(a few kB). Upload a smaller file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PointsError(f"{name} is not a text file: upload a CSV (comma-separated x,y per line).") from None
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PointsError(f"{name} is not a readable CSV ({first}): use one `x,y` pair per line.") from None
    cols = {str(c).strip().lower(): c for c in df.columns}
    header_line = True
    if "x" in cols and "y" in cols:
        xs, ys = df[cols["x"]], df[cols["y"]]
    elif len(df.columns) == 2 and all(_is_number(c) for c in df.columns):
        # no header: the first line is a point
        header_line = False
        df = pd.read_csv(io.StringIO(text), dtype=str, header=None, skipinitialspace=True, keep_default_na=False)
        xs, ys = df[0], df[1]
    else:
        found = ", ".join(repr(str(c)) for c in df.columns[:6]) + (" …" if len(df.columns) > 6 else "")
        raise PointsError(f"{name} needs two columns named x and y; found {len(df.columns)} column(s): {found}. "
                          "Put a header line `x,y` at the top.")
    if len(df) == 0:
        raise PointsError(f"{name} has a header but no points: add lines like `1.5,0.7`.")
    if len(df) > MAX_POINTS:
        raise PointsError(f"{name} has {len(df):,} rows; a support set takes at most {MAX_POINTS} points (this is "
                          "few-shot learning: MAML adapts from 5 or 10). Upload a file with fewer rows.")
    points, skipped = [], []
    for i, (xv, yv) in enumerate(zip(xs, ys)):
        line = i + (2 if header_line else 1)
        why = _bad_value("x", xv) or _bad_value("y", yv)
        if why:
            skipped.append(f"line {line}: {why}")
        else:
            points.append(Point(float(xv), float(yv)))
    warnings = [_summarise_skips(skipped, "row(s)")] if skipped else []
    if not points:
        raise PointsError(f"No usable point in {name}. {warnings[0]} Your current points are unchanged.")
    return points, warnings


def _is_number(value: Any) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


EDITOR_COLUMNS = ("x", "y", "on curve")


def editor_frame(points: Sequence[Point], amplitude: float, phase: float) -> pd.DataFrame:
    """The table the data editor shows: x, y (computed for points on the curve), and whether y follows the curve."""
    x, y = resolve(points, amplitude, phase)
    frame = pd.DataFrame({"x": x.round(3), "y": y.round(3), "on curve": [p.y is None for p in points]})
    return frame.astype({"x": "float64", "y": "float64", "on curve": "bool"})  # typed even when empty


def apply_editor_delta(points: Sequence[Point], delta: dict[str, Any] | None, amplitude: float,
                       phase: float) -> tuple[list[Point], list[str], bool]:
    """Apply a `st.data_editor` edit state ({"edited_rows", "added_rows", "deleted_rows"}) to the points.

    Returns (new points, messages about rejected edits, pending). `pending` is True while an added row still
    lacks x or y (the editor keeps it until it is complete). Invalid edits are dropped with a message; the
    other edits apply. Editing y of a point on the curve detaches it from the curve; ticking "on curve" snaps
    y to the curve."""
    if not delta:
        return list(points), [], False
    _, ys = resolve(points, amplitude, phase)
    rows = [{"x": p.x, "y": float(ys[i]), "on curve": p.y is None} for i, p in enumerate(points)]
    problems: list[str] = []
    for key, change in (delta.get("edited_rows") or {}).items():
        i = int(key)
        if not 0 <= i < len(rows) or not isinstance(change, dict):
            continue
        new = dict(rows[i])
        for col in EDITOR_COLUMNS:
            if col in change:
                new[col] = change[col]
        if "y" in change and "on curve" not in change:
            new["on curve"] = False
        why = _row_problem(new)
        if why:
            problems.append(f"row {i + 1}: {why}")
        else:
            rows[i] = new
    deleted = {int(i) for i in (delta.get("deleted_rows") or [])}
    rows = [r for i, r in enumerate(rows) if i not in deleted]
    pending = False
    for j, added in enumerate(delta.get("added_rows") or []):
        added = {k: v for k, v in (added or {}).items() if v is not None and v != ""}
        curve = bool(added.get("on curve", False))
        if "x" not in added or ("y" not in added and not curve):
            pending = True
            continue
        new = {"x": added["x"], "y": added.get("y", 0.0), "on curve": curve}
        why = _row_problem(new)
        if why:
            problems.append(f"new row {j + 1}: {why}")
        else:
            rows.append(new)
    if len(rows) > MAX_POINTS:
        problems.append(f"kept the first {MAX_POINTS} points (the most a support set takes here)")
        rows = rows[:MAX_POINTS]
    out = [Point(float(r["x"]), None if r["on curve"] else float(r["y"])) for r in rows]
    messages = [_summarise_skips(problems, "edit(s)")] if problems else []
    return out, messages, pending


def _row_problem(row: dict[str, Any]) -> str | None:
    why = _bad_value("x", row.get("x"))
    if why is None and not row.get("on curve"):
        why = _bad_value("y", row.get("y"))
    return why


def click_action(click: ChartClick | None) -> tuple[str, float, float] | None:
    """What a click on the prediction chart asks for (ui/chart_click.py): ("remove", x, y) for a click on a support
    point, ("add", x, y) anywhere else on the plot (rounded to 0.01), or None when there was no click."""
    if click is None:
        return None
    if click.near is not None:
        return "remove", *click.near
    return "add", round(click.x, 2), round(click.y, 2)


def remove_nearest(points: Sequence[Point], x: float, y: float, amplitude: float, phase: float) -> list[Point]:
    if not points:
        return []
    xs, ys = resolve(points, amplitude, phase)
    i = int(np.argmin((xs - x) ** 2 + (ys - y) ** 2))
    return [p for j, p in enumerate(points) if j != i]


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


BARELY_MOVES = 0.10  # a relative change of the query MSE below this over all steps is "barely moves"
FLAT = 0.3  # a step-0 prediction whose half-range is below this is "close to a flat line"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _listed(names: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C": method names as a sentence lists them."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def explanation(results: dict[str, MethodResult], k: int, steps: int, step: int | None = None) -> str:
    """What the charts show at the shown `step` of `steps` (default: the last), every claim read off this support
    set's numbers at that step: the query MSE of each method from step 0 to it, who is closest, who barely moves,
    who is further than at step 0, who diverged by then, and what the step-0 curves look like on x in [-5, 5] (the
    range the networks were trained on and the query MSE measures). Nothing is said that the numbers do not show."""
    if not results:
        return "Choose at least one method in the sidebar to see it adapt."
    shapes = "; ".join(f"{r.label}: {_shape(r.preds[0])}" for r in results.values())
    if k == 0:
        return ("No support points yet, so nothing adapts: each curve is a method's initial prediction (step 0); on "
                f"x in [-5, 5] they are: {shapes}. Add points to watch each method adapt from there.")
    s = steps if step is None else max(0, min(int(step), steps))
    gone = {key for key, r in results.items() if r.diverged_at is not None and s >= r.diverged_at}
    ok = {key: r for key, r in results.items() if key not in gone and math.isfinite(r.query_mse[s])}
    truth = ("The dashed black line is the true sinusoid, which no method sees except through the points. ")
    mse = "Query MSE (error against the true curve over x in [-5, 5])"
    if s == 0:
        text = (f"Step 0 is shown: each coloured curve is a method's prediction from its initial weights, before any "
                f"gradient step on the {_plural(k, 'orange support point')}. " + truth
                + f"On x in [-5, 5] the curves are: {shapes}. {mse} at step 0: "
                + "; ".join(f"{r.label} {r.query_mse[0]:.2f}" for r in results.values()) + ".")
        if steps == 0:
            return text + (" With 0 inner steps nothing adapts: raise *Number of inner steps S* in the sidebar to "
                           "watch them learn.")
        return text + f" Press **Next** or **Play** to watch the {_plural(steps, 'inner step')}."
    parts = []
    for r in results.values():
        if r.key in ok:
            parts.append(f"{r.label} {r.query_mse[0]:.2f} → {r.query_mse[s]:.2f}")
        else:
            parts.append(f"{r.label} diverged" + (f" at step {r.diverged_at}" if r.diverged_at is not None else ""))
    text = (f"Step {s} of {steps} is shown: each coloured curve is a method's prediction after "
            f"{_plural(s, 'gradient step')} on the {_plural(k, 'orange support point')}, starting from that "
            "method's initial weights. " + truth + f"At step 0, on x in [-5, 5], the curves were: {shapes}. "
            f"{mse} from step 0 to step {s}: " + "; ".join(parts) + ".")
    if not ok:
        return text + (f" Every method has diverged by step {s}: each step overshoots and lands further away (the "
                       "warning above says what to try).")
    best = min(ok.values(), key=lambda r: r.query_mse[s])
    text += f" After step {s}, **{best.label}** is closest to the truth"
    gains = {key: (r.query_mse[0] - r.query_mse[s]) / r.query_mse[0] for key, r in ok.items() if r.query_mse[0] > 0}
    most = max(gains, key=gains.get) if gains else None
    if most is not None and gains[most] > BARELY_MOVES:
        text += (f", and **{ok[most].label}** improves the most ({gains[most]:.0%} lower error)" if most != best.key
                 else f", and it also improves the most ({gains[most]:.0%} lower error)")
    text += "."
    still = [r.label for key, r in ok.items() if abs(gains.get(key, 0.0)) < BARELY_MOVES]
    if still:
        text += (f" {_listed(still)} {'has' if len(still) == 1 else 'have'} barely moved by step {s} (less than "
                 f"{BARELY_MOVES:.0%}).")
    worse = [r.label for key, r in ok.items() if gains.get(key, 0.0) <= -BARELY_MOVES]
    if worse:
        text += f" {_listed(worse)} {'is' if len(worse) == 1 else 'are'} further from the truth than at step 0."
    return text


def _shape(pred: np.ndarray) -> str:
    """A step-0 curve (predictions on PLOT_X) in words, on x in [-5, 5] only (beyond it the chart shades what the
    networks never saw): a flat line near some value, or a wave of some half-range."""
    v = pred[QUERY_SLICE]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "off the chart"
    half = float(v.max() - v.min()) / 2
    mid = float(v.max() + v.min()) / 2
    where = f" at y ≈ {mid:.1f}" if abs(mid) >= 0.05 else ""
    if half < FLAT:
        return "close to a flat line" + where
    return f"a wave of about ±{half:.1f}" + (where.replace(" at ", " around ") if where else "")

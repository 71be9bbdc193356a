"""The Sinusoid page's task range, its x grid and the user's support points: sampling, CSV uploads, table edits
and clicks on the plot, each validated with a message that says what to do (no Streamlit here)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from maml_core import SinusoidTaskConfig, sinusoid

from .chart_click import ChartClick
from .state_types import Point

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


def editor_frame(points: Sequence[Point]) -> pd.DataFrame:
    """The table the data editor shows: x, y, and whether y follows the curve (then y is empty, which the page
    shows as "on curve"). The task's A and phase are not in it, so moving them leaves the editor as it is: its
    data is its identity in Streamlit, and new data would mount it anew in the browser (docs/SPEED.md)."""
    frame = pd.DataFrame({"x": [round(p.x, 3) for p in points],
                          "y": [np.nan if p.y is None else round(p.y, 3) for p in points],
                          "on curve": [p.y is None for p in points]})
    return frame.astype({"x": "float64", "y": "float64", "on curve": "bool"})  # typed even when empty


def points_csv(points: Sequence[Point], amplitude: float, phase: float) -> bytes:
    """The support set as the CSV `parse_csv` reads (header x,y), y taken from the curve where the point follows it."""
    x, y = resolve(points, amplitude, phase)
    return pd.DataFrame({"x": x.round(3), "y": y.round(3)}).to_csv(index=False).encode()


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

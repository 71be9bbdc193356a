"""The sentences under the Sinusoid page's charts, computed from the numbers on screen (no Streamlit here)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .sinusoid_points import QUERY_SLICE
from .state_types import MethodResult

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

"""The Omniglot page's comparison of methods, in words read off the numbers: which settings each method runs with
(the two modes), what the held-out figures are and how large MAML's edge is there and on the episode shown, and
how each support loss moves. No Streamlit here (app_pages/omniglot.py shows these sentences).

The held-out N-way figures of networks trained with fewer ways (the 5-way FO-MAML and transfer checkpoints on
20-way episodes) are not in the checkpoints: `scripts/paired.py --json assets/omniglot_test_results.json` measures
them, with every pair's per-episode difference, on the same episodes for every method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from maml_core import Checkpoint, describe_lr
from ui import common

VALIDATED, EQUAL = "validated", "equal"
MODES = {VALIDATED: "Each method's own validated settings", EQUAL: "The same α and steps for every method"}
RESULTS_FILE = "omniglot_test_results.json"
# A per-episode difference (points) inside this, or an interval that includes 0, is called small / not clear.
SMALL_EDGE = 2.0


def label(m: str) -> str:
    return common.METHOD_LABELS.get(m, m)


def steps_word(n: int) -> str:
    return f"{n} step{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class TestFigure:
    """A method's held-out accuracy on `tasks` N-way 1-shot episodes at its validated `steps` and `inner_lr`."""

    accuracy: float
    ci95: float
    steps: int
    inner_lr: float | str
    tasks: int
    trained_ways: int


def load_results(assets: Path) -> dict:
    """The measured figures (`scripts/paired.py --json`), by number of ways as a string; {} when absent or unreadable
    (the page then shows only what the checkpoints record)."""
    try:
        blob = json.loads((assets / RESULTS_FILE).read_text())
        return dict(blob["results"]) if blob.get("format") == "maml_core.omniglot_test_results" else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def test_figures(checkpoints: dict[str, Checkpoint], weights_ids: dict[str, str | None], n_way: int,
                 results: dict) -> dict[str, TestFigure]:
    """Each method's held-out `n_way`-way accuracy: the one its checkpoint records when it was measured on `n_way`
    ways, else the measured file's figure when these are the very shipped weights and settings it measured."""
    out = {}
    measured = (results.get(str(n_way)) or {}).get("methods", {})
    for m, ck in checkpoints.items():
        h = ck.metrics.headline
        if h is not None and h.metric == "accuracy" and ck.config.omniglot.n_way == n_way and h.k_shot == 1:
            out[m] = TestFigure(h.value, h.ci95, h.steps, h.inner_lr, h.tasks, n_way)
            continue
        r, wid = measured.get(m), weights_ids.get(m) or ""
        if r and wid.startswith(f"shipped:{r['checkpoint']}:") and r["steps"] == ck.eval_steps \
                and r["inner_lr"] == ck.inner_lr:
            out[m] = TestFigure(r["accuracy"], r["ci95"], r["steps"], r["inner_lr"],
                                int(results[str(n_way)]["tasks"]), int(r["trained_ways"]))
    return out


def paired(results: dict, n_way: int, a: str, b: str) -> dict | None:
    """The measured per-episode difference a − b on held-out `n_way`-way episodes (None when not measured)."""
    for p in (results.get(str(n_way)) or {}).get("pairs", []):
        if (p["a"], p["b"]) == (a, b):
            return p
    return None


def held_out_caption(figs: dict[str, TestFigure], n_way: int, methods: list[str]) -> str:
    """What each held-out figure is, exactly: episodes, the network (its own N-way one or a narrower one whose zero
    head widens), steps and α. Methods without a figure for `n_way` ways are named as such."""
    if not figs:
        return ""
    tasks = {f.tasks for f in figs.values()}
    parts = []
    for m in methods:
        f = figs.get(m)
        if f is None:
            parts.append(f"**{label(m)}**: no held-out {n_way}-way figure for these weights")
            continue
        net = "" if f.trained_ways == n_way else f", its {f.trained_ways}-way network with a {n_way}-way zero head"
        parts.append(f"**{label(m)}** {100 * f.accuracy:.1f}% ± {100 * f.ci95:.1f} ({steps_word(f.steps)}, "
                     f"α = {describe_lr(f.inner_lr)}{net})")
    where = f"{tasks.pop()} held-out {n_way}-way 1-shot episodes" if len(tasks) == 1 else \
        f"held-out {n_way}-way 1-shot episodes"
    return (f"Measured accuracy on {where} of characters these networks never saw (mean ± 95% CI, each method at "
            "its own validated steps and α): " + " · ".join(parts) + ".")


def edge_sentence(results: dict, n_way: int, runs: dict | None = None,
                  against: tuple[str, ...] = ("transfer", "fomaml")) -> str:
    """How large MAML's edge over transfer learning (and FO-MAML) is on the held-out episodes, from the measured
    per-episode differences, and on this episode (`runs` with query accuracies), from its numbers."""
    out = []
    for b in against:
        p = paired(results, n_way, "maml", b)
        if p is None:
            continue
        d, ci = 100 * p["difference"], 100 * p["ci95"]
        if abs(d) <= ci:
            size = "no clear difference"
        elif abs(d) < SMALL_EDGE:
            size = f"a small {'edge' if d > 0 else 'deficit'} for MAML"
        else:
            size = f"a clear {'edge' if d > 0 else 'deficit'} for MAML"
        n = p["better"] + p["equal"] + p["worse"]
        out.append(f"On {n} held-out {n_way}-way episodes (each method at its own validated settings), MAML − "
                   f"{label(b)} is {d:+.1f} ± {ci:.1f} points "
                   f"(per episode, paired): {size}; MAML was better on {p['better']}, equal on {p['equal']} and "
                   f"worse on {p['worse']}.")
    if runs and "maml" in runs and runs["maml"].query_acc is not None:
        q = runs["maml"].probs.shape[1]
        mine = float(runs["maml"].query_acc[-1])
        others = []
        for b in against:
            r = runs.get(b)
            if r is None or r.query_acc is None:
                continue
            theirs = float(r.query_acc[-1])
            d = 100 * (mine - theirs)
            verdict = "tied" if abs(d) < 1e-6 else \
                f"MAML {'ahead' if d > 0 else 'behind'} by {abs(d):.0f} points, {abs(round(d * q / 100))} of {q} " \
                "queries"
            others.append(f"{label(b)} {100 * theirs:.0f}% ({verdict})")
        if others:
            out.append(f"On this episode after {steps_word(runs['maml'].steps)}: MAML {100 * mine:.0f}%; "
                       + "; ".join(others) + ".")
    return " ".join(out)


def mode_sentence(mode: str, checkpoints: dict[str, Checkpoint], steps: int, inner_lr: float | None) -> str:
    """The settings every method runs with, as numbers (always shown beside Adapt)."""
    if mode == EQUAL:
        return (f"**{MODES[EQUAL]}**: α = {describe_lr(inner_lr)} and S = {steps_word(steps)} for "
                + ", ".join(label(m) for m in checkpoints) + " (both in the sidebar).")
    each = "; ".join(f"{label(m)} α = {describe_lr(c.inner_lr)}, validated with {steps_word(c.eval_steps)}"
                     for m, c in checkpoints.items())
    return (f"**{MODES[VALIDATED]}**: {each}. The charts run every method S = {steps_word(steps)} (sidebar); "
            "the held-out figures are at each one's validated steps (the hollow circles).")


def speed_sentence(mode: str, runs: dict) -> str:
    """Whether the speeds on the charts compare the methods: only when every method has the same α and steps."""
    lrs = {describe_lr(r.inner_lr) for r in runs.values()}
    if len(runs) < 2:
        return ""
    if mode == EQUAL and len(lrs) == 1:
        s = max(r.steps for r in runs.values())
        after = ", ".join(f"{label(m)} {float(r.support_loss[min(1, r.steps)]):.3g}" for m, r in runs.items())
        return (f"Every method here takes the same steps with α = {lrs.pop()}, so how fast each moves compares the "
                f"methods: support loss after the first of {steps_word(s)}: {after}.")
    each = ", ".join(f"{label(m)} {describe_lr(r.inner_lr)}" for m, r in runs.items())
    return (f"Their α differ ({each}), so how fast each line moves here says as much about α as about the method: "
            f"choose “{MODES[EQUAL]}” to compare speed.")


def loss_sentence(runs: dict) -> str:
    """How each support loss moved over the steps shown, read off the numbers (falls every step, or where it
    rose)."""
    parts = []
    for m, r in runs.items():
        v = [float(x) for x in r.support_loss]
        if len(v) < 2 or r.diverged:
            continue
        rises = [s for s in range(1, len(v)) if v[s] > v[s - 1] * (1 + 1e-6)]
        flat = [s for s in range(1, len(v)) if s not in rises and v[s] >= v[s - 1] * (1 - 1e-6)]
        if rises:
            how = "rises at step " + ", ".join(str(s) for s in rises[:4]) + (" and later" if len(rises) > 4 else "")
        elif flat:
            how = "never rises, but stays the same at step " + ", ".join(str(s) for s in flat[:4]) + \
                (" and later" if len(flat) > 4 else "")
        else:
            how = "falls at every step"
        parts.append(f"{label(m)}'s support loss goes from {v[0]:.3g} to {v[-1]:.3g} and {how}")
    return ("; ".join(parts) + ".") if parts else ""

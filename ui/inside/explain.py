"""Inside MAML, sinusoid: the sentences, computed from the numbers the charts show."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from maml_core import geometry as G

from .names import DIRECTION_LABELS, label, layer_label
from .numbers import (
    LINE_STEPS,
    LINE_T,
    MANY_SHOTS,
    MANY_STEPS,
    MANY_TASKS,
    AlongTraining,
    DirectionTable,
    Landscape,
    Paths,
    Task,
    drawn,
    finite,
)


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


def many_text(many: dict[str, np.ndarray], step: int, mine: float | None, mine_method: str | None,
              k: int) -> list[str]:
    """The 600 tasks' mean ± 95% CI and median per start at `step`, and where the task on screen falls."""
    s = min(step, MANY_STEPS)
    parts = []
    for m, v in many.items():
        col = finite(v[:, s])
        ci = 1.96 * col.std(ddof=1) / math.sqrt(len(col)) if np.isfinite(col).all() else float("inf")
        parts.append(f"{label(m)} {col.mean():.3g} ± {ci:.2g} (median {np.median(col):.2g})")
    out = [f"After {s} step{'' if s == 1 else 's'} on the {MANY_TASKS} test tasks of docs/RESULTS.md "
           f"({MANY_SHOTS} shots, mean ± 95% CI): {_list(parts)}."]
    if mine is not None and mine_method in many:
        col = finite(many[mine_method][:, s])
        better = float((col > mine).mean())
        shots = "" if k == MANY_SHOTS else f" (it has {k} support points, they have {MANY_SHOTS})"
        out.append(f"The task on screen, from the {label(mine_method)} start, ends at {mine:.3g}: better than "
                   f"{_pct(better)} of those tasks{shots}.")
    return out


def along_text(along: AlongTraining) -> str:
    first, last = 0, len(along.iterations) - 1
    return (f"At the initialisation MAML's and FO-MAML's directions have cosine {along.maml_fomaml[first]:.2f} and "
            f"the second-order term is {_pct(along.second_order[first])} of MAML's gradient; after "
            f"{along.iterations[last]:,} iterations, {along.maml_fomaml[last]:.2f} and "
            f"{_pct(along.second_order[last])}. Reptile's cosine with MAML goes from {along.reptile[first]:.2f} to "
            f"{along.reptile[last]:.2f}.")

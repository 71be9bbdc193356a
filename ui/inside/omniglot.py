"""Inside MAML, Omniglot: what adaptation changes in the shipped 5-way MAML network (ANIL against all layers, and
each layer's movement), from the figures scripts/inside_omniglot.py measured and wrote to assets/inside_omniglot.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import figures
from ..common import METHOD_COLORS

ANIL = "head only (ANIL)"
FULL = "all layers"
LAYER_LABELS = {"features.0": "conv block 1", "features.1": "conv block 2", "features.2": "conv block 3",
                "features.3": "conv block 4", "head": "head"}


@dataclass(frozen=True)
class OmniglotFigures:
    """The file's figures: accuracy (mean, ci95) per step for FULL and ANIL, their paired difference, and each
    layer's movement |theta_s - theta_0| and size |theta_s| per step (root mean square over episodes)."""

    tasks: int
    ways: int
    shots: int
    inner_lr: float
    command: str
    accuracy: dict[str, dict[str, list[float]]]
    difference: dict[str, list[float]]
    layers: list[str]
    change: list[list[float]]
    size: list[list[float]]

    @property
    def steps(self) -> int:
        return len(self.change) - 1


def load(path: Path) -> tuple[OmniglotFigures | None, str | None]:
    """The figures, or None and what to do (the file is missing or not the script's)."""
    fix = "`python scripts/inside_omniglot.py --data-dir DATA` writes it (DATA: the Omniglot archives)."
    try:
        d = json.loads(path.read_text())
        out = OmniglotFigures(int(d["tasks"]), int(d["ways"]), int(d["shots"]), float(d["inner_lr"]), d["command"],
                              d["accuracy"], d["difference"], list(d["layers"]), d["layer_change"], d["layer_size"])
        if set(out.accuracy) != {FULL, ANIL} or len(out.size) != len(out.change):
            raise ValueError("unexpected contents")
        return out, None
    except FileNotFoundError:
        return None, f"The Omniglot figures are not here ({path.name}). {fix}"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"{path.name} could not be read ({e}). {fix}"


def accuracy_figure(f: OmniglotFigures, step: int, height: int) -> figures.Figure:
    x = list(range(f.steps + 1))
    data = []
    for name, color, dash in ((FULL, METHOD_COLORS["maml"], "solid"), (ANIL, "#56B4E9", "dash")):
        mean, ci = f.accuracy[name]["mean"], f.accuracy[name]["ci95"]
        data.append(dict(type="scatter", mode="lines+markers", x=x, y=[round(100 * v, 2) for v in mean],
                         name=f"MAML, {name}", line=dict(color=color, width=3 if dash == "solid" else 2.5, dash=dash),
                         marker=dict(color=color, size=7), error_y=dict(type="data", visible=True, color=color,
                                                                       array=[round(100 * c, 2) for c in ci])))
    return figures.figure(data, height, shapes=[figures.step_line(min(step, f.steps))],
                          xaxis=dict(title="inner step", dtick=1, gridcolor=figures.GRID),
                          yaxis=dict(title="query accuracy (%)", gridcolor=figures.GRID))


def layers_figure(f: OmniglotFigures, step: int, height: int) -> figures.Figure:
    s = min(step, f.steps)
    names = [LAYER_LABELS.get(n, n) for n in f.layers]
    moved = f.change[s]
    share = [m / z * 100 if z > 0 else None for m, z in zip(moved, f.size[s])]
    return figures.figure([dict(type="bar", x=names, y=[None if v is None else round(v, 4) for v in share],
                                marker=dict(color=METHOD_COLORS["maml"]), name="change",
                                customdata=[round(m, 4) for m in moved],
                                hovertemplate="%{x}: moved %{customdata} (%{y:.3g}% of its size now)<extra></extra>")],
                          height, showlegend=False,
                          yaxis=dict(title=f"|θ_{s} − θ_0| / |θ_{s}| (%, log scale)", type="log", dtick=1,
                                     gridcolor=figures.GRID),
                          xaxis=dict(title=f"after {s} inner step{'' if s == 1 else 's'}"))


def explain(f: OmniglotFigures, step: int) -> list[str]:
    s = min(step, f.steps)
    full, anil = f.accuracy[FULL]["mean"], f.accuracy[ANIL]["mean"]
    d, ci = f.difference["mean"][s], f.difference["ci95"][s]
    out = [f"On {f.tasks} held-out {f.ways}-way {f.shots}-shot episodes (the same for both, α = {f.inner_lr:g}): "
           f"step 1 changes only the head, which starts at exactly zero (the zeroing trick), so the body's gradient "
           f"is zero and both ways of adapting are the same there ({100 * full[1]:.1f}%)."]
    if s >= 2:
        verdict = ("no measurable difference" if abs(d) <= ci or ci == 0 and d == 0 else
                   "all layers ahead" if d > 0 else "the head alone ahead")
        out.append(f"After {s} steps: all layers {100 * full[s]:.1f}%, head only {100 * anil[s]:.1f}%; the paired "
                   f"difference is {100 * d:+.2f} ± {100 * ci:.2f} points ({verdict}; better on "
                   f"{f.difference['better'][s]} episodes, worse on {f.difference['worse'][s]}).")
    body = [m / z for m, z, n in zip(f.change[s], f.size[s], f.layers) if n != "head" and z > 0]
    if s >= 1 and body:
        out.append(f"How far each layer moved by step {s}: the body at most {100 * max(body):.2g}% of its size, while "
                   "all of the head is new (it started at zero): the network adapts by reusing its features and "
                   "learning a head for them, Raghu et al.'s \"feature reuse\" (ICLR 2020).")
    return out

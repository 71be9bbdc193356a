"""The Meta-training page's record of each method's run (`Progress`) and its charts: the live losses, the accuracy,
the probe snapshots, and the captions that read them (no Streamlit here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from maml_core import sinusoid

from . import figures
from .common import METHOD_COLORS, METHOD_LABELS
from .train_worker import PROBE_AMPLITUDE, PROBE_GRID, PROBE_PHASE, PROBE_STEPS, PROBE_X, Snapshot

CHART_POINTS = 300  # curves are averaged into at most this many points (a 20,000-iteration run stays light)
LOG_TICKS = [m * 10.0 ** e for e in range(-3, 5) for m in (1, 2, 5)]  # 0.001, 0.002, 0.005, ... 50000


def log_ticks(values: list[float]) -> list[float]:
    """Tick values for a log axis showing `values`: 1-2-5 per decade, and every mantissa 1..9 when the values span
    less than a decade (early in a run the meta-loss moves between, say, 2.9 and 4: 1-2-5 alone would leave the
    axis without a single label)."""
    pos = [v for v in values if v == v and 0 < v < float("inf")]
    if not pos or max(pos) / min(pos) >= 10:
        return LOG_TICKS
    return [m * 10.0 ** e for e in range(-3, 5) for m in range(1, 10)]


@dataclass
class Progress:
    """One algorithm's run, as the training thread reports it (read through `LiveRun.view`)."""

    algo: str
    iterations: int
    iteration: int = 0
    status: str = "waiting"  # waiting | running | done | stopped | error
    message: str = ""
    losses: list[float] = field(default_factory=list)  # meta-loss per iteration
    accs: list[float] = field(default_factory=list)  # Omniglot: query accuracy after adaptation, per iteration
    val: list[tuple[int, float]] = field(default_factory=list)  # (iteration, validation accuracy)
    snapshots: list[Snapshot] = field(default_factory=list)
    its_per_sec: float = 0.0
    elapsed: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status in ("done", "stopped", "error")


# --- figures ------------------------------------------------------------------------------------------------------

def smooth(values: list[float], planned: int, points: int = CHART_POINTS) -> tuple[list[int], list[float]]:
    """Average consecutive iterations into buckets of a fixed size (`planned` / `points`, so a curve keeps its
    shape while the run grows): (last iteration of each bucket, mean). The last, partial bucket is left out
    until it fills, unless it is all there is. A bucket holding a non-finite value (a diverged run) is +inf;
    the caller clips it for plotting."""
    n = len(values)
    if n == 0:
        return [], []
    size = max(1, math.ceil(planned / points))
    arr = np.asarray(values, dtype=np.float64)
    xs, ys = [], []
    for start in range(0, n, size):
        chunk = arr[start:start + size]
        if len(chunk) < size and xs:
            break
        xs.append(start + len(chunk))
        ys.append(float(chunk.mean()) if np.isfinite(chunk).all() else float("inf"))
    return xs, ys


# One line style per method, so the curves are told apart without colour.
METHOD_DASH = {"maml": "solid", "fomaml": "dash", "reptile": "dashdot", "pretrain": "dot", "transfer": "dot"}


# What each method's progress figure is: MAML's and FO-MAML's meta-loss (a query loss after adaptation), else this.
PROGRESS_LOSS = {"pretrain": "training MSE", "transfer": "training loss", "reptile": "MSE after its k steps"}

# What each baseline's curve is, where it is not MAML's meta-loss (a query loss after adaptation).
LOSS_LABELS = {"pretrain": "Pretrained (its training MSE)", "reptile": "Reptile (MSE on its points after k steps)"}


def ema(ys: list[float], log: bool, span: int = 8) -> list[float]:
    """An exponential moving average of the bucket means (in log space for a log axis), so the trend reads
    through the noise; a non-finite value restarts it."""
    alpha, out, m = 2 / (span + 1), [], None
    for y in ys:
        if not math.isfinite(y) or (log and y <= 0):
            out.append(y)
            m = None
            continue
        v = math.log(y) if log else y
        m = v if m is None else alpha * v + (1 - alpha) * m
        out.append(math.exp(m) if log else m)
    return out


def _clip(ys: list[float], cap: float = 1e4) -> list[float]:
    return [min(y, cap) if math.isfinite(y) else cap for y in ys]


def loss_figure(view: dict[str, Progress], problem: str, height: int = 380) -> go.Figure:
    """Meta-loss per iteration for every algorithm: the bucket means faint, their moving average bold, one line
    style per method (log scale for the sinusoid); for the sinusoid, beside it the probe task's MSE after 10
    steps from each snapshot: the initialisation becoming good at adapting."""
    sinus = problem == "sinusoid"
    fig = make_subplots(rows=1, cols=2 if sinus else 1, horizontal_spacing=0.1,
                        # two short lines each: on a phone, one long line per subplot ran into the other
                        subplot_titles=(["meta-loss: query loss<br>after adaptation",
                                         f"probe task: MSE<br>after {PROBE_STEPS} inner steps"] if sinus
                                        else ["meta-loss (query cross-entropy after adaptation)"]))
    for algo, p in view.items():
        color = METHOD_COLORS.get(algo, "#555")
        label = LOSS_LABELS.get(algo, METHOD_LABELS.get(algo, algo))
        xs, ys = smooth(p.losses, p.iterations)
        fig.add_trace(go.Scatter(x=xs, y=_clip(ys), mode="lines", name=f"{label} (raw)", legendgroup=algo,
                                 showlegend=False, opacity=0.3, hoverinfo="skip",
                                 line=dict(color=color, width=1.5)), row=1, col=1)
        fig.add_trace(go.Scatter(x=xs, y=_clip(ema(ys, log=sinus)), mode="lines", name=label, legendgroup=algo,
                                 line=dict(color=color, width=3, dash=METHOD_DASH.get(algo, "solid"))), row=1, col=1)
        if sinus and p.snapshots:
            fig.add_trace(go.Scatter(x=[s.iteration for s in p.snapshots],
                                     y=_clip([s.mse_after for s in p.snapshots]), mode="lines+markers",
                                     name=label, legendgroup=algo, showlegend=False,
                                     line=dict(color=color, width=2, dash=METHOD_DASH.get(algo, "solid"))),
                          row=1, col=2)
    figures.legend_on_top(fig, height)
    # sinusoid losses span decades (log scale); Omniglot's cross-entropy moves within 1-3 (linear reads better)
    fig.update_yaxes(type="log" if sinus else "linear", gridcolor=figures.GRID, fixedrange=True)
    if sinus:  # every tick a whole number ("0.5", not Plotly's bare "5" for 0.5 on a log axis)
        for axis, traces in (("yaxis", [t for t in fig.data if t.yaxis in (None, "y")]),
                             ("yaxis2", [t for t in fig.data if t.yaxis == "y2"])):
            values = [v for t in traces for v in (t.y or ()) if v is not None and 0 < v < float("inf")]
            ticks = log_ticks(values)
            fig.update_layout({axis: dict(tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])})
            if values and max(values) < 2 * min(values):  # Plotly pads a near-single value by decades: crowded ticks
                fig.update_layout({axis: dict(range=[math.log10(min(values) / 2), math.log10(max(values) * 2)])})
    fig.update_xaxes(title_text="iteration", gridcolor=figures.GRID, rangemode="tozero", fixedrange=True)
    return figures.style(fig)


def accuracy_figure(view: dict[str, Progress], val_tasks: int, height: int = 380) -> go.Figure:
    """Omniglot: training query accuracy after adaptation (averaged), and validation accuracy points (each on
    `val_tasks` held-out tasks)."""
    fig = go.Figure()
    for algo, p in view.items():
        color = METHOD_COLORS.get(algo, "#555")
        xs, ys = smooth(p.accs, p.iterations, points=50)
        fig.add_trace(go.Scatter(x=xs, y=[100 * y for y in ys], mode="lines", line=dict(color=color, width=3),
                                 name=f"{METHOD_LABELS.get(algo, algo)}: training tasks (query set, after adapting)"))
        if p.val:
            fig.add_trace(go.Scatter(x=[v[0] for v in p.val], y=[100 * v[1] for v in p.val], mode="markers",
                                     marker=dict(color=color, size=14, symbol="diamond"),
                                     name=f"{METHOD_LABELS.get(algo, algo)}: {val_tasks} held-out tasks"))
    fig.add_hline(y=20, line=dict(color="#999", dash="dot"), annotation_text="chance (5-way)")
    figures.legend_on_top(fig, height)
    fig.update_layout(xaxis=dict(title="iteration", gridcolor=figures.GRID, rangemode="tozero", fixedrange=True),
                      yaxis=dict(title="accuracy (%)", range=[0, 100], gridcolor=figures.GRID, fixedrange=True))
    return figures.style(fig)


def pace_caption(pace: str, view: dict[str, Progress]) -> str:
    """What the x axis means for this run's pace, in the run's own numbers."""
    if len(view) < 2:
        return ""
    if pace == "lockstep":
        return ("Same iterations (lockstep): the methods take turns, one update each, so at every point on the x "
                "axis all of them have had the same number of updates.")
    reached = ", ".join(f"{METHOD_LABELS.get(a, a)} {p.iteration:,}" for a, p in view.items())
    return (f"Same time: each method gets equal seconds, so the cheaper ones do more updates (iterations so far: "
            f"{reached}). Compare where the lines end, not only their height.")


def snapshot_caption(view: dict[str, Progress]) -> str:
    latest = [f"{METHOD_LABELS.get(a, a)} at iteration {p.snapshots[-1].iteration:,}"
              for a, p in view.items() if p.snapshots]
    return ("Latest snapshots: " + ", ".join(latest) + ".") if latest else ""


def snapshot_figure(view: dict[str, Progress], animate: bool, height: int = 420) -> go.Figure:
    """One panel per algorithm: the probe task, its 10 support points, and the current initialisation's fit
    before (dotted) and after 10 inner steps (solid). With `animate`, frames walk through every snapshot (a
    slider and a replay button, in the space kept free for them while the run trains: no layout jump)."""
    algos = [a for a, p in view.items() if p.snapshots]
    if not algos:
        return figures.empty("Snapshots of the initialisation adapting to a probe task appear here.", height)
    grid = PROBE_GRID[:, 0].tolist()
    truth = sinusoid(PROBE_GRID, PROBE_AMPLITUDE, PROBE_PHASE)[:, 0].tolist()
    px = PROBE_X[:, 0].tolist()
    py = sinusoid(PROBE_X, PROBE_AMPLITUDE, PROBE_PHASE)[:, 0].tolist()
    fig = make_subplots(rows=1, cols=len(algos), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[METHOD_LABELS.get(a, a) for a in algos])
    dynamic: list[int] = []
    for j, algo in enumerate(algos, start=1):
        color = METHOD_COLORS.get(algo, "#555")
        s = view[algo].snapshots[-1]
        first = j == 1
        fig.add_trace(go.Scatter(x=grid, y=truth, mode="lines", name="probe task", showlegend=first,
                                 line=dict(color=METHOD_COLORS["truth"], dash="dash", width=1.5)), row=1, col=j)
        fig.add_trace(go.Scatter(x=px, y=py, mode="markers", name="its 10 support points", showlegend=first,
                                 marker=dict(color=METHOD_COLORS["support"], size=9)), row=1, col=j)
        fig.add_trace(go.Scatter(x=grid, y=s.before, mode="lines", name="initialisation (step 0)",
                                 showlegend=first, line=dict(color=color, dash="dot", width=2)), row=1, col=j)
        fig.add_trace(go.Scatter(x=grid, y=s.after, mode="lines", name=f"after {PROBE_STEPS} inner steps",
                                 showlegend=first, line=dict(color=color, width=3.5)), row=1, col=j)
        dynamic += [len(fig.data) - 2, len(fig.data) - 1]
    figures.legend_on_top(fig, height, bottom=130)  # room under the x axis for the replay buttons and slider
    fig.update_yaxes(range=[-6, 6], gridcolor=figures.GRID, fixedrange=True)
    fig.update_xaxes(range=[-5.2, 5.2], gridcolor=figures.GRID, fixedrange=True)
    n = max(len(view[a].snapshots) for a in algos)
    lead = view[algos[0]].snapshots
    iters = [lead[min(i, len(lead) - 1)].iteration for i in range(n)]
    if animate and n > 1:
        frames = []
        for i in range(n):
            data = []
            for a in algos:
                s = view[a].snapshots[min(i, len(view[a].snapshots) - 1)]
                data += [go.Scatter(y=s.before), go.Scatter(y=s.after)]
            frames.append(go.Frame(name=str(i), data=data, traces=dynamic))
        fig.frames = frames
        still = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))
        play = dict(frame=dict(duration=600, redraw=False), fromcurrent=False, transition=dict(duration=200),
                    mode="immediate")
        # buttons at the left, the slider's label at the right, the slider below both across the whole width
        # (beside the buttons, on a phone, the slider's label ran under them)
        fig.update_layout(
            updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, y=-0.2, xanchor="left",
                              yanchor="top", pad=dict(t=0, l=0),
                              buttons=[dict(label="▶ Replay", method="animate", args=[None, play]),
                                       dict(label="❚❚ Pause", method="animate", args=[[None], still])])],
            sliders=[dict(active=n - 1, x=0, len=1, y=-0.2, yanchor="top", pad=dict(t=40, l=0),
                          currentvalue=dict(prefix="snapshot at iteration ", xanchor="right", offset=12),
                          steps=[dict(label=f"{it:,}", method="animate", args=[[str(i)], still])
                                 for i, it in enumerate(iters)])])
    elif not animate:
        fig.add_annotation(text="When the run ends, a slider here replays every snapshot.", x=0, y=-0.22,
                           xref="paper", yref="paper", showarrow=False, xanchor="left", font=dict(color="#777"))
    return figures.style(fig)

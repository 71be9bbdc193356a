"""Live meta-training for the Meta-training page: `maml_core.meta_train` runs in background threads (one per
algorithm) while the page polls a thread-safe progress record; and the figures that show it.

Bounded on purpose (a shared server): iterations and wall time are capped per run, and at most
`MAX_SERVER_RUNS` runs train at once on a server (`server_slots`). Threads never call Streamlit; the page reads
`LiveRun.view()` and turns finished results into checkpoints in the user's session.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from maml_core import (
    Checkpoint,
    TrainConfig,
    TrainResult,
    adapt_and_measure,
    build_model,
    default_config,
    get_params,
    meta_train,
    sinusoid,
)
from maml_core.checkpoints import Metrics
from maml_core.training import StepInfo

from .common import METHOD_COLORS, METHOD_LABELS, chart_layout, style_axes

SINUSOID_MAX_ITERATIONS = 20_000
SINUSOID_MAX_SECONDS = 180.0
OMNIGLOT_MAX_ITERATIONS = 500
OMNIGLOT_MAX_SECONDS = 120.0
OMNIGLOT_VAL_TASKS = 50
MAX_SERVER_RUNS = 2
# The fixed probe task every snapshot adapts to (the same for every algorithm and every run).
PROBE_AMPLITUDE, PROBE_PHASE, PROBE_STEPS = 3.5, 1.0, 10
PROBE_X = torch.tensor(np.sort(np.random.default_rng(7).uniform(-5, 5, 10)), dtype=torch.float32).reshape(-1, 1)
PROBE_GRID = torch.linspace(-5, 5, 81).reshape(-1, 1)
CHART_POINTS = 300  # curves are averaged into at most this many points (a 20,000-iteration run stays light)


@dataclass
class Snapshot:
    """The current initialisation adapting to the probe task at one iteration."""

    iteration: int
    before: list[float]  # prediction on PROBE_GRID at inner step 0
    after: list[float]  # after PROBE_STEPS steps
    mse_before: float
    mse_after: float


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


# Shared by every session of this server process (module state, like st.cache_resource): a run takes a slot when
# it starts and gives it back when its last thread ends.
SERVER_SLOTS = threading.BoundedSemaphore(MAX_SERVER_RUNS)


def sinusoid_configs(algos: list[str], *, iterations: int, meta_batch: int, inner_steps: int, inner_lr: float,
                     meta_lr: float, seed: int) -> dict[str, TrainConfig]:
    """The paper's sinusoid settings with the user's overrides, clamped to the server's bounds."""
    iterations = int(min(max(iterations, 1), SINUSOID_MAX_ITERATIONS))
    return {a: default_config("sinusoid", a, iterations=iterations, meta_batch=int(meta_batch),
                              inner_steps=int(inner_steps), inner_lr=float(inner_lr), meta_lr=float(meta_lr),
                              seed=int(seed))
            for a in algos}


def omniglot_config(algo: str, *, iterations: int, meta_batch: int, seed: int, data_dir: str) -> TrainConfig:
    """5-way 1-shot with the paper's alpha = 0.4 and one inner step; validation only at the end (it is slow)."""
    iterations = int(min(max(iterations, 1), OMNIGLOT_MAX_ITERATIONS))
    return default_config("omniglot", algo, iterations=iterations, meta_batch=int(meta_batch), seed=int(seed),
                          val_every=iterations, val_tasks=OMNIGLOT_VAL_TASKS, data_dir=str(data_dir))


def initial_params(config: TrainConfig) -> dict[str, Tensor]:
    """Seeded initial weights built outside the threads, so concurrent runs are reproducible."""
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        return get_params(build_model(config.model))


def probe_snapshot(model: torch.nn.Module, params: dict[str, Tensor], inner_lr: float, iteration: int) -> Snapshot:
    """Adapt `params` (detached copies) to the probe task and record the fit before and after."""
    p = {k: v.detach().clone() for k, v in params.items()}
    sy = sinusoid(PROBE_X, PROBE_AMPLITUDE, PROBE_PHASE)
    truth = sinusoid(PROBE_GRID, PROBE_AMPLITUDE, PROBE_PHASE)
    with torch.no_grad():
        m = adapt_and_measure(model, p, PROBE_X, sy, PROBE_GRID, truth, steps=PROBE_STEPS, inner_lr=inner_lr,
                              all_steps=True, support_loss=False, outputs=True)
    before, after = m["query_out"][0], m["query_out"][-1]
    clip = lambda y: [round(float(v), 3) if math.isfinite(v) else None for v in y.clamp(-50, 50)[:, 0]]  # noqa: E731
    return Snapshot(iteration, clip(before), clip(after), float(m["query_loss"][0]), float(m["query_loss"][-1]))


class LiveRun:
    """Meta-train several algorithms concurrently (one thread each) under one stop flag and one deadline."""

    def __init__(self, problem: str, configs: dict[str, TrainConfig], *, max_seconds: float,
                 snapshot_every: int = 250, data: Any = None, slot: threading.Semaphore | None = None) -> None:
        self.problem = problem
        self.configs = configs
        self.max_seconds = max_seconds
        self.snapshot_every = max(1, int(snapshot_every))
        self.data = data
        self.id = f"{problem}-{time.time_ns()}"
        self.started = time.time()
        self.results: dict[str, TrainResult] = {}
        self.progress = {a: Progress(a, c.iterations) for a, c in configs.items()}
        self.collected = False  # the page has turned the results into checkpoints
        self._slot = slot
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._train, args=(a,), name=f"maml-train-{a}", daemon=True)
                         for a in configs]
        self._supervisor = threading.Thread(target=self._supervise, name="maml-train-supervisor", daemon=True)

    # --- control ---------------------------------------------------------------------------------------------
    def start(self) -> LiveRun:
        self.started = time.time()
        for t in self._threads:
            t.start()
        self._supervisor.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and self.running

    @property
    def running(self) -> bool:
        return self._supervisor.is_alive() or any(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (tests; the page never blocks). True if it ended."""
        self._supervisor.join(timeout)
        return not self.running

    def view(self) -> dict[str, Progress]:
        """A consistent copy of every algorithm's progress (lists copied under the lock)."""
        with self._lock:
            return {a: replace(p, losses=list(p.losses), accs=list(p.accs), val=list(p.val),
                               snapshots=list(p.snapshots)) for a, p in self.progress.items()}

    @property
    def elapsed(self) -> float:
        return max((p.elapsed for p in self.progress.values()), default=0.0)

    # --- threads ---------------------------------------------------------------------------------------------
    def _supervise(self) -> None:
        try:
            for t in self._threads:
                t.join()
        finally:
            if self._slot is not None:
                self._slot.release()

    def _train(self, algo: str) -> None:
        config = self.configs[algo]
        prog = self.progress[algo]
        deadline = self.started + self.max_seconds
        rate = {"t": time.perf_counter(), "it": 0}
        model = build_model(config.model)
        try:
            init = initial_params(config)
            with self._lock:
                prog.status = "running"
            if self.problem == "sinusoid":
                snap = probe_snapshot(model, init, config.inner_lr, 0)
                with self._lock:
                    prog.snapshots.append(snap)

            def on_step(info: StepInfo) -> bool:
                now = time.perf_counter()
                snap = None
                if self.problem == "sinusoid" and (info.iteration % self.snapshot_every == 0
                                                   or info.iteration == info.iterations):
                    snap = probe_snapshot(model, info.params, config.inner_lr, info.iteration)
                with self._lock:
                    prog.iteration = info.iteration
                    prog.elapsed = info.elapsed
                    prog.losses.append(float(info.meta_loss))
                    if info.accuracies:
                        prog.accs.append(float(info.accuracies[-1]))
                    if info.val and "val_acc" in info.val:
                        prog.val.append((info.iteration, float(info.val["val_acc"])))
                    if snap is not None:
                        prog.snapshots.append(snap)
                    if now - rate["t"] >= 0.5:  # iterations per second over the last half second or more
                        prog.its_per_sec = (info.iteration - rate["it"]) / (now - rate["t"])
                        rate.update(t=now, it=info.iteration)
                    elif prog.its_per_sec == 0.0 and info.iteration > 1:
                        prog.its_per_sec = info.its_per_sec
                return not self._stop.is_set() and time.time() < deadline

            result = meta_train(config, on_step=on_step, data=self.data, init_params=init,
                                max_seconds=self.max_seconds, log_every=max(1, config.iterations // 20))
            with self._lock:
                self.results[algo] = result
                done = result.iterations_done >= config.iterations
                prog.status = "done" if done else "stopped"
                if not done:
                    why = ("the stop button" if self._stop.is_set() else
                           f"the {self.max_seconds / 60:.0f}-minute limit per run")
                    prog.message = f"stopped by {why} at iteration {result.iterations_done:,}"
                if result.best_val is not None and not prog.val:
                    prog.val.append((result.iterations_done, float(result.best_val)))
                prog.its_per_sec = result.iterations_done / max(result.seconds, 1e-9)
                prog.elapsed = result.seconds
        except Exception as e:  # noqa: BLE001 - reported on the page (no traceback for users)
            with self._lock:
                prog.status = "error"
                prog.message = f"{type(e).__name__}: {e}"

    # --- results ---------------------------------------------------------------------------------------------
    def checkpoints(self) -> dict[str, tuple[Checkpoint, str]]:
        """Finished (or stopped) runs as checkpoints with a label, for the Sinusoid / Omniglot pages."""
        out = {}
        for algo, r in self.results.items():
            if r.iterations_done < 1:
                continue
            c = r.config
            eval_steps = 10 if c.problem == "sinusoid" else c.eval_steps
            ckpt = Checkpoint(c, {k: v.detach().clone() for k, v in r.params.items()},
                              metrics=Metrics(inner_lr=c.inner_lr, eval_steps=eval_steps),
                              info={"iteration": r.iterations_done, "kind": "trained in the browser",
                                    "seconds": round(r.seconds, 1)})
            its = f"{r.iterations_done:,} iteration{'' if r.iterations_done == 1 else 's'}"
            label = (f"your run: {METHOD_LABELS.get(algo, algo)}, {its} in "
                     f"{r.seconds:.0f} s (α = {c.inner_lr:g}, β = {c.meta_lr:g}, meta-batch {c.meta_batch})")
            out[algo] = (ckpt, label)
        return out


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


METHOD_DASH = {"maml": "solid", "fomaml": "dash", "pretrain": "dot", "transfer": "dot"}  # told apart without colour


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


def _legend_on_top(fig: go.Figure, height: int, bottom: int = 10) -> None:
    """The legend in the figure's top band (container coordinates), clear of the subplot titles below it."""
    fig.update_layout(**chart_layout(height, margin=dict(l=10, r=10, t=100, b=bottom)))
    fig.update_layout(legend=dict(yref="container", y=0.99, yanchor="top", x=0, xanchor="left"))


def empty_figure(text: str, height: int) -> go.Figure:
    layout = chart_layout(height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                          annotations=[dict(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                                            font=dict(color="#777"))])
    return go.Figure(layout=layout)


def loss_figure(view: dict[str, Progress], problem: str, height: int = 380) -> go.Figure:
    """Meta-loss per iteration for every algorithm: the bucket means faint, their moving average bold, one line
    style per method (log scale for the sinusoid); for the sinusoid, beside it the probe task's MSE after 10
    steps from each snapshot: the initialisation becoming good at adapting."""
    sinus = problem == "sinusoid"
    fig = make_subplots(rows=1, cols=2 if sinus else 1, horizontal_spacing=0.1,
                        subplot_titles=(["meta-loss (query loss after adaptation)",
                                         f"probe task: MSE after {PROBE_STEPS} inner steps"] if sinus
                                        else ["meta-loss (query cross-entropy after adaptation)"]))
    for algo, p in view.items():
        color = METHOD_COLORS.get(algo, "#555")
        label = METHOD_LABELS.get(algo, algo) if algo != "pretrain" else "Pretrained (its training MSE)"
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
    _legend_on_top(fig, height)
    # sinusoid losses span decades (log scale); Omniglot's cross-entropy moves within 1-3 (linear reads better)
    fig.update_yaxes(type="log" if sinus else "linear", dtick="D2" if sinus else None, gridcolor="#eee",
                     fixedrange=True)
    fig.update_xaxes(title_text="iteration", gridcolor="#eee", rangemode="tozero", fixedrange=True)
    return style_axes(fig)


def accuracy_figure(view: dict[str, Progress], height: int = 380) -> go.Figure:
    """Omniglot: training query accuracy after adaptation (averaged), and validation accuracy points."""
    fig = go.Figure()
    for algo, p in view.items():
        color = METHOD_COLORS.get(algo, "#555")
        xs, ys = smooth(p.accs, p.iterations, points=50)
        fig.add_trace(go.Scatter(x=xs, y=[100 * y for y in ys], mode="lines", line=dict(color=color, width=3),
                                 name=f"{METHOD_LABELS.get(algo, algo)}: training tasks (query set, after adapting)"))
        if p.val:
            fig.add_trace(go.Scatter(x=[v[0] for v in p.val], y=[100 * v[1] for v in p.val], mode="markers",
                                     marker=dict(color=color, size=14, symbol="diamond"),
                                     name=f"{METHOD_LABELS.get(algo, algo)}: {OMNIGLOT_VAL_TASKS} held-out tasks"))
    fig.add_hline(y=20, line=dict(color="#999", dash="dot"), annotation_text="chance (5-way)")
    _legend_on_top(fig, height)
    fig.update_layout(xaxis=dict(title="iteration", gridcolor="#eee", rangemode="tozero", fixedrange=True),
                      yaxis=dict(title="accuracy (%)", range=[0, 100], gridcolor="#eee", fixedrange=True))
    return style_axes(fig)


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
        return empty_figure("Snapshots of the initialisation adapting to a probe task appear here.", height)
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
    _legend_on_top(fig, height, bottom=100)
    fig.update_yaxes(range=[-6, 6], gridcolor="#eee", fixedrange=True)
    fig.update_xaxes(range=[-5.2, 5.2], gridcolor="#eee", fixedrange=True)
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
        fig.update_layout(
            updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, y=-0.2, xanchor="left",
                              yanchor="top",
                              buttons=[dict(label="▶ Replay training", method="animate", args=[None, play]),
                                       dict(label="❚❚ Pause", method="animate", args=[[None], still])])],
            sliders=[dict(active=n - 1, x=0.3, len=0.7, y=-0.12, yanchor="top",
                          currentvalue=dict(prefix="snapshot at iteration ", xanchor="right"),
                          steps=[dict(label=f"{it:,}", method="animate", args=[[str(i)], still])
                                 for i, it in enumerate(iters)])])
    elif not animate:
        fig.add_annotation(text="When the run ends, a slider here replays every snapshot.", x=0, y=-0.22,
                           xref="paper", yref="paper", showarrow=False, xanchor="left", font=dict(color="#777"))
    return style_axes(fig)

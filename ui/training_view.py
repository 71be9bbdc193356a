"""Live meta-training for the Meta-training page: a `LiveRun` trains every method in a child process, or in a thread
of the server where memory is short (ui/train_worker.py: one `maml_core.Trainer` per method, in lockstep by
default), while a listener thread here turns its messages into a thread-safe progress record (its charts:
ui/training_charts.py, re-exported here); runs as files (a download, and an upload checked as untrusted input).

Bounded on purpose (a shared server): iterations, wall time and the process's memory are capped per run, and
`ui/run_queue.py` decides how many runs train at once (a budget sized to the machine) and queues the rest. Nothing
here calls Streamlit: the page reads `LiveRun.view()` and turns finished results into checkpoints in the user's
session.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace
from typing import Any

from maml_core import (
    Checkpoint,
    CheckpointError,
    ModelConfig,
    TrainConfig,
    TrainResult,
    default_config,
)
from maml_core.checkpoints import UPLOAD_MAX_BYTES, Metrics, checkpoint_bytes, checkpoint_from_bytes

from . import train_worker
from .common import METHOD_LABELS
from .train_worker import (  # noqa: F401  (re-exported: the page and tests read the probe from here)
    PACES,
    PROBE_AMPLITUDE,
    PROBE_GRID,
    PROBE_PHASE,
    PROBE_STEPS,
    PROBE_X,
    Snapshot,
    initial_params,
    probe_snapshot,
)
from .training_charts import (  # noqa: F401  (re-exported: the page and tests read the charts from here)
    CHART_POINTS,
    LOG_TICKS,
    LOSS_LABELS,
    METHOD_DASH,
    PROGRESS_LOSS,
    Progress,
    accuracy_figure,
    ema,
    log_ticks,
    loss_figure,
    pace_caption,
    smooth,
    snapshot_caption,
    snapshot_figure,
)

SINUSOID_MAX_ITERATIONS = 20_000
SINUSOID_MAX_SECONDS = 180.0
OMNIGLOT_MAX_ITERATIONS = 500
OMNIGLOT_MAX_SECONDS = 120.0
OMNIGLOT_VAL_TASKS = 50
# A run's memory above its limit stops it (the queue sets each run's limit from the free memory:
# ui/run_queue.run_memory_limit_mb); KILL_GRACE_S after its time limit or a stop request, a process that has not
# ended is killed.
MEMORY_LIMIT_MB = 1500
KILL_GRACE_S = 20.0
ALONG_MOST = 12  # snapshots of weights a finished sinusoid run keeps (7 KB each) for Inside MAML


def sinusoid_configs(algos: list[str], *, iterations: int, meta_batch: int, inner_steps: int, inner_lr: float,
                     meta_lr: float, seed: int) -> dict[str, TrainConfig]:
    """The paper's sinusoid settings with the user's overrides, clamped to the server's bounds."""
    iterations = int(min(max(iterations, 1), SINUSOID_MAX_ITERATIONS))
    inner = dict(inner_steps=int(inner_steps), inner_lr=float(inner_lr), meta_lr=float(meta_lr))
    return {a: default_config("sinusoid", a, iterations=iterations, meta_batch=int(meta_batch), seed=int(seed),
                              **({} if a == "reptile" else inner))  # Reptile keeps its own k, alpha and SGD outer step
            for a in algos}


def omniglot_config(algo: str, *, iterations: int, meta_batch: int, seed: int, data_dir: str) -> TrainConfig:
    """5-way 1-shot with the paper's alpha = 0.4 and one inner step; validation only at the end (it is slow)."""
    iterations = int(min(max(iterations, 1), OMNIGLOT_MAX_ITERATIONS))
    return default_config("omniglot", algo, iterations=iterations, meta_batch=int(meta_batch), seed=int(seed),
                          val_every=iterations, val_tasks=OMNIGLOT_VAL_TASKS, data_dir=str(data_dir))



class LiveRun:
    """Meta-train several algorithms in a child process (ui/train_worker.py: interleaved, in lockstep by default)
    while a listener thread here turns its messages into each method's `Progress`.

    A run is created queued; `RunQueue` (ui/run_queue.py) starts it when the server has room. `owner` is the
    browser session that started it (the queue stops the run when that session ends). The listener watches the
    child: past its time limit (plus a grace) or its memory limit it is stopped, and killed if it does not stop.
    Nothing here calls Streamlit: the page reads `view()` and turns finished results into checkpoints."""

    def __init__(self, problem: str, configs: dict[str, TrainConfig], *, max_seconds: float,
                 snapshot_every: int = 250, data: Any = None, pace: str = "lockstep", owner: str = "",
                 memory_limit_mb: float = MEMORY_LIMIT_MB) -> None:
        if pace not in PACES:
            raise ValueError(f"pace must be one of {', '.join(PACES)}, not {pace!r}")
        self.problem = problem
        self.configs = configs
        self.max_seconds = max_seconds
        self.snapshot_every = max(1, int(snapshot_every))
        self.data = data
        self.pace = pace
        self.owner = owner
        self.memory_limit_mb = memory_limit_mb
        self.id = f"{problem}-{time.time_ns()}"
        self.submitted = time.time()
        self.started: float | None = None  # when it left the queue
        self.ended: float | None = None
        self.cancelled = ""  # why it never started (left the queue, session ended)
        self.peak_mb = 0.0  # what the run adds to the server's memory (train_worker's memory_mb), its peak as sampled
        self.pid: int | None = None  # the training process, once started
        self.results: dict[str, TrainResult] = {}
        self.progress = {a: Progress(a, c.iterations) for a, c in configs.items()}
        self.collected = False  # the page has turned the results into checkpoints
        self.on_end: list = []  # callbacks run in the listener thread when the run ends (the queue's bookkeeping)
        self._stop = threading.Event()
        self._why_stop = ""
        self._lock = threading.Lock()
        self._began: dict[str, float] = {}  # when each method began training (for its iterations per second)
        self._thread = threading.Thread(target=self._listen, name=f"maml-train-{self.id}", daemon=True)

    # --- control ---------------------------------------------------------------------------------------------
    def start(self) -> LiveRun:
        """Begin training now (the queue calls this; tests may call it directly). Returns at once: the listener
        thread starts the process (the first one on a server waits a few seconds for the fork server)."""
        self.started = time.time()
        self._thread.start()
        return self

    def stop(self, why: str = "the stop button") -> None:
        self._why_stop = self._why_stop or why
        self._stop.set()  # (a child process sees it at the listener's next poll)

    def cancel(self, why: str) -> None:
        """Mark a queued run as never started (the queue calls this when it leaves the queue)."""
        self.cancelled = why
        self._stop.set()
        with self._lock:
            for p in self.progress.values():
                p.status, p.message = "stopped", why

    @property
    def queued(self) -> bool:
        return self.started is None and not self.cancelled

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and self.running

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def active(self) -> bool:
        """Queued or training: the page keeps polling."""
        return self.queued or self.running

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (tests; the page waits only through `wait_if_ending`). True if it ended."""
        if self.started is None:
            return bool(self.cancelled)
        self._thread.join(timeout)
        return not self.running

    def wait_if_ending(self, within_s: float) -> bool:
        """Wait at most `within_s` for a training run whose own pace (every method has trained) says it ends within
        `within_s`, so that a page polling every `within_s` shows the end when it comes, not up to a poll later.
        True if the run has ended; returns at once (False) for a run further from its end."""
        if not self.running:
            return self.started is not None
        if self.remaining_seconds({}) > within_s:
            return False
        return self.join(within_s)

    def view(self) -> dict[str, Progress]:
        """A consistent copy of every algorithm's progress (lists copied under the lock)."""
        with self._lock:
            return {a: replace(p, losses=list(p.losses), accs=list(p.accs), val=list(p.val),
                               snapshots=list(p.snapshots)) for a, p in self.progress.items()}

    @property
    def elapsed(self) -> float:
        """Wall seconds since the run left the queue (0 while queued)."""
        if self.started is None:
            return 0.0
        return (self.ended or time.time()) - self.started

    def remaining_seconds(self, seconds_per_iteration: dict[str, float], overhead_s: float = 0.0) -> float:
        """An estimate of the seconds this run still holds its slot: once every method has trained, its own
        measured pace; before that, `seconds_per_iteration` per method (what the server has measured) plus
        `overhead_s` (a run's start-up and end, also measured) less what has passed; never more than its time
        limit (all of it when nothing is known)."""
        if self.ended is not None or self.cancelled:
            return 0.0
        left = self.max_seconds - self.elapsed
        with self._lock:
            todo = [(a, p.iterations - p.iteration, p.elapsed / p.iteration if p.iteration else None)
                    for a, p in self.progress.items()]
        if self.started is not None and all(spi is not None for _, _, spi in todo):
            need = sum(n * spi for _, n, spi in todo)
        elif all(a in seconds_per_iteration for a, _, _ in todo):
            need = sum(n * seconds_per_iteration[a] for a, n, _ in todo) + max(0.0, overhead_s - self.elapsed)
        else:
            need = left
        return max(0.0, min(left, need))

    def live_pace(self) -> dict[str, float]:
        """Seconds per iteration of each method that has trained so far in this run."""
        with self._lock:
            return {a: p.elapsed / p.iteration for a, p in self.progress.items() if p.iteration > 0}

    # --- the listener thread --------------------------------------------------------------------------------
    def _listen(self) -> None:
        reason, exit_note = "", ""
        runner = None
        try:
            where = train_worker.InServerRun if train_worker.trains_in_server() else train_worker.ChildRun
            runner = where(self._stop, (self.problem, self.configs, self.max_seconds, self.snapshot_every,
                                        self.pace, self.data), name=f"maml-train-{self.id}")
            self.pid = runner.pid
            self.data = None  # the run has it now
            checked = 0.0
            while True:
                if runner.poll(0.25):
                    try:
                        message = runner.recv()
                    except EOFError:
                        break
                    if message[0] == "end":
                        reason = message[1]
                        break
                    self._handle(message)
                    # A busy run sends messages faster than the poll's timeout: the limits below are still
                    # checked every 0.25 s by the clock (they were skipped while messages kept coming).
                    if time.monotonic() - checked < 0.25:
                        continue
                elif not runner.is_alive():
                    break
                checked = time.monotonic()
                self.peak_mb = max(self.peak_mb, runner.memory_mb())
                if self.peak_mb > self.memory_limit_mb and not self._stop.is_set():
                    self.stop(f"the memory limit per run ({self.memory_limit_mb:.0f} MB: the server's free memory "
                              "shared among its runs; fewer methods or a smaller meta-batch need less)")
                if self.elapsed > self.max_seconds + KILL_GRACE_S or \
                        (self._stop.is_set() and self.elapsed > self._stopped_at() + KILL_GRACE_S):
                    runner.kill()
                    exit_note = "it did not stop in time"
                    break
        except Exception as e:  # noqa: BLE001 - e.g. no process could be started: shown on the page
            exit_note = f"{type(e).__name__}: {e}"
        finally:
            if runner is not None:
                exit_note = exit_note or runner.end()
            self._finish(reason, exit_note)
            self.ended = time.time()
            for callback in self.on_end:
                callback(self)

    def _stopped_at(self) -> float:
        if not hasattr(self, "_stop_elapsed"):
            self._stop_elapsed = self.elapsed
        return self._stop_elapsed

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        with self._lock:
            if kind == "progress":  # every method's update under one lock: `view` never sees half of it
                for algo, u in message[1].items():
                    p = self.progress[algo]
                    p.iteration, p.elapsed = u.iteration, u.elapsed
                    p.losses += u.losses
                    p.accs += u.accs
                    p.val += u.val
                    p.snapshots += u.snapshots
                    p.its_per_sec = u.iteration / max(time.time() - self._began.get(algo, self.started), 1e-9)
                return
            algo = message[1]
            p = self.progress[algo]
            if kind == "status":
                p.status, p.message = message[2], message[3]
                if p.status == "running":
                    self._began[algo] = time.time()
            elif kind == "result":
                r = {**message[2], "params": train_worker.from_bytes(message[2]["params"])}
                self.results[algo] = TrainResult.from_portable(self.configs[algo], r)

    def _finish(self, reason: str, exit_note: str) -> None:
        """Each method's final status, in words the page shows."""
        why = {"limit": f"the {self.max_seconds / 60:.0f}-minute limit per run"}.get(reason) or \
            self._why_stop or "the stop button"
        with self._lock:
            for algo, p in self.progress.items():
                if p.status == "error":
                    continue
                r = self.results.get(algo)
                if r is None:
                    p.status = "error"
                    p.message = ("the training process ended unexpectedly"
                                 + (f" ({exit_note})" if exit_note else "")
                                 + (f"; {reason[len('error: '):]}" if reason.startswith("error: ") else ""))
                    continue
                done = r.iterations_done >= r.config.iterations
                p.status = "done" if done else "stopped"
                p.iteration = r.iterations_done
                if not done:
                    p.message = f"stopped by {why} at iteration {r.iterations_done:,}"
                if r.best_val is not None and not p.val:
                    p.val.append((r.iterations_done, float(r.best_val)))


    # --- results ---------------------------------------------------------------------------------------------
    def weights_along(self, algo: str, most: int = ALONG_MOST) -> dict[int, bytes]:
        """The initialisation at up to `most` of the run's snapshots, evenly spaced, the first and the last always
        (iteration -> `train_worker.to_bytes` weights): what Inside MAML measures its directions along."""
        with self._lock:
            snaps = [s for s in self.progress[algo].snapshots if s.weights]
        if len(snaps) > most:
            keep = sorted({round(i * (len(snaps) - 1) / (most - 1)) for i in range(most)})
            snaps = [snaps[i] for i in keep]
        return {s.iteration: s.weights for s in snaps}

    def checkpoints(self) -> dict[str, tuple[Checkpoint, str]]:
        """Finished (or stopped) runs as checkpoints with a label, for the Sinusoid / Omniglot pages."""
        out = {}
        for algo, r in self.results.items():
            if r.iterations_done < 1:
                continue
            c = r.config
            eval_steps = 10 if c.problem == "sinusoid" else c.eval_steps
            ckpt = Checkpoint(c, {k: v.detach().clone() for k, v in r.params.items()},
                              metrics=Metrics(inner_lr=c.inner_lr, eval_steps=eval_steps, history=r.history),
                              info={"iteration": r.iterations_done, "kind": "trained in the browser",
                                    "command": "the Meta-training page of MAML, visible (app_pages/meta_training.py)",
                                    "seconds": round(r.seconds, 1), "pace": self.pace,
                                    "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
            its = f"{r.iterations_done:,} iteration{'' if r.iterations_done == 1 else 's'}"
            label = (f"your run: {METHOD_LABELS.get(algo, algo)}, {its} in "
                     f"{r.seconds:.0f} s (α = {c.inner_lr:g}, {outer_rate(c)}, meta-batch {c.meta_batch})")
            out[algo] = (ckpt, label)
        return out


# --- runs as files: a download at once, and an upload (untrusted) used like a run trained here ------------------

UPLOAD_ALGOS = {"sinusoid": ("maml", "fomaml", "reptile", "pretrain"), "omniglot": ("maml", "fomaml", "transfer")}


def page_model(problem: str) -> ModelConfig:
    """The network this page trains for `problem` (an upload must be exactly this network)."""
    if problem == "sinusoid":
        return default_config("sinusoid").model
    return omniglot_config("fomaml", iterations=1, meta_batch=1, seed=0, data_dir=".").model


def checkpoint_file(ckpt: Checkpoint) -> bytes:
    """A run's self-describing checkpoint file (what `python -m maml_core evaluate` and an upload here read)."""
    return checkpoint_bytes(ckpt.config, ckpt.params, metrics=ckpt.metrics, info=ckpt.info)


def file_name(ckpt: Checkpoint) -> str:
    c = ckpt.config
    return f"{c.problem}_{c.algo}_{ckpt.info.get('iteration', c.iterations)}it_seed{c.seed}.pt"


def load_upload(data: bytes, name: str, problem: str) -> tuple[str, Checkpoint, str]:
    """An uploaded checkpoint for `problem`: (algo, checkpoint, label). Raises `CheckpointError` saying what is
    wrong and what to do (too large, not a checkpoint, another network, a method the pages do not show)."""
    name = re.sub(r"[^\w.\- ]", "_", name)[:60]  # shown on the page: no markup from a file name
    ckpt = checkpoint_from_bytes(data, name, model=page_model(problem), max_bytes=UPLOAD_MAX_BYTES)
    c = ckpt.config
    if c.problem != problem or c.algo not in UPLOAD_ALGOS[problem]:
        raise CheckpointError(f"{name} holds a {c.problem} {METHOD_LABELS.get(c.algo, c.algo)} run; this page uses "
                              f"{problem} runs of " + ", ".join(METHOD_LABELS[a] for a in UPLOAD_ALGOS[problem])
                              + ": upload one of those")
    its = ckpt.info.get("iteration")
    its = its if isinstance(its, int) and not isinstance(its, bool) else c.iterations
    label = (f"your upload {name}: {METHOD_LABELS.get(c.algo, c.algo)}, {its:,} iterations (α = {c.inner_lr:g}, "
             f"{outer_rate(c)}, meta-batch {c.meta_batch})")
    return c.algo, ckpt, label



def outer_rate(c: TrainConfig) -> str:
    """The outer update's rate as the run used it: Reptile's SGD step epsilon, every other method's Adam beta."""
    return f"k = {c.inner_steps}, ε = {c.outer_step:g} annealed" if c.algo == "reptile" else f"β = {c.meta_lr:g}"

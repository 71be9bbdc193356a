"""The Meta-training page's training process: what runs outside the Streamlit server (no Streamlit here).

Why a process and not a thread: in the server's process a training thread shares Python's interpreter lock with
every page update. A meta-step is a few hundred small tensor operations, each of which gives the lock up and must
win it back, so whenever a page is drawing the training thread waits (measured on this 2-core machine: 4 sinusoid
iterations per second in a server thread against about 40 in a process of its own). A child process trains at
the engine's speed on its own core and sends its progress to the page a few times a second. The process costs
memory, though: the fork server and the child hold a second copy of Python and torch (about 400 MB PSS while a
run trains, benchmarks/bench_app.py (c)). Where the server may use less than PROCESS_MIN_MB in all (Community
Cloud's smallest boxes), memory wins: runs train in a thread of the server (`InServerRun`), slower while pages draw.

`run_in_child` steps one `maml_core.Trainer` per method, interleaved: in lockstep (one iteration of each in
turn, so at any moment all methods have had the same number of updates and the probe snapshots fall on the same
iterations) or by equal time slices (`pace="wallclock"`). Messages to the parent (a one-way pipe):
("status", algo, status, message), ("progress", {algo: Update}) (every method that moved, in one message),
("result", algo, dict), ("end", reason).
"""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil
import torch
from torch import Tensor

from maml_core import ModelConfig, TrainConfig, Trainer, adapt_and_measure, build_model, get_params, sinusoid

from . import resources

# The fixed probe task every snapshot adapts to (the same for every algorithm and every run).
PROBE_AMPLITUDE, PROBE_PHASE, PROBE_STEPS = 3.5, 1.0, 10
PROBE_X = torch.tensor(np.sort(np.random.default_rng(7).uniform(-5, 5, 10)), dtype=torch.float32).reshape(-1, 1)
PROBE_GRID = torch.linspace(-5, 5, 81).reshape(-1, 1)
PACES = ("lockstep", "wallclock")
WALLCLOCK_SLICE = 0.05  # seconds each method trains before the next one's turn (pace "wallclock")
FLUSH_EVERY = 0.2  # seconds between progress messages
PROCESS_MIN_MB = 1500  # a server that may use less trains its runs in a thread of its own (see above)
TRAIN_IN = "MAML_TRAIN_IN"  # "process" or "server" overrides that choice (tests, benchmarks, a deployer)


@dataclass
class Snapshot:
    """The current initialisation adapting to the probe task at one iteration."""

    iteration: int
    before: list[float]  # prediction on PROBE_GRID at inner step 0
    after: list[float]  # after PROBE_STEPS steps
    mse_before: float
    mse_after: float
    weights: bytes = b""  # the initialisation itself (`to_bytes`), for Inside MAML's directions along training


@dataclass
class Update:
    """One method's progress since the last message."""

    iteration: int = 0
    elapsed: float = 0.0  # this method's own training seconds
    losses: list[float] = field(default_factory=list)
    accs: list[float] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)


def initial_params(config: TrainConfig) -> dict[str, Tensor]:
    """Seeded initial weights, those the run's Trainer starts from (a private generator: any thread, any number)."""
    return get_params(build_model(config.model, seed=config.seed))


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
    return Snapshot(iteration, clip(before), clip(after), float(m["query_loss"][0]), float(m["query_loss"][-1]),
                    to_bytes(p))


def train_together(problem: str, configs: dict[str, TrainConfig], *, send, should_stop, max_seconds: float,
                   snapshot_every: int, pace: str = "lockstep", data: Any = None,
                   clock: Callable[[], float] = time.perf_counter) -> None:
    """Train every config to its end (or until `should_stop()` or `max_seconds` of `clock`), interleaved by
    `pace`, and report through `send(message)` (the messages above). `clock` paces the time slices, the progress
    messages and the time limit (tests pass one that moves only when a method steps)."""
    if pace not in PACES:
        raise ValueError(f"pace must be one of {', '.join(PACES)}, not {pace!r}")
    started = clock()
    trainers: dict[str, Trainer] = {}
    models: dict[str, torch.nn.Module] = {}
    pending = {a: Update() for a in configs}
    failed: set[str] = set()
    last_flush = [clock()]

    def flush(force: bool = False) -> None:
        if not force and clock() - last_flush[0] < FLUSH_EVERY:
            return
        # one message for every method: the page applies it at once, so lockstep methods are never seen apart
        batch = {algo: u for algo, u in pending.items() if u.losses or u.snapshots or u.val}
        if batch:
            send(("progress", batch))
            for algo, u in batch.items():
                pending[algo] = Update(u.iteration, u.elapsed)
        last_flush[0] = clock()

    def fail(algo: str, e: Exception) -> None:
        failed.add(algo)
        send(("status", algo, "error", f"{type(e).__name__}: {e}"))

    def snapshot(algo: str, params, iteration: int) -> None:
        pending[algo].snapshots.append(probe_snapshot(models[algo], params, configs[algo].inner_lr, iteration))

    reason = ""
    try:
        for algo, config in configs.items():
            try:
                init = initial_params(config)
                trainers[algo] = Trainer(config, data=data, init_params=init, log_every=max(1, config.iterations // 20))
                models[algo] = build_model(config.model)
                if problem == "sinusoid":
                    snapshot(algo, trainers[algo].params, 0)
                send(("status", algo, "running", ""))
            except Exception as e:  # noqa: BLE001 - reported on the page (no traceback for users)
                fail(algo, e)
        flush(force=True)
        while True:
            live = [a for a, t in trainers.items() if not t.done and a not in failed]
            if not live:
                break
            if should_stop():
                reason = "stop"
                break
            if clock() - started >= max_seconds:
                reason = "limit"
                break
            for algo in live:
                until = clock() + (WALLCLOCK_SLICE if pace == "wallclock" else 0.0)
                while True:
                    try:
                        info = trainers[algo].step()
                    except Exception as e:  # noqa: BLE001
                        fail(algo, e)
                        break
                    u = pending[algo]
                    if problem == "sinusoid" and (info.iteration % snapshot_every == 0
                                                  or info.iteration == info.iterations):
                        snapshot(algo, info.params, info.iteration)
                    u.iteration, u.elapsed = info.iteration, info.elapsed
                    u.losses.append(float(info.meta_loss))
                    if info.accuracies:
                        u.accs.append(float(info.accuracies[-1]))
                    if info.val and "val_acc" in info.val:
                        u.val.append((info.iteration, float(info.val["val_acc"])))
                    if trainers[algo].done or clock() >= until:
                        break
            flush()
    finally:
        flush(force=True)
        for algo, trainer in trainers.items():
            if algo in failed:
                continue
            try:
                r = trainer.finish()
            except Exception as e:  # noqa: BLE001
                fail(algo, e)
                continue
            send(("result", algo, {**r.portable(), "params": to_bytes(r.params)}))
        send(("end", reason))


def to_bytes(params: dict[str, Tensor]) -> bytes:
    """Weights as plain bytes for the pipe (a tensor sent as itself would be shared through a file descriptor
    that vanishes when this process ends, before the parent has read it)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in params.items()}, buf)
    return buf.getvalue()


def from_bytes(blob: bytes) -> dict[str, Tensor]:
    return torch.load(io.BytesIO(blob), weights_only=True)


def run_in_child(conn, stop_event, problem: str, configs: dict[str, TrainConfig], max_seconds: float,
                 snapshot_every: int, pace: str, data: Any) -> None:
    """The child process's entry point: one intra-op thread (one core), messages through `conn`."""
    torch.set_num_threads(1)
    try:
        train_together(problem, configs, send=conn.send, should_stop=stop_event.is_set, max_seconds=max_seconds,
                       snapshot_every=snapshot_every, pace=pace, data=data)
    except Exception as e:  # noqa: BLE001 - the parent shows it
        conn.send(("end", f"error: {type(e).__name__}: {e}"))
    finally:
        conn.close()


# ui.fork_warm: the first adaptation, done once in the fork server (each process forked from it skips that cost)
FORK_SERVER_PRELOAD = ("__main__", "ui.train_worker", "torch._dynamo", "ui.fork_warm")
_CONTEXT = None


def context():
    """multiprocessing's "forkserver": a small server process, started once (it imports torch and this module
    once, a few seconds), forks each training process from itself in milliseconds; safe in a threaded server,
    unlike a plain fork."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        # Each imported once, in the fork server. torch._dynamo: a process's first torch.func.grad (a probe snapshot,
        # an Omniglot step) imports it, once more than half of a run's start-up (docs/SPEED.md).
        ctx.set_forkserver_preload(list(FORK_SERVER_PRELOAD))
        _CONTEXT = ctx
    return _CONTEXT


def warm_in_fork_server() -> None:
    """A probe snapshot of a fresh network, its result dropped: a process forked from one that has adapted once skips
    the first adaptation's start-up cost (docs/SPEED.md), which came before every run's first progress."""
    model = build_model(ModelConfig(), seed=0)  # its own generator: the global RNG is left alone
    probe_snapshot(model, get_params(model), 0.01, 0)


_WARMING: threading.Thread | None = None


def warm_up() -> None:
    """Start the fork server in the background (a few seconds, once per server process) as soon as someone opens
    the Meta-training page, so that pressing Start trains at once."""
    global _WARMING
    if _WARMING is None and not trains_in_server():
        from multiprocessing import forkserver

        context()
        _WARMING = threading.Thread(target=forkserver.ensure_running, name="maml-forkserver-warm-up", daemon=True)
        _WARMING.start()


def trains_in_server(memory_mb: float | None = None) -> bool:
    """Whether runs train in a thread of the server rather than in processes of their own: $MAML_TRAIN_IN if set,
    else when the memory this server may use (its cgroup limit, else the machine's) is below PROCESS_MIN_MB."""
    where = os.environ.get(TRAIN_IN, "").strip().lower()
    if where in ("process", "server"):
        return where == "server"
    return (resources.read().memory_mb if memory_mb is None else memory_mb) < PROCESS_MIN_MB


class ChildRun:
    """A run in a process of its own, forked from the fork server: its messages through a pipe."""

    def __init__(self, stop_event: threading.Event, args: tuple, name: str) -> None:
        ctx = context()
        self._receive, send = ctx.Pipe(duplex=False)
        self._stop = ctx.Event()
        self._proc = ctx.Process(target=run_in_child, name=name, daemon=True, args=(send, self._stop, *args))
        self._outer_stop = stop_event
        self._proc.start()
        send.close()  # the child holds the writing end: reading gives EOF if it dies
        self.pid = self._proc.pid

    def poll(self, timeout: float) -> bool:
        if self._outer_stop.is_set():
            self._stop.set()
        return self._receive.poll(timeout)

    def recv(self):
        return self._receive.recv()  # EOFError once the child is gone

    def is_alive(self) -> bool:
        return self._proc.is_alive()

    def memory_mb(self) -> float:
        """The child's unique memory (USS: the pages only it holds; the fork server's torch is shared)."""
        try:
            return psutil.Process(self.pid).memory_full_info().uss / 2**20
        except (psutil.Error, OSError):  # gone, or not readable here: no reading
            return 0.0

    def kill(self) -> None:
        self._proc.kill()

    def end(self) -> str:
        """Wait for the process to end (kill it if it does not): its exit note."""
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        return f"exit code {self._proc.exitcode}"


class InServerRun:
    """A run in a thread of the server (see the module's docstring): the same interface as ChildRun. Its memory is
    what the server's resident memory has grown by since it started (other pages' work included, an over-estimate),
    and it cannot be killed: past its limits it is asked to stop, which it does after its current iteration."""

    def __init__(self, stop_event: threading.Event, args: tuple, name: str) -> None:
        self._messages: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = stop_event
        self._base = _rss_mb()
        self.pid = None
        self._thread = threading.Thread(target=self._run, args=args, name=name, daemon=True)
        self._thread.start()

    def _run(self, problem, configs, max_seconds, snapshot_every, pace, data) -> None:
        try:
            train_together(problem, configs, send=self._messages.put, should_stop=self._stop.is_set,
                           max_seconds=max_seconds, snapshot_every=snapshot_every, pace=pace, data=data)
        except Exception as e:  # noqa: BLE001 - the page shows it
            self._messages.put(("end", f"error: {type(e).__name__}: {e}"))

    def poll(self, timeout: float) -> bool:
        if not self._messages.empty():
            return True
        self._thread.join(timeout)
        return not self._messages.empty()

    def recv(self):
        try:
            return self._messages.get_nowait()
        except queue.Empty:
            raise EOFError from None

    def is_alive(self) -> bool:
        return self._thread.is_alive() or not self._messages.empty()

    def memory_mb(self) -> float:
        return max(0.0, _rss_mb() - self._base)

    def kill(self) -> None:
        self._stop.set()

    def end(self) -> str:
        self._thread.join(5)
        return "" if not self._thread.is_alive() else "its thread had not stopped"


def _rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 2**20

"""The server's training queue: how many Meta-training runs train at once (a budget sized to the machine), who
waits, in what place, and roughly until when; and a watch that ends a run whose browser session has ended.

One queue per server process (module state, shared by every session like `st.cache_resource`). A run is
submitted queued (`LiveRun` in ui/training_view.py); it starts at once when a slot is free, else when the runs
ahead of it end. Runs are first come, first served, each capped in iterations and seconds, so every waiting user
eventually trains and the expected start is the sum of the remaining times ahead (measured, not guessed: the
seconds per iteration of each method on this server, from the runs it has trained).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from . import resources
from .training_view import LiveRun

# What one run adds to the server's memory (its unique memory; the fork server's torch pages are shared): a
# slot is opened only where this much is free, and each run may use its share of what is free when it starts.
RUN_MIN_MB = 150
PAGE_RESERVE_MB = 100  # kept free for the pages' own work while runs train (a new figure, an Omniglot episode)
MEMORY_LIMIT_CAP_MB = 1500  # no run needs more, even where memory is plentiful
MAX_SLOTS = 4
# Before this server has measured anything: seconds per iteration at meta-batch 25 (scaled by the run's meta-batch),
# as the CLI trained them on a 2-core machine with one other process busy (benchmarks/bench_live.py), and a run's
# start-up and end. Replaced by measurements as soon as a run trains.
PRIOR_PACE = {"sinusoid/maml": 0.0085, "sinusoid/fomaml": 0.0065, "sinusoid/pretrain": 0.0013}
PRIOR_OVERHEAD_S = 3.0
SESSION_GRACE_S = 15.0  # a session gone this long (tab closed, not a brief reconnect) ends its run
WATCH_EVERY_S = 2.0


def server_budget(cpus: float | None = None, memory_mb: float | None = None) -> int:
    """Runs that train at once: one per whole core beyond the one kept for page updates (so the other pages stay
    responsive), at least one, no more than the free memory holds (RUN_MIN_MB each beside PAGE_RESERVE_MB), at
    most MAX_SLOTS (past a few, Python's interpreter lock in the one server process, not the cores, limits).
    Cores and memory are the cgroup quotas where there are (ui/resources.py)."""
    if cpus is None or memory_mb is None:
        here = resources.read()
        cpus = here.cpus if cpus is None else cpus
        memory_mb = here.available_mb if memory_mb is None else memory_mb
    slots = max(1, resources.whole_cores(cpus) - 1)
    slots = min(slots, max(1, int((memory_mb - PAGE_RESERVE_MB) // RUN_MIN_MB)))
    return min(slots, MAX_SLOTS)


def run_memory_limit_mb(free_slots: int, available_mb: float | None = None) -> float:
    """The memory limit of a run starting now: its share of the free memory (less PAGE_RESERVE_MB) among the slots
    still free, at least RUN_MIN_MB and at most MEMORY_LIMIT_CAP_MB."""
    available_mb = resources.read().available_mb if available_mb is None else available_mb
    share = (available_mb - PAGE_RESERVE_MB) / max(1, free_slots)
    return float(min(MEMORY_LIMIT_CAP_MB, max(RUN_MIN_MB, share)))


def session_is_alive(session_id: str) -> bool:
    """Whether the browser session that owns a run is still connected (always True outside a real server, e.g.
    in AppTest, where there is no runtime to ask)."""
    if not session_id:
        return True
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return True
    return Runtime.instance().is_active_session(session_id)


@dataclass(frozen=True)
class Place:
    """Where a run stands: `position` 0 = training now, k = k-th in line; `wait_s` = expected seconds until it
    starts (0 when training); `ahead` = runs training or waiting before it; `slots` = runs training at once."""

    position: int
    wait_s: float
    ahead: int
    slots: int


class RunQueue:
    """First come, first served, `slots` runs at a time."""

    def __init__(self, slots: int | None = None, is_alive: Callable[[str], bool] = session_is_alive,
                 grace_s: float = SESSION_GRACE_S) -> None:
        self.slots = server_budget() if slots is None else max(1, int(slots))
        self._is_alive = is_alive
        self._grace = grace_s
        self._lock = threading.RLock()
        self._active: list[LiveRun] = []
        self._waiting: deque[LiveRun] = deque()
        self._gone_since: dict[str, float] = {}  # owner session -> when it was first seen gone
        self._pace: dict[str, float] = {}  # "problem/algo" -> seconds per iteration measured on this server
        self._overhead = PRIOR_OVERHEAD_S  # seconds a run holds its slot beyond its training steps (start-up, end)
        self._measured_overhead = False
        self._watch: threading.Thread | None = None

    # --- users -----------------------------------------------------------------------------------------------
    def submit(self, run: LiveRun) -> LiveRun:
        """Queue `run`; it starts at once if a slot is free."""
        with self._lock:
            run.on_end.append(self._ended)
            self._waiting.append(run)
            self._fill()
            self._ensure_watch()
        return run

    def leave(self, run: LiveRun, why: str = "you left the queue") -> None:
        """Stop a training run, or take a waiting one out of the line."""
        with self._lock:
            if run in self._waiting:
                self._waiting.remove(run)
                run.cancel(why)
                return
        run.stop(why)

    def place(self, run: LiveRun) -> Place | None:
        """Where `run` stands (None once it has ended or left)."""
        with self._lock:
            if run in self._active:
                return Place(0, 0.0, 0, self.slots)
            if run not in self._waiting:
                return None
            free_at = sorted(r.remaining_seconds(self._paces(r), self._overhead) for r in self._active)
            free_at += [0.0] * (self.slots - len(free_at))
            for k, r in enumerate(self._waiting):  # who starts when, in order, as slots free up
                free_at.sort()
                start = free_at[0]
                if r is run:
                    return Place(k + 1, start, len(self._active) + k, self.slots)
                free_at[0] = start + r.remaining_seconds(self._paces(r), self._overhead)
        return None

    def counts(self) -> tuple[int, int]:
        """(training, waiting) now."""
        with self._lock:
            return len(self._active), len(self._waiting)

    # --- bookkeeping ---------------------------------------------------------------------------------------------
    def _paces(self, run: LiveRun) -> dict[str, float]:
        """Seconds per iteration for `run`'s methods: measured over the runs this server finished, else (a fresh
        server) the pace of a run training now."""
        pace = {a: self._pace[f"{run.problem}/{a}"] for a in run.configs if f"{run.problem}/{a}" in self._pace}
        for other in self._active:
            if other.problem == run.problem:
                for a, spi in other.live_pace().items():
                    if a in run.configs:
                        pace.setdefault(a, spi * run.configs[a].meta_batch / other.configs[a].meta_batch)
        for a, config in run.configs.items():
            if f"{run.problem}/{a}" in PRIOR_PACE:
                pace.setdefault(a, PRIOR_PACE[f"{run.problem}/{a}"] * config.meta_batch / 25)
        return pace

    def _fill(self) -> None:
        while self._waiting and len(self._active) < self.slots:
            run = self._waiting.popleft()
            run.memory_limit_mb = run_memory_limit_mb(self.slots - len(self._active))
            self._active.append(run)
            run.start()

    def _ended(self, run: LiveRun) -> None:
        """Called by a run's thread as it ends: learn the pace, free the slot, start the next."""
        view = run.view()
        for algo, p in view.items():
            if p.iteration >= 20 and p.elapsed > 0:
                key = f"{run.problem}/{algo}"
                spi = p.elapsed / p.iteration
                self._pace[key] = spi if key not in self._pace else 0.5 * (self._pace[key] + spi)
        if run.started is not None and any(p.iteration for p in view.values()):
            extra = max(0.0, run.elapsed - sum(p.elapsed for p in view.values()))
            self._overhead = extra if not self._measured_overhead else 0.5 * (self._overhead + extra)
            self._measured_overhead = True
        with self._lock:
            if run in self._active:
                self._active.remove(run)
            self._fill()

    def _ensure_watch(self) -> None:
        if self._watch is None or not self._watch.is_alive():
            self._watch = threading.Thread(target=self._watch_sessions, name="maml-train-queue-watch", daemon=True)
            self._watch.start()

    def _watch_sessions(self) -> None:
        """End the runs (and leave the places in line) of sessions that have gone for longer than the grace."""
        while True:
            time.sleep(WATCH_EVERY_S)
            self.check_sessions()
            with self._lock:
                if not self._active and not self._waiting:
                    self._watch = None
                    return

    def check_sessions(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            runs = list(self._active) + list(self._waiting)
        for run in runs:
            if self._is_alive(run.owner):
                self._gone_since.pop(run.owner, None)
                continue
            since = self._gone_since.setdefault(run.owner, now)
            if now - since >= self._grace:
                self.leave(run, "your browser session ended")


QUEUE = RunQueue()

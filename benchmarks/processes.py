"""What the benchmarks read about processes and the machine, through psutil: one definition for all of them."""

from __future__ import annotations

import threading
import time

import psutil


def tree(pid: int) -> list[int]:
    """pid and all its descendants ([] when it is gone)."""
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return []


def rss_kb(pid: int) -> int:
    """Resident memory (0 when the process is gone or not readable)."""
    try:
        return psutil.Process(pid).memory_info().rss // 1024
    except psutil.Error:
        return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: each page shared between processes (a forked child's copy of torch) counted once
    across them, split between its sharers; what the tree really holds in memory (0 outside Linux)."""
    try:
        return psutil.Process(pid).memory_full_info().pss // 1024
    except (psutil.Error, AttributeError):
        return 0


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds so far of each of these processes that is still there."""
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def browser_pids(pid: int) -> list[int]:
    """The chromium processes among pid's descendants (the browser a benchmark launched)."""
    out = []
    for p in tree(pid)[1:]:
        try:
            if "chrom" in psutil.Process(p).name():
                out.append(p)
        except psutil.Error:
            pass
    return out


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in psutil.getloadavg())


class Sampler(threading.Thread):
    """Calls `sample()` every `every` seconds in a daemon thread, from `start()` to `stop()` (one more sample)."""

    def __init__(self, pid: int, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            time.sleep(self.every)

    def sample(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
        self.sample()


class MemorySampler(Sampler):
    """Samples the summed RSS and the summed PSS of a process tree every `every` seconds; keeps the peaks and each
    process's largest sampled RSS (a spike between samples is missed). Summed RSS counts the pages the training
    processes share with their fork server once per process; PSS counts them once."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(pid, every)
        self.peak_kb, self.peak_pss_kb, self.hwm_kb = 0, 0, {}

    def sample(self) -> None:
        pids = tree(self.pid)
        self.peak_kb = max(self.peak_kb, sum(rss_kb(p) for p in pids))
        self.peak_pss_kb = max(self.peak_pss_kb, sum(pss_kb(p) for p in pids))
        for p in pids:
            self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), rss_kb(p))  # (the largest sampled RSS)

    def current_kb(self) -> int:
        """The tree's summed RSS now."""
        return sum(rss_kb(p) for p in tree(self.pid))

    def current_pss_kb(self) -> int:
        """The tree's summed PSS now."""
        return sum(pss_kb(p) for p in tree(self.pid))

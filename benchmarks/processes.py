"""What the benchmarks read about processes and the machine, through psutil: one definition for all of them."""

from __future__ import annotations

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


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in psutil.getloadavg())

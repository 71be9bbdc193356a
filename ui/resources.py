"""What this server may use: its cores and memory, from the container's cgroup quotas where it has them (Streamlit
Community Cloud gives an app fractions of a core and a memory cap that neither the CPU affinity nor the host's free
memory shows), else from the host (psutil).

Read from the cgroup file system mounted at /sys/fs/cgroup, which in a container is the container's own group:
cgroup v2 (`cpu.max`, `memory.max`, `memory.current`) or v1 (`cpu/cpu.cfs_quota_us` with `cpu.cfs_period_us`,
`memory/memory.limit_in_bytes`, `memory/memory.usage_in_bytes`). psutil reads neither.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

CGROUP = Path("/sys/fs/cgroup")
NO_LIMIT_BYTES = 2**60  # cgroup v1 writes "no limit" as a number near 2^63


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def cgroup_cpus(root: Path = CGROUP) -> float | None:
    """The CPU quota in cores (e.g. 0.5), or None where there is none."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        parts = v2.split()
        quota, period = (_number(parts[0]), _number(parts[1])) if len(parts) == 2 else (None, None)
        return quota / period if quota and period and quota > 0 else None
    quota = _number(_read(root / "cpu" / "cpu.cfs_quota_us"))
    period = _number(_read(root / "cpu" / "cpu.cfs_period_us"))
    return quota / period if quota and period and quota > 0 else None


def cgroup_memory_mb(root: Path = CGROUP) -> tuple[float | None, float | None]:
    """The memory cap and what the group uses now (MB); None where there is no cap, or it cannot be read."""
    limit = _read(root / "memory.max")
    if limit is not None:
        cap = None if limit == "max" else _number(limit)
        used = _number(_read(root / "memory.current"))
    else:
        cap = _number(_read(root / "memory" / "memory.limit_in_bytes"))
        used = _number(_read(root / "memory" / "memory.usage_in_bytes"))
    if cap is not None and cap >= NO_LIMIT_BYTES:
        cap = None
    return (cap / 2**20 if cap else None), (used / 2**20 if used is not None and cap else None)


@dataclass(frozen=True)
class Resources:
    """cpus: the cores this process may use (fractional under a quota); memory_mb: the memory it may use in all;
    available_mb: how much of that is free now; quota: whether a cgroup quota set either."""

    cpus: float
    memory_mb: float
    available_mb: float
    quota: bool


def read(root: Path = CGROUP) -> Resources:
    """This process's resources now: the smaller of the host's and the cgroup's, for cores and for memory."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = float(os.cpu_count() or 1)
    vm = psutil.virtual_memory()
    total, available = vm.total / 2**20, vm.available / 2**20
    quota_cpus = cgroup_cpus(root)
    cap, used = cgroup_memory_mb(root)
    cpus = min(cores, quota_cpus) if quota_cpus else cores
    if cap is not None:
        total = min(total, cap)
        available = min(available, max(cap - (used or 0.0), 0.0))
    return Resources(cpus, total, available, quota_cpus is not None or cap is not None)


def whole_cores(cpus: float) -> int:
    """Cores a budget may count on: a fraction of a core is one (it still runs, slower), 2.5 is two."""
    return max(1, math.floor(cpus + 1e-9))


def _libc():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to do
        return None


_LIBC = _libc()


def return_freed_memory() -> None:
    """Hand the memory Python and torch have freed back to the system (glibc's malloc_trim). glibc keeps freed heap
    pages for reuse, so after one large computation (the Inside MAML page's landscapes) the server would stay that
    large for good; a few milliseconds when there is little to return."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)

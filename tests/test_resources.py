"""ui/resources.py: cores and memory from cgroup v2 and v1 files (Community Cloud's quotas), else the host's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from ui import resources


def write(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def test_cgroup_v2_quotas(tmp_path):
    root = write(tmp_path, {"cpu.max": "50000 100000", "memory.max": str(690 * 2**20),
                            "memory.current": str(400 * 2**20)})
    assert resources.cgroup_cpus(root) == 0.5
    assert resources.cgroup_memory_mb(root) == (690.0, 400.0)
    here = resources.read(root)
    assert here.cpus == 0.5 and here.memory_mb == 690.0 and here.quota
    assert here.available_mb == pytest.approx(min(290.0, psutil.virtual_memory().available / 2**20))


def test_cgroup_v2_without_limits(tmp_path):
    root = write(tmp_path, {"cpu.max": "max 100000", "memory.max": "max", "memory.current": "123"})
    assert resources.cgroup_cpus(root) is None
    assert resources.cgroup_memory_mb(root) == (None, None)
    here = resources.read(root)
    assert not here.quota and here.memory_mb == pytest.approx(psutil.virtual_memory().total / 2**20)


def test_cgroup_v1_quotas_and_its_no_limit_number(tmp_path):
    root = write(tmp_path, {"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000",
                            "memory/memory.limit_in_bytes": str(2700 * 2**20),
                            "memory/memory.usage_in_bytes": str(700 * 2**20)})
    assert resources.cgroup_cpus(root) == 2.0
    assert resources.cgroup_memory_mb(root) == (2700.0, 700.0)
    write(root, {"cpu/cpu.cfs_quota_us": "-1", "memory/memory.limit_in_bytes": "9223372036854771712"})
    assert resources.cgroup_cpus(root) is None and resources.cgroup_memory_mb(root) == (None, None)


def test_unreadable_or_odd_files_mean_no_quota(tmp_path):
    root = write(tmp_path, {"cpu.max": "garbage", "memory.max": "lots"})
    assert resources.cgroup_cpus(root) is None and resources.cgroup_memory_mb(root)[0] is None
    assert resources.cgroup_cpus(tmp_path / "nowhere") is None


def test_whole_cores():
    assert [resources.whole_cores(c) for c in (0.078, 1.0, 1.999, 2.0, 2.7)] == [1, 1, 1, 2, 2]


def test_freed_memory_goes_back_to_the_system():
    """glibc keeps freed heap pages; return_freed_memory hands them back (in a process of its own, so the figure is
    not another test's)."""
    script = """
import psutil, torch
from ui import resources
rss = lambda: psutil.Process().memory_info().rss / 2**20
blocks = [torch.empty(16_000).fill_(1.0) for _ in range(8000)]  # 64 KB each, below glibc's mmap threshold: heap
keep = blocks[::100]
del blocks
before = rss()
resources.return_freed_memory()
print(before - rss())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    if resources._LIBC is None:
        pytest.skip("not glibc: nothing to return")
    assert float(out.stdout) > 200, out.stdout  # of the 500 MB freed

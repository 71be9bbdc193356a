"""A cold start, as a sleeping Community Cloud app wakes: from nothing to every page open, measured.

1. A fresh venv from requirements.txt (or --venv, one already made): the install's time, the installed size of its
   site-packages, and the torch build it got (version, CUDA).
2. The app's server started from that venv, and every page opened in Chromium one after another (as a visitor
   would, waiting for each page's heading and its run to finish), while the summed PSS of the server and its
   children is sampled (psutil, every 0.2 s): the peak per page and overall, failing above --cap-mb.
3. The time from this script's start, and from the server's start, to the first page and to the first chart
   drawn (the Sinusoid page's). Cloud also downloads the wheels and starts its container: a lower bound.

Where the machine lets a process set a cgroup v2 `memory.max` of its own (a writable cgroup with the memory
controller), the server runs under one at the cap as well; the output says whether it could.

Usage: python scripts/cold_start.py [--venv DIR] [--cap-mb 600] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

if not __package__:  # `python scripts/cold_start.py`: benchmarks/ and ui/ from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    CHART_PATHS,
    ROOT,
    free_port,
    launch_chromium,
    need_chromium,
    new_page,
    open_page,
    page_headings,
    start_server,
    stop_server,
)
from benchmarks.processes import MemorySampler, loadavg  # noqa: E402
from ui.train_worker import TRAIN_IN  # noqa: E402

CGROUP = Path("/sys/fs/cgroup")


def make_venv(folder: Path) -> tuple[float, int]:
    """A fresh venv in `folder` with requirements.txt installed: (seconds, pip's exit code)."""
    t = time.perf_counter()
    venv.create(folder, with_pip=True)
    env = {**os.environ, "PIP_RETRIES": os.environ.get("PIP_RETRIES", "1")}  # this machine cannot reach PyTorch's page
    code = subprocess.call([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "-r",
                            str(ROOT / "requirements.txt")], env=env)
    return time.perf_counter() - t, code


def describe(python: Path) -> tuple[str, float]:
    """The venv's torch build and the size of its site-packages in MB."""
    out = subprocess.run([str(python), "-c", "import site, torch; print(torch.__version__, torch.version.cuda); "
                          "print(site.getsitepackages()[0])"], capture_output=True, text=True, timeout=120)
    if out.returncode:
        return f"torch does not import: {out.stderr.strip()[-300:]}", 0.0
    build, site_dir = out.stdout.strip().splitlines()
    size = sum(f.stat().st_size for f in Path(site_dir).rglob("*") if f.is_file())
    return build, size / 2**20


def memory_cgroup(cap_mb: int) -> Path | None:
    """A cgroup v2 group with memory.max = cap under the container's own (its namespace's root, mounted at
    /sys/fs/cgroup), if this machine allows one."""
    try:
        if "memory" not in (CGROUP / "cgroup.subtree_control").read_text():
            return None
        group = CGROUP / f"maml-cold-start-{os.getpid()}"
        group.mkdir()
        (group / "memory.max").write_text(str(cap_mb * 2**20))
        return group
    except OSError:  # cgroup v1, read-only, or no delegation: not here
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, help="use this venv (already made from requirements.txt) instead of a new one")
    ap.add_argument("--keep", type=Path, help="make the new venv here and keep it (default: a temporary folder)")
    ap.add_argument("--cap-mb", type=int, default=600, help="fail above this peak PSS (default 600)")
    ap.add_argument("--train-in", choices=["server", "process"], default="server",
                    help="where Meta-training runs train (ui/train_worker.trains_in_server); default: in the server, "
                         "as on a box under 1.5 GB such as Cloud's smallest")
    args = ap.parse_args()
    need_chromium()
    started = time.perf_counter()
    print(f"load average at start: {loadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.venv:
            folder, install = args.venv.resolve(), "reused"
        else:
            folder = (args.keep or tmp / "venv").resolve()
            seconds, code = make_venv(folder)
            if code:
                sys.exit(f"pip install -r requirements.txt failed (exit code {code}) after {seconds:.0f} s")
            install = f"{seconds:.1f} s"
        python = folder / "bin" / "python"
        build, size_mb = describe(python)
        print(f"venv {folder}: install {install}; torch {build}; site-packages {size_mb:,.0f} MB", flush=True)

        group = memory_cgroup(args.cap_mb)
        port, log = free_port(), tmp / "server.log"
        t_server = time.perf_counter()
        proc = start_server(ROOT / "assets", port, log, python=str(python), extra_env={TRAIN_IN: args.train_in})
        up = time.perf_counter() - t_server
        if group is not None:
            (group / "cgroup.procs").write_text(str(proc.pid))
        print(f"server answered its health check {up:.1f} s after its start; cgroup memory.max "
              + (f"{args.cap_mb} MB set ({group})" if group else "not possible here (no writable cgroup v2)"),
              flush=True)
        sampler = MemorySampler(proc.pid, every=0.2)
        sampler.start()
        rows = []
        try:
            with launch_chromium() as browser:
                _, page = new_page(browser, timeout_ms=180_000)
                base = f"http://127.0.0.1:{port}"
                print(f"browser ready {time.perf_counter() - t_server:.1f} s after the server's start", flush=True)
                for path, heading in page_headings().items():
                    t = time.perf_counter()
                    open_page(page, base, path)
                    opened = time.perf_counter()
                    chart = None
                    if path == "sinusoid":
                        page.wait_for_function(f"() => ({CHART_PATHS})().length > 0", timeout=180_000)
                        chart = time.perf_counter()
                    rows.append((heading, opened - t, opened - started, opened - t_server,
                                 None if chart is None else chart - started,
                                 None if chart is None else chart - t_server,
                                 sampler.current_pss_kb() / 1024, sampler.peak_pss_kb / 1024))
                    print(f"  {heading}: opened in {opened - t:.1f} s, PSS {rows[-1][6]:.0f} MB "
                          f"(peak so far {rows[-1][7]:.0f})", flush=True)
        finally:
            sampler.stop()
            stop_server(proc)
            if group is not None:
                group.rmdir()
    peak = sampler.peak_pss_kb / 1024
    print(f"\n{'page':<22} {'opened':>7} {'since start':>12} {'since server':>13} {'PSS':>6} {'peak':>6}")
    for heading, took, since, since_server, _, _, pss, peak_so_far in rows:
        print(f"{heading:<22} {took:6.1f}s {since:11.1f}s {since_server:12.1f}s {pss:5.0f}M {peak_so_far:5.0f}M")
    first = rows[0]
    chart = next(r for r in rows if r[4] is not None)
    print(f"\nfrom nothing: the first page {first[2]:.1f} s, the first chart (Sinusoid) {chart[4]:.1f} s; from the "
          f"server's start: {first[3]:.1f} s and {chart[5]:.1f} s, this browser's own start included (Cloud also "
          "downloads the wheels and has no browser to start: compare with care)")
    print(f"peak PSS of the server and its children (runs train in the {args.train_in}): {peak:.0f} MB "
          f"(cap {args.cap_mb} MB: "
          f"{'under' if peak <= args.cap_mb else 'OVER'}); load average at the end: {loadavg()}")
    if peak > args.cap_mb:
        sys.exit(1)


if __name__ == "__main__":
    main()

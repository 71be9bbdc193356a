"""The Meta-training page at engine speed (issue #9), in one run on this machine:

(1) the CLI: `python -m maml_core train sinusoid --algo A --no-compile` for each of the page's default methods
    (MAML, FO-MAML, pretrained), one after the other, the same protocol and iterations as the page's default run;
    each reports its training seconds (--json). The CLI's rate for the set is 1 / (the sum of their seconds per
    iteration): the iterations per second at which it trains all of them.
(2) the page: a real `streamlit run app.py` server and a chromium page (Playwright) on Meta-training; press
    Start training with the defaults and read the progress bars as the user sees them, until every method reports
    done. The page's rate = iterations per method / seconds from the click to the last bar reading "done" (what a
    user waits), and also over the middle of the run (steady state, start-up excluded).
Target: the page's rate >= 70% of the CLI's.

Then it repeats (1) so a change in the machine's load between the two shows up (compare ratios in one run). It also
prints the CPU seconds the browser and the server used from the click to done: what competed with the run here.
Usage: python -m benchmarks.bench_live [--iterations 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT, app_assets, launch_chromium, new_page, open_page, serving, settle
from benchmarks.processes import browser_pids, cpu_seconds

ALGOS = ("maml", "fomaml", "pretrain")  # the page's default methods (app_pages/meta_training.py: all but Reptile)
TARGET = 0.70


def cli_seconds_per_iteration(algo: str, iterations: int, tmp: Path) -> float:
    out = tmp / f"cli_{algo}.pt"
    js = tmp / f"cli_{algo}.json"
    cmd = [sys.executable, "-m", "maml_core", "train", "sinusoid", "--algo", algo, "--iterations", str(iterations),
           "--no-compile", "--eval-tasks", "20", "--seed", "0", "--out", str(out), "--json", str(js)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    info = json.loads(js.read_text())["info"]
    return info["training_seconds"] / info["iteration"]


def cli_rate(iterations: int, tmp: Path) -> dict:
    spi = {a: cli_seconds_per_iteration(a, iterations, tmp) for a in ALGOS}
    return {"seconds_per_iteration": spi, "rate": 1.0 / sum(spi.values())}


def page_rate(iterations: int, tmp: Path) -> dict:
    readings: list[tuple[float, list[int]]] = []
    pattern = re.compile(r"([\d,]+) / ([\d,]+) iterations")
    with serving(app_assets(tmp / "assets"), tmp / "server.log") as (server, port), launch_chromium() as browser:
        _, page = new_page(browser, timeout_ms=120_000)
        open_page(page, f"http://127.0.0.1:{port}", "meta_training")
        box = page.locator(".st-key-mt_iterations input")
        box.fill(str(iterations))
        box.press("Enter")
        settle(page)
        cpu_at_click = cpu_seconds([server.pid, *browser_pids(os.getpid())])
        t0 = time.perf_counter()
        page.get_by_role("button", name="Start training").click()
        done_at = None
        while time.perf_counter() - t0 < 400:
            texts = page.locator('[data-testid="stProgress"]').all_inner_texts()
            its = [int(m.group(1).replace(",", "")) for t in texts if (m := pattern.search(t))]
            now = time.perf_counter() - t0
            if len(its) == len(ALGOS):
                readings.append((now, its))
                if sum("done" in t for t in texts) == len(ALGOS):
                    done_at = now
                    cpu_at_done = cpu_seconds([server.pid, *browser_pids(os.getpid())])
                    break
            page.wait_for_timeout(250)
        page.get_by_text("Finished").first.wait_for()
    if done_at is None:
        raise RuntimeError("the page's run did not finish within 400 s")
    first_move = next(t for t, its in readings if min(its) > 0)
    mid = [(t, min(its)) for t, its in readings if 0.2 * iterations <= min(its) <= 0.8 * iterations]
    steady = (mid[-1][1] - mid[0][1]) / (mid[-1][0] - mid[0][0]) if len(mid) >= 2 else float("nan")
    used = {pid: t - cpu_at_click.get(pid, 0.0) for pid, t in cpu_at_done.items()}  # new renderers from 0
    return {"click_to_done_s": done_at, "rate": iterations / done_at, "steady_rate": steady,
            "first_progress_s": first_move, "readings": len(readings),
            "server_cpu_s": used.pop(server.pid, 0.0), "browser_cpu_s": sum(used.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=2000, help="the page's default run (default 2000)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the server sets one intra-op thread too (ui/common.py)
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        before = cli_rate(args.iterations, tmp)
        page = page_rate(args.iterations, tmp)
        after = cli_rate(args.iterations, tmp)
    cli = (before["rate"] + after["rate"]) / 2
    print(f"\n{args.iterations} iterations each of {', '.join(ALGOS)} (sinusoid, the paper's protocol)")
    for name, r in (("CLI before", before), ("CLI after", after)):
        spi = ", ".join(f"{a} {1e3 * s:.2f} ms" for a, s in r["seconds_per_iteration"].items())
        print(f"  {name:11s}: {r['rate']:7.1f} it/s for the set  ({spi} per iteration)")
    print(f"  page       : {page['rate']:7.1f} it/s click to all done ({page['click_to_done_s']:.1f} s; first "
          f"progress after {page['first_progress_s']:.1f} s); steady {page['steady_rate']:.1f} it/s")
    print(f"  CPU seconds from the click to done, beside the run: the browser {page['browser_cpu_s']:.1f}, the server "
          f"{page['server_cpu_s']:.1f} (this machine's {os.cpu_count()} cores; on Community Cloud the browser runs on "
          "the viewer's machine)")
    ratio, steady = page["rate"] / cli, page["steady_rate"] / cli
    ok = "PASS" if ratio >= TARGET else "FAIL"
    print(f"  page / CLI : {ratio:.0%} click to done, {steady:.0%} steady   (target >= {TARGET:.0%}: {ok})")
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cli_before": before, "cli_after": after, "page": page,
                                               "ratio": ratio, "steady_ratio": steady}, indent=1))


if __name__ == "__main__":
    main()

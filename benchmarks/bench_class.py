"""A lecture hall at once: N students open the Sinusoid page together and each changes something, on a real
`streamlit run app.py` server, driven through Streamlit's own websocket protocol (benchmarks/st_client.py; no
browser, so the figures are the server's: what a tab would wait for, minus the browser's own rendering).

1. A cold server: the lecturer opens the page first (one session), then closes it.
2. First page: N sessions connect at once; per session, seconds from the websocket connect to its first
   script run finished                                                                    target < 10 s (max)
3. A change: every session, at the same moment, sets its own seed and inner steps in the sidebar (each a new
   computation: a distinct random init), then presses the step control's "Back"; send -> script finished,
   median and max over all sessions and rounds                                          target < 3 s (median)
4. Isolation: after each change every session's page must show its own seed ("random initialisation, seed X")
   and step ("The numbers (step 0 → step S)"), and no other session's seed        target 0 mismatches
5. Server memory (VmRSS of the server process tree, sampled every 0.1 s, and its processes' largest sampled RSS): idle,
   with N sessions, after they close, and after --churn sessions opened and closed one after another
   target: bounded (the churn adds less than --churn-mb-per-session each; Streamlit keeps a closed session
   up to 2 minutes for a reconnect, at most 128 of them, so some growth is expected)

The machine may be shared: the load average and the busiest other processes during the run are printed.
--one-core (issue 24): the server and its children on CPU 0, this client on CPU 1; the figures say "1 core".

Usage: python -m benchmarks.bench_class [--sessions 30] [--rounds 3] [--churn 50] [--one-core] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.harness import cores_label, one_core, pick_assets, serving
from benchmarks.processes import MemorySampler, loadavg, tree
from benchmarks.st_client import CLICK, Session, StreamlitError

TARGET_CHANGE_S = 3.0
TARGET_FIRST_S = 10.0
PAGE = "sinusoid"
SEED_RE = re.compile(r"random initialisation, seed (\d+)")
STEP_RE = re.compile(r"The numbers\*\* \(step 0 → step (\d+)\)")
PAGE_MS_RE = re.compile(r"page (\d+) ms on the server")  # the page's own caption: its script's time, in the server


def page_s(session: Session) -> float | None:
    found = PAGE_MS_RE.findall(session.text())
    return int(found[-1]) / 1e3 if found else None


# --- the machine ---------------------------------------------------------------------------------------------

def cpu_ticks() -> dict[int, tuple[float, str]]:
    """pid -> (user + system CPU seconds so far, command line) for every process."""
    out = {}
    for proc in psutil.process_iter(["cpu_times", "cmdline"]):
        times, cmd = proc.info["cpu_times"], proc.info["cmdline"]
        if times is not None:
            out[proc.pid] = (times.user + times.system, " ".join(cmd or []))
    return out


class CpuWatch:
    """CPU seconds of every process, the first and the latest seen (`snap()` at each step, so a process that
    ends during the run still counts up to its last snapshot)."""

    def __init__(self) -> None:
        self.first = cpu_ticks()
        self.last = dict(self.first)

    def snap(self) -> None:
        self.last.update(cpu_ticks())


def busiest_others(before: dict, after: dict, seconds: float, exclude: set[int], n: int = 3) -> list[str]:
    """The n processes (not ours) that used the most CPU between two `cpu_ticks` snapshots."""
    used = []
    for pid, (cpu_s, cmd) in after.items():
        if pid in exclude or not cmd:
            continue
        share = (cpu_s - before.get(pid, (0, ""))[0]) / seconds
        if share > 0.02:
            used.append((share, pid, cmd))
    used.sort(reverse=True)
    return [f"{100 * s:.0f}% of a core: pid {pid} {cmd[:110]}" for s, pid, cmd in used[:n]]


# --- the class -----------------------------------------------------------------------------------------------

def stats(xs: list[float]) -> dict:
    if not xs:
        return {"median_s": float("nan"), "max_s": float("nan"), "min_s": float("nan"), "n": 0}
    return {"median_s": statistics.median(xs), "max_s": max(xs), "min_s": min(xs), "n": len(xs)}


def details(x: dict) -> list[tuple[str, str, str, None]]:
    """The report's two detail rows under a figure: its first element on screen and the page script's own time."""
    return [("  first element on screen (median / max)",
             f"{x['first_delta']['median_s']:.2f} / {x['first_delta']['max_s']:.2f} s", "", None),
            ("  the page script's own time (its caption; median / max)",
             f"{x['page_script']['median_s']:.2f} / {x['page_script']['max_s']:.2f} s", "", None)]


def check(session: Session, seed: int, step: int, others: set[int]) -> list[str]:
    """What is wrong with this session's page (empty: it shows its own seed and step, nobody else's)."""
    text = session.text()
    seeds = {int(s) for s in SEED_RE.findall(text)}
    steps = {int(s) for s in STEP_RE.findall(text)}
    problems = []
    if seeds != {seed}:
        problems.append(f"seeds shown {sorted(seeds)}, expected [{seed}]")
    if seeds & others:
        problems.append(f"shows another session's seed {sorted(seeds & others)}")
    if steps != {step}:
        problems.append(f"steps shown {sorted(steps)}, expected [{step}]")
    if session.exceptions():
        problems.append(f"exception: {session.exceptions()[0][:200]}")
    return problems


async def at_once(sessions: list[Session], changes: list[dict]) -> list:
    """Every session sends its change at the same moment; their RunResults (or the exception)."""
    return await asyncio.gather(*(s.run(c) for s, c in zip(sessions, changes)), return_exceptions=True)


async def lecture(port: int, n: int, rounds: int, churn: int, sampler, log) -> dict:
    out: dict = {"load_before": loadavg()}
    kb = lambda: sampler.current_kb() / 1024  # noqa: E731

    # 1. the lecturer, on a cold server
    out["rss_idle_mb"] = kb()
    lecturer = Session(port, page=PAGE)
    out["cold_first_page_s"] = (await lecturer.connect()).seconds
    await lecturer.close()
    out["rss_warm_mb"] = kb()
    log(f"cold server, first page: {out['cold_first_page_s']:.2f} s; RSS {out['rss_warm_mb']:.0f} MB")

    # 2. the class opens the page, all at once
    sessions = [Session(port, page=PAGE) for _ in range(n)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    first = await asyncio.gather(*(s.connect() for s in sessions), return_exceptions=True)
    failed = [repr(r) for r in first if isinstance(r, BaseException)]
    ok = [r for r in first if not isinstance(r, BaseException)]
    out["first_page"] = {**stats([r.seconds for r in ok]),
                         "first_delta": stats([r.first_delta_s for r in ok if r.first_delta_s is not None]),
                         "failed": failed, "all_s": [r.seconds for r in ok],
                         "kb": statistics.median([r.bytes / 1024 for r in ok]) if ok else float("nan"),
                         "messages": statistics.median([r.messages for r in ok]) if ok else float("nan"),
                         "page_script": stats([x for x in map(page_s, sessions) if x is not None])}
    out["load_after_first_page"] = loadavg()
    log(f"{n} sessions at once, first page: median {out['first_page']['median_s']:.2f} s, "
        f"max {out['first_page']['max_s']:.2f} s, {len(failed)} failed; load {loadavg()}")
    sessions = [s for s, r in zip(sessions, first) if not isinstance(r, BaseException)]
    if failed:
        log(f"first page failures: {failed[:3]}")

    # 3 + 4. changes, all at once, and whether each session sees its own
    changes_s, changes_delta, steps_s, steps_delta, mismatches, errors = [], [], [], [], [], []
    script_s: dict[str, list[float]] = {"sidebar": [], "back": []}
    sizes: dict[str, list[tuple[int, int]]] = {"sidebar": [], "back": []}
    for r in range(rounds):
        seeds = [1000 * (r + 1) + i for i in range(len(sessions))]
        s_vals = [1 + (7 * i + 3 * r) % 20 for i in range(len(sessions))]
        for label, change, expect_step, times, deltas in (
            ("sidebar", [{"seed": sd, "inner_steps": sv} for sd, sv in zip(seeds, s_vals)], s_vals,
             changes_s, changes_delta),
            ("back", [{"sin_prev": CLICK}] * len(sessions), [sv - 1 for sv in s_vals], steps_s, steps_delta),
        ):
            results = await at_once(sessions, change)
            for i, (sess, res) in enumerate(zip(sessions, results)):
                if isinstance(res, BaseException):
                    errors.append(f"round {r} {label} session {i}: {res!r}")
                    continue
                times.append(res.seconds)
                sizes[label].append((res.bytes, res.messages))
                if page_s(sess) is not None:
                    script_s[label].append(page_s(sess))
                if res.first_delta_s is not None:
                    deltas.append(res.first_delta_s)
                for p in check(sess, seeds[i], expect_step[i], set(seeds) - {seeds[i]}):
                    mismatches.append(f"round {r} {label} session {i}: {p}")
            done = stats([x.seconds for x in results if not isinstance(x, BaseException)])
            log(f"round {r + 1}/{rounds} {label}: median {done['median_s']:.2f} s, max {done['max_s']:.2f} s; "
                f"mismatches so far {len(mismatches)}; load {loadavg()}")
    out["change"] = {**stats(changes_s), "first_delta": stats(changes_delta), "all_s": changes_s,
                     "page_script": stats(script_s["sidebar"]),
                     "kb": statistics.median([b / 1024 for b, _ in sizes["sidebar"]] or [float("nan")]),
                     "messages": statistics.median([m for _, m in sizes["sidebar"]] or [float("nan")])}
    out["step_button"] = {**stats(steps_s), "first_delta": stats(steps_delta), "all_s": steps_s,
                          "page_script": stats(script_s["back"]),
                          "kb": statistics.median([b / 1024 for b, _ in sizes["back"]] or [float("nan")]),
                          "messages": statistics.median([m for _, m in sizes["back"]] or [float("nan")])}
    out["isolation"] = {"checks": 2 * rounds * len(sessions), "mismatches": len(mismatches),
                        "details": mismatches[:20], "errors": errors[:20]}
    out["client_cpu_s"] = time.process_time() - cpu0
    out["class_wall_s"] = time.perf_counter() - t0
    out["rss_open_mb"] = kb()
    out["load_after_changes"] = loadavg()

    # 5. memory: the class leaves, then sessions come and go one after another
    await asyncio.gather(*(s.close() for s in sessions))
    await asyncio.sleep(2)
    out["rss_closed_mb"] = kb()
    log(f"class closed: RSS {out['rss_closed_mb']:.0f} MB (with {n} open {out['rss_open_mb']:.0f} MB)")
    churn_s = []
    for i in range(churn):
        s = Session(port, page=PAGE)
        churn_s.append((await s.connect()).seconds)
        await s.close()
        if i == churn // 2 - 1:
            out["rss_churn_half_mb"] = kb()
    if churn:
        await asyncio.sleep(2)
        out["rss_churn_mb"] = kb()
        out["churn"] = {"sessions": churn, **stats(churn_s)}
        log(f"{churn} sessions opened and closed in turn: RSS {out['rss_churn_mb']:.0f} MB, first page "
            f"median {out['churn']['median_s']:.2f} s")
    out["load_after"] = loadavg()
    return out


# --- report --------------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30, help="sessions at once (default 30)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of (sidebar change, Back) (default 3)")
    ap.add_argument("--churn", type=int, default=50, help="sessions opened and closed in turn (default 50; 0: skip)")
    ap.add_argument("--churn-mb-per-session", type=float, default=2.0,
                    help="memory bound: what one opened-and-closed session may add (default 2 MB)")
    ap.add_argument("--one-core", action="store_true", help="the server (and its children) on CPU 0, this client on "
                    "CPU 1")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    cpus = one_core(args.one_core)
    command = "python -m benchmarks.bench_class " + " ".join(sys.argv[1:])
    t_start = time.perf_counter()

    watch: CpuWatch | None = None

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f} s] {line}", flush=True)
        if watch is not None:
            watch.snap()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        assets, which = pick_assets(tmp)
        log(f"weights: {which} ({assets}); server on {cores_label(cpus)}; load average {loadavg()}")
        with serving(assets, tmp / "server.log", cpus=cpus) as (proc, port):
            sampler = MemorySampler(proc.pid)
            sampler.start()
            watch, t0 = CpuWatch(), time.perf_counter()
            try:
                res = asyncio.run(lecture(port, args.sessions, args.rounds, args.churn, sampler, log))
            except StreamlitError as e:
                print((tmp / "server.log").read_text()[-3000:])
                raise SystemExit(f"the lecture failed: {e}") from e
            finally:
                elapsed = time.perf_counter() - t0
                ours = set(tree(proc.pid)) | {os.getpid()}
                watch.snap()
                others = busiest_others(watch.first, watch.last, elapsed, ours)
                server_cpu = sum(watch.last.get(p, (0, ""))[0] - watch.first.get(p, (0, ""))[0]
                                 for p in ours - {os.getpid()})
                sampler.stop()
    res.update(weights=which, command=command, machine_cores=os.cpu_count(), server_cores=cores_label(cpus),
               others_busy=others, peak_rss_mb=sampler.peak_kb / 1024,
               max_sampled_rss_mb=max(sampler.hwm_kb.values()) / 1024, server_cpu_s=server_cpu, elapsed_s=elapsed)

    n, fp, ch, sb, iso = args.sessions, res["first_page"], res["change"], res["step_button"], res["isolation"]
    churn_growth = None
    if args.churn:
        churn_growth = (res["rss_churn_mb"] - res["rss_closed_mb"]) / args.churn
    rows = [
        ("cold server: the first session's first page", f"{res['cold_first_page_s']:.2f} s", "", None),
        (f"first page, {n} sessions connecting at once (median / max)",
         f"{fp['median_s']:.2f} / {fp['max_s']:.2f} s ({len(fp['failed'])} failed)", f"< {TARGET_FIRST_S:g} s max",
         fp["max_s"] < TARGET_FIRST_S and not fp["failed"]),
        *details(fp),
        (f"a change, {n} at once: seed + inner steps (median / max, n={ch['n']})",
         f"{ch['median_s']:.2f} / {ch['max_s']:.2f} s", f"< {TARGET_CHANGE_S:g} s med",
         ch["median_s"] < TARGET_CHANGE_S),
        *details(ch),
        (f"a step button (Back), {n} at once (median / max, n={sb['n']})",
         f"{sb['median_s']:.2f} / {sb['max_s']:.2f} s", f"< {TARGET_CHANGE_S:g} s med",
         sb["median_s"] < TARGET_CHANGE_S),
        *details(sb),
        ("isolation: pages not showing their own seed/step, or another's seed",
         f"{iso['mismatches']} of {iso['checks']} ({len(iso['errors'])} errors)", "0",
         iso["mismatches"] == 0 and not iso["errors"]),
        ("received per session: first page / change / Back (median)",
         " / ".join(f"{x['kb']:.0f}" for x in (fp, ch, sb)) + " KB in "
         + " / ".join(f"{x['messages']:.0f}" for x in (fp, ch, sb)) + " msgs", "", None),
        ("server RSS: idle / after the cold first page",
         f"{res['rss_idle_mb']:.0f} / {res['rss_warm_mb']:.0f} MB", "", None),
        (f"server RSS: {n} sessions open / after they closed",
         f"{res['rss_open_mb']:.0f} / {res['rss_closed_mb']:.0f} MB", "", None),
    ]
    if args.churn:
        rows.append((f"server RSS after {args.churn} more opened+closed in turn (half-way)",
                     f"{res['rss_churn_mb']:.0f} MB ({res['rss_churn_half_mb']:.0f}); "
                     f"{churn_growth:+.2f} MB/session", f"< {args.churn_mb_per_session:g} MB/s.",
                     churn_growth < args.churn_mb_per_session))
    rows.append(("server RSS peak (sampled, all processes) / largest sampled RSS of one process",
                 f"{res['peak_rss_mb']:.0f} / {res['max_sampled_rss_mb']:.0f} MB", "", None))
    width = max(len(r[0]) for r in rows)
    head = f"measure (server on {cores_label(cpus)})"
    print(f"\n{head.ljust(width)} | {'measured':<40} | {'target':<14} | result")
    print("-" * (width + 72))
    for name, value, target, ok in rows:
        verdict = "" if ok is None else "PASS" if ok else "FAIL"
        print(f"{name.ljust(width)} | {value:<40} | {target:<14} | {verdict}")
    print(f"\ncommand: {command}  (--rounds {args.rounds}: each round = a sidebar change, then Back)")
    print(f"machine: {os.cpu_count()} CPU cores, the server on {cores_label(cpus)}; load average (1, 5, 15 min) "
          f"before {res['load_before']}, after the "
          f"first pages {res['load_after_first_page']}, after the changes {res['load_after_changes']}, at the end "
          f"{res['load_after']}")
    print(f"CPU used while measuring ({elapsed:.0f} s): server {res['server_cpu_s']:.0f} s, this client "
          f"{res['client_cpu_s']:.0f} s (during the class); busiest other processes:")
    for line in others or ["(none above 2% of a core)"]:
        print(f"  {line}")
    if iso["details"] or iso["errors"]:
        print("isolation problems (first 20): " + "\n  ".join(["", *iso["details"], *iso["errors"]]))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    if not all(r[3] for r in rows if r[3] is not None):
        sys.exit(1)


if __name__ == "__main__":
    main()

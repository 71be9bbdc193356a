"""A class at once on the Meta-training page (issue #9): N students press "Start training" at the same moment on a
real `streamlit run app.py` server, driven through Streamlit's own websocket protocol (benchmarks/st_client.py).

The server's queue (ui/run_queue.py) trains `slots` runs at once (1 on a 2-core machine) and lines the rest up,
first come, first served. Every session sets its own seed and its own number of iterations (200 + 20 i, so each
run is recognisable by its "/ K iterations") in one rerun, then presses Start in the next (as a browser does: a
number is committed on Enter / blur; note that the page's on_start reads `seed` from the previous script run, so
a seed sent in the same rerun as the click would not be the run's); then every session polls (a plain rerun every
--poll seconds: the page's live panels are fragments with run_every, driven by the browser, so a websocket client
sees progress only when it reruns) until its run has finished. Measured:

1. Every session trains: its first place in line and the expected start it was shown, when its run left the line
   (bounded by every poll that showed "· E s of at most": between the poll's send and end, minus E), when its
   training process appeared (psutil), when a progress text first showed iterations > 0, when it finished.
   target: all N finish
2. The expected start: shown (the moment shown + the wait shown) against the actual start; median absolute error,
   for the first estimate shown, the first shown after the server had measured a run's pace, and the last before
   the start.
3. Isolation: no page shows another session's "/ K iterations" or another's "Seed X (sidebar)". target: 0
4. Throughput: the click to the last run's end, and iterations per second while training (the progress texts).
5. Server memory (VmRSS summed over the server's process tree: the server, the multiprocessing fork server, and
   the training processes it forks), its peak and after the runs ended; the most training processes alive at
   once (target <= the queue's slots).
6. A closed tab: one more session starts a run, is queued behind the class, and closes its websocket; the queue
   should drop it ~15 s (SESSION_GRACE_S) + one watch period (2 s) later: seen in the others' caption "now: X
   training, Y waiting" (X + Y minus the class runs not yet ended; polls near a class run's start or end are left
   out). After the class, the same for a closed tab whose run is training: the caption goes to "0 training" and
   the training process ends.

The machine may be shared (a long training job): the load average is printed before and after.

Usage: MAML_DATA_DIR=... python -m benchmarks.bench_training_class [--sessions 10] [--poll 2] [--json out.json]
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
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.harness import pick_assets, serving
from benchmarks.processes import Sampler, loadavg, rss_kb
from benchmarks.st_client import CLICK, Session, StreamlitError
from ui.run_queue import SESSION_GRACE_S as GRACE_S
from ui.run_queue import WATCH_EVERY_S as WATCH_S

PAGE = "meta_training"
PLACE_RE = re.compile(r"you are number (\d+) in line\.\*\* Expected start: (any moment now|in about ([^(]+?)) \(")
PROGRESS_RE = re.compile(r"\*\*(.+?)\*\*: ([\d,]+) / ([\d,]+) iterations · ([\d,]+) it/s")
STATUS_RE = re.compile(r"\*\*Sinusoid\*\* · (training…|stopping…|finished|not run: [^·]*) · (\d+) s of at most")
SEED_RE = re.compile(r"Seed (\d+) \(sidebar\)")
COUNTS_RE = re.compile(r"now: (\d+) training, (\d+) waiting")
ANY_ITERS_RE = re.compile(r"/ ([\d,]+) iterations")


def duration_s(text: str) -> float:
    """The page's common.duration() read back: "40 s", "3 min", "1 min 20 s" (or "any moment now": 0)."""
    if "any moment" in text:
        return 0.0
    m = re.fullmatch(r"\s*(?:(\d+) min)?\s*(?:(\d+) s)?\s*", text)
    if not m or not (m.group(1) or m.group(2)):
        raise ValueError(f"cannot read the duration {text!r}")
    return 60 * int(m.group(1) or 0) + int(m.group(2) or 0)


def page_texts(s: Session) -> list[str]:
    """The page's texts and its progress bars' texts (st_client's texts() leaves progress bars out)."""
    out = s.texts()
    for el in s.elements.values():
        if el.WhichOneof("type") == "progress":
            out.append(el.progress.text)
    return out


# --- the server's processes ------------------------------------------------------------------------------------

def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) for every process."""
    return {proc.pid: (proc.info["ppid"], " ".join(proc.info["cmdline"] or []))
            for proc in psutil.process_iter(["ppid", "cmdline"])}


class TreeSampler(Sampler):
    """Every `every` s: the summed VmRSS of the server's process tree (peak kept) and the number of training
    processes (the children of the multiprocessing fork server), with a timeline of that number's changes."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        super().__init__(pid, every)
        self.peak_kb = self.last_kb = 0
        self.trainers = 0
        self.max_trainers = 0
        self.timeline: list[tuple[float, int]] = []  # (time.perf_counter(), training processes) at each change
        self.pids: set[int] = set()  # the training processes alive at the last sample
        self.births: list[tuple[float, int]] = []  # (time.perf_counter(), pid): a training process first seen
        self.deaths: list[tuple[float, int]] = []  # (time.perf_counter(), pid): a training process gone
        self.processes: dict[int, str] = {}  # every pid seen in the tree -> its command line (first 120 chars)

    def sample(self) -> None:
        table = proc_table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            tree.append(p)
            todo.extend(children.get(p, []))
        forkservers = [p for p in tree if "forkserver" in table.get(p, (0, ""))[1]]
        pids = {c for f in forkservers for c in children.get(f, [])}
        trainers = len(pids)
        now = time.perf_counter()
        self.births += [(now, c) for c in sorted(pids - self.pids)]
        self.deaths += [(now, c) for c in sorted(self.pids - pids)]
        self.pids = pids
        kb = sum(rss_kb(p) for p in tree)
        self.last_kb, self.peak_kb = kb, max(self.peak_kb, kb)
        for p in tree:
            self.processes.setdefault(p, table.get(p, (0, ""))[1][:120])
        if trainers != self.trainers or not self.timeline:
            self.timeline.append((now, trainers))
        self.trainers = trainers
        self.max_trainers = max(self.max_trainers, trainers)


# --- one session ------------------------------------------------------------------------------------------------

@dataclass
class Poll:
    """What one poll (a rerun) of a session showed. Times are seconds since the class pressed Start."""

    t: float
    seconds: float  # the rerun's send -> page complete
    place: int | None = None  # k-th in line (None: not queued)
    wait_s: float | None = None
    status: str = ""  # training… / finished / ... (the live panel's line)
    elapsed: int | None = None  # the run's "E s of at most"
    iterations: list[int] = field(default_factory=list)  # per method
    planned: list[int] = field(default_factory=list)
    its_per_sec: list[int] = field(default_factory=list)
    progress_done: bool = False  # every progress text says done (or stopped / failed)
    finished_alert: bool = False
    counts: tuple[int, int] | None = None  # the caption's (training, waiting)
    seeds_shown: list[int] = field(default_factory=list)
    iteration_counts_shown: list[int] = field(default_factory=list)

    @property
    def sent(self) -> float:
        """When the rerun was sent: the page's figures were computed between `sent` and `t`."""
        return self.t - self.seconds

    @property
    def mid(self) -> float:
        return self.t - self.seconds / 2


def read_poll(s: Session, t: float, seconds: float) -> Poll:
    texts = page_texts(s)
    text = "\n".join(texts)
    p = Poll(t, seconds)
    if m := PLACE_RE.search(text):
        p.place, p.wait_s = int(m.group(1)), duration_s(m.group(2).removeprefix("in about "))
    if m := STATUS_RE.search(text):
        p.status, p.elapsed = m.group(1), int(m.group(2))
    bars = [tx for tx in texts if PROGRESS_RE.search(tx)]
    for tx in bars:
        m = PROGRESS_RE.search(tx)
        p.iterations.append(int(m.group(2).replace(",", "")))
        p.planned.append(int(m.group(3).replace(",", "")))
        p.its_per_sec.append(int(m.group(4).replace(",", "")))
    p.progress_done = bool(bars) and all(any(w in tx for w in (" · done", "stopped", " · failed")) for tx in bars)
    p.finished_alert = any(tx.startswith("Finished.") for tx in texts)
    if m := COUNTS_RE.search(text):
        p.counts = (int(m.group(1)), int(m.group(2)))
    p.seeds_shown = sorted({int(x) for x in SEED_RE.findall(text)})
    p.iteration_counts_shown = sorted({int(x.replace(",", "")) for x in ANY_ITERS_RE.findall(text)})
    return p


@dataclass
class Student:
    index: int
    seed: int
    iterations: int
    session: Session
    polls: list[Poll] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    # --- derived ---------------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return any(p.finished_alert or p.progress_done for p in self.polls)

    def first_place(self) -> Poll | None:
        """The first poll that showed a place in line (or, for a run that trained at once, its first poll)."""
        return next((p for p in self.polls if p.place is not None or p.status), None)

    def left_line_bounds(self) -> tuple[float, float] | None:
        """When the run left the line (started), bounded by every poll that showed it training: the page computed
        "E s of at most" (E rounded) between the poll's send and its end, so the start lies in
        [sent - E - 0.5, t - E + 0.5]; the tightest bounds over all such polls."""
        ps = [p for p in self.polls if p.elapsed is not None and p.status in ("training…", "stopping…")]
        if not ps:
            return None
        return max(p.sent - p.elapsed - 0.5 for p in ps), min(p.t - p.elapsed + 0.5 for p in ps)

    def left_line(self) -> float | None:
        b = self.left_line_bounds()
        return None if b is None else (b[0] + b[1]) / 2

    def first_iterations(self) -> float | None:
        """When a progress text first showed iterations > 0 (the middle of that poll)."""
        p = next((p for p in self.polls if p.iterations and max(p.iterations) > 0), None)
        return None if p is None else p.mid

    def ended(self) -> float | None:
        """When it ended: the left-line time plus the final elapsed seconds shown (the first finished poll)."""
        p = next((p for p in self.polls if p.finished_alert or p.progress_done), None)
        if p is None:
            return None
        start = self.left_line()
        return p.t if start is None or p.elapsed is None else start + p.elapsed

    def final(self) -> Poll | None:
        return next((p for p in self.polls if p.finished_alert or p.progress_done), None)


def check(st: Student, p: Poll, others_iters: set[int], others_seeds: set[int]) -> list[str]:
    problems = []
    if p.seeds_shown and p.seeds_shown != [st.seed]:
        problems.append(f"caption shows seed {p.seeds_shown}, expected [{st.seed}]")
    if set(p.seeds_shown) & others_seeds:
        problems.append(f"shows another session's seed {sorted(set(p.seeds_shown) & others_seeds)}")
    if p.iteration_counts_shown and p.iteration_counts_shown != [st.iterations]:
        problems.append(f"shows '/ {p.iteration_counts_shown} iterations', expected {st.iterations}")
    if set(p.iteration_counts_shown) & others_iters:
        theirs = sorted(set(p.iteration_counts_shown) & others_iters)
        problems.append(f"shows another session's iteration count {theirs}")
    return problems


async def poll_until_done(st: Student, t0: float, every: float, offset: float, others_iters: set[int],
                          others_seeds: set[int], deadline: float, log) -> None:
    await asyncio.sleep(offset)
    while time.perf_counter() < deadline:
        tick = time.perf_counter()
        try:
            r = await st.session.run()
        except StreamlitError as e:
            st.errors.append(f"t={tick - t0:.1f}: {e}")
            await asyncio.sleep(every)
            continue
        p = read_poll(st.session, time.perf_counter() - t0, r.seconds)
        st.polls.append(p)
        if r.exceptions:
            st.exceptions.extend(r.exceptions)
        st.mismatches += [f"t={p.t:.1f}: {x}" for x in check(st, p, others_iters, others_seeds)]
        if p.finished_alert or p.progress_done:
            return
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - tick)))
    st.errors.append("did not finish before the deadline")


# --- the class ------------------------------------------------------------------------------------------------

def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


async def lecture(port: int, n: int, every: float, sampler: TreeSampler, log, max_wait_s: float) -> dict:
    out: dict = {"load_before": loadavg()}
    clock = time.perf_counter
    cpu0 = time.process_time()
    sampler.sample()
    out["rss_idle_mb"] = sampler.last_kb / 1024

    # the class opens the page (this also starts the fork server: train_worker.warm_up())
    students = [Student(i, seed=1000 + i, iterations=200 + 20 * i, session=Session(port, page=PAGE, timeout=180))
                for i in range(n)]
    first = await asyncio.gather(*(st.session.connect() for st in students), return_exceptions=True)
    bad = [f"session {i}: {r!r}" for i, r in enumerate(first) if isinstance(r, BaseException)]
    if bad:
        raise StreamlitError(f"could not open the page: {bad[:3]}")
    out["first_page_s"] = {"median": median([r.seconds for r in first]), "max": max(r.seconds for r in first)}
    log(f"{n} sessions on the page (first page median {out['first_page_s']['median']:.2f} s, max "
        f"{out['first_page_s']['max']:.2f} s); RSS {sampler.last_kb / 1024:.0f} MB; load {loadavg()}")
    await asyncio.sleep(3)  # the fork server finishes starting (it imports torch), as it would while people read
    out["rss_ready_mb"] = sampler.last_kb / 1024

    # everybody sets their seed and iterations at the same moment (a browser commits a number on Enter / blur: a
    # rerun), then presses Start at the same moment
    settings = await asyncio.gather(*(st.session.run({"seed": st.seed, "mt_iterations": st.iterations})
                                      for st in students), return_exceptions=True)
    bad = [f"session {i}: {r!r}" for i, r in enumerate(settings) if isinstance(r, BaseException)]
    if bad:
        raise StreamlitError(f"could not set the settings: {bad[:3]}")
    t0 = clock()
    clicks = await asyncio.gather(*(st.session.run({"mt_start": CLICK}) for st in students), return_exceptions=True)
    out["click_s"] = {"median": median([r.seconds for r in clicks if not isinstance(r, BaseException)]),
                      "max": max((r.seconds for r in clicks if not isinstance(r, BaseException)), default=float("nan")),
                      "failed": [repr(r) for r in clicks if isinstance(r, BaseException)]}
    for st, r in zip(students, clicks):
        if not isinstance(r, BaseException):
            st.polls.append(read_poll(st.session, clock() - t0, r.seconds))
    log(f"{n} x Start at once: page back in median {out['click_s']['median']:.2f} s, max "
        f"{out['click_s']['max']:.2f} s; caption now {students[0].polls[-1].counts if students[0].polls else '?'}")

    # a closed tab, queued: one more session starts a run behind the class, then goes away
    ghost = Student(n, seed=9999, iterations=3000, session=Session(port, page=PAGE, timeout=180))
    await ghost.session.connect()
    await ghost.session.run({"seed": ghost.seed, "mt_iterations": ghost.iterations})
    r = await ghost.session.run({"mt_start": CLICK})
    gp = read_poll(ghost.session, clock() - t0, r.seconds)
    await ghost.session.close()
    t_close = clock() - t0
    out["ghost_queued"] = {"place_shown": gp.place, "wait_shown_s": gp.wait_s, "caption_before_close": gp.counts,
                           "closed_at_s": t_close}
    log(f"closed tab: a run queued as number {gp.place} (expected start {gp.wait_s} s; caption {gp.counts}), "
        f"websocket closed at t={t_close:.1f} s")

    # everybody polls until their run has finished
    deadline = clock() + max_wait_s
    all_iters = {st.iterations for st in students} | {ghost.iterations}
    all_seeds = {st.seed for st in students} | {ghost.seed}

    async def progress_log() -> None:
        while True:
            await asyncio.sleep(15)
            done = sum(st.finished for st in students)
            counts = [st.polls[-1].counts for st in students if st.polls and st.polls[-1].counts]
            log(f"  t={clock() - t0:5.0f} s: {done}/{n} finished; caption {counts[-1] if counts else '?'}; "
                f"training processes {sampler.trainers}; RSS {sampler.last_kb / 1024:.0f} MB; load {loadavg()}")

    logger = asyncio.create_task(progress_log())
    await asyncio.gather(*(poll_until_done(st, t0, every, every * st.index / n, all_iters - {st.iterations},
                                           all_seeds - {st.seed}, deadline, log) for st in students))
    logger.cancel()
    t_all = clock() - t0
    out["rss_at_end_mb"] = sampler.last_kb / 1024
    await asyncio.sleep(3)
    out["rss_after_mb"] = sampler.last_kb / 1024
    out["trainers_after"] = sampler.trainers
    log(f"all polled to the end at t={t_all:.1f} s; RSS {out['rss_after_mb']:.0f} MB 3 s later; "
        f"training processes {sampler.trainers}; load {loadavg()}")

    # --- the closed tab (queued): when did the queue drop it? Y (waiting, in the caption) minus the class runs
    # still waiting at that moment (their left-line times), from every class poll after the close
    # (a poll's caption was computed between its send and its end: polls whose window comes within 1 s of a class
    # run's start are left out as ambiguous)
    # (the caption's training + waiting, minus the class runs not yet ended: the ghost's run may reach the front
    # of the line and train before its grace runs out)
    edges = [x for st in students for x in ((st.left_line(), st.ended()) if st.ended() else ()) if x is not None]
    samples = []
    for st in students:
        for p in st.polls:
            if p.counts is None or p.sent < t_close or any(p.sent - 1.5 < e < p.t + 1.5 for e in edges):
                continue
            class_active = sum(1 for st2 in students if (st2.ended() or 1e9) > p.t)
            samples.append((p.sent, p.t, sum(p.counts) - class_active))
    samples.sort()
    still = [sent for sent, _, extra in samples if extra >= 1]  # the ghost was in line at some time >= sent
    gone = [t for sent, t, extra in samples if extra <= 0 and (not still or sent > max(still))]  # gone by t
    out["ghost_queued"].update(
        last_seen_in_line_s=(max(still) - t_close) if still else None,
        first_seen_gone_s=(min(gone) - t_close) if gone else None,
        inconsistent=sum(1 for sent, _, extra in samples if extra >= 1 and gone and sent > min(gone))
        + sum(1 for _, _, extra in samples if extra < 0 or extra > 1),
        extra_values=sorted({extra for _, _, extra in samples}),
        samples=len(samples))

    # --- the closed tab (training): nobody else in line; it trains, closes, and the queue stops it
    observer = students[0]
    ghost2 = Student(n + 1, seed=7777, iterations=20000, session=Session(port, page=PAGE, timeout=180))
    await ghost2.session.connect()
    await ghost2.session.run({"seed": ghost2.seed, "mt_iterations": ghost2.iterations})
    await ghost2.session.run({"mt_start": CLICK})
    t_start2 = clock()
    training_seen = None
    while clock() - t_start2 < 60:
        r = await ghost2.session.run()
        p = read_poll(ghost2.session, clock() - t0, r.seconds)
        if p.iterations and max(p.iterations) > 0:
            training_seen = p
            break
        await asyncio.sleep(1)
    trainers_before = sampler.trainers
    await ghost2.session.close()
    t_close2 = clock()
    caption_zero = None
    trainer_zero = None
    obs = []
    while clock() - t_close2 < GRACE_S + 25:
        r = await observer.session.run()
        p = read_poll(observer.session, clock() - t0, r.seconds)
        obs.append((round(clock() - t_close2, 1), p.counts))
        if caption_zero is None and p.counts == (0, 0):
            caption_zero = clock() - t_close2
        if trainer_zero is None and sampler.trainers == 0:
            trainer_zero = clock() - t_close2
        if caption_zero is not None and trainer_zero is not None:
            break
        await asyncio.sleep(1)
    # the precise time the training process went (the sampler's timeline)
    gone_proc = next((t - t_close2 for t, k in sampler.timeline if t > t_close2 and k == 0), None)
    out["ghost_training"] = {
        "trained_before_close": None if training_seen is None else {
            "iterations": training_seen.iterations, "caption": training_seen.counts},
        "trainers_before_close": trainers_before,
        "caption_0_training_after_s": caption_zero, "process_gone_after_s": gone_proc,
        "observer_captions": obs,
    }
    log(f"closed tab while training: caption 0 training / 0 waiting after "
        f"{'never' if caption_zero is None else f'{caption_zero:.1f} s'}, training process gone after "
        f"{'never' if gone_proc is None else f'{gone_proc:.1f} s'} "
        f"(the grace is {GRACE_S:g} s + a {WATCH_S:g} s watch)")

    await asyncio.gather(*(st.session.close() for st in students), return_exceptions=True)
    await asyncio.sleep(2)
    out["rss_closed_mb"] = sampler.last_kb / 1024
    out["load_after"] = loadavg()

    # --- per session figures
    # the queue learns the pace when the first run's thread ends, just after its process is gone: the first
    # estimate "after a run had ended" comes from a poll sent after that (+0.5 s for the sampling)
    first_pace_end = (sampler.deaths[0][0] - t0 + 0.5 if sampler.deaths
                      else min((x for x in (st.ended() for st in students) if x is not None), default=None))
    rows = []
    for st in students:
        fp = st.first_place()
        start = st.left_line()
        first_it = st.first_iterations()
        end = st.ended()
        fin = st.final()
        queued_polls = [p for p in st.polls if p.place is not None]
        after_pace = next((p for p in queued_polls if first_pace_end is not None and p.sent > first_pace_end), None)
        last_q = queued_polls[-1] if queued_polls else None
        est = lambda p: None if p is None else p.mid + p.wait_s  # noqa: E731
        training_polls = [p for p in st.polls if p.status == "training…" and p.its_per_sec]
        # the rate from the progress texts: iterations between the first and the last reading strictly inside
        # the run (0 < iterations < planned), over the time between those polls
        inside = [p for p in training_polls if 0 < min(p.iterations) and max(p.iterations) < st.iterations]
        slope = ((min(inside[-1].iterations) - min(inside[0].iterations)) / (inside[-1].mid - inside[0].mid)
                 if len(inside) >= 2 and inside[-1].mid > inside[0].mid else None)
        # the training process: the first time the sampler saw one more of them, from the start's lower bound on
        lb = st.left_line_bounds()
        ups = [tt - t0 for tt, _ in sampler.births if lb is not None and tt - t0 >= lb[0] - 0.5]
        proc_up = ups[0] if ups else None
        rows.append({
            "session": st.index, "seed": st.seed, "iterations": st.iterations,
            "first_place": None if fp is None else (fp.place if fp.place is not None else 0),
            "first_shown_at_s": None if fp is None else fp.t,
            "first_expected_start_s": None if fp is None or fp.wait_s is None else fp.wait_s,
            "first_estimate_at_s": est(fp) if fp is not None and fp.wait_s is not None else None,
            "estimate_after_pace_at_s": est(after_pace), "last_estimate_at_s": est(last_q),
            "left_line_s": start, "left_line_bounds_s": st.left_line_bounds(), "process_up_s": proc_up,
            "first_iterations_s": first_it, "ended_s": end,
            "finished": st.finished,
            "final_iterations": fin.iterations if fin else [],
            "train_s": None if fin is None else fin.elapsed,
            "its_per_sec_shown": training_polls[-1].its_per_sec if training_polls else [],
            "its_per_sec_progress": slope, "progress_readings": len(inside),
            "polls": len(st.polls), "poll_s_median": median([p.seconds for p in st.polls]),
            "poll_s_max": max((p.seconds for p in st.polls), default=float("nan")),
            "errors": st.errors, "mismatches": st.mismatches, "exceptions": st.exceptions[:3],
        })
    out["sessions"] = rows
    out["all_done_s"] = t_all
    out["last_end_s"] = max((r["ended_s"] for r in rows if r["ended_s"] is not None), default=None)
    out["poll_every_s"] = every
    out["training_processes_timeline"] = [(round(t - t0, 2), k) for t, k in sampler.timeline]
    out["training_processes"] = {"up": [(round(t - t0, 2), pid) for t, pid in sampler.births],
                                 "gone": [(round(t - t0, 2), pid) for t, pid in sampler.deaths]}
    out["client_cpu_s"] = time.process_time() - cpu0
    return out


# --- report -----------------------------------------------------------------------------------------------------

def f(x, fmt="{:.1f}", none="-") -> str:
    return none if x is None or (isinstance(x, float) and x != x) else fmt.format(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10, help="sessions pressing Start at once (default 10)")
    ap.add_argument("--poll", type=float, default=2.0, help="seconds between one session's polls (default 2)")
    ap.add_argument("--max-wait", type=float, default=900, help="give up polling after this many seconds")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    command = "python -m benchmarks.bench_training_class " + " ".join(sys.argv[1:])
    t_start = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f} s] {line}", flush=True)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        assets, which = pick_assets(tmp)
        log(f"weights: {which}; load average {loadavg()}")
        with serving(assets, tmp / "server.log") as (proc, port):
            sampler = TreeSampler(proc.pid)
            sampler.start()
            try:
                res = asyncio.run(lecture(port, args.sessions, args.poll, sampler, log, args.max_wait))
            except StreamlitError as e:
                print((tmp / "server.log").read_text()[-3000:])
                raise SystemExit(f"the class failed: {e}") from e
            finally:
                sampler.stop()
                server_log = (tmp / "server.log").read_text()
    try:
        from ui.run_queue import server_budget
        slots = server_budget()
    except Exception:  # noqa: BLE001
        slots = None
    res.update(command=command, weights=which, machine_cores=os.cpu_count(), peak_rss_mb=sampler.peak_kb / 1024,
               max_training_processes=sampler.max_trainers, slots_expected=slots,
               server_processes=sorted(set(sampler.processes.values()))[:10],
               server_log_errors=[ln for ln in server_log.splitlines() if "Traceback" in ln or "Error" in ln][:10])

    n, rows = args.sessions, res["sessions"]
    print(f"\nper session (times in s since the class pressed Start; polled every {args.poll:g} s; place 0 = "
          "trained at once)")
    print("columns: place / expected start = the first shown (and the moment it points to); est2 = the start the "
          "first estimate after a run had ended points to; last = the last estimate before the start; left line = "
          "the run's start (± half its bounds); proc up = its training process appeared; 1st it>0 = a progress "
          "text first showed iterations; run s = the run's own seconds; it/s: the bars' last, and from the "
          "progress texts between polls")
    head = (f"{'#':>2} {'seed':>5} {'iters':>5} | {'place':>5} {'exp.start':>9} {'-> at':>6} | {'est2':>5} "
            f"{'last':>5} | {'left line':>11} {'proc up':>7} {'1st it>0':>8} {'ended':>6} {'run s':>5} | "
            f"{'it/s bars':<11} {'it/s prog':>9} | {'polls':>5} {'poll med/max':>11} | ok")
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = "yes" if r["finished"] and not r["mismatches"] and not r["errors"] else "NO"
        b = r["left_line_bounds_s"]
        left = f"{f(r['left_line_s'])}±{(b[1] - b[0]) / 2:.1f}" if b else "-"
        print(f"{r['session']:>2} {r['seed']:>5} {r['iterations']:>5} | {f(r['first_place'], '{}'):>5} "
              f"{f(r['first_expected_start_s'], '{:.0f}'):>9} {f(r['first_estimate_at_s'], '{:.0f}'):>6} | "
              f"{f(r['estimate_after_pace_at_s'], '{:.0f}'):>5} {f(r['last_estimate_at_s'], '{:.0f}'):>5} | "
              f"{left:>11} {f(r['process_up_s']):>7} {f(r['first_iterations_s']):>8} {f(r['ended_s']):>6} "
              f"{f(r['train_s'], '{}'):>5} | {'/'.join(map(str, r['its_per_sec_shown'])):<11} "
              f"{f(r['its_per_sec_progress']):>9} | {r['polls']:>5} "
              f"{f(r['poll_s_median'], '{:.2f}')}/{f(r['poll_s_max'], '{:.2f}'):<6}| {ok}")

    finished = sum(r["finished"] for r in rows)
    mismatches = sum(len(r["mismatches"]) for r in rows)
    errors = sum(len(r["errors"]) for r in rows)

    def est_err(key: str, actual: str) -> tuple[float, int]:
        errs = [abs(r[key] - r[actual]) for r in rows
                if r[key] is not None and r[actual] is not None and r["first_place"]]
        return median(errs), len(errs)

    e1, n1 = est_err("first_estimate_at_s", "first_iterations_s")
    e1l, _ = est_err("first_estimate_at_s", "left_line_s")
    e2, n2 = est_err("estimate_after_pace_at_s", "first_iterations_s")
    e2l, _ = est_err("estimate_after_pace_at_s", "left_line_s")
    e3, n3 = est_err("last_estimate_at_s", "first_iterations_s")
    e3l, _ = est_err("last_estimate_at_s", "left_line_s")
    train_rates = [r["iterations"] / r["train_s"] for r in rows if r["train_s"]]
    slopes = [r["its_per_sec_progress"] for r in rows if r["its_per_sec_progress"]]
    shown_rates = [min(r["its_per_sec_shown"]) for r in rows if r["its_per_sec_shown"]]
    total_iters = sum(r["iterations"] for r in rows if r["finished"])
    ends = res["last_end_s"]
    gq, gt = res["ghost_queued"], res["ghost_training"]
    slots = res["slots_expected"]
    table = [
        ("sessions whose run finished", f"{finished} / {n}", f"{n}", finished == n),
        ("first place in line shown (0 = trained at once)",
         ", ".join(f(r["first_place"], "{}") for r in rows), "", None),
        ("expected start: median |shown - actual|, first estimate (n)",
         f"{f(e1)} s to iterations > 0, {f(e1l)} s to leaving the line ({n1})", "", None),
        ("  the first estimate shown after a run had ended (pace known)",
         f"{f(e2)} s / {f(e2l)} s ({n2})", "", None),
        ("  the last estimate shown before the start", f"{f(e3)} s / {f(e3l)} s ({n3})", "", None),
        ("isolation: another's '/ K iterations' or seed, or not one's own",
         f"{mismatches} mismatches ({errors} poll errors)", "0", mismatches == 0 and errors == 0),
        ("wall time: Start pressed -> last run ended / last page finished",
         f"{f(ends)} s / {f(res['all_done_s'])} s", "", None),
        ("it/s while training, from the progress texts between polls (median, min-max)",
         f"{f(median(slopes))} ({f(min(slopes, default=None))}-{f(max(slopes, default=None))}, n={len(slopes)}); "
         f"the bars' own it/s, last shown: {f(median(shown_rates), '{:.0f}')}", "", None),
        ("it/s per run over its whole slot (iterations / run seconds, start-up and end included)",
         f"{f(median(train_rates))} ({f(min(train_rates, default=None))}-{f(max(train_rates, default=None))}); "
         f"run seconds median {f(median([r['train_s'] for r in rows if r['train_s']]))}", "", None),
        ("iterations (per method, x3 methods) over the whole class wall time",
         f"{total_iters} in {f(ends)} s = {f(total_iters / ends if ends else None)} it/s", "", None),
        ("Start clicks, N at once: rerun send -> page (median / max)",
         f"{res['click_s']['median']:.2f} / {res['click_s']['max']:.2f} s", "", None),
        ("polls (full reruns) while training: send -> page (median / max)",
         f"{median([r['poll_s_median'] for r in rows]):.2f} / {max(r['poll_s_max'] for r in rows):.2f} s", "", None),
        ("server tree RSS: idle / N pages / peak / runs ended / tabs closed",
         f"{res['rss_idle_mb']:.0f} / {res['rss_ready_mb']:.0f} / {res['peak_rss_mb']:.0f} / "
         f"{res['rss_after_mb']:.0f} / {res['rss_closed_mb']:.0f} MB", "", None),
        ("training processes alive at once (max) / slots",
         f"{res['max_training_processes']} / {slots}", f"<= {slots}",
         slots is None or res["max_training_processes"] <= slots),
        ("closed tab, queued: place shown; left the caption's count (s after the close)",
         f"#{gq['place_shown']}; between {f(gq['last_seen_in_line_s'])} and {f(gq['first_seen_gone_s'])} s "
         f"({gq['inconsistent']} inconsistent polls)", f"~{GRACE_S + WATCH_S:g} s",
         None if gq["first_seen_gone_s"] is None and not gq["inconsistent"]  # the class ended first: not seen
         else gq["first_seen_gone_s"] is not None and gq["first_seen_gone_s"] <= GRACE_S + 2 * WATCH_S + args.poll + 2),
        ("closed tab, training: caption '0 training' / process gone after",
         f"{f(gt['caption_0_training_after_s'])} / {f(gt['process_gone_after_s'])} s", f"~{GRACE_S + WATCH_S:g} s",
         gt["process_gone_after_s"] is not None and gt["process_gone_after_s"] <= GRACE_S + 2 * WATCH_S + 5),
    ]
    width = max(len(t[0]) for t in table)
    print(f"\n{'measure'.ljust(width)} | {'measured':<60} | {'target':<8} | result")
    print("-" * (width + 84))
    for name, value, target, ok in table:
        print(f"{name.ljust(width)} | {value:<60} | {target:<8} | {'' if ok is None else 'PASS' if ok else 'FAIL'}")
    print(f"\ncommand: {command}\nmachine: {os.cpu_count()} CPU cores; queue slots {slots}; load average (1, 5, 15 "
          f"min) before {res['load_before']}, after {res['load_after']}")
    print(f"this client's CPU: {res['client_cpu_s']:.0f} s; training processes (s since Start, pid): up "
          f"{res['training_processes']['up'][:14]}, gone {res['training_processes']['gone'][:14]}")
    print(f"closed tab, queued: caption 'waiting' minus the class runs still waiting, after the close: values "
          f"{gq['extra_values']} over {gq['samples']} polls")
    for r in rows:
        for x in (r["mismatches"][:3] + r["errors"][:3] + r["exceptions"]):
            print(f"  session {r['session']}: {x}")
    if res["server_log_errors"]:
        print("server log: " + "\n  ".join(["", *res["server_log_errors"]]))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str))
    if not all(t[3] for t in table if t[3] is not None):
        sys.exit(1)


if __name__ == "__main__":
    main()

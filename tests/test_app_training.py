"""The Meta-training page, headless (Streamlit AppTest), and the live-run machinery (ui/training_view.py).

Runs really train (a few hundred sinusoid iterations, a few seconds); every test stops and joins what it
started, so no thread outlives it.
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from maml_core import default_config, meta_train, save_checkpoint
from maml_core.checkpoints import Metrics
from ui import train_worker
from ui import training_view as tv

ROOT = Path(__file__).resolve().parent.parent

APP = str(ROOT / "app.py")
PAGE = "app_pages/meta_training.py"


@pytest.fixture(scope="session")
def sinusoid_assets(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("training_assets")
    for algo in ("maml", "fomaml", "reptile", "pretrain"):
        r = meta_train(default_config("sinusoid", algo, iterations=100, seed=0))
        save_checkpoint(folder / f"sinusoid_{algo}.pt", r.config, r.params, metrics=Metrics(inner_lr=0.01))
    return folder


@pytest.fixture()
def app(sinusoid_assets, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setattr(common, "ASSETS", sinusoid_assets)
    monkeypatch.setattr(common, "DATA_DIR", tmp_path / "no-omniglot")
    common.load_shipped.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    yield at
    run = at.session_state["mt_run"] if "mt_run" in at.session_state else None
    if run is not None:  # never leave a training thread behind
        run.stop()
        assert run.join(60)


def progress_texts(at) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def start(at, iterations: int, snapshot_every: int = 50, algos=("maml", "fomaml", "pretrain")):
    at.multiselect(key="mt_algos").set_value(list(algos))
    at.number_input(key="mt_iterations").set_value(iterations)
    at.number_input(key="mt_snapshot_every").set_value(snapshot_every)
    at.button(key="mt_start").click().run()
    assert not at.exception, at.exception
    return at.session_state["mt_run"]


def test_page_renders_an_empty_state(app):
    assert app.title[0].value == "Meta-training, live"
    assert progress_texts(app) == ["No run yet: choose the settings above and press Start training."]
    assert len(app.get("plotly_chart")) == 2  # the chart slots are there before a run: no layout jump
    assert app.button(key="mt_stop").disabled and not app.button(key="mt_start").disabled


def test_a_short_run_trains_and_can_be_used_on_the_sinusoid_page(app):
    run = start(app, iterations=200, snapshot_every=100)
    assert app.button(key="mt_start").disabled and not app.button(key="mt_stop").disabled
    assert len(progress_texts(app)) == 3  # one bar per algorithm
    assert run.join(120)
    app.run()
    texts = progress_texts(app)
    assert all("200 / 200 iterations" in t and "done" in t for t in texts), texts
    view = run.view()
    for p in view.values():
        assert p.status == "done" and len(p.losses) == 200
        assert [s.iteration for s in p.snapshots] == [0, 100, 200]  # iteration 0 is the untrained init
        assert all(math.isfinite(s.mse_after) for s in p.snapshots)
    # MAML's initialisation gets better at adapting to the probe task (200 iterations are plenty to see it)
    maml = view["maml"].snapshots
    assert maml[-1].mse_after < maml[0].mse_after
    assert any("Finished" in s.value for s in app.success)
    runs = app.session_state["trained_runs"]["sinusoid"]
    assert set(runs) == {"maml", "fomaml", "pretrain"}
    assert runs["maml"]["checkpoint"].info["iteration"] == 200
    # "use my trained models" switches to the Sinusoid page with them selected
    app.button(key="mt_use").click().run()
    assert not app.exception
    if app.title[0].value != "Sinusoid regression":  # AppTest may need one more run to follow switch_page
        app.switch_page("app_pages/sinusoid.py").run()
    assert app.title[0].value == "Sinusoid regression"
    assert app.session_state["sin_src_maml"] == "mine"
    assert [r.label for r in app.sidebar.radio] == ["MAML starts from", "FO-MAML starts from",
                                                   "Pretrained (all tasks) starts from"]
    sources = " ".join(m.value for m in app.markdown)
    assert "your run: MAML, 200 iterations" in sources
    # ... or both side by side: the shipped weights and the user's run, one row each
    app.sidebar.radio(key="sin_src_maml").set_value("both")
    app.switch_page("app_pages/sinusoid.py").run()  # AppTest re-runs the page it was switched to
    assert not app.exception, app.exception
    tables = [d for d in app.dataframe if d.editing_mode == "read_only"]
    assert tables and app.title[0].value == "Sinusoid regression"
    table = tables[0].value
    assert {"MAML", "MAML (my run)"} <= set(table["method"])


def wait_for_training(run, timeout: float = 60) -> None:
    """Until every method has done an iteration (the first run on a server starts its process in a few seconds)."""
    deadline = time.time() + timeout
    while min(p.iteration for p in run.view().values()) == 0:
        assert time.time() < deadline, "the run did not start training"
        time.sleep(0.1)


def test_stop_button_stops_a_run(app):
    run = start(app, iterations=20_000, algos=("fomaml",))
    wait_for_training(run)
    app.run()
    assert not app.button(key="mt_stop").disabled
    app.button(key="mt_stop").click().run()
    assert run.join(30)
    app.run()
    p = run.view()["fomaml"]
    assert p.status == "stopped" and 0 < p.iteration < 20_000
    assert "stopped by the stop button" in progress_texts(app)[0]
    assert not app.button(key="mt_start").disabled  # ready for another run
    assert app.session_state["trained_runs"]["sinusoid"]["fomaml"]["checkpoint"].info["iteration"] == p.iteration


def test_runs_are_bounded_in_iterations_and_time(app):
    configs = tv.sinusoid_configs(["maml"], iterations=10**9, meta_batch=2, inner_steps=1, inner_lr=0.01,
                                  meta_lr=0.001, seed=0)
    assert configs["maml"].iterations == tv.SINUSOID_MAX_ITERATIONS
    assert tv.omniglot_config("fomaml", iterations=10**6, meta_batch=1, seed=0,
                              data_dir="x").iterations == tv.OMNIGLOT_MAX_ITERATIONS
    run = tv.LiveRun("sinusoid", configs, max_seconds=1.0, snapshot_every=10**6).start()
    assert run.join(30)
    p = run.view()["maml"]
    assert p.status == "stopped" and "limit" in p.message and p.iteration < tv.SINUSOID_MAX_ITERATIONS


def test_no_algorithm_gives_a_message(app):
    app.multiselect(key="mt_algos").set_value([])
    app.button(key="mt_start").click().run()
    assert any("Choose at least one algorithm" in w.value for w in app.warning)
    assert "mt_run" not in app.session_state or app.session_state["mt_run"] is None


def test_a_busy_server_queues_the_run_shows_its_place_and_starts_it_when_a_slot_frees(app, monkeypatch):
    from ui import run_queue

    queue = run_queue.RunQueue(slots=1)
    monkeypatch.setattr(run_queue, "QUEUE", queue)
    other = tv.LiveRun("sinusoid", tv.sinusoid_configs(["fomaml"], iterations=20_000, meta_batch=2, inner_steps=1,
                                                       inner_lr=0.01, meta_lr=0.001, seed=1), max_seconds=60)
    queue.submit(other)  # another user's run holds the only slot
    try:
        assert other.running
        run = start(app, iterations=50, algos=("pretrain",))
        assert run.queued and queue.place(run).position == 1
        infos = " ".join(i.value for i in app.info)
        assert "you are number 1 in line" in infos and "Expected start" in infos, infos
        assert app.button(key="mt_stop").label == "Leave the queue"
        assert app.button(key="mt_start").disabled
        queue.leave(other, "the stop button")  # the other user stops: ours starts by itself
        assert other.join(30)
        assert run.join(60)
        app.run()
        assert run.view()["pretrain"].status == "done"
        assert any("Finished" in s.value for s in app.success)
    finally:
        queue.leave(other)
        other.join(30)


def test_leaving_the_queue_cancels_a_waiting_run(app, monkeypatch):
    from ui import run_queue

    queue = run_queue.RunQueue(slots=1)
    monkeypatch.setattr(run_queue, "QUEUE", queue)
    other = tv.LiveRun("sinusoid", tv.sinusoid_configs(["fomaml"], iterations=20_000, meta_batch=2, inner_steps=1,
                                                       inner_lr=0.01, meta_lr=0.001, seed=1), max_seconds=60)
    queue.submit(other)
    try:
        run = start(app, iterations=50, algos=("pretrain",))
        assert run.queued
        app.button(key="mt_stop").click().run()
        assert not app.exception, app.exception
        assert run.cancelled == "you left the queue" and queue.place(run) is None
        assert not app.button(key="mt_start").disabled  # free to change the settings and start again
        assert "not run: you left the queue" in " ".join(m.value for m in app.markdown)
    finally:
        queue.leave(other)
        other.join(30)


def test_exploding_meta_loss_is_clipped_for_plotting():
    view = {"maml": tv.Progress("maml", 10, iteration=10, status="running",
                                losses=[1.0, 10.0, float("inf"), float("nan")])}
    fig = tv.loss_figure(view, "sinusoid")
    curves = [tr for tr in fig.data if tr.yaxis in (None, "y")]  # the meta-loss subplot: raw and smoothed
    assert len(curves) == 2
    for tr in curves:  # every iteration is plotted, as a finite number: the diverged two at the chart's top
        assert list(tr.x) == [1, 2, 3, 4] and all(y is not None and math.isfinite(y) for y in tr.y), tr.y
        assert tr.y[2] == tr.y[3] == max(tr.y) > 10
    raw = next(tr for tr in curves if tr.opacity == 0.3)
    assert list(raw.y[:2]) == [1.0, 10.0]  # finite losses are drawn as they are


def test_omniglot_without_data_shows_a_notice(app):
    app.radio(key="mt_problem").set_value("Omniglot (small run)").run()
    assert not app.exception
    notice = " ".join(w.value for w in app.warning)
    assert "Omniglot data is not on this server" in notice and "MAML_DATA_DIR" in notice
    assert app.button(key="mt_start").disabled
    assert any("small run" in i.value.lower() for i in app.info)  # clearly labelled


@pytest.mark.data
def test_small_omniglot_run_with_the_real_data(app, monkeypatch):
    value = os.environ.get("MAML_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("MAML_DATA_DIR is not set (the folder holding the Omniglot zip archives)")
    from ui import common
    monkeypatch.setattr(common, "DATA_DIR", Path(value))
    app.radio(key="mt_problem").set_value("Omniglot (small run)").run()
    app.number_input(key="mt_omni_iterations").set_value(10)
    app.number_input(key="mt_omni_meta_batch").set_value(1)
    app.button(key="mt_start").click().run()
    assert not app.exception
    run = app.session_state["mt_run"]
    assert run.join(300)
    app.run()
    p = run.view()["fomaml"]
    assert p.status == "done" and len(p.accs) == 10 and p.val
    assert len(app.get("plotly_chart")) == 2  # accuracy curve + loss curve
    assert "fomaml" in app.session_state["trained_runs"]["omniglot"]


def test_loss_curves_are_smoothed_over_a_faint_raw_line_with_a_style_per_method():
    rng = np.random.default_rng(0)
    noisy = lambda scale: list(scale * np.exp(-np.arange(400) / 150) * rng.lognormal(0, 0.5, 400))  # noqa: E731
    view = {a: tv.Progress(a, 400, iteration=400, status="done", losses=noisy(s))
            for a, s in (("maml", 1.0), ("fomaml", 1.2), ("pretrain", 3.0))}
    fig = tv.loss_figure(view, "sinusoid")
    shown = [t for t in fig.data if t.showlegend is not False]
    assert [t.line.dash for t in shown] == ["solid", "dash", "dot"]  # three methods told apart without colour
    raw = [t for t in fig.data if t.opacity == 0.3]
    assert len(raw) == 3
    for r, smooth_line in zip(raw, shown):  # the bold line is the trend: far less jagged than the raw one
        jag = lambda ys: float(np.abs(np.diff(np.log(np.asarray(ys)))).mean())  # noqa: E731
        assert jag(smooth_line.y) < 0.5 * jag(r.y)


def test_lockstep_interleaving_trains_exactly_what_each_method_trains_alone():
    """One thread takes turns between the methods; each keeps its own generator and optimiser, so the weights
    equal separate runs (a shared random stream or optimiser would make them differ)."""
    configs = tv.sinusoid_configs(["maml", "fomaml", "pretrain"], iterations=30, meta_batch=4, inner_steps=1,
                                  inner_lr=0.01, meta_lr=0.001, seed=3)
    run = tv.LiveRun("sinusoid", configs, max_seconds=60, snapshot_every=10).start()
    assert run.join(60)
    for algo, config in configs.items():
        alone = meta_train(config, init_params=tv.initial_params(config))
        for k, v in alone.params.items():
            assert torch.equal(run.results[algo].params[k], v), (algo, k)
        assert [s.iteration for s in run.view()[algo].snapshots] == [0, 10, 20, 30]


class FakeClock:
    """Time that passes only when a method steps (each method costs a fixed, exact amount): the pace test then
    depends on nothing but the scheduling, however busy the machine is."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def paced_messages(monkeypatch, pace: str) -> tuple[dict, list[tuple]]:
    from ui import train_worker

    configs = tv.sinusoid_configs(["maml", "pretrain"], iterations=20_000, meta_batch=5, inner_steps=1,
                                  inner_lr=0.01, meta_lr=0.001, seed=0)
    clock = FakeClock()
    cost = {"maml": 1 / 128, "pretrain": 1 / 512}  # MAML four times as dear (binary fractions: exact sums)

    class Timed(train_worker.Trainer):
        def step(self):
            clock.t += cost[self.config.algo]
            return super().step()

    monkeypatch.setattr(train_worker, "Trainer", Timed)
    monkeypatch.setattr(train_worker, "WALLCLOCK_SLICE", 1 / 16)
    messages: list[tuple] = []
    train_worker.train_together("sinusoid", configs, send=messages.append, should_stop=lambda: clock.t >= 1.0,
                                max_seconds=10**9, snapshot_every=10**6, pace=pace, clock=clock)
    return configs, messages


@pytest.mark.parametrize("pace", ["lockstep", "wallclock"])
def test_lockstep_keeps_every_method_on_the_same_iteration_and_wallclock_does_not(monkeypatch, pace):
    """Every message the training process sends, replayed into the page's record one at a time: in lockstep the
    page never sees the methods apart (it once did, between one method's progress message and the next's, which
    a busy machine made visible); in equal time slices the four-times-cheaper baseline does four times the
    updates."""
    configs, messages = paced_messages(monkeypatch, pace)
    run = tv.LiveRun("sinusoid", configs, max_seconds=60, pace=pace)
    run.started = time.time()
    spreads = []
    for message in messages:
        if message[0] == "end":
            break
        run._handle(message)
        its = [p.iteration for p in run.view().values()]
        spreads.append(max(its) - min(its))
    final = {a: p.iteration for a, p in run.view().items()}
    if pace == "lockstep":
        assert max(spreads) == 0
        assert final["maml"] == final["pretrain"] == 103  # 1.0 / (1/128 + 1/512) = 102.4: the 103rd turn ends it
    else:
        assert final == {"maml": 64, "pretrain": 256}  # 8 turns of 1/16 s: 8 and 32 updates each
        assert max(spreads) > 0


def test_the_queue_estimates_each_place_from_the_runs_ahead():
    from ui import run_queue

    class Fake(tv.LiveRun):  # never trains; a fixed remaining time
        def __init__(self, left: float) -> None:
            super().__init__("sinusoid", {}, max_seconds=100)
            self.left = left

        def start(self):
            self.started = time.time()
            return self

        def remaining_seconds(self, seconds_per_iteration, overhead_s=0.0):
            return self.left

    q = run_queue.RunQueue(slots=2, is_alive=lambda s: True)
    a, b, c, d, e = Fake(30), Fake(10), Fake(50), Fake(20), Fake(5)
    for r in (a, b, c, d, e):
        q.submit(r)
    assert [q.place(r).position for r in (a, b)] == [0, 0]  # two slots: a and b train
    # c starts when b ends (10 s), d when a ends (30 s), e when the next slot frees: c ends at 60, d at 50
    assert [(q.place(r).position, q.place(r).wait_s) for r in (c, d, e)] == [(1, 10), (2, 30), (3, 50)]
    assert q.counts() == (2, 3)
    q._ended(b)  # b ends: c starts
    assert q.place(c).position == 0 and q.place(d).position == 1 and q.counts() == (2, 2)


def test_a_run_ends_when_its_browser_session_ends():
    from ui import run_queue

    alive = {"s1": True, "s2": True}
    q = run_queue.RunQueue(slots=1, is_alive=lambda s: alive[s], grace_s=5)
    cfg = tv.sinusoid_configs(["fomaml"], iterations=20_000, meta_batch=2, inner_steps=1, inner_lr=0.01,
                              meta_lr=0.001, seed=0)
    first = q.submit(tv.LiveRun("sinusoid", cfg, max_seconds=60, owner="s1"))
    second = q.submit(tv.LiveRun("sinusoid", cfg, max_seconds=60, owner="s2"))
    try:
        wait_for_training(first)
        alive["s1"] = False
        now = time.time()
        q.check_sessions(now)
        assert first.running  # a brief disconnect (a reconnecting tab) keeps the run
        q.check_sessions(now + 6)  # gone for longer than the grace: the run ends, the next starts
        assert first.join(30)
        assert "your browser session ended" in first.view()["fomaml"].message
        deadline = time.time() + 10
        while not second.running and time.time() < deadline:
            time.sleep(0.05)
        assert second.running
        alive["s2"] = False
        q.check_sessions(now + 20)
        q.check_sessions(now + 30)
        assert second.join(30)
    finally:
        for r in (first, second):
            q.leave(r)
            r.join(30)


def test_the_server_budget_follows_cores_and_memory():
    from ui.run_queue import MAX_SLOTS, PAGE_RESERVE_MB, RUN_MIN_MB, server_budget

    assert server_budget(cpus=1, memory_mb=8000) == 1  # always at least one
    assert server_budget(cpus=0.25, memory_mb=8000) == 1  # a fraction of a core (a cgroup quota) still trains
    assert server_budget(cpus=2, memory_mb=8000) == 1  # one core kept for the pages
    assert server_budget(cpus=2.5, memory_mb=8000) == 1
    assert server_budget(cpus=4, memory_mb=8000) == 3
    assert server_budget(cpus=4, memory_mb=PAGE_RESERVE_MB + 2 * RUN_MIN_MB) == 2  # memory-bound
    assert server_budget(cpus=4, memory_mb=50) == 1
    assert server_budget(cpus=64, memory_mb=10**6) == MAX_SLOTS


def test_each_run_gets_its_share_of_the_free_memory():
    from ui.run_queue import MEMORY_LIMIT_CAP_MB, PAGE_RESERVE_MB, RUN_MIN_MB, run_memory_limit_mb

    assert run_memory_limit_mb(1, available_mb=PAGE_RESERVE_MB + 400) == 400
    assert run_memory_limit_mb(2, available_mb=PAGE_RESERVE_MB + 400) == 200  # two slots still free
    assert run_memory_limit_mb(1, available_mb=120) == RUN_MIN_MB  # a run is never given less
    assert run_memory_limit_mb(1, available_mb=10**6) == MEMORY_LIMIT_CAP_MB


def test_the_queue_sets_each_runs_limit_as_it_starts(monkeypatch):
    from ui import run_queue

    monkeypatch.setattr(run_queue, "run_memory_limit_mb", lambda free: 1000.0 + free)
    cfg = tv.sinusoid_configs(["fomaml"], iterations=5, meta_batch=2, inner_steps=1, inner_lr=0.01,
                              meta_lr=0.001, seed=0)
    q = run_queue.RunQueue(slots=2, is_alive=lambda s: True)
    first = q.submit(tv.LiveRun("sinusoid", cfg, max_seconds=30))
    second = q.submit(tv.LiveRun("sinusoid", cfg, max_seconds=30))
    assert (first.memory_limit_mb, second.memory_limit_mb) == (1002.0, 1001.0)
    for r in (first, second):
        assert r.join(60)


def test_a_training_process_over_its_memory_limit_is_stopped_and_a_dead_one_is_reported(monkeypatch):
    monkeypatch.setenv(train_worker.TRAIN_IN, "process")
    cfg = tv.sinusoid_configs(["fomaml"], iterations=20_000, meta_batch=2, inner_steps=1, inner_lr=0.01,
                              meta_lr=0.001, seed=0)
    run = tv.LiveRun("sinusoid", cfg, max_seconds=60, memory_limit_mb=1).start()  # any process is above 1 MB
    assert run.join(60)
    p = run.view()["fomaml"]
    assert p.status == "stopped" and "the memory limit per run (1 MB: " in p.message, p.message
    assert "smaller meta-batch" in p.message, p.message
    assert run.peak_mb > 1 and "fomaml" in run.results  # what it learned is kept

    run = tv.LiveRun("sinusoid", cfg, max_seconds=60).start()
    wait_for_training(run)
    os.kill(run.pid, signal.SIGKILL)  # the process dies (out of memory on a host, say)
    assert run.join(30)
    p = run.view()["fomaml"]
    assert p.status == "error" and "the training process ended unexpectedly" in p.message, p.message
    assert p.iteration > 0 and p.losses  # what was shown so far stays on the page


def test_start_uses_the_seed_set_in_the_same_run(app):
    """Callbacks run before the page: the seed must come from the session, not the last run's variable."""
    app.number_input(key="seed").set_value(4242)
    run = start(app, iterations=30, algos=("pretrain",))
    assert run.configs["pretrain"].seed == 4242
    assert run.join(60)


def test_a_fresh_server_estimates_the_wait_from_the_run_training_now():
    from ui import run_queue

    q = run_queue.RunQueue(slots=1, is_alive=lambda s: True)
    cfg = lambda n: tv.sinusoid_configs(["maml", "pretrain"], iterations=n, meta_batch=25, inner_steps=1,  # noqa: E731
                                        inner_lr=0.01, meta_lr=0.001, seed=0)
    first = q.submit(tv.LiveRun("sinusoid", cfg(20_000), max_seconds=120))
    second = q.submit(tv.LiveRun("sinusoid", cfg(400), max_seconds=120))
    third = q.submit(tv.LiveRun("sinusoid", cfg(400), max_seconds=120))
    try:
        wait_for_training(first)
        time.sleep(1.0)
        pace = first.live_pace()
        assert set(pace) == {"maml", "pretrain"}
        # the first run's own pace says when it ends; the second's 400 lockstep iterations at that pace after it
        wait2, wait3 = q.place(second).wait_s, q.place(third).wait_s
        assert wait2 == pytest.approx(first.remaining_seconds({}), rel=0.2)
        # ... plus a run's start-up and end (not measured yet on this queue: the prior)
        assert wait3 - wait2 == pytest.approx(400 * sum(pace.values()) + run_queue.PRIOR_OVERHEAD_S, rel=0.5)
    finally:
        for r in (third, second, first):
            q.leave(r)
            r.join(60)


def test_before_anything_has_trained_the_wait_comes_from_the_prior_pace_not_the_time_limit():
    from ui import run_queue

    q = run_queue.RunQueue(slots=1, is_alive=lambda s: True)
    cfg = tv.sinusoid_configs(["maml", "fomaml", "pretrain"], iterations=1000, meta_batch=25, inner_steps=1,
                              inner_lr=0.01, meta_lr=0.001, seed=0)
    runs = [tv.LiveRun("sinusoid", cfg, max_seconds=180) for _ in range(3)]
    q._fill = lambda: None  # nothing starts: the moment a class presses Start together
    for r in runs:
        q.submit(r)
    per_run = 1000 * sum(run_queue.PRIOR_PACE[f"sinusoid/{a}"] for a in cfg) + run_queue.PRIOR_OVERHEAD_S
    assert [q.place(r).wait_s for r in runs] == pytest.approx([0, per_run, 2 * per_run])
    assert per_run < 30  # about 16 s, not the 3-minute limit


def test_the_log_axis_has_labels_when_the_loss_spans_less_than_a_decade():
    """Early in a run the meta-loss moves between, say, 2.9 and 4: the axis still gets labelled ticks inside it."""
    p = tv.Progress("maml", 2000)
    p.iteration, p.losses = 40, [3.0, 3.1, 4.0, 3.2, 2.9] * 8
    ticks = tv.loss_figure({"maml": p}, "sinusoid").layout.yaxis.tickvals
    assert any(2.9 <= t <= 4.0 for t in ticks)
    p.iteration, p.losses = 400, [3 * (0.1 / 3) ** (i / 399) for i in range(400)]  # 3 -> 0.1: 1-2-5 per decade
    assert list(tv.loss_figure({"maml": p}, "sinusoid").layout.yaxis.tickvals) == tv.LOG_TICKS


def test_a_log_axis_with_a_single_value_is_not_padded_by_decades():
    """At a run's start every method has one probe snapshot, all at the same MSE: Plotly would pad that one value
    by decades on a log axis, crowding every mantissa's label; the axis spans a factor of 2 either side instead."""
    from ui.train_worker import Snapshot

    view = {}
    for algo in ("maml", "fomaml"):
        view[algo] = p = tv.Progress(algo, 2000)
        p.iteration, p.losses, p.snapshots = 10, [3.0, 3.5] * 5, [Snapshot(0, [0.0], [0.0], 5.6, 5.5)]
    axis = tv.loss_figure(view, "sinusoid").layout.yaxis2
    lo, hi = axis.range
    assert lo == pytest.approx(math.log10(5.5 / 2)) and hi == pytest.approx(math.log10(11.0))
    assert 3 <= len([t for t in axis.tickvals if 10 ** lo <= t <= 10 ** hi]) <= 10  # labelled, not crowded
    view["maml"].snapshots.append(Snapshot(250, [0.0], [0.0], 5.6, 0.3))  # a decade and more apart: Plotly's own
    assert tv.loss_figure(view, "sinusoid").layout.yaxis2.range is None


# --- item: trained runs survive a reload (kept per browser id), a restart says so, downloads and uploads ---------

BROWSER = "ab" * 16  # what ui/browser.py's script reports: 128 random bits in hex


def fresh_session(sinusoid_assets, browser_id: str | None):
    """A new session of the page, as a reload makes (the browser's id arrives from its cookie)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    if browser_id:
        at.session_state["browser_id"] = browser_id
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_a_finished_run_survives_a_reload_and_is_offered_as_a_download(sinusoid_assets, tmp_path, monkeypatch):
    from maml_core.checkpoints import checkpoint_from_bytes
    from ui import common, run_store

    monkeypatch.setattr(common, "ASSETS", sinusoid_assets)
    monkeypatch.setattr(run_store, "STORE", run_store.RunStore())
    first = fresh_session(sinusoid_assets, BROWSER)
    run = start(first, iterations=100, algos=("maml", "fomaml"))
    assert run.join(120)
    first.run()
    assert any(s.value.startswith("Finished. Your weights are kept on this server for this browser")
               for s in first.success)
    downloads = first.get("download_button")
    assert [d.proto.label for d in downloads] == ["Download MAML", "Download FO-MAML"]
    # the file is a self-describing checkpoint that passes the upload checks
    entry = first.session_state["trained_runs"]["sinusoid"]["maml"]
    ckpt = checkpoint_from_bytes(entry["file"], entry["filename"], model=tv.page_model("sinusoid"))
    assert entry["filename"] == "sinusoid_maml_100it_seed0.pt"
    assert ckpt.info["iteration"] == 100 and ckpt.metrics.history and ckpt.held_out() is None

    again = fresh_session(sinusoid_assets, BROWSER)  # a reload: a new session, the same browser
    assert "mt_run" not in again.session_state
    texts = [s.value for s in again.success]
    assert texts and texts[0].startswith("Your trained weights are kept on this server for this browser")
    assert "your run: MAML, 100 iterations" in texts[0] and "your run: FO-MAML, 100 iterations" in texts[0]
    assert progress_texts(again)[0].startswith("No run training now: the run this browser trained earlier")
    again.button(key="mt_use").click().run()
    if again.title[0].value != "Sinusoid regression":
        again.switch_page("app_pages/sinusoid.py").run()
    assert again.session_state["sin_src_maml"] == "mine"
    assert "your run: MAML, 100 iterations" in " ".join(m.value for m in again.markdown)

    other = fresh_session(sinusoid_assets, "cd" * 16)  # another browser sees none of it
    assert not other.success and progress_texts(other)[0].startswith("No run yet")


def test_after_a_server_restart_the_page_says_the_run_is_gone(sinusoid_assets, monkeypatch):
    from ui import browser, common, run_store

    monkeypatch.setattr(common, "ASSETS", sinusoid_assets)
    monkeypatch.setattr(run_store, "STORE", run_store.RunStore())
    monkeypatch.setattr(browser, "runs_were_on", lambda: "0123456789ab")  # kept by a server process now gone
    at = fresh_session(sinusoid_assets, BROWSER)
    assert [w.value.split("**")[1] for w in at.warning] == [
        "Your earlier run is gone: this server restarted since it finished."]
    assert not at.success and not progress_texts(at)  # no stale "Finished", no "No run yet" beside it
    monkeypatch.setattr(browser, "runs_were_on", lambda: run_store.SERVER_ID)  # this server, but dropped
    at = fresh_session(sinusoid_assets, BROWSER)
    assert "no longer kept" in at.warning[0].value


def test_the_run_store_is_bounded_least_recently_used_first():
    from ui.run_store import RunStore

    store = RunStore(max_browsers=2, max_bytes=250)
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    assert store.keep(a, "sinusoid", "maml", {"file": b"x" * 100})
    assert store.keep(b, "sinusoid", "maml", {"file": b"x" * 100})
    assert store.restore(a)  # a was used: b is now the oldest
    assert store.keep(c, "sinusoid", "maml", {"file": b"x" * 100})
    assert store.has(a) and store.has(c) and not store.has(b)
    store.keep(c, "omniglot", "maml", {"file": b"x" * 100})  # 300 bytes > 250: the oldest (a) goes
    assert not store.has(a) and store.has(c)
    assert not store.keep("not an id", "sinusoid", "maml", {}) and store.restore(None) == {}
    store.keep(a, "sinusoid", "maml", {"file": b"x" * 50, "along": {0: b"x" * 60}})  # the weights along count too
    assert store.has(a) and not store.has(c)


def test_an_upload_becomes_a_run_and_a_wrong_one_is_refused_with_what_to_do(tmp_path):
    from maml_core import CheckpointError, meta_train
    from maml_core.checkpoints import checkpoint_bytes

    r = meta_train(default_config("sinusoid", "fomaml", iterations=3, meta_batch=2))
    algo, ckpt, label = tv.load_upload(checkpoint_bytes(r.config, r.params, info={"iteration": 3}), "run<b>.pt",
                                       "sinusoid")
    assert algo == "fomaml" and label.startswith("your upload run_b_.pt: FO-MAML, 3 iterations")
    with pytest.raises(CheckpointError, match="this page's model is the conv network"):
        tv.load_upload(checkpoint_bytes(r.config, r.params), "s.pt", "omniglot")
    reptile = meta_train(default_config("sinusoid", "reptile", iterations=2, meta_batch=2))
    algo, _, label = tv.load_upload(checkpoint_bytes(reptile.config, reptile.params), "r.pt", "sinusoid")
    assert algo == "reptile" and "k = 5, ε = 1 annealed" in label and "β" not in label


def test_reptile_trains_live_beside_maml_with_its_own_inner_loop_and_outer_step():
    """Reptile keeps Nichol et al.'s k = 5 SGD steps of 0.02 and its annealed SGD outer step whatever the page's
    inner steps, alpha and beta (those are MAML's), trains in lockstep exactly as alone, and its run says so."""
    configs = tv.sinusoid_configs(["maml", "reptile"], iterations=20, meta_batch=4, inner_steps=2,
                                  inner_lr=0.03, meta_lr=0.002, seed=1)
    own = default_config("sinusoid", "reptile")
    assert (configs["reptile"].inner_steps, configs["reptile"].inner_lr) == (own.inner_steps, own.inner_lr) == (5, 0.02)
    assert (configs["maml"].inner_steps, configs["maml"].inner_lr, configs["maml"].meta_lr) == (2, 0.03, 0.002)
    run = tv.LiveRun("sinusoid", configs, max_seconds=60, snapshot_every=10).start()
    assert run.join(60)
    alone = meta_train(configs["reptile"], init_params=tv.initial_params(configs["reptile"]))
    for k, v in alone.params.items():
        assert torch.equal(run.results["reptile"].params[k], v), k
    assert {a: p.iteration for a, p in run.view().items()} == {"maml": 20, "reptile": 20}
    label = run.checkpoints()["reptile"][1]
    assert "Reptile, 20 iterations" in label and "k = 5, ε = 1 annealed" in label and "β" not in label
    assert "β = 0.002" in run.checkpoints()["maml"][1]


def test_choosing_reptile_says_which_settings_it_trains_with(app):
    app.multiselect(key="mt_algos").set_value(["maml", "reptile"]).run()
    assert not app.exception
    caption = " ".join(c.value for c in app.caption)
    assert "**Reptile** trains with its own settings" in caption and "k = 5" in caption and "α = 0.02" in caption
    app.multiselect(key="mt_algos").set_value(["maml"]).run()
    assert "**Reptile**" not in " ".join(c.value for c in app.caption)


def test_each_progress_bar_names_the_loss_it_shows(app):
    """Reptile's figure (its points' MSE after its k steps) and the baseline's (its training MSE) are not MAML's
    meta-loss: the bars say which each is."""
    run = start(app, iterations=100, snapshot_every=100, algos=("maml", "reptile", "pretrain"))
    assert run.join(120)
    app.run()
    texts = {t.split("**")[1]: t for t in progress_texts(app)}
    assert "meta-loss" in texts["MAML"] and "MSE after its k steps" in texts["Reptile"]
    assert "training MSE" in texts["Pretrained (all tasks)"] and "meta-loss" not in texts["Reptile"]


def test_where_memory_is_short_a_run_trains_in_a_thread_of_the_server(monkeypatch):
    monkeypatch.delenv(train_worker.TRAIN_IN, raising=False)
    assert train_worker.trains_in_server(memory_mb=690) and not train_worker.trains_in_server(memory_mb=2700)
    monkeypatch.setenv(train_worker.TRAIN_IN, "process")
    assert not train_worker.trains_in_server(memory_mb=690)  # a deployer's choice wins
    monkeypatch.setenv(train_worker.TRAIN_IN, "server")
    assert train_worker.trains_in_server(memory_mb=10**6)

    cfg = tv.sinusoid_configs(["maml", "fomaml"], iterations=40, meta_batch=5, inner_steps=1, inner_lr=0.01,
                              meta_lr=0.001, seed=0)
    child_run = train_worker.ChildRun
    monkeypatch.setattr(train_worker, "ChildRun", None)  # no process may be started
    run = tv.LiveRun("sinusoid", cfg, max_seconds=60).start()
    assert run.join(60)
    assert run.pid is None
    for algo in cfg:
        p = run.view()[algo]
        assert p.status == "done" and p.iteration == 40 and len(p.losses) == 40, (algo, p.status, p.message)
        assert run.results[algo].iterations_done == 40

    # the same weights as a training process gives them (the engine has no global state to share)
    monkeypatch.setattr(train_worker, "ChildRun", child_run)
    monkeypatch.setenv(train_worker.TRAIN_IN, "process")
    child = tv.LiveRun("sinusoid", cfg, max_seconds=60).start()
    assert child.join(60) and child.pid is not None
    for algo in cfg:
        for k, v in run.results[algo].params.items():
            assert torch.equal(v, child.results[algo].params[k]), (algo, k)


def test_a_run_in_the_server_over_its_memory_limit_is_asked_to_stop(monkeypatch):
    monkeypatch.setenv(train_worker.TRAIN_IN, "server")
    cfg = tv.sinusoid_configs(["fomaml"], iterations=20_000, meta_batch=2, inner_steps=1, inner_lr=0.01,
                              meta_lr=0.001, seed=0)
    run = tv.LiveRun("sinusoid", cfg, max_seconds=60, memory_limit_mb=10)
    # over the limit once it has trained: a check before its first iteration would stop it with nothing to keep
    monkeypatch.setattr(train_worker.InServerRun, "memory_mb",
                        lambda self: 50.0 if run.view()["fomaml"].iteration > 0 else 0.0)
    assert run.start().join(60)
    p = run.view()["fomaml"]
    assert p.status == "stopped" and "the memory limit per run (10 MB: " in p.message, p.message
    assert 0 < p.iteration < 20_000 and "fomaml" in run.results


def test_every_module_the_fork_server_preloads_imports_and_warms_up():
    """The fork server skips a preload module that fails to import, without a word; then every training process
    would import (and warm up) torch and the engine itself, seconds per run."""
    import importlib
    import subprocess
    import sys

    preload = train_worker.FORK_SERVER_PRELOAD
    assert "ui.fork_warm" in preload and "torch._dynamo" in preload
    probe = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in preload
                                                if m != "__main__") + "print('ok')"
    out = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
    assert importlib.import_module("ui.fork_warm") is not None


def test_a_run_in_its_last_moments_is_waited_for_and_one_far_from_its_end_is_not():
    """The progress panel polls every second; `wait_if_ending` lets it show a run's end when it comes (not up to a
    poll later) and never holds it for a run that has longer to go."""
    long = tv.LiveRun("sinusoid", tv.sinusoid_configs(["fomaml"], iterations=10**6, meta_batch=2, inner_steps=1,
                                                      inner_lr=0.01, meta_lr=0.001, seed=0),
                      max_seconds=60, snapshot_every=10**6)
    assert not long.wait_if_ending(5.0)  # queued: nothing to wait for
    long.start()
    try:
        t0 = time.monotonic()
        assert not long.wait_if_ending(5.0) and time.monotonic() - t0 < 1.0  # not trained yet: at once
        deadline = time.monotonic() + 60
        while long.view()["fomaml"].iteration == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        assert not long.wait_if_ending(5.0) and time.monotonic() - t0 < 1.0  # its pace: a minute to go, at once
    finally:
        long.stop()
        assert long.join(60)
    # long enough for several progress messages (a run that ended before its first would never be seen near its end)
    short = tv.LiveRun("sinusoid", tv.sinusoid_configs(["fomaml"], iterations=2000, meta_batch=2, inner_steps=1,
                                                       inner_lr=0.01, meta_lr=0.001, seed=0),
                       max_seconds=60, snapshot_every=10**6).start()
    deadline = time.monotonic() + 60
    while True:
        was_running = short.running
        if short.wait_if_ending(5.0):
            break
        assert time.monotonic() < deadline, "the run never ended"
        time.sleep(0.02)
    assert was_running and not short.running  # the call that saw the end began while the run still trained
    assert short.results["fomaml"].iterations_done == 2000

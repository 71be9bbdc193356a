"""The Meta-training page, headless (Streamlit AppTest), and the live-run machinery (ui/training_view.py).

Runs really train (a few hundred sinusoid iterations, a few seconds); every test stops and joins what it
started, so no thread outlives it.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maml_core import default_config, meta_train, save_checkpoint  # noqa: E402
from maml_core.checkpoints import Metrics  # noqa: E402
from ui import training_view as tv  # noqa: E402

APP = str(ROOT / "app.py")
PAGE = "app_pages/meta_training.py"


@pytest.fixture(scope="session")
def sinusoid_assets(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("training_assets")
    for algo in ("maml", "fomaml", "pretrain"):
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


def test_stop_button_stops_a_run(app):
    run = start(app, iterations=20_000, algos=("fomaml",))
    time.sleep(1.0)
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


def test_no_algorithm_and_busy_server_give_messages(app):
    app.multiselect(key="mt_algos").set_value([])
    app.button(key="mt_start").click().run()
    assert any("Choose at least one algorithm" in w.value for w in app.warning)
    assert "mt_run" not in app.session_state or app.session_state["mt_run"] is None
    # every server slot taken by other users' runs
    taken = 0
    try:
        while tv.SERVER_SLOTS.acquire(blocking=False):
            taken += 1
        app.multiselect(key="mt_algos").set_value(["pretrain"])
        app.button(key="mt_start").click().run()
        assert any("already using this server" in w.value for w in app.warning)
        assert app.session_state["mt_run"] is None if "mt_run" in app.session_state else True
    finally:
        for _ in range(taken):
            tv.SERVER_SLOTS.release()


def test_exploding_meta_loss_is_clipped_for_plotting():
    view = {"maml": tv.Progress("maml", 10, iteration=10, status="running",
                                losses=[1.0, 10.0, float("inf"), float("nan")])}
    fig = tv.loss_figure(view, "sinusoid")
    assert all(y is None or math.isfinite(y) for tr in fig.data for y in tr.y)  # clipped for plotting


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

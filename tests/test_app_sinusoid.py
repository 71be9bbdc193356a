"""The Sinusoid page, headless (Streamlit AppTest), and the functions it calls (ui/sinusoid_view.py).

Clicks on the chart and table edits are injected the way the browser stores them (the plotly selection and the
data editor's edit state under their widget keys in session_state); the page's own values are read from its state
object (`SinusoidState`, ui/page_state.py); uploads go through the real file_uploader widget. Quick checkpoints
are trained here, so nothing depends on the shipped assets/.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from maml_core import adapt, default_config, load_checkpoint, meta_train, predict, save_checkpoint
from maml_core.checkpoints import Metrics
from ui import sinusoid_view as sv
from ui.page_state import SinusoidState

ROOT = Path(__file__).resolve().parent.parent

APP = str(ROOT / "app.py")
PAGE = "app_pages/sinusoid.py"


def quick_sinusoid_checkpoints(folder: Path, iterations: int = 200) -> Path:
    """maml / fomaml / reptile / pretrain sinusoid checkpoints after a few hundred iterations, as the app names them."""
    folder.mkdir(parents=True, exist_ok=True)
    for algo in ("maml", "fomaml", "reptile", "pretrain"):
        r = meta_train(default_config("sinusoid", algo, iterations=iterations, seed=0))
        save_checkpoint(folder / f"sinusoid_{algo}.pt", r.config, r.params,
                        metrics=Metrics(inner_lr=0.01, eval_steps=10))
    return folder


@pytest.fixture(scope="session")
def sinusoid_assets(tmp_path_factory) -> Path:
    return quick_sinusoid_checkpoints(tmp_path_factory.mktemp("sinusoid_assets"))


def open_sinusoid(assets: Path, monkeypatch):
    """The whole app (app.py routes), on the Sinusoid page, reading the checkpoints in `assets`."""
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setenv("MAML_ASSETS_DIR", str(assets))
    monkeypatch.setattr(common, "ASSETS", assets)
    common.load_shipped.clear()
    sv.adapt_sinusoid_shared.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture()
def app(sinusoid_assets, monkeypatch):
    """The whole app on the Sinusoid page, reading the quick checkpoints."""
    return open_sinusoid(sinusoid_assets, monkeypatch)


def state(at) -> SinusoidState:
    """The page's state object in the AppTest's session."""
    return SinusoidState.of(at.session_state)


def points(at) -> list[sv.Point]:
    return list(state(at).points)


def numbers(at):
    """The table of numbers under the charts, one row per method: a read-only dataframe (the other dataframe is
    the points editor), or a static table in projector mode."""
    if len(at.table):
        assert len(at.table) == 1
        return at.table[0].value.reset_index()
    tables = [d for d in at.dataframe if d.editing_mode == "read_only"]
    assert len(tables) == 1
    return tables[0].value


def charts(at) -> list[dict]:
    """The figures of the page's charts, in page order (ui/live_chart.py: the JSON each sends to the browser)."""
    return [json.loads(json.loads(e.proto.json)["figure"]) for e in at.get("bidi_component")
            if e.proto.component_name == "maml.live_chart"]


def texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def upload(at, content: bytes, name: str = "points.csv"):
    at.file_uploader(key=state(at).upload_key).upload(name, content, "text/csv").run()
    assert not at.exception, at.exception
    return at


# --- the functions -----------------------------------------------------------------------------------------------

def test_parse_csv_accepts_header_and_headerless():
    pts, warns = sv.parse_csv(b"x,y\n1.5,0.7\n-2,3\n")
    assert pts == [sv.Point(1.5, 0.7), sv.Point(-2.0, 3.0)] and warns == []
    pts, _ = sv.parse_csv(b"1.5,0.7\n-2,3\n")
    assert len(pts) == 2 and pts[0] == sv.Point(1.5, 0.7)
    pts, _ = sv.parse_csv(b" X , Y ,note\n0,1,a\n")  # case, spaces and extra columns are fine
    assert pts == [sv.Point(0.0, 1.0)]


@pytest.mark.parametrize("content, expected", [
    (b"a,b,c\n1,2,3\n", "needs two columns named x and y"),
    (b"", "is empty"),
    (b"x,y\n", "no points"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
    (b"x,y\nabc,def\nnan,1\n", "No usable point"),
    (b"x,y\n" + b"".join(f"{i % 10 - 5},{i % 3}\n".encode() for i in range(5000)), "5,000 rows"),
])
def test_parse_csv_rejects_with_a_specific_message(content, expected):
    with pytest.raises(sv.PointsError, match=expected):
        sv.parse_csv(content, "bad.csv")


def test_parse_csv_skips_bad_rows_and_says_which():
    pts, warns = sv.parse_csv(b"x,y\n1,1\nhello,2\nnan,1\n1,inf\n7.6,0\n2,40\n3,-1\n")
    assert pts == [sv.Point(1.0, 1.0), sv.Point(3.0, -1.0)]
    assert len(warns) == 1
    w = warns[0]
    assert "Skipped 5 row(s)" in w and "line 3: x = 'hello' is not a number" in w
    assert "not a finite number" in w and "and 2 more" in w


def test_editor_delta_edits_adds_deletes_and_rejects():
    pts = [sv.Point(0.0), sv.Point(1.0, 2.0), sv.Point(-1.0, -2.0)]
    delta = {"edited_rows": {0: {"y": 1.5}, "1": {"x": 9.0}}, "added_rows": [{"x": 2.0, "on curve": True}],
             "deleted_rows": [2]}
    out, msgs, pending = sv.apply_editor_delta(pts, delta, 2.0, 0.0)
    assert not pending
    # row 0: editing y detaches it from the curve; row 1: x = 9 is rejected; row 2 deleted; a curve point added
    assert out == [sv.Point(0.0, 1.5), sv.Point(1.0, 2.0), sv.Point(2.0, None)]
    assert len(msgs) == 1 and "row 2: x = 9 is outside [-7.5, 7.5]" in msgs[0]
    # an added row without y is pending (the editor keeps it until it is complete)
    out, msgs, pending = sv.apply_editor_delta(pts, {"added_rows": [{"x": 1.0}]}, 2.0, 0.0)
    assert pending and out == pts


def test_the_editor_leaves_y_of_curve_points_empty_so_a_task_change_keeps_its_table():
    pts = [sv.Point(0.5), sv.Point(1.0, 2.0)]
    frame = sv.editor_frame(pts)
    assert frame["x"].tolist() == [0.5, 1.0] and frame["on curve"].tolist() == [True, False]
    assert np.isnan(frame["y"][0]) and frame["y"][1] == 2.0
    # The download has every y: the curve's at this task for points on it, and parse_csv reads it back.
    back, _ = sv.parse_csv(sv.points_csv(pts, 2.0, 0.5))
    assert back == [sv.Point(0.5, round(2.0 * math.sin(0.5 - 0.5), 3)), sv.Point(1.0, 2.0)]
    back, _ = sv.parse_csv(sv.points_csv(pts, 3.0, 0.0))
    assert back[0] == sv.Point(0.5, round(3.0 * math.sin(0.5), 3))


def test_a_chart_click_adds_a_point_or_removes_the_one_clicked():
    from ui.chart_click import parse

    assert sv.click_action(parse({"x": 1.2549, "y": -0.5, "near": None, "t": 1})) == ("add", 1.25, -0.5)
    assert sv.click_action(parse({"x": 1.1, "y": 2.1, "near": [1.0, 2.0], "t": 2})) == ("remove", 1.0, 2.0)
    assert sv.click_action(None) is None
    for bad in (None, {}, {"x": "a", "y": 1}, {"x": float("nan"), "y": 1.0}, {"x": 1.0, "y": 2.0, "near": [1.0]},
                [1, 2]):
        assert parse(bad) is None, bad


def test_adapt_methods_equals_a_plain_loop_per_method(sinusoid_assets):
    """The vmapped path (all methods at once) gives exactly what `maml_core.adapt` gives method by method."""
    cks = {a: load_checkpoint(sinusoid_assets / f"sinusoid_{a}.pt") for a in ("maml", "pretrain")}
    methods = [sv.MethodModel("maml", cks["maml"].model, cks["maml"].params, 0.01, ""),
               sv.MethodModel("pretrain", cks["pretrain"].model, cks["pretrain"].params, 0.05, "")]
    x = np.array([-3.0, -1.0, 0.5, 2.0, 4.0])
    y = 2.0 * np.sin(x - 0.3)
    res = sv.adapt_methods(methods, x, y, 2.0, 0.3, steps=5)
    sx, sy = torch.tensor(x, dtype=torch.float32)[:, None], torch.tensor(y, dtype=torch.float32)[:, None]
    for m in methods:
        states = adapt(m.model, m.params, sx, sy, steps=5, inner_lr=m.inner_lr)
        want = predict(m.model, states[-1], sv.PLOT_X)[:, 0].detach().numpy()
        np.testing.assert_allclose(res[m.key].preds[-1], want, rtol=1e-4, atol=1e-5)
        assert res[m.key].preds.shape == (6, len(sv.PLOT_X))
        assert res[m.key].support_loss[-1] < res[m.key].support_loss[0]  # the inner loop descends
        assert res[m.key].diverged_at is None
    assert res["pretrain"].inner_lr == 0.05


def test_adapt_methods_reports_divergence_without_raising(sinusoid_assets):
    ck = load_checkpoint(sinusoid_assets / "sinusoid_maml.pt")
    x = np.linspace(-4, 4, 10)
    res = sv.adapt_methods([sv.MethodModel("maml", ck.model, ck.params, 50.0, "")], x, 4 * np.sin(x), 4.0, 0.0, 20)
    r = res["maml"]
    from maml_core import DIVERGED_LOSS

    sx, sy = torch.tensor(x, dtype=torch.float32)[:, None], torch.tensor(4 * np.sin(x), dtype=torch.float32)[:, None]
    with torch.no_grad():  # the support loss after every step, computed here with the engine
        losses = [float(((predict(ck.model, s, sx) - sy) ** 2).mean())
                  for s in adapt(ck.model, ck.params, sx, sy, steps=20, inner_lr=50.0)]
    first = next(i for i, v in enumerate(losses) if not math.isfinite(v) or v > DIVERGED_LOSS)
    assert r.diverged_at == first > 0 and all(v <= DIVERGED_LOSS for v in losses[:first])
    msgs = sv.divergence_warnings(res)
    assert len(msgs) == 1 and f"**MAML** (α = 50) at inner step {first}: support loss {losses[0]:.3g} → " in msgs[0]
    assert "Lower the inner learning rate" in msgs[0]
    fig = sv.loss_figure(res, 20).checked()  # clipped for plotting: every plotted value is a finite number
    assert all(np.isfinite(v) for tr in fig.data for v in tr.y)


# --- the page ----------------------------------------------------------------------------------------------------

def test_page_renders_every_method(app):
    assert app.title[0].value == "Sinusoid regression"
    table = numbers(app)
    assert list(table["method"]) == ["MAML", "FO-MAML", "Reptile", "Pretrained (all tasks)", "Random init"]
    assert len(points(app)) == 5  # K = 5 sampled on first visit
    assert not app.warning and not app.error
    assert any("Query MSE" in m.value for m in app.markdown)  # the sentence under the charts


def test_charts_are_live_charts_in_streamlits_theme_with_plotly_from_streamlit(app):
    from ui import live_chart

    main, loss = charts(app)
    assert {"true curve", "MAML", "FO-MAML"} <= {t.get("name") for t in main["data"]}
    assert loss["layout"]["yaxis"]["type"] == "log"
    assert main["layout"]["template"] == loss["layout"]["template"] == live_chart.STREAMLIT_THEME
    # the browser gets plotly.js from the chunk Streamlit's own charts load: it must exist and set window.Plotly
    sent = {json.loads(e.proto.json)["chunk"] for e in app.get("bidi_component")
            if e.proto.component_name == "maml.live_chart"}
    assert sent == {live_chart.plotly_chunk()}
    chunk = Path(live_chart.st.__file__).parent / "static" / "static" / "js" / live_chart.plotly_chunk()
    assert "window.Plotly=" in chunk.read_text(encoding="utf-8")


def test_changing_steps_and_learning_rate_recomputes_the_numbers(app):
    app.sidebar.slider(key="inner_steps").set_value(3).run()
    assert any(m.value == "**The numbers** (step 0 → step 3)" for m in app.markdown)
    assert numbers(app)["query MSE"].str.contains(" → ").all()
    app.sidebar.toggle(key="own_lr").set_value(False).run()
    app.sidebar.number_input(key="inner_lr").set_value(0.02).run()
    assert set(numbers(app)["α"]) == {"0.02"}
    from ui import common

    labels = {sv.method_label(k): k for k in ("maml", "fomaml", "reptile", "pretrain")}
    cks = {k: load_checkpoint(common.ASSETS / f"sinusoid_{k}.pt") for k in labels.values()}

    def query_mse(key: str, steps: int) -> float:
        """The query MSE after `steps` steps of α = 0.02 on the page's points (y None: on the true curve),
        computed here with the engine."""
        amp, phase = app.session_state["sin_amp"], app.session_state["sin_phase"]
        pts = points(app)
        sx = torch.tensor([[p.x] for p in pts], dtype=torch.float32)
        sy = torch.tensor([[amp * math.sin(p.x - phase) if p.y is None else p.y] for p in pts], dtype=torch.float32)
        ck = cks[key]
        theta = adapt(ck.model, ck.params, sx, sy, steps=steps, inner_lr=0.02)[-1]
        truth = amp * torch.sin(sv.PLOT_X - phase)
        err = (predict(ck.model, theta, sv.PLOT_X) - truth)[sv.QUERY_SLICE]
        return float((err ** 2).mean())

    for steps in (20, 7, 12):  # new settings: adaptation is recomputed each time
        app.sidebar.slider(key="inner_steps").set_value(steps).run()
        assert not app.exception and any(m.value == f"**The numbers** (step 0 → step {steps})" for m in app.markdown)
        rows = [(label, shown) for label, shown in zip(numbers(app)["method"], numbers(app)["query MSE"])
                if label in labels]  # the trained methods (not the random start)
        assert len(rows) >= 2
        for label, shown in rows:  # "before → after", 3 significant digits
            before, after = (float(v) for v in shown.split(" → "))
            assert before == pytest.approx(query_mse(labels[label], 0), rel=6e-3), (label, shown)
            assert after == pytest.approx(query_mse(labels[label], steps), rel=6e-3), (label, steps, shown)
    # (how fast a rerun is: benchmarks/bench_app.py; a timing bound here would fail on a loaded machine)


def _maml_curve(app) -> list:
    return next(t["y"] for t in charts(app)[0]["data"] if t.get("name") == "MAML")


def test_one_step_control_drives_slider_chart_and_table(app):
    app.sidebar.slider(key="inner_steps").set_value(2).run()
    assert state(app).shown.step == 2 and app.slider(key="sin_step_slider").value == 2  # a new S: its end
    at_end = _maml_curve(app)
    app.button(key="sin_first").click().run()
    assert state(app).shown.step == 0 and app.slider(key="sin_step_slider").value == 0
    assert any("step 0 → step 0" in m.value for m in app.markdown)
    at_start = _maml_curve(app)
    assert at_start != at_end
    app.button(key="sin_next").click().run()
    app.button(key="sin_next").click().run()
    assert state(app).shown.step == 2 and app.slider(key="sin_step_slider").value == 2
    assert _maml_curve(app) == at_end and any("step 0 → step 2" in m.value for m in app.markdown)
    app.button(key="sin_next").click().run()  # on the last step, "next" adds one more inner step
    assert app.session_state["inner_steps"] == 3 and state(app).shown.step == 3
    app.button(key="sin_prev").click().run()
    assert state(app).shown.step == 2
    app.slider(key="sin_step_slider").set_value(0).run()  # the slider moves the same step
    assert state(app).shown.step == 0 and _maml_curve(app) == at_start
    assert app.button(key="sin_first").disabled and app.button(key="sin_prev").disabled
    app.button(key="sin_play").click().run()  # (AppTest follows the page's own reruns: it plays to the end)
    assert state(app).shown.step == 3 and not state(app).shown.playing
    assert app.button(key="sin_play").label == "Play" and _maml_curve(app) != at_start
    app.sidebar.slider(key="inner_steps").set_value(20).run()
    app.button(key="sin_next").click().run()  # S is at its maximum: "next" stops there
    assert app.session_state["inner_steps"] == 20 and state(app).shown.step == 20 and not app.exception


def test_play_shows_each_step_for_its_time_and_stops_at_the_end(monkeypatch):
    """Each step stays up for PLAY_SECONDS counted from when it was drawn (the drawing's own time deducted), on a
    clock of the test's: every call to it takes DRAW seconds, a sleep moves it on by what was asked."""
    from streamlit.testing.v1 import AppTest

    from ui import step_control

    DRAW = 0.25
    clock, waits = [100.0], []

    def monotonic() -> float:
        clock[0] += DRAW
        return clock[0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(step_control, "time", SimpleNamespace(monotonic=monotonic, sleep=sleep))

    def page():
        import streamlit as st

        from ui import step_control as sc
        from ui.page_state import SinusoidState
        shown = SinusoidState.of(st.session_state).shown
        view = sc.step_control("sin", shown, 3)
        st.session_state.setdefault("shown", []).append(view.step)
        sc.keep_playing(shown, view)

    at = AppTest.from_function(page, default_timeout=30)
    at.run()
    at.button(key="sin_first").click().run()
    at.session_state["shown"] = []
    at.button(key="sin_play").click().run()
    assert at.session_state["shown"] == [0, 1, 2, 3]  # every step drawn once, in order
    assert state(at).shown.step == 3 and not state(at).shown.playing and not at.exception
    # steps 0, 1 and 2 each waited out the rest of their time; the last step, where playing stops, waits for nothing
    assert waits == pytest.approx([step_control.PLAY_SECONDS - DRAW] * 3)


def test_sample_clear_new_task(app):
    app.number_input(key="sin_k").set_value(12).run()
    app.button(key="sin_sample").click().run()
    assert len(points(app)) == 12
    amp = app.session_state["sin_amp"]
    app.button(key="sin_new_task").click().run()
    assert len(points(app)) == 12 and app.session_state["sin_amp"] != amp
    app.button(key="sin_clear").click().run()
    assert points(app) == [] and not app.exception
    assert app.button(key="sin_next").disabled and app.button(key="sin_play").disabled
    assert any("No support points yet" in m.value for m in app.markdown)  # the empty state says what to do
    assert any("loss chart appears" in i.value for i in app.info)
    assert not app.warning  # no points is an empty state, not a divergence


def test_no_method_selected_is_an_empty_state_not_an_error(app):
    app.sidebar.multiselect(key="methods_maml_fomaml_reptile_pretrain_random").set_value([]).run()
    assert not app.exception
    assert any("Choose at least one method" in i.value for i in app.info)
    app.sidebar.multiselect(key="methods_maml_fomaml_reptile_pretrain_random").set_value(["fomaml"]).run()
    assert list(numbers(app)["method"]) == ["FO-MAML"]


def test_click_on_the_chart_adds_and_removes_points(app):
    before = points(app)
    app.session_state["sin_click"] = {"click": {"x": 1.2512, "y": -2.5, "near": None, "t": 1}}
    app.run()
    assert points(app) == [*before, sv.Point(1.25, -2.5)]
    assert ":material/check: Added a point at (1.25, -2.50)." in texts(app, "caption") and not app.toast
    app.run()  # the same click again (the same time stamp): applied once
    assert points(app) == [*before, sv.Point(1.25, -2.5)]
    app.session_state["sin_click"] = {"click": {"x": 1.3, "y": -2.4, "near": [1.25, -2.5], "t": 2}}
    app.run()
    assert points(app) == before
    app.session_state["sin_click"] = {"click": {"x": 0.0, "y": 50.0, "near": None, "t": 3}}  # off the range
    app.run()
    assert points(app) == before and any("off the chart's range" in w for w in texts(app, "warning"))


def test_table_edits_apply_and_bad_edits_are_refused(app):
    app.session_state[state(app).editor_key] = {"edited_rows": {0: {"y": 1.5}, 1: {"x": 12.0}},
                                                "added_rows": [{"x": -4.0, "y": 0.25}], "deleted_rows": []}
    app.run()
    pts = points(app)
    assert pts[0].y == 1.5 and pts[-1] == sv.Point(-4.0, 0.25) and len(pts) == 6
    assert any("x = 12 is outside [-7.5, 7.5]" in w for w in texts(app, "warning"))
    assert not app.exception


def test_upload_csv_replaces_points(app):
    upload(app, b"x,y\n-1,0.5\n0,1\n1,0.5\n")
    assert points(app) == [sv.Point(-1.0, 0.5), sv.Point(0.0, 1.0), sv.Point(1.0, 0.5)]
    assert any("Loaded 3 point(s)" in t for t in texts(app, "caption")) and not app.toast


@pytest.mark.parametrize("content, expected", [
    (b"time,value\n1,2\n", "needs two columns named x and y"),
    (b"This is not a CSV at all, just a sentence.\nReally.\n", "needs two columns named x and y"),
    (b"x,y\nfoo,bar\n", "line 2: x = 'foo' is not a number"),
    (b"x,y\nnan,1\ninf,2\n", "not a finite number"),
    (b"x,y\n8,1\n-9,2\n", "outside [-7.5, 7.5]"),
    (b"x,y\n" + b"0,0\n" * 3000, "3,000 rows"),
])
def test_bad_uploads_give_a_specific_error_and_keep_the_points(app, content, expected):
    before = points(app)
    upload(app, content, "bad.csv")
    errors = texts(app, "error")
    assert any(expected in e for e in errors), errors
    assert points(app) == before  # the user's data is intact
    assert len(numbers(app)) == 5 and len(charts(app)) == 2  # the rest of the page still works


def test_upload_with_some_bad_rows_loads_the_rest_with_a_warning(app):
    upload(app, b"x,y\n1,1\n2,nan\n9,0\n3,-1\n")
    assert points(app) == [sv.Point(1.0, 1.0), sv.Point(3.0, -1.0)]
    w = texts(app, "warning")
    assert any("Skipped 2 row(s)" in m and "line 3" in m and "line 4" in m for m in w), w


def test_exploding_learning_rate_warns_and_still_plots(app):
    app.sidebar.toggle(key="own_lr").set_value(False).run()
    app.sidebar.number_input(key="inner_lr").set_value(60.0).run()
    assert not app.exception
    warns = texts(app, "warning")
    assert any("The loss diverged for" in w and "**MAML** (α = 60)" in w for w in warns), warns
    table = numbers(app)
    assert "diverged" in set(table["change"]) and table["query MSE"].str.endswith("diverged").any()
    from maml_core import DIVERGED_LOSS, diverged_at
    from ui import common

    amp, phase, steps = app.session_state["sin_amp"], app.session_state["sin_phase"], app.session_state["inner_steps"]
    pts = points(app)
    sx = torch.tensor([[p.x] for p in pts], dtype=torch.float32)
    sy = torch.tensor([[amp * math.sin(p.x - phase) if p.y is None else p.y] for p in pts], dtype=torch.float32)
    checked = 0
    for label, change in zip(table["method"], table["change"]):  # each trained method, recomputed with the engine
        key = next((k for k in ("maml", "fomaml", "reptile", "pretrain") if sv.method_label(k) == label), None)
        if key is None:
            continue
        ck = load_checkpoint(common.ASSETS / f"sinusoid_{key}.pt")
        with torch.no_grad():
            support = torch.stack([((predict(ck.model, s, sx) - sy) ** 2).mean()
                                   for s in adapt(ck.model, ck.params, sx, sy, steps=steps, inner_lr=60.0)])
        at = diverged_at(support)
        assert (change == "diverged") == (at is not None), (label, change, support)  # the table says what happened
        named = f"**{label}** (α = 60) at inner step {at}:" in " ".join(warns)
        assert named == (at is not None), (label, at, warns)  # the warning names it, at the step it blew up
        assert at is None or all(v <= DIVERGED_LOSS for v in support[:at])
        checked += 1
    assert checked >= 2
    # back to a sane rate: the warning goes away, the points are untouched
    app.sidebar.number_input(key="inner_lr").set_value(0.01).run()
    assert not any("diverged" in w for w in texts(app, "warning"))


def test_points_and_settings_survive_a_page_switch(app):
    app.button(key="sin_clear").click().run()
    app.session_state["sin_click"] = {"click": {"x": 0.5, "y": 1.0, "near": None, "t": 1}}
    app.run()
    app.sidebar.slider(key="inner_steps").set_value(4).run()
    app.slider(key="sin_amp").set_value(1.5).run()
    app.switch_page("app_pages/home.py").run()
    # (AppTest's first run after switch_page returns widget defaults for persisted keys; a browser does not)
    app.switch_page(PAGE).run().run()
    assert points(app) == [sv.Point(0.5, 1.0)]
    assert app.sidebar.slider(key="inner_steps").value == 4
    assert app.slider(key="sin_amp").value == 1.5
    assert any(m.value == "**The numbers** (step 0 → step 4)" for m in app.markdown)  # computed with kept settings


def test_a_missing_checkpoint_hides_that_method_only(app, tmp_path, sinusoid_assets, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import common

    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "sinusoid_maml.pt").write_bytes((sinusoid_assets / "sinusoid_maml.pt").read_bytes())
    (partial / "sinusoid_fomaml.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(common, "ASSETS", partial)
    common.load_shipped.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    warn = " ".join(texts(at, "warning"))
    assert "FO-MAML" in warn and "Pretrained (all tasks)" in warn and "no checkpoint at" in warn
    assert list(numbers(at)["method"]) == ["MAML", "Random init"]


def _result(key, mse, *, amp=1.0, diverged_at=None, outside=0.0):
    """A constructed MethodResult: query MSE per step, and a step-0 prediction on the chart's grid that is a wave of
    half-range `amp` on x in [-5, 5] and `outside` beyond it."""
    x = sv.PLOT_X[:, 0].numpy()
    wave = np.where(np.abs(x) <= 5, amp * np.sin(x), outside)
    preds = np.tile(wave, (len(mse), 1))
    return sv.MethodResult(key, sv.METHOD_LABELS.get(key, key), 0.01, preds, np.array(mse, float), np.array(mse, float),
                           diverged_at)


def test_explanation_names_random_init_when_it_ends_closest():
    res = {"maml": _result("maml", [3.0, 2.9, 2.8]), "random": _result("random", [4.0, 1.0, 0.5], amp=0.05),
           "pretrain": _result("pretrain", [2.0, 1.95, 1.9], amp=1.6)}
    text = sv.explanation(res, 5, 2)
    assert "After step 2, **Random init** is closest to the truth, and it also improves the most (88% lower error)" \
        in text
    assert "MAML and Pretrained (all tasks) have barely moved by step 2" in text
    assert "Pretrained (all tasks): a wave of about ±1.6" in text  # step 0 is not called flat
    assert "Random init: close to a flat line" in text
    assert "a few steps go a long way" not in text  # no fixed claim


def test_explanation_when_pretrained_wins_and_when_everything_diverged():
    res = {"maml": _result("maml", [3.0, 1.0, 0.9]), "pretrain": _result("pretrain", [1.0, 0.5, 0.4])}
    text = sv.explanation(res, 5, 2)
    assert "**Pretrained (all tasks)** is closest" in text and "**MAML** improves the most (70% lower error)" in text
    bad = {"maml": _result("maml", [3.0, 1e9, float("inf")], diverged_at=1),
           "pretrain": _result("pretrain", [1.0, float("nan"), float("nan")], diverged_at=1)}
    text = sv.explanation(bad, 5, 2)
    assert "MAML diverged at step 1" in text and "Every method has diverged by step 2" in text
    assert "closest" not in text
    assert "after 1 steps" not in sv.explanation(res, 1, 1) and "1 gradient step on the 1 orange support point," \
        in sv.explanation(res, 1, 1)


def test_explanation_describes_the_step_on_screen_with_that_steps_numbers():
    """Item 5: at step 1 of 3 the text says step 1 and quotes step 1's numbers (it said "10 gradient steps" and
    quoted the last step's while the slider showed 2)."""
    res = {"maml": _result("maml", [3.0, 1.5, 0.6, 0.3]), "fomaml": _result("fomaml", [2.0, 1.9, 1.0, 0.2])}
    text = sv.explanation(res, 5, 3, step=1)
    assert text.startswith("Step 1 of 3 is shown: each coloured curve is a method's prediction after 1 gradient step")
    assert "from step 0 to step 1: MAML 3.00 → 1.50; FO-MAML 2.00 → 1.90." in text
    assert "After step 1, **MAML** is closest to the truth, and it also improves the most (50% lower error)" in text
    assert "FO-MAML has barely moved by step 1 (less than 10%)." in text
    assert "0.30" not in text and "0.20" not in text and "3 gradient steps" not in text  # nothing of step 3
    assert "**FO-MAML** is closest" in sv.explanation(res, 5, 3, step=3)
    # a method that diverges later has not diverged yet at the step shown
    late = {"maml": _result("maml", [3.0, 1.5, 1e9, float("inf")], diverged_at=2)}
    assert "diverged" not in sv.explanation(late, 5, 3, step=1)
    assert "MAML diverged at step 2" in sv.explanation(late, 5, 3, step=2)


def test_explanation_at_step_0_describes_the_start_on_the_trained_range():
    """Item 5: the step-0 shapes are read on x in [-5, 5], the range plotted unshaded and the query MSE's (a curve
    that is ±1 there but runs off to 3 beyond ±5 was called "a wave of about ±3.1 around y ≈ −1.3")."""
    res = {"maml": _result("maml", [3.0, 1.5, 0.6], amp=1.8, outside=-4.4),
           "random": _result("random", [4.0, 3.0, 2.0], amp=0.1, outside=3.0)}
    text = sv.explanation(res, 5, 2, step=0)
    assert text.startswith("Step 0 is shown: each coloured curve is a method's prediction from its initial weights, "
                           "before any gradient step on the 5 orange support points.")
    assert "On x in [-5, 5] the curves are: MAML: a wave of about ±1.8; Random init: close to a flat line." in text
    assert "Query MSE (error against the true curve over x in [-5, 5]) at step 0: MAML 3.00; Random init 4.00." in text
    assert "Press **Next** or **Play** to watch the 2 inner steps." in text
    assert "→" not in text and "closest" not in text
    assert "raise *Number of inner steps S*" in sv.explanation(res, 5, 0, step=0)


def test_explanation_lists_several_methods_in_a_sentence():
    """Item 5: "Pretrained (all tasks), Random init end further from the truth than it started" was ungrammatical."""
    res = {"maml": _result("maml", [3.0, 0.3]), "pretrain": _result("pretrain", [1.0, 2.0]),
           "random": _result("random", [1.0, 3.0]), "fomaml": _result("fomaml", [2.0, 2.5])}
    text = sv.explanation(res, 5, 1)
    assert "Pretrained (all tasks), Random init and FO-MAML are further from the truth than at step 0." in text
    one = sv.explanation({"maml": _result("maml", [3.0, 0.3]), "random": _result("random", [1.0, 3.0])}, 5, 1)
    assert "Random init is further from the truth than at step 0." in one
    assert sv._listed(["A"]) == "A" and sv._listed(["A", "B"]) == "A and B"


def test_the_page_explains_the_step_the_control_shows(app):
    app.sidebar.slider(key="inner_steps").set_value(3).run()
    app.button(key="sin_first").click().run()
    text = next(m.value for m in app.markdown if "is shown:" in m.value)
    assert text.startswith("Step 0 is shown") and "Press **Next**" in text
    app.button(key="sin_next").click().run()
    text = next(m.value for m in app.markdown if "is shown:" in m.value)
    assert text.startswith("Step 1 of 3 is shown")
    table = numbers(app)  # the table's numbers at step 1 are the ones the text quotes
    for method, cell in zip(table["method"], table["query MSE"]):
        first, now = (float(v) for v in cell.split(" → "))
        assert f"{method} {first:.2f} → {now:.2f}" in text, (method, cell, text)


def test_phases_are_compared_modulo_2_pi():
    """Item 9: sin(x - 6.28) is the curve of φ = 0, a training task; φ in (π, 2π) is not (it is -sin(x - φ + π))."""
    for phase in (0.0, 1.0, math.pi, 6.28, 2 * math.pi, 2 * math.pi + 1.0):
        assert sv.outside_training(3.0, phase) is None, phase
    for phase in (3.2, 4.0, 6.2):
        assert "φ = " in sv.outside_training(3.0, phase), phase
    assert "A = 10" in sv.outside_training(10.0, 6.28) and "φ" not in sv.outside_training(10.0, 6.28)


def test_divergence_advice_fits_the_case():
    """Item 9: at the validated α on a task outside the training range (A = 10) the warning says that is why,
    instead of "lower the inner learning rate (validated at about 0.01)", which is the α in use."""
    res = {"fomaml": _result("fomaml", [40.0, 1e9, float("inf")], diverged_at=1),
           "maml": _result("maml", [40.0, 20.0, 10.0])}
    outside = sv.outside_reasons(10.0, 0.5)
    (msg,) = sv.divergence_warnings(res, own_lr=True, outside=outside, amplitude=10.0)
    assert "**FO-MAML** (α = 0.01) at inner step 1" in msg and "MAML**" not in msg.replace("FO-MAML**", "")
    assert "This α is each model's validated learning rate (chosen on the training tasks)" in msg
    assert "this task is outside the training range (A = 10 (trained on 0.1 to 5)): that is why" in msg
    assert "Try a task inside the range, or a smaller α: turn off *Use each model's validated learning rate* in the " \
           "sidebar and try α = 0.001." in msg
    assert "Lower the inner learning rate" not in msg
    (inside,) = sv.divergence_warnings(res, own_lr=True, outside=[], amplitude=3.0)
    assert "on a few support sets even it overshoots" in inside and "outside" not in inside
    (chosen,) = sv.divergence_warnings(res, own_lr=False, outside=[], amplitude=3.0)
    assert "Lower the inner learning rate α in the sidebar" in chosen and "outside" not in chosen


def test_a_png_after_a_bad_csv_shows_only_the_pngs_message(app):
    """Item 10: the uploader refused a PNG by itself (its own small error) while the previous CSV's error stayed
    beside it; now every file comes to the page, and only the current file's message shows."""
    upload(app, b"time,value\n1,2\n", "bad.csv")
    assert any("bad.csv needs two columns" in e for e in texts(app, "error"))
    before = points(app)
    at = app.file_uploader(key=state(app).upload_key).upload("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\xff", "image/png")
    at.run()
    errors = texts(app, "error")
    assert errors == ["photo.png is not a text file: upload a CSV (comma-separated x,y per line)."], errors
    assert points(app) == before and not app.exception


def test_the_labels_tell_the_number_of_steps_from_the_step_shown(app):
    """Item 10: "Inner steps (S)" beside "Inner step", and "Step 0 Home" that read like a link to Home."""
    assert app.sidebar.slider(key="inner_steps").label == "Number of inner steps S"
    assert app.slider(key="sin_step_slider").label == "Shown step"
    first = app.button(key="sin_first")
    assert first.label == "To step 0" and first.proto.shortcut.lower() == "home"  # the key stays, shown as its hint
    assert [app.button(key=f"sin_{k}").proto.shortcut.lower() for k in ("prev", "play", "next")] == [
        "left", "space", "right"]


def test_large_fonts_use_the_presenter_arrangement(app):
    """Item 6: with ?big=1 the chart sat below the fold at 1920 x 1080 unless the separate presenter switch was on;
    large fonts now use the presenter arrangement (the browser test measures the chart's box)."""
    assert not any("The task (A =" in e.label for e in app.expander)
    app.sidebar.toggle(key="large_fonts").set_value(True).run()
    assert any("The task (A = 3, φ = 0.5)" in e.label for e in app.expander) and not app.exception
    shown = [t for t in app.sidebar.toggle if t.label == "Presenter layout"]
    assert len(shown) == 1 and shown[0].value is True and shown[0].disabled
    app.sidebar.toggle(key="large_fonts").set_value(False).run()
    assert not any("The task (A =" in e.label for e in app.expander)
    assert app.sidebar.toggle(key="sin_present").value is False


def test_sessions_share_the_adaptation_of_shipped_weights(sinusoid_assets, monkeypatch):
    """A class opening the same view costs one computation; a user's own points are computed for them, and
    isolation holds (each session sees its own points' results)."""
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setattr(common, "ASSETS", sinusoid_assets)
    common.load_shipped.clear()
    sv.adapt_sinusoid_shared.clear()
    calls = []
    real = sv.adapt_methods
    monkeypatch.setattr(sv, "adapt_methods", lambda *a, **k: calls.append(1) or real(*a, **k))

    def session():
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page(PAGE).run()
        assert not at.exception, at.exception
        return at

    first = session()
    n = len(calls)
    assert n >= 1
    others = [session() for _ in range(3)]
    assert len(calls) == n, "the same default view was computed again for another session"
    assert all(numbers(o).equals(numbers(first)) for o in others)
    others[0].button(key="sin_clear").click().run()  # one student changes their points: only they recompute
    assert len(calls) == n + 1
    assert not numbers(others[0]).equals(numbers(first)) and numbers(others[1]).equals(numbers(first))


# --- shareable scenes (the URL's query parameters) ---------------------------------------------------------------

@pytest.fixture()
def open_link(sinusoid_assets, monkeypatch):
    """Open the Sinusoid page from a link with the given query parameters (a new session, as a browser would)."""
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setenv("MAML_ASSETS_DIR", str(sinusoid_assets))
    monkeypatch.setattr(common, "ASSETS", sinusoid_assets)
    common.load_shipped.clear()

    def open_(params: dict[str, list[str]]):
        at = AppTest.from_file(APP, default_timeout=60)
        at.switch_page(PAGE)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        assert not at.exception, at.exception
        return at
    return open_


def url_of(at) -> dict[str, list[str]]:
    return {k: (v if isinstance(v, list) else [v]) for k, v in at.query_params.items()}


def test_a_link_restores_the_scene_and_the_page_keeps_it_in_the_url(open_link):
    at = open_link({"A": ["7.5"], "phi": ["4"], "K": ["3"], "p": ["1.5_2", "-2_c"], "S": ["4"], "lr": ["0.05"],
                    "m": ["maml,random"], "seed": ["3"]})
    ss = at.session_state
    assert (ss["sin_amp"], ss["sin_phase"], ss["sin_k"], ss["inner_steps"], ss["seed"]) == (7.5, 4.0, 3, 4, 3)
    assert points(at) == [sv.Point(1.5, 2.0), sv.Point(-2.0, None)]
    assert ss["own_lr"] is False and ss["inner_lr"] == 0.05
    assert [r["method"] for r in numbers(at).to_dict("records")] == ["MAML", "Random init"]
    assert any("Outside the training tasks: A = 7.5" in w.value and "φ = 4" in w.value for w in at.warning)
    # (at the foot of the sidebar: a toast covered the step slider)
    assert any("Opened the scene saved in this page's address" in i.value for i in at.sidebar.info)
    assert not at.toast
    url = url_of(at)
    assert url["p"] == ["1.5_2", "-2_c"] and url["A"] == ["7.5"] and url["m"] == ["maml,random"]
    # the page's own state goes back into the URL: the same link opened again shows the same numbers
    again = open_link(url)
    assert numbers(again).equals(numbers(at))


def test_a_link_opens_at_its_shown_step_and_the_url_follows_the_step(open_link):
    """Item 8: a link made at step 2 opened at step 5 (the URL had no shown step, and a new S showed its last)."""
    at = open_link({"S": ["5"], "step": ["2"]})
    assert state(at).shown.step == 2 and at.slider(key="sin_step_slider").value == 2
    assert any(m.value == "**The numbers** (step 0 → step 2)" for m in at.markdown)
    assert url_of(at)["step"] == ["2"] and url_of(at)["S"] == ["5"]
    at.button(key="sin_next").click().run()  # Next goes on from the linked step
    assert state(at).shown.step == 3 and url_of(at)["step"] == ["3"]
    at.button(key="sin_first").click().run()
    assert url_of(at)["step"] == ["0"]
    again = open_link(url_of(at))  # the page's own URL opens at the step it showed
    assert state(again).shown.step == 0 and again.slider(key="sin_step_slider").value == 0
    bad = open_link({"S": ["5"], "step": ["x"]})
    assert any("shown step: “x” is not a number" in w.value for w in bad.warning)
    assert state(bad).shown.step == 5  # the page's own choice: a new S shows its last step
    past = open_link({"S": ["3"], "step": ["7"]})  # more than S: the last step
    assert state(past).shown.step == 3 and url_of(past)["step"] == ["3"]


def test_a_link_with_bad_values_says_which_and_keeps_the_rest(open_link):
    at = open_link({"A": ["abc"], "K": ["999"], "p": ["9_1"], "m": ["maml,nope"], "S": ["3"]})
    (warning,) = [w.value for w in at.warning if "This link had values" in w.value]
    assert "amplitude A: “abc” is not a number" in warning
    assert "K: “999” is outside 1 to 50" in warning
    assert "the support points: “9_1” has a point “9_1” whose x is outside -7.5 to 7.5" in warning
    assert "methods: “maml,nope” names no method here" in warning
    assert at.session_state["sin_amp"] == 3.0 and at.session_state["inner_steps"] == 3  # the rest applied
    assert len(points(at)) == 5 and not at.exception


def test_reset_brings_back_the_opening_scene(open_link):
    at = open_link({"A": ["2"], "p": ["0_0"], "S": ["2"], "m": ["random"]})
    at.sidebar.button(key="sin_reset").click().run()
    ss = at.session_state
    assert ss["sin_amp"] == 3.0 and ss["inner_steps"] == 10 and len(points(at)) == 5
    assert [r["method"] for r in numbers(at).to_dict("records")][0] == "MAML" and not at.exception
    assert url_of(at)["A"] == ["3"] and len(url_of(at)["p"]) == 5


def test_presenter_layout_folds_the_setup_and_keeps_every_control(open_link):
    at = open_link({"present": ["1"], "S": ["3"]})
    assert at.session_state["sin_present"] is True
    assert any("The task (A = 3, φ = 0.5)" in e.label for e in at.expander)
    assert at.slider(key="sin_amp").value == 3.0 and at.button(key="sin_next") is not None
    assert len(charts(at)) == 2 and "α" not in numbers(at).columns
    at.slider(key="sin_amp").set_value(4.0).run()  # the folded controls still work
    assert any("The task (A = 4" in e.label for e in at.expander) and not at.exception
    at.sidebar.toggle(key="sin_present").set_value(False).run()
    assert not any("The task (A =" in e.label for e in at.expander) and "α" in numbers(at).columns


def test_points_beyond_the_training_inputs_are_marked_and_the_mse_stays_on_minus5_to_5(open_link):
    at = open_link({"p": ["6.5_c", "-1_c"], "A": ["2"]})
    assert points(at) == [sv.Point(6.5, None), sv.Point(-1.0, None)]
    assert any("1 support point at x beyond ±5" in w.value for w in at.warning)
    xs = sv.PLOT_X[:, 0].numpy()
    assert xs[sv.QUERY_SLICE][0] == pytest.approx(-5) and xs[sv.QUERY_SLICE][-1] == pytest.approx(5)
    assert len(xs[sv.QUERY_SLICE]) == 121  # the query MSE's 121 points, as before the chart widened
    m = sv.MethodModel("random", *_random_net(), 0.01, "random", None)
    res = sv.adapt_methods([m], np.array([6.5, -1.0]), 2 * np.sin(np.array([6.5, -1.0]) - 0.5), 2.0, 0.5, 3)["random"]
    truth = 2 * np.sin(xs - 0.5)
    assert res.query_mse == pytest.approx(((res.preds[:, sv.QUERY_SLICE] - truth[sv.QUERY_SLICE]) ** 2).mean(-1),
                                          rel=1e-5)


def _random_net():
    from maml_core import ModelConfig, build_model, get_params
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    return model, get_params(model)


def test_a_shipped_checkpoint_with_learned_inner_lrs_adapts_with_them(tmp_path, monkeypatch):
    """Weights trained with --learn-inner-lr (MAML++ LSLR) shown as the shipped MAML: the page adapts with the
    learned rates and says so instead of a number; with one α for every method the rates are not used."""
    from maml_core.algorithm import initial_rates

    folder = quick_sinusoid_checkpoints(tmp_path / "assets", iterations=20)
    r = meta_train(default_config("sinusoid", "maml", iterations=20, seed=0, learn_inner_lr=True))
    save_checkpoint(folder / "sinusoid_maml.pt", r.config, r.params)
    assert set(initial_rates(r.params, 1, 0.01)) <= set(r.params)
    at = open_sinusoid(folder, monkeypatch)
    table = numbers(at)
    assert table.loc[table["method"] == "MAML", "α"].item() == "learned (per layer and step)"
    assert not any("diverged" in str(v) for v in table["query MSE"])
    assert any("α = learned (per layer and step)" in m.value for m in at.markdown)


def test_projector_mode_shows_the_numbers_as_a_table_that_grows_with_the_fonts(app):
    assert len(app.table) == 0 and len([d for d in app.dataframe if d.editing_mode == "read_only"]) == 1
    app.sidebar.toggle(key="large_fonts").set_value(True).run()
    assert not app.exception
    assert len(app.table) == 1 and not [d for d in app.dataframe if d.editing_mode == "read_only"]
    assert list(numbers(app)["method"]) == ["MAML", "FO-MAML", "Reptile", "Pretrained (all tasks)", "Random init"]


def test_reptile_is_drawn_with_its_own_colour_and_line_style(app):
    lines = {t["name"]: t["line"] for t in charts(app)[0]["data"] if t.get("name") in ("MAML", "FO-MAML", "Reptile")}
    assert set(lines) == {"MAML", "FO-MAML", "Reptile"}
    assert len({v["color"] for v in lines.values()}) == 3
    assert lines["Reptile"].get("dash") == "longdash" and "dash" not in lines["MAML"]

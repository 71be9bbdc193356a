"""The Inside MAML page (AppTest) and its view's numbers and sentences (ui/inside/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from maml_core import geometry as G
from maml_core import load_checkpoint
from ui.inside import explain
from ui.inside import numbers as num

ROOT = Path(__file__).resolve().parent.parent

APP = str(ROOT / "app.py")
ASSETS = ROOT / "assets"


def open_inside(query: dict | None = None, session: dict | None = None):
    from streamlit.testing.v1 import AppTest

    from ui import common

    common.load_shipped.clear()  # (another module's tests may have cached their quick checkpoints under these names)
    at = AppTest.from_file(APP, default_timeout=240)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    for k, v in (session or {}).items():
        at.session_state[k] = v
    at.switch_page("app_pages/inside.py")
    at.run()
    assert not at.exception, at.exception
    return at


def text_of(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_every_section_renders_with_sentences_from_its_numbers():
    at = open_inside()
    assert at.title[0].value == "Inside MAML"
    heads = [h.value for h in at.subheader]
    assert heads == ["1. The landscape", "2. Where each method would move θ",
                     "3. The meta-objective as inner steps grow", "4. What adaptation changes",
                     "5. Many tasks at once", "6. Omniglot: what adaptation changes"]
    text = text_of(at)
    assert "After 10 inner steps from the MAML start" in text
    assert "Off the plane" in text and "cosine" in text and "m = 0: lowest at t = 0.00 (the pretrained start)" in text
    assert "Not drawn" in text and "Pretrained (all tasks) start is 33.3 away" in text
    assert "At the initialisation MAML's and FO-MAML's directions have cosine" in text  # along meta-training
    assert "MAML 0.318 ± 0.049" in text  # docs/RESULTS.md's 600 5-shot test tasks: its mean and interval reappear
    assert "The task on screen, from the MAML start" in text
    assert "step 1 changes only the head, which starts at exactly zero" in text  # 6. Omniglot, from the JSON
    frame = at.dataframe[0].value
    assert list(frame["direction"]) == ["MAML", "FO-MAML", "Reptile", "Pretraining"]
    assert frame["cosine with MAML"].iloc[0] == "1.00"


def test_the_users_sinusoid_task_is_handed_over_in_the_session():
    from ui.page_state import SinusoidState
    from ui.sinusoid_view import Point

    sin = SinusoidState(points=[Point(-2.0), Point(0.5), Point(3.0, 1.25)])
    at = open_inside(session={"sinusoid": sin, "sin_amp": 2.0, "sin_phase": 1.0})
    text = text_of(at)
    assert "your task" in text and "MSE on its 3 points" in text
    assert not any("four random tasks" in i.value for i in at.info)


def test_a_link_sets_the_start_the_plane_and_the_steps():
    at = open_inside({"th": "fomaml", "pl": "random", "S": "3"})
    text = text_of(at)
    assert "After 3 inner steps from the FO-MAML start" in text
    assert "spanned by random directions (filter-normalised)" in text
    at = open_inside({"th": "nonsense", "at": "0.05"})
    problems = " ".join(w.value for w in at.warning)
    assert "the start θ" in problems and "the clicked θ" in problems and "is not two numbers" in problems


def test_a_link_restores_a_clicked_theta():
    at = open_inside({"at": "0.05,-0.02", "S": "2"})
    text = text_of(at)
    assert "After 2 inner steps from the θ you clicked" in text
    assert at.query_params["at"] == "0.05,-0.02"


@pytest.fixture(scope="module")
def sinusoid_nets():
    return {m: load_checkpoint(ASSETS / f"sinusoid_{m}.pt") for m in ("maml", "fomaml", "pretrain")}


def test_paths_from_a_clicked_point_start_there_and_stay_on_a_gradient_plane_for_one_step(sinusoid_nets):
    net = sinusoid_nets["maml"]
    tasks = num.page_tasks(None, 5, seed=3)
    batch = num.episode(tasks)
    land = num.compute_landscape(net.model, {m: c.params for m, c in sinusoid_nets.items()}, "maml", "gradients",
                                batch, 2, 0.01)
    assert land.loss.shape == (4, num.GRID, num.GRID)
    assert land.starts["maml"].off == pytest.approx(0.0, abs=1e-5)
    paths = num.compute_paths(net.model, land.plane, land.plane.point(0.05, -0.02), batch, 2, 0.01)
    assert np.allclose(paths.coords[:, 0], [0.05, -0.02], atol=1e-5)
    origin_paths = num.compute_paths(net.model, land.plane, net.params, batch, 2, 0.01)
    assert np.all(origin_paths.off_share[:2, 1] < 1e-3)  # the two tasks that span the plane: their first step
    assert np.all(paths.support_loss[:, 0] > 0)


def _paths(off_share: float) -> num.Paths:
    coords = np.zeros((2, 3, 2))
    loss = np.array([[1.0, 0.5, 0.25], [2.0, 1.0, 0.5]])
    return num.Paths(coords, np.zeros((2, 3)), np.full((2, 3), off_share), loss, loss, 0.0)


def _land(starts: dict[str, G.Projection]) -> num.Landscape:
    return num.Landscape(None, np.linspace(-1, 1, 3), np.linspace(-1, 1, 3), np.ones((2, 3, 3)), starts)


def test_the_landscape_sentences_say_what_the_numbers_say():
    tasks = [num.Task(1.0, 0.0, (0.0,), (0.0,), "your task"), num.Task(2.0, 1.0, (0.0,), (0.0,), "task 2")]
    near = {"maml": G.Projection(0.0, 0.0, 0.0, 0.0), "pretrain": G.Projection(0.3, 0.4, 12.0, 0.99)}
    text = " ".join(explain.landscape_text(_land(near), _paths(0.0), tasks, 2, "maml", (0.0, 0.0)))
    assert "After 2 inner steps from the MAML start" in text
    assert "your task 1 → 0.25 and task 2 2 → 0.5" in text
    assert "holds these paths exactly" in text
    assert "Pretrained (all tasks) start is 12 away, 99% of that off the plane" in text
    text = " ".join(explain.landscape_text(_land(near), _paths(0.5), tasks, 1, "maml", (0.2, 0.1)))
    assert "After 1 inner step from the θ you clicked" in text and "part of the movement is not in this picture" in text
    assert explain.landscape_text(_land(near), _paths(0.0), tasks, 0, "maml", (0.0, 0.0))[0].startswith("Step 0")


def test_far_starts_are_not_drawn_where_they_happen_to_project():
    assert num.drawn(G.Projection(0.1, 0.1, 0.05, 0.3), half=1.0)
    assert not num.drawn(G.Projection(0.1, 0.1, 30.0, 0.99), half=1.0)  # projects inside, lies far off
    assert not num.drawn(G.Projection(3.0, 0.0, 0.0, 0.0), half=1.0)


def test_the_directions_and_line_sentences_follow_the_numbers():
    table = num.DirectionTable({m: 1.0 for m in G.METHODS},
                              {("maml", "fomaml"): 0.5, ("maml", "reptile"): -0.25, ("maml", "pretrain"): 0.9},
                              0.82, {m: (0.1, 0.0, 0.4) for m in G.METHODS}, 3)
    text = " ".join(explain.directions_text(table))
    assert "cosine 0.50 (they differ by 60°)" in text and "82% of the length of MAML's meta-gradient" in text
    assert "Reptile's update (3 inner steps per task, no query set) has cosine -0.25" in text
    values = np.full((len(num.LINE_STEPS), len(num.LINE_T)), 5.0)
    values[0, np.argmin(np.abs(num.LINE_T - 0.0))] = 1.0
    for j in range(1, len(num.LINE_STEPS)):
        values[j, np.argmin(np.abs(num.LINE_T - 1.0))] = 0.5
    text = explain.line_text(values)[0]
    assert "m = 0: lowest at t = 0.00 (the pretrained start)" in text
    assert "m = 10: lowest at t = 1.00 (the MAML start)" in text


def test_the_layer_sentence_names_the_layer_that_moved_most():
    names = ("net.0.weight", "net.0.bias", "head")
    absolute = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.02, 0.3]])
    relative = torch.tensor([[0.0, 0.0, 0.0], [0.05, 0.01, float("nan")]])
    text = explain.layers_text(G.LayerChanges(names, absolute, relative, relative), 1)
    assert text.startswith("After 1 step, layer 1 weights moved most (5% of its size)")
    assert "every layer changes" not in text  # a NaN (a zero start) is not "a small fraction"


def test_the_many_tasks_sentence_places_the_task_on_screen():
    many = {"maml": np.tile(np.linspace(1.0, 0.1, num.MANY_STEPS + 1), (4, 1)) * np.array([[1], [2], [3], [4]])}
    text = " ".join(explain.many_text(many, 10, 0.25, "maml", k=5))
    assert "After 10 steps on the 600 test tasks" in text
    assert "MAML 0.25 ±" in text and "better than 50% of those tasks." in text  # 0.3 and 0.4 are worse
    assert "support points" not in text
    assert "it has 7 support points, they have 5" in " ".join(explain.many_text(many, 3, 0.25, "maml", k=7))


def test_the_along_training_sentence_reads_its_first_and_last_snapshot():
    along = num.AlongTraining([0, 100, 70000], [0.99, 0.8, 0.4], [0.17, 0.5, 1.09], [0.9, 0.2, 0.5])
    text = explain.along_text(along)
    assert "cosine 0.99 and the second-order term is 17% of MAML's gradient" in text
    assert "after 70,000 iterations, 0.40 and 109%" in text and "from 0.90 to 0.50" in text


def _omniglot_figures(diff: float, ci: float):
    from ui.inside import omniglot as io

    acc = {io.FULL: {"mean": [0.2, 0.9, 0.95], "ci95": [0.0, 0.01, 0.01]},
           io.ANIL: {"mean": [0.2, 0.9, 0.95 - diff], "ci95": [0.0, 0.01, 0.01]}}
    return io.OmniglotFigures(100, 5, 1, 0.2, "python scripts/inside_omniglot.py --data-dir DATA", acc,
                              {"mean": [0.0, 0.0, diff], "ci95": [0.0, 0.0, ci], "better": [0, 0, 7],
                               "worse": [0, 0, 3]},
                              ["features.0", "head"], [[0, 0], [0, 1.1], [0.002, 1.2]], [[10, 0], [10, 1.1], [10, 1.2]])


def test_the_omniglot_sentences_follow_the_measured_figures(tmp_path):
    from ui.inside import omniglot as io

    tie = " ".join(io.explain(_omniglot_figures(0.001, 0.004), 2))
    assert "both ways of adapting are the same there (90.0%)" in tie
    assert "+0.10 ± 0.40 points (no measurable difference; better on 7 episodes, worse on 3)" in tie
    assert "the body at most 0.02% of its size" in tie
    ahead = " ".join(io.explain(_omniglot_figures(0.02, 0.005), 2))
    assert "(all layers ahead;" in ahead
    assert "After 2 steps" not in " ".join(io.explain(_omniglot_figures(0.02, 0.005), 1))
    missing, why = io.load(tmp_path / "none.json")
    assert missing is None and "scripts/inside_omniglot.py" in why
    (tmp_path / "bad.json").write_text("{not json")
    assert io.load(tmp_path / "bad.json")[0] is None
    shipped, problem = io.load(ASSETS / "inside_omniglot.json")
    assert problem is None and shipped.tasks == 200 and shipped.steps == 10


def _chart(at, key: str) -> dict:
    import json

    for el in at.get("plotly_chart"):
        if key in el.proto.id:
            return json.loads(el.proto.spec)
    raise AssertionError(f"no chart {key}")


def test_the_sidebar_methods_choose_the_starts_marked_and_compared():
    """Every start, Reptile's included, has its own colour and symbol; a start left out in the sidebar is neither
    marked nor in the many-tasks comparison (the start the plane passes through is always marked)."""
    from ui import common
    from ui.inside import charts

    assert len({common.METHOD_COLORS[m] for m in ("maml", "fomaml", "reptile", "pretrain")}) == 4
    assert set(charts.START_SYMBOLS) == {"maml", "fomaml", "reptile", "pretrain"}
    assert not {common.METHOD_COLORS[m] for m in ("maml", "fomaml", "reptile", "pretrain")} & set(charts.TASK_COLORS)
    at = open_inside()
    assert "Reptile" in " ".join(t["name"] for t in _chart(at, "ins_many")["data"] if t.get("name"))
    assert "Reptile" in text_of(at)
    at.sidebar.multiselect(key="methods_maml_fomaml_reptile_pretrain").set_value(["maml", "fomaml"]).run()
    assert not at.exception
    names = [t.get("name", "") for t in _chart(at, "ins_many")["data"]]
    assert any(n.startswith("MAML") for n in names) and any(n.startswith("FO-MAML") for n in names)
    assert not any(n.startswith(("Reptile", "Pretrained")) for n in names)
    many = next(m.value for m in at.markdown if "test tasks of docs/RESULTS.md" in m.value)
    assert "Reptile" not in many and "Pretrained" not in many
    assert "Pretrained (all tasks) start is 33.3 away" not in text_of(at)  # a start not chosen is not named either


def test_black_is_kept_for_the_users_task():
    from ui.inside import charts

    random_tasks = [num.Task(1.0, 0.0, (0.0,), (0.0,), f"task {i}") for i in range(4)]
    assert "#000000" not in charts.task_colors(random_tasks)[:4]
    assert charts.task_colors([num.Task(1.0, 0.0, (0.0,), (0.0,), "your task"), *random_tasks[:3]])[0] == "#000000"


def test_the_omniglot_plane_holds_the_first_step_and_the_end_and_anil_keeps_the_body(omniglot_data):
    from maml_core import ModelConfig, build_model, get_params, head_names
    from maml_core.heads import at_chance
    from maml_core.omniglot import OmniglotTasks
    from ui.inside import omniglot_plane as op

    model = build_model(ModelConfig(kind="conv", n_out=3, channels=8, norm="tasknorm_i", head="zero"), seed=0)
    theta = get_params(model)
    at_chance(theta, "zero")
    episode = OmniglotTasks(omniglot_data, n_way=3, k_shot=1, n_query=1).sample(1, torch.Generator().manual_seed(0))
    seen = []
    f = op.compute_omniglot_plane(model, theta, episode, 3, 0.4, progress=seen.append)
    assert seen[-1] == 1.0 and len(seen) == op.OMNI_GRID  # a row at a time
    full, anil = 0, 1
    assert f.paths.off_share[full, 1] < 1e-4 and f.paths.off_share[full, 3] < 1e-4  # the plane holds them
    assert f.paths.off_share[full, 2] > f.paths.off_share[full, 3]
    assert f.head_share_first_step == pytest.approx(1.0)  # a zero head: the first step moves the head alone
    assert f.paths.query_loss[full, 0] == pytest.approx(np.log(3), abs=1e-5)
    # the grid is the episode's query loss where the plane says
    a = f.land.a
    state = f.land.plane.point(float(a[4]), float(a[10]))
    t = episode.task(0)
    direct = torch.nn.functional.cross_entropy(G.predict(model, state, t.query_x, support_x=t.support_x), t.query_y)
    assert float(f.land.loss[0, 10, 4]) == pytest.approx(float(direct), rel=1e-4)
    # ANIL: the body never moves, so all of its path lies in the head (the plane's other layers stay at theta)
    states, _, _ = G.task_paths(model, theta, episode, steps=3, inner_lr=0.4, only=head_names(model))
    for k in theta:
        if k not in head_names(model):
            assert torch.equal(states[-1][k][0], theta[k])
    text = " ".join(op.explain(f, 3))
    assert f"{f.paths.query_loss[anil, 3]:.2f}" in text and "100% in the head" in text


@pytest.mark.data
def test_the_omniglot_landscape_is_measured_on_request(real_data_dir):
    at = open_inside()
    assert not [b for b in at.button if b.key == "ins_omni_next"]
    at.button(key="ins_omni_go").click().run()
    assert not at.exception, at.exception
    text = text_of(at)
    assert "lies 100% in the head" in text and "Adapting head only (ANIL)" in text
    at.button(key="ins_omni_next").click().run()
    assert not at.exception, at.exception
    assert "Test episode 2 " in text_of(at)


def test_directions_along_the_users_own_meta_training_run():
    """A run trained on the Meta-training page keeps its weights at up to ALONG_MOST snapshots (the first and the
    last always); Inside MAML offers to measure the directions along it, and says whose run it is."""
    from ui import training_view as tv
    from ui.train_worker import from_bytes

    cfg = tv.sinusoid_configs(["maml"], iterations=300, meta_batch=5, inner_steps=1, inner_lr=0.01, meta_lr=0.001,
                              seed=0)
    run = tv.LiveRun("sinusoid", cfg, max_seconds=60, snapshot_every=20).start()
    assert run.join(60)
    along = run.weights_along("maml")
    assert len(along) == tv.ALONG_MOST and min(along) == 0 and max(along) == 300  # 16 snapshots, thinned
    assert len(run.weights_along("maml", most=100)) == 16
    (ckpt, label), = run.checkpoints().values()
    last = from_bytes(along[300])
    for k, v in ckpt.params.items():
        assert torch.equal(last[k], v), k  # the last snapshot is the run's final weights

    entry = {"checkpoint": ckpt, "label": label, "run_id": run.id, "along": along}
    at = open_inside(session={"trained_runs": {"sinusoid": {"maml": entry}}})
    radio = at.radio(key="ins_along_src")
    assert radio.options == ["a retrain of the shipped MAML", "your MAML run"]
    assert "snapshots of your run" not in text_of(at)
    radio.set_value("maml").run()
    assert not at.exception, at.exception
    text = text_of(at)
    assert f"At {tv.ALONG_MOST} snapshots of your run: MAML, 300 iterations" in text, text
    assert "after 300 iterations" in text, text

    entry = {**entry, "along": {0: along[0]}}  # stopped before its second snapshot: nothing to draw along
    at = open_inside(session={"trained_runs": {"sinusoid": {"maml": entry}}})
    assert "ins_along_src" not in [r.key for r in at.radio]
    assert "appear here once one has trained past its first snapshot" in text_of(at)

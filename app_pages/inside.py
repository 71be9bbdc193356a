"""Inside MAML: why a meta-learned start adapts, measured on the shipped sinusoid networks.

A view only: the geometry is `maml_core.geometry`; ui/inside/ turns its numbers into charts and sentences.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd
import streamlit as st

from maml_core import SinusoidTasks, build_model
from ui import chart_click, common, scene, step_control
from ui.inside import charts, explain, names
from ui.inside import numbers as num
from ui.inside import omniglot as inside_omniglot
from ui.inside import omniglot_plane as op
from ui.inside_state import INSIDE_PREFIX, InsideState
from ui.lesson import lesson_bar
from ui.live_chart import live_chart

T0 = time.perf_counter()
ss = st.session_state
state = InsideState.of(ss)
STARTS = ("maml", "fomaml", "reptile", "pretrain")
METHODS_KEY = "methods_" + "_".join(STARTS)
SCENE = [
    scene.Param("th", "the start θ", scene.one("ins_origin", scene.choice(STARTS)),
                lambda s: [s.get("ins_origin", "maml")]),
    scene.Param("pl", "the plane", scene.one("ins_plane", scene.choice(list(num.PLANES))),
                lambda s: [s.get("ins_plane", "gradients")]),
    scene.Param("at", "the clicked θ", lambda v: {"clicked": read_clicked(v[-1])}, lambda s: write_clicked(s),
                page_state=True),
    *scene.settings_params(METHODS_KEY, STARTS),
]


def read_clicked(text: str) -> tuple[float, float]:
    """'a,b': plane coordinates of a clicked θ (|a|, |b| at most 100: far beyond any plane the page draws)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError("is not two numbers a,b")
    a, b = (scene.number(-100.0, 100.0)(p) for p in parts)
    return float(a), float(b)


def write_clicked(session) -> list[str] | None:
    mine = session.get(InsideState.KEY)
    if mine is None or mine.clicked == (0.0, 0.0):
        return None
    return [f"{scene.fmt(mine.clicked[0], 6)},{scene.fmt(mine.clicked[1], 6)}"]


restored = scene.restore(SCENE, state)
lesson_bar()  # while a lesson is presented: where it is, PageDown / PageUp (ui/lesson.py)
settings = common.sidebar_settings(STARTS)
common.apply_theme(settings.large_fonts)
big = settings.large_fonts


REST_AFTER_S = 0.25  # after a click, the sections below follow this much later (see the fragment)


@st.cache_resource(show_spinner=False)
def shipped(method: str):
    return common.load_shipped(common.SINUSOID_CHECKPOINTS[method])


def model():
    """A module of its own for each computation (functional_call swaps its parameters while it runs)."""
    return build_model(shipped("maml").config.model)


@st.cache_resource(show_spinner="Measuring the loss over the plane…", max_entries=64)
def landscape(origin: str, kind: str, tasks: tuple[num.Task, ...], steps: int, lr: float) -> num.Landscape:
    starts = {m: shipped(m).params for m in STARTS}
    return num.compute_landscape(model(), starts, origin, kind, num.episode(tasks), steps, lr)


def theta_at(origin: str, kind: str, tasks: tuple[num.Task, ...], steps: int, lr: float,
             clicked: tuple[float, float]):
    land = landscape(origin, kind, tasks, steps, lr)
    return land, (land.plane.point(*clicked) if clicked != (0.0, 0.0) else shipped(origin).params)


@st.cache_resource(show_spinner=False, max_entries=256)
def paths_at(origin: str, kind: str, tasks: tuple[num.Task, ...], steps: int, lr: float,
             clicked: tuple[float, float]) -> num.Paths:
    """Every task's inner steps from the θ shown: computed before the rest, so the landscape redraws first."""
    land, theta = theta_at(origin, kind, tasks, steps, lr, clicked)
    return num.compute_paths(model(), land.plane, theta, num.episode(tasks), steps, lr)


@st.cache_resource(show_spinner=False, max_entries=256)
def directions_and_layers(origin: str, kind: str, tasks: tuple[num.Task, ...], steps: int, lr: float,
                          clicked: tuple[float, float]):
    land, theta = theta_at(origin, kind, tasks, steps, lr, clicked)
    batch, net = num.episode(tasks), model()
    return (num.compute_directions(net, land.plane, theta, batch, steps, lr),
            num.compute_layers(net, theta, batch.task(0), steps, lr))


@st.cache_data(show_spinner="Measuring the meta-objective along the line…", max_entries=16)
def line(lr: float) -> np.ndarray:
    import torch

    tasks = SinusoidTasks().sample(100, torch.Generator().manual_seed(1234), k_shot=10, n_query=50)
    return num.compute_line(model(), shipped("pretrain").params, shipped("maml").params, tasks, lr)


@st.cache_resource(show_spinner="Adapting every start to the 600 test tasks…", max_entries=8)
def many(lr: float) -> dict[str, np.ndarray]:
    return num.compute_many({m: (model(), shipped(m).params) for m in STARTS}, shipped("maml").config, lr)


@st.cache_resource(show_spinner="Measuring the directions along meta-training…", max_entries=16)
def along(lr: float) -> tuple[num.AlongTraining | None, str]:
    """The directions at the snapshots of a retrained MAML run (assets/sinusoid_maml_snapshots.pt)."""
    import torch

    from maml_core import CheckpointError
    from maml_core.checkpoints import read_blob

    try:
        blob = read_blob(common.ASSETS / "sinusoid_maml_snapshots.pt")
        snaps = {int(i): p for i, p in blob["extra"]["snapshots"].items()}
    except (CheckpointError, KeyError, TypeError, ValueError) as e:
        return None, f"No snapshots to show ({e}). `python scripts/train_snapshots.py --out assets/...` makes them."
    tasks = SinusoidTasks().sample(25, torch.Generator().manual_seed(1234), k_shot=10, n_query=10)
    diff = blob["extra"].get("max_abs_diff_to_shipped", float("nan"))
    command = blob["info"].get("command")
    note = (f"Snapshots of a retrain of the shipped MAML checkpoint's protocol and seed ({command}); its last "
            f"weights are not the shipped ones (largest difference {diff:.2g}), so the curve is of that run. "
            "Directions on 25 fixed training-distribution tasks (10 shots), 1 inner step of α as in training.")
    return num.compute_along(model(), snaps, tasks, lr), note


@st.cache_resource(show_spinner="Measuring the directions along your run…", max_entries=8)
def along_run(run_key: str, lr: float, _run: dict) -> num.AlongTraining:
    """The directions at the weights a Meta-training run kept along its way (`run_key` names the run)."""
    import torch

    from ui.train_worker import from_bytes

    snaps = {int(i): from_bytes(b) for i, b in _run["along"].items()}
    tasks = SinusoidTasks().sample(25, torch.Generator().manual_seed(1234), k_shot=10, n_query=10)
    return num.compute_along(build_model(_run["checkpoint"].config.model), snaps, tasks, lr)


def move_theta(click: chart_click.ChartClick) -> None:
    """A click on the plane (applied before the page runs, so this run draws the paths from there)."""
    mine = InsideState.of(st.session_state)
    if click.t != mine.last_click:
        mine.last_click, mine.clicked = click.t, (round(click.x, 6), round(click.y, 6))


@st.cache_resource(show_spinner=False)
def omniglot_planes() -> dict[int, op.OmniglotPlane]:
    """The Omniglot episodes' landscapes measured on this server, shared by every session (at most 8 kept)."""
    return {}


def omniglot_plane(episode: int) -> op.OmniglotPlane:
    """Test episode `episode` of the shipped 5-way MAML network on its plane, measured under a progress bar the
    first time (a cached function would replay the bar on every later run)."""
    import torch

    from maml_core import split
    from maml_core.omniglot import OmniglotTasks

    store = omniglot_planes()
    if episode in store:
        return store[episode]
    ck = common.load_shipped(common.OMNIGLOT_CHECKPOINTS["maml"])
    data = split(common.load_omniglot_cached(str(common.DATA_DIR)), ck.config.omniglot)["test"]
    tasks = OmniglotTasks(data, n_way=5, k_shot=1, n_query=1).sample(1, torch.Generator().manual_seed(4321 + episode))
    bar = st.progress(0.0, text="Measuring the query loss over the plane…")
    f = op.compute_omniglot_plane(build_model(ck.config.model), ck.params, tasks, op.OMNI_STEPS, ck.inner_lr,
                                  progress=lambda x: bar.progress(x, text=f"Measuring the query loss over the plane: "
                                                                          f"{100 * x:.0f}%"))
    bar.empty()
    while len(store) >= 8:
        store.pop(next(iter(store)))
    store[episode] = f
    return f


def user_task() -> num.Task | None:
    """The task on this user's Sinusoid page (handed over in the session), if it has support points."""
    sin = ss.get("sinusoid")
    points = getattr(sin, "points", None)
    if not points:
        return None
    amp, phase = float(ss.get("sin_amp", 3.0)), float(ss.get("sin_phase", 0.5))
    xs = [float(p.x) for p in points]
    ys = [amp * math.sin(p.x - phase) if p.y is None else float(p.y) for p in points]
    return num.Task(amp, phase, tuple(xs), tuple(ys), "your task")


# --- the page ---------------------------------------------------------------------------------------------------
st.title("Inside MAML")
if not big:  # (projector mode: the lecturer says it, and the landscape fits the first screen)
    st.markdown("*Why* does a meta-learned start adapt in a few steps? Here is parameter space around the shipped "
                "sinusoid networks (1,761 weights each), cut down to a plane you can see: each task's loss, each "
                "task's inner steps, and where each method would move the start.")
restored.show()

with st.sidebar:
    st.header("The slice")
    ss.setdefault("ins_origin", "maml")
    ss.setdefault("ins_plane", "gradients")
    origin = st.radio("The plane passes through", STARTS, key="ins_origin",
                      format_func=lambda m: names.label(m) + " start",
                      help="The start θ the inner steps begin from (until you click elsewhere on the plane).")
    kind = st.radio("Spanned by", list(num.PLANES), key="ins_plane", format_func=num.PLANES.get,
                    help="Two tasks' gradients hold every first step exactly; two adapted weights hold both ends; "
                         "random filter-normalised directions are Li et al.'s loss-landscape slices (NeurIPS 2018).")
    if st.button("Reset this page", key="ins_reset", icon=":material/restart_alt:"):
        for k in [k for k in ss if str(k).startswith(INSIDE_PREFIX)]:
            del ss[k]
        ss.pop(InsideState.KEY, None)
        st.rerun()

steps = max(settings.inner_steps, 1)
lr = float(settings.inner_lr) if settings.inner_lr is not None else 0.01  # every shipped sinusoid net: 0.01
mine = user_task()
k = len(mine.x) if mine is not None else 5
tasks = tuple(num.page_tasks(mine, k, settings.seed))

plane_key = (origin, kind, tasks, steps, lr)
if state.plane_key != plane_key:  # a new plane: a click on the old one means nothing here (a link's is kept)
    state.clicked = state.clicked if not state.plane_key else (0.0, 0.0)
    state.plane_key = plane_key
chosen = [m for m in STARTS if m in settings.methods]  # the sidebar's methods: the starts marked and compared
land = landscape(origin, kind, tasks, steps, lr)  # (shared by every session: filtered in a copy)
land = dataclasses.replace(land, starts={m: p for m, p in land.starts.items() if m in chosen or m == origin})

st.subheader("1. The landscape")
view = step_control.step_control("ins", state.shown, steps)
step = view.step


@st.fragment
def landscape_section() -> None:
    """Section 1 on its own: a click on the plane reruns only this, so its paths redraw first; the sections below
    depend on the clicked θ too and follow in a full run of the page."""
    here = InsideState.of(ss)
    paths = paths_at(origin, kind, tasks, steps, lr, here.clicked)
    col_chart, col_text = st.columns([1.15, 1], gap="medium")
    with col_chart:
        height = 600 if big else 540
        live_chart(charts.landscape_figure(land, paths, step, tasks, origin, here.clicked, height),
                   key="ins_landscape")
        chart_click.chart_click("ins_landscape", key="ins_click", points_trace=0, radius_px=0, on_click=move_theta)
    with col_text:
        st.markdown("**Click anywhere on the plane to start the inner steps there**; the plane and its contours "
                    "stay.")
        if here.clicked != (0.0, 0.0) and st.button("Back to the start", key="ins_unclick", icon=":material/undo:"):
            here.clicked = (0.0, 0.0)
            st.rerun()
        for sentence in explain.landscape_text(land, paths, tasks, step, origin, here.clicked):
            st.markdown(sentence)
        if mine is None:
            st.info("These are four random tasks of the paper's family. Set up a task on the **Sinusoid regression** "
                    "page and it appears here as *your task*, in black.", icon=":material/info:")
        st.caption(f"Contours: each task's support loss (MSE on its {k} points, log scale) in the task's colour, "
                   f"over a plane through the {names.label(origin)} start spanned by {num.PLANES[kind]}. Lines with "
                   f"arrows: each task's inner steps of α = {lr:g} up to the step shown.")
    if here.clicked != clicked_in_this_run:  # a click (a run of this fragment alone): now the rest of the page,
        with common.turn_given_up():  # once the browser has drawn the paths (its redraw of the page would delay them)
            time.sleep(REST_AFTER_S)
        st.rerun(scope="app")


clicked_in_this_run = state.clicked
landscape_section()
paths = paths_at(origin, kind, tasks, steps, lr, state.clicked)

st.subheader("2. Where each method would move θ")
table, layers = directions_and_layers(origin, kind, tasks, steps, lr, state.clicked)
col_arrows, col_table = st.columns([1, 1.2], gap="medium")
with col_arrows:
    st.plotly_chart(charts.directions_figure(table, common.scaled(380)), key="ins_directions",
                    config={"displayModeBar": False})
with col_table:
    frame = pd.DataFrame({
        "direction": [names.DIRECTION_LABELS[m] for m in table.norms],
        "length": [f"{v:.3g}" for v in table.norms.values()],
        "cosine with MAML": [f"{1.0 if m == 'maml' else table.cosines.get(('maml', m), 0.0):.2f}"
                             for m in table.norms],
        "in this plane": [f"{100 * table.in_plane[m][2]:.0f}%" for m in table.norms]})
    st.dataframe(frame, hide_index=True, width="stretch")
    st.caption(f"On the page's {len(tasks)} tasks from the θ shown, {steps} inner step{'' if steps == 1 else 's'} "
               f"of α = {lr:g}. MAML and FO-MAML: minus the meta-gradient of the query loss; Reptile: the mean of "
               "φ − θ (Nichol, Achiam & Schulman 2018); pretraining: minus the gradient of the loss before "
               "adapting.")
for sentence in explain.directions_text(table):
    st.markdown(sentence)

st.markdown("**Along meta-training**")
my_runs = {a: r for a, r in common.trained_runs("sinusoid").items() if len(r.get("along") or {}) >= 2}
if common.trained_runs("sinusoid") and not my_runs:
    st.caption("Your Meta-training runs appear here once one has trained past its first snapshot (every 250 "
               "iterations by default).")
source = "shipped"
if my_runs:
    source = st.radio("Along", ["shipped", *my_runs], key="ins_along_src", horizontal=True,
                      format_func=lambda o: "a retrain of the shipped MAML" if o == "shipped" else
                      f"your {common.METHOD_LABELS.get(o, o)} run")
if source in my_runs:
    run = my_runs[source]
    curve = along_run(f"{run.get('run_id')}/{source}", lr, run)
    note = (f"At {len(curve.iterations)} snapshots of {run['label']} (Meta-training page). Directions on 25 fixed "
            f"training-distribution tasks (10 shots), 1 inner step of α = {lr:g}.")
else:
    curve, note = along(lr)
if curve is None:
    st.info(note, icon=":material/info:")
else:
    st.plotly_chart(charts.along_figure(curve, common.scaled(320)), key="ins_along", config={"displayModeBar": False})
    st.markdown(explain.along_text(curve))
    st.caption(note)

st.subheader("3. The meta-objective as inner steps grow")
values = line(lr)
st.plotly_chart(charts.line_figure(values, common.scaled(380)), key="ins_line", config={"displayModeBar": False})
st.caption(f"The mean query MSE after m inner steps of α = {lr:g} on 100 tasks (10 shots), at starts along the "
           "straight line from the pretrained start (t = 0) through the MAML start (t = 1).")
for sentence in explain.line_text(values):
    st.markdown(sentence)

st.subheader("4. What adaptation changes")
st.plotly_chart(charts.layers_figure(layers, step, common.scaled(320)), key="ins_layers",
                config={"displayModeBar": False})
st.markdown(f"On {tasks[0].label}, from the θ shown. " + explain.layers_text(layers, step))
st.subheader("5. Many tasks at once")
spread = {m: v for m, v in many(lr).items() if m in chosen}
task_curve = paths.query_loss[0] if state.clicked == (0.0, 0.0) else None
st.plotly_chart(charts.many_figure(spread, step, task_curve, common.scaled(380)), key="ins_many",
                config={"displayModeBar": False})
st.caption(f"Each start adapted to the {num.MANY_TASKS} held-out test tasks of docs/RESULTS.md ({num.MANY_SHOTS} "
           f"shots, α = {lr:g}): the median query MSE after each step, a band from the 10th to the 90th percentile, "
           f"the mean (dots) and the paper's means (crosses). Dotted black: {tasks[0].label} on this page (its query "
           "MSE on 100 points across [-5, 5]; the test tasks use 100 random points).")
on_screen = float(task_curve[min(step, len(task_curve) - 1)]) if task_curve is not None else None
for sentence in explain.many_text(spread, step, on_screen, origin, k):
    st.markdown(sentence)
st.subheader("6. Omniglot: what adaptation changes")
omni, problem = inside_omniglot.load(common.ASSETS / "inside_omniglot.json")
if omni is None:
    st.info(problem, icon=":material/info:")
else:
    col_acc, col_layers = st.columns(2, gap="medium")
    with col_acc:
        st.plotly_chart(inside_omniglot.accuracy_figure(omni, step, common.scaled(340)), key="ins_omni_acc",
                        config={"displayModeBar": False})
    with col_layers:
        st.plotly_chart(inside_omniglot.layers_figure(omni, step, common.scaled(340)), key="ins_omni_layers",
                        config={"displayModeBar": False})
    for sentence in inside_omniglot.explain(omni, step):
        st.markdown(sentence)
    st.caption(f"The shipped 5-way 1-shot MAML network (TaskNorm-I, zero head). Measured by `{omni.command}`; the "
               "step shown is the page's (up to the file's 10).")

st.markdown("**The landscape of one Omniglot test episode**")
if not common.omniglot_archives_present():
    st.info("This part samples an episode from the Omniglot archives, which this server does not have: put "
            f"images_background.zip and images_evaluation.zip in {common.DATA_DIR} (or set MAML_DATA_DIR).",
            icon=":material/info:")
elif not state.omni_plane:
    st.button("Measure an episode's landscape", key="ins_omni_go", icon=":material/landscape:",
              on_click=lambda: setattr(InsideState.of(ss), "omni_plane", True),
              help=f"The query loss on a {op.OMNI_GRID}×{op.OMNI_GRID} grid: {op.OMNI_GRID ** 2} evaluations of the "
                   "conv net (a few seconds, once per episode on this server).")
else:
    f = omniglot_plane(state.omni_episode)
    omni_step = min(step, op.OMNI_STEPS)
    col_plane, col_words = st.columns([1.15, 1], gap="medium")
    with col_plane:
        live_chart(charts.landscape_figure(f.land, f.paths, omni_step, op.LABELS, "maml", (0.0, 0.0),
                                           common.scaled(480), loss_name="query loss"), key="ins_omni_plane")
    with col_words:
        for sentence in op.explain(f, omni_step):
            st.markdown(sentence)
        if st.button("Another episode", key="ins_omni_next", icon=":material/casino:"):
            state.omni_episode += 1
            st.rerun()
        st.caption(f"Test episode {state.omni_episode + 1} (5-way 1-shot, one query per class, as in training) of the "
                   f"shipped MAML network; contours: its query loss (log scale) over the plane through the start and "
                   f"its weights after 1 and {op.OMNI_STEPS} inner steps of α = {f.inner_lr:g} (its validated rate); "
                   f"the step shown is the page's (up to {op.OMNI_STEPS}).")
st.caption(f"Page {(time.perf_counter() - T0) * 1e3:.0f} ms on the server.")
scene.publish(SCENE)
step_control.keep_playing(state.shown, view)

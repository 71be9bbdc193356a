"""Sinusoid regression: one task, a support set you control, and every method adapting to it step by step.

A view only: sampling, validation and figures live in ui/sinusoid_view.py; adaptation is `maml_core.adapt`.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st
import torch

from maml_core import ModelConfig, build_model, describe_lr, get_params
from ui import chart_click, common, scene, step_control
from ui import sinusoid_view as sv
from ui.lesson import lesson_bar
from ui.live_chart import live_chart
from ui.page_state import SINUSOID_PREFIX, SinusoidState

STARTED = [time.perf_counter()]  # this run's start; a rerun of the fragment below alone starts its own
ss = st.session_state  # widget values (ui/page_state.SINUSOID_WIDGETS) and the shared sidebar's
state = SinusoidState.of(ss)  # everything else this page keeps for this user
METHODS = ("maml", "fomaml", "reptile", "pretrain", "random")

METHODS_KEY = "methods_" + "_".join(METHODS)  # the shared sidebar's key for this page's method list
SCENE = sv.scene_params(METHODS_KEY, METHODS)
restored = scene.restore(SCENE, state)  # a shared link's task, points and settings, before any widget
lesson_bar()  # while a lesson is presented: where it is, PageDown / PageUp (ui/lesson.py)
settings = common.sidebar_settings(METHODS)
common.apply_theme(settings.large_fonts)


@st.cache_resource(show_spinner=False, max_entries=32)
def random_init(seed: int) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A freshly initialised 1-40-40-1 network (PyTorch defaults) for a seed, shared read-only."""
    model = build_model(ModelConfig(), seed=seed)  # the global RNG untouched: safe beside other sessions
    model.requires_grad_(False)
    return model, get_params(model)


# --- per-user state (points keep their values across reruns and page switches) ---------------------------------
ss.setdefault("sin_amp", 3.0)
ss.setdefault("sin_phase", 0.5)
ss.setdefault("sin_k", 5)
if state.points is None:
    state.points = sv.sample_points(ss.sin_k, np.random.default_rng([settings.seed, 0]))


def _rng() -> np.random.Generator:
    state.draws += 1
    return np.random.default_rng([int(ss.get("seed", 0)), state.draws])


def set_points(points: list[sv.Point], msgs: list[tuple[str, str]] | None = None) -> None:
    state.points = list(points)[: sv.MAX_POINTS]
    say(msgs or [])


def say(msgs: list[tuple[str, str]]) -> None:
    """Messages about the last change to the points: confirmations as a toast (once), problems inline until the
    next change. Bumping the version resets the table, the chart's click selection and the uploader."""
    state.messages = msgs
    state.messages_shown = False
    state.version += 1


def on_new_task() -> None:
    rng = _rng()
    ss.sin_amp, ss.sin_phase = sv.random_task(rng)
    set_points(sv.sample_points(ss.sin_k, rng))


def on_sample() -> None:
    set_points(sv.sample_points(ss.sin_k, _rng()))


def on_clear() -> None:
    set_points([], [("info", "Cleared. Click on the chart, sample points, or upload a CSV to build a support set.")])


def on_reset() -> None:
    """Back to the page's opening state (the default task, points and settings; large fonts stay as they are)."""
    for key in [k for k in ss if str(k).startswith(SINUSOID_PREFIX)]:  # every widget of this page
        del ss[key]
    # A fresh state: new widget versions (a fresh table, chart selection and uploader); the link's scene is not
    # applied again.
    ss[SinusoidState.KEY] = SinusoidState(version=SinusoidState.of(ss).version + 1, scene_restored=True)
    ss.inner_steps, ss.own_lr, ss.seed = 10, True, 0
    ss[METHODS_KEY] = list(METHODS)


def extend_steps() -> bool:
    """"Next" on the last step: one more inner step (S + 1, up to the sidebar's 20)."""
    s = int(ss.inner_steps)
    if s >= 20:
        return False
    ss.inner_steps = s + 1
    state.last_steps = s + 1
    return True


# --- which weights each method starts from ------------------------------------------------------------------------
common.weights_picker("sinusoid", METHODS, both=True)

with st.sidebar:
    ss.setdefault("sin_present", False)
    if settings.large_fonts:  # a projector needs the step control and the chart on one 1920 x 1080 screen
        present = st.toggle("Presenter layout", value=True, disabled=True,
                            help="On with large fonts: the step control, the chart and the loss on one projected "
                                 "screen. Turn large fonts off to choose.")
    else:
        present = st.toggle("Presenter layout", key="sin_present",
                            help="For a lecture: the step control, the chart and the loss side by side on one "
                                 "screen; the task and support-set controls fold away above them (always on with "
                                 "large fonts).")
    st.button("Reset this page", icon=":material/restart_alt:", key="sin_reset", on_click=on_reset,
              width="stretch", help="The opening task, points and settings (for the next demo).")
    st.caption("The address bar always holds this scene (task, points, settings): copy it to share what you "
               "found or to prepare a demo as a link.")

missing: list[str] = []
models: list[sv.MethodModel] = []
for key in settings.methods:
    if key == "random":
        model, params = random_init(settings.seed)
        lr = settings.inner_lr if settings.inner_lr is not None else 0.01
        models.append(sv.MethodModel(key, model, params, lr, f"random initialisation, seed {settings.seed}",
                                     f"random:{settings.seed}"))
        continue
    for n, start in enumerate(common.chosen_weights("sinusoid", key)):
        name = key + sv.MINE if n else key  # "both": the user's run beside the shipped weights, dash-dotted
        ckpt = start.checkpoint
        if ckpt is None:
            missing.append(f"**{common.METHOD_LABELS[key]}**: {start.error}")
            continue
        lr = settings.inner_lr if settings.inner_lr is not None else ckpt.inner_lr
        models.append(sv.MethodModel(name, ckpt.model, ckpt.params, lr, start.source, start.weights_id))

# --- page -----------------------------------------------------------------------------------------------------------
st.title("Sinusoid regression")
if not present:
    st.markdown("Each task is a sine wave **y = A·sin(x − φ)**. A method sees only a few points of it (the *support "
                "set*) and takes a few gradient steps from its initial weights. Change the task and the points, "
                "then watch which initialisation adapts fastest.")
restored.show()
if missing:
    st.warning("Some shipped weights are unavailable, so those methods are hidden (the others work):\n\n- "
               + "\n- ".join(missing) + "\n\nTrain your own on the **Meta-training, live** page to use instead.")


@st.fragment
def task_and_methods() -> None:
    """The page below its title. A change here (the task, the points, the step) reruns only this: the sidebar and
    the title are not sent again, and the browser redraws fewer elements before the chart (docs/SPEED.md)."""
    started = STARTED.pop() if STARTED else time.perf_counter()  # a full run: from the top of the page
    if int(ss.inner_steps) != settings.inner_steps:  # "Next" on the last step raised S, a sidebar setting
        st.rerun()  # the whole page, sidebar included
    setup = (st.expander(f"1 · The task (A = {ss.sin_amp:g}, φ = {ss.sin_phase:g}) and 2 · the support set "
                         f"({len(state.points)} points)", icon=":material/tune:") if present else st.container())
    col_task, col_support = setup.columns([1, 1.4], gap="large")
    with col_task:
        st.subheader("1 · The task")
        st.slider("Amplitude A", sv.AMPLITUDE[0], sv.AMPLITUDE_MAX, step=0.01, key="sin_amp",
                  persist_state=common.PERSIST,
                  help="The paper (and every network here) samples A uniformly in [0.1, 5]; above 5 is a task no "
                       "method was trained on.")
        st.slider("Phase φ", sv.PHASE[0], sv.PHASE_MAX, step=0.01, key="sin_phase",
                  persist_state=common.PERSIST,
                  help="The paper samples φ uniformly in [0, π]; above π is a task no method was trained on.")
        st.button("New random task", icon=":material/casino:", key="sin_new_task", on_click=on_new_task,
                  width="stretch",
                  help="A random A and φ as in the paper, and K fresh support points on it.")
    amp, phase = float(ss.sin_amp), float(ss.sin_phase)
    outside = sv.outside_training(amp, phase, [p.x for p in state.points])
    if outside:
        with col_task:
            st.warning(outside, icon=":material/explore_off:")

    with col_support:
        st.subheader("2 · The support set")
        c1, c2, c3 = st.columns([1.3, 1, 1], vertical_alignment="bottom")
        c1.number_input("K (points to sample)", 1, 50, step=1, key="sin_k", persist_state=common.PERSIST,
                        help="The paper shows K = 5 and K = 10; the models were meta-trained with K = 10.")
        c2.button("Sample K points", key="sin_sample", on_click=on_sample, width="stretch",
                  help="K new points with x uniform in [-5, 5], on the true curve.")
        c3.button("Clear points", key="sin_clear", on_click=on_clear)
        # Any file type: a refused one (a PNG) gets this page's own message in place of the last file's (the
        # browser's type filter refused it silently, beside the previous CSV's error).
        upload = st.file_uploader("Upload a CSV of x,y (replaces the points)", key=state.upload_key,
                                  help=f"A header line `x,y`, then one point per line; x in [-7.5, 7.5] (the networks "
                                       "were trained on [-5, 5]), at most "
                                       f"{sv.MAX_POINTS} points.")
        if upload is not None:
            try:
                pts, warns = sv.parse_csv(upload.getvalue(), upload.name)
                set_points(pts, [("success", f"Loaded {len(pts)} point(s) from {upload.name}.")]
                           + [("warning", w) for w in warns])
            except sv.PointsError as e:
                say([("error", str(e))])
            st.rerun()
        # The last change's confirmation in one line that is always there (the charts below never jump; a toast
        # covered the step slider), then its problems.
        done = [text for level, text in state.messages if level in ("success", "info")]
        st.caption(f":material/check: {done[-1]}" if done else
                   f"{len(state.points)} support point{'' if len(state.points) == 1 else 's'}: change them here, on "
                   "the chart or in the table.")
        for level, text in state.messages:
            if level in ("warning", "error"):
                getattr(st, level)(text)

    # --- adapt (cached per support set and settings: step changes and the table re-draw without recomputing; results of
    # weights every user shares are cached server-wide, so a class opening the same view computes it once) ------------
    px, py = sv.resolve(state.points, amp, phase)
    steps = settings.inner_steps
    if state.last_steps != steps:  # a new S shows its last step; "next" walks on from there
        state.last_steps = steps
        state.shown.show(steps)
    t_compute = time.perf_counter()
    if all(m.weights_id for m in models):
        fingerprint = tuple((m.key, m.inner_lr, m.weights_id) for m in models)
        results = sv.adapt_sinusoid_shared(fingerprint, tuple(models), tuple(map(float, px)), tuple(map(float, py)),
                                           amp, phase, steps)
    else:  # weights only this user has (their own run): cached in their session
        cache_key = (tuple(np.round(px, 6)), tuple(np.round(py, 6)), amp, phase, steps,
                     tuple((m.key, m.inner_lr, m.source, id(m.params)) for m in models))
        cache = state.cache
        if cache_key not in cache:
            if len(cache) > 16:
                cache.clear()
            cache[cache_key] = sv.adapt_methods(models, px, py, amp, phase, steps)
        results = cache[cache_key]
    t_compute = time.perf_counter() - t_compute

    st.subheader("3 · Watch them adapt")
    n_points = len(state.points)
    view = step_control.step_control("sin", state.shown, steps, disabled=n_points == 0 or not results,
                                     extend=extend_steps)
    view_step = view.step
    if present:  # chart and loss side by side under the step control: one 1920 x 1080 screen
        col_plot, col_side = st.columns([1.6, 1], gap="medium")
        col_loss = col_side.container()
        col_num = col_side.container()
        col_table = st.expander(f"Support points ({len(state.points)}): edit, add, delete, download",
                                icon=":material/table:")
    else:
        col_plot, col_table = st.columns([2.3, 1], gap="medium")
    with col_plot:
        fig = sv.prediction_figure(results, px, py, amp, phase, view_step)
        live_chart(fig, key="sin_plot")
        click = chart_click.chart_click("sin_plot", key="sin_click", points_trace=sv.SUPPORT_TRACE)
        action = sv.click_action(click) if click is not None and click.t != state.last_click else None
        if action is not None:
            state.last_click = click.t
            kind, x, y = action
            if kind == "add" and not (sv.X_VIEW[0] <= x <= sv.X_VIEW[1] and abs(y) <= sv.Y_LIMIT):
                say([("warning", f"({x:.2f}, {y:.2f}) is off the chart's range (x in [{sv.X_VIEW[0]:g}, "
                                 f"{sv.X_VIEW[1]:g}], |y| ≤ {sv.Y_LIMIT:g}): click inside the plot.")])
            elif kind == "add" and len(state.points) >= sv.MAX_POINTS:
                say([("warning", f"The support set is full ({sv.MAX_POINTS} points): remove some first.")])
            elif kind == "add":
                set_points([*state.points, sv.Point(x, y)], [("success", f"Added a point at ({x:.2f}, {y:.2f}).")])
            else:
                set_points(sv.remove_nearest(state.points, x, y, amp, phase),
                           [("info", f"Removed the point at ({x:.2f}, {y:.2f}).")])
            st.rerun()
        st.caption("**Click anywhere on the chart to add a support point; click an orange point to remove it.** "
                   "The step control above moves every chart and the numbers (keys: ← → step, space play/pause).")

    with col_table:
        st.markdown(f"**Support points ({len(state.points)})**")
        editor_key = state.editor_key
        frame = sv.editor_frame(state.points)
        st.data_editor(
            frame, key=editor_key, num_rows="dynamic", hide_index=True, placeholder="on curve",
            height=400, width="stretch",
            column_config={
                "x": st.column_config.NumberColumn("x", min_value=sv.X_VIEW[0], max_value=sv.X_VIEW[1], step=0.01,
                                                   format="%.2f", required=True),
                "y": st.column_config.NumberColumn(
                    "y", min_value=-sv.Y_LIMIT, max_value=sv.Y_LIMIT, step=0.01, format="%.2f",
                    help="*on curve* for a point on the true curve: its y is A·sin(x − φ) and moves with the task (the "
                         "chart shows it; the CSV download has it). Type a y to pin the point there."),
                "on curve": st.column_config.CheckboxColumn(
                    "on curve", default=False, help="Ticked: y follows the true curve when A or φ change."),
            })
        delta = ss.get(editor_key)
        if delta and any(delta.get(k) for k in ("edited_rows", "added_rows", "deleted_rows")):
            new_points, msgs, pending = sv.apply_editor_delta(state.points, delta, amp, phase)
            if pending:
                st.caption("Fill in x and y of the new row to add it (or tick *on curve* to put it on the true curve).")
            else:
                set_points(new_points, [("warning", m) for m in msgs])
                st.rerun()
        st.caption("Edit cells for exact values; add rows at the bottom; select rows and press Delete to remove them.")
        # The file is written when the button is clicked, not on every rerun (a callable: Streamlit runs it then).
        points = list(state.points)
        st.download_button("Download points as CSV", lambda: sv.points_csv(points, amp, phase),
                           file_name="support_points.csv", mime="text/csv", key="sin_download", width="stretch",
                           on_click="ignore", disabled=not points)  # a download changes nothing: no rerun

    for msg in sv.divergence_warnings(results, own_lr=settings.inner_lr is None, amplitude=amp,
                                      outside=sv.outside_reasons(amp, phase, [p.x for p in state.points])):
        st.warning(msg, icon=":material/warning:")

    if not present:
        col_loss, col_num = st.columns([1, 1.25], gap="medium")
    with col_loss:
        if not results:
            st.info("Choose at least one method in the sidebar.")
        elif n_points == 0:
            st.info("The loss chart appears once there are support points to adapt to.")
        else:
            live_chart(sv.loss_figure(results, view_step, height=330 if present else 360), key="sin_losses")
    with col_num:
        st.markdown(f"**The numbers** (step 0 → step {view_step if n_points else 0})")
        if results:
            table = sv.summary_table(results, view_step)
            shown = table.drop(columns=["α"]) if present else table
            if settings.large_fonts:  # an HTML table grows with the projector's fonts; a dataframe's canvas does not
                st.table(shown.set_index("method"))
            else:  # elsewhere the interactive dataframe, with widths that fit its column at 1400 px
                st.dataframe(shown, hide_index=True, width="stretch", column_config={
                    "method": st.column_config.TextColumn(width=150),
                    "α": st.column_config.TextColumn(width=60),
                    "query MSE": st.column_config.TextColumn(width=118),
                    "support loss": st.column_config.TextColumn(width=118),
                    "change": st.column_config.TextColumn(width=64)})
        st.caption("Query MSE: mean squared error against the true curve at 121 points across [-5, 5]. "
                   "Support loss: MSE on the support points, the loss each inner step descends.")

    st.markdown(sv.explanation(results, n_points, steps, view_step))
    with st.expander("Where each method's weights come from"):
        for m in models:
            st.markdown(f"- **{m.label}** (α = {describe_lr(m.inner_lr)}): {m.source}")
    st.caption(f"Adaptation {t_compute * 1e3:.0f} ms (cached per support set and settings) · "
               f"page {(time.perf_counter() - started) * 1e3:.0f} ms on the server.")

    scene.publish(SCENE)
    step_control.keep_playing(state.shown, view)  # last: while playing, the next step after a pause


task_and_methods()

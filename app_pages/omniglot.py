"""Omniglot few-shot: invent (or sample) N characters, give K examples each, and watch MAML, FO-MAML
and transfer learning adapt to them step by step. A view: the logic lives in ui/omniglot_view.py, the input
widgets in ui/omniglot_inputs.py."""

import streamlit as st
import torch

from maml_core import DataError, OmniglotTaskConfig, describe_lr
from ui import common, figures, scene, step_control
from ui import omniglot_compare as oc
from ui import omniglot_inputs as oi
from ui import omniglot_view as ov
from ui.lesson import lesson_bar
from ui.page_state import OmniglotState
from ui.scroll_into_view import scroll_into_view

ss = st.session_state  # widget values (ui/page_state.OMNIGLOT_WIDGETS) and the shared sidebar's
state = OmniglotState.of(ss)  # everything else this page keeps for this user
st.title("Omniglot few-shot")
st.markdown(
    "MAML meta-learned a starting point from which **a few gradient steps on a handful of examples** give a "
    "classifier for characters it has never seen (Finn et al., 2017, section 5.2). Give it **N** new characters "
    "with **K** examples each, then a query to recognise: each method adapts from its own starting point, and "
    "you can watch its guess change after every inner step."
)

# A shared link's episode and settings, before any widget (and before the networks: the ways choose them).
ALL_METHODS = tuple(common.OMNIGLOT_CHECKPOINTS)
SCENE = ov.scene_params("methods_" + "_".join(ALL_METHODS), ALL_METHODS)
restored = scene.restore(SCENE, state)
lesson_bar()  # while a lesson is presented: where it is, PageDown / PageUp (ui/lesson.py)

# --- the trained networks: shipped, or the user's own run from the Meta-training page ---------------------
checkpoints, sources, weights_ids, problems = {}, {}, {}, []
ways_now = int(ss.get("omni_ways", 5))  # (the control is drawn below; its value is known from the last run)
for method in common.OMNIGLOT_CHECKPOINTS:
    start = common.chosen_weights("omniglot", method, ways=ways_now)[0]  # (no "both" on this page)
    if start.checkpoint is None:
        problems.append(f"**{common.METHOD_LABELS.get(method, method)}**: {start.error}")
    else:
        checkpoints[method], sources[method], weights_ids[method] = start.checkpoint, start.source, start.weights_id
available = tuple(checkpoints)
settings = common.sidebar_settings(available or tuple(common.OMNIGLOT_CHECKPOINTS),
                                   default_lr=next(iter(checkpoints.values())).inner_lr if checkpoints else 0.4,
                                   diverge_hint=None)  # (alpha = 50 still gives 100% on a 5-way episode)
common.weights_picker("omniglot")
with st.sidebar:
    ss.setdefault("omni_present", False)
    present = st.toggle("Presenter layout", key="omni_present",
                        help="For a lecture: under “3. What happened”, the step control, the class probabilities and "
                             "the support loss side by side on one screen.")
# One fixed block for the theme and the notices: whatever they show, the canvases below keep their place in
# the page (an element appearing above them would remount them, and a remounted canvas comes back blank).
with st.container():
    common.apply_theme(settings.large_fonts)
    chosen = {m: checkpoints[m] for m in settings.methods if m in checkpoints}
    narrow = {m: why for m in chosen if (why := ov.head_problem(chosen[m], ways_now))}
    chosen = {m: c for m, c in chosen.items() if m not in narrow}
    if narrow:
        st.info(f"{', '.join(common.METHOD_LABELS.get(m, m) for m in narrow)} sit{'s' if len(narrow) == 1 else ''} "
                f"out {ways_now}-way episodes: {next(iter(narrow.values()))}. A network meta-trained with more ways, "
                "or one whose head starts at zero (the zeroing trick), can take any number of ways.",
                icon=":material/info:")
    if not checkpoints:
        st.error("No trained Omniglot network could be loaded, so adaptation is unavailable (you can still try "
                 "the inputs).\n\n" + "\n\n".join(f"- {p}" for p in problems) +
                 "\n\nTrain one with `python -m maml_core train omniglot --algo fomaml --data-dir DIR "
                 "--out assets/omniglot_5w1s_fomaml.pt`, or set `MAML_ASSETS_DIR` to the folder holding the "
                 "shipped weights.", icon=":material/error:")
    restored.show()
    if checkpoints and problems:
        st.warning("Some methods are unavailable:\n\n" + "\n\n".join(f"- {p}" for p in problems),
                   icon=":material/warning:")
    results = oc.load_results(common.ASSETS)
    test_figs = oc.test_figures(checkpoints, weights_ids, ways_now, results)
    if measured := oc.held_out_caption(test_figs, ways_now, list(checkpoints)):
        st.caption(measured + " " + oc.edge_sentence(results, ways_now, against=("transfer",)))

# --- 1. the episode ----------------------------------------------------------------------------------
st.subheader("1. The episode")
c1, c2, c3 = st.columns([1.1, 1.3, 2.2])
for key, value in (("omni_ways", 5), ("omni_shots", 1), ("omni_source", "draw")):
    ss.setdefault(key, value)  # (before the widgets: a shared link may have set them)
n_way = c1.segmented_control("Ways (N)", ov.WAYS, required=True, key="omni_ways",
                             persist_state=common.PERSIST,
                             help="How many characters to tell apart. The networks were meta-trained 5-way; "
                                  "fewer ways use the first N outputs of the same head. 20 ways uses MAML's 20-way "
                                  "network and comes from the Omniglot test set.")
k_shot = c2.segmented_control("Shots (K)", ov.SHOTS, required=True, key="omni_shots",
                              persist_state=common.PERSIST,
                              help="Examples of each character the network adapts on.")
source = c3.segmented_control("Examples from", ["draw", "dataset"], required=True, key="omni_source",
                              persist_state=common.PERSIST,
                              format_func={"draw": ":material/draw: Draw or upload",
                                           "dataset": ":material/casino: Omniglot test set"}.get,
                              help="Your own drawings, or an episode of held-out Omniglot characters "
                                   "(never seen in meta-training).")
n_way, k_shot = int(n_way), int(k_shot)

support_x = query_x = query_y = None
class_tiles: list = []
query_labels: list[str] = []
inputs: dict = {}
query_beside = False  # projector mode, drawing: the query and Adapt in a sixth column (below)
GRID = ov.DRAW_WAYS_MAX  # always five class columns: canvases keep their place whatever N is (no layout jumps)

if source == "draw" and n_way > ov.DRAW_WAYS_MAX:
    st.info(f"{n_way} characters are a lot to draw in a demo: {n_way}-way episodes come from the Omniglot test set. "
            f"Choose **Omniglot test set** above, or at most {ov.DRAW_WAYS_MAX} ways to draw your own.",
            icon=":material/info:")
    scene.publish(SCENE)
    st.stop()
if source == "draw":
    st_canvas, canvas_problem = oi.get_canvas()
    if canvas_problem:
        st.warning("The drawing canvas could not load here, so every input is an upload for now "
                   f"({canvas_problem}).", icon=":material/warning:")
    st.caption(f"{'Draw' if st_canvas else 'Upload'} **{k_shot} example{'s' if k_shot > 1 else ''} of each of "
               f"{n_way} characters** you make up (or letters of any alphabet). The small box under each input is "
               "the 28 x 28 image the network sees. Each canvas has undo and clear buttons (with a mouse, hover "
               "it; on a touch screen they sit above it); "
               "**Clear all drawings and uploads** (in section 2) empties every canvas; **Upload** takes a "
               "picture instead.")
    # 140 fits five columns of a 1280-pixel screen with the sidebar open. Projector mode (1920 wide): larger, and the
    # query and Adapt in a sixth column, so that the whole episode and Adapt fit the first 1080-pixel screen.
    query_beside = settings.large_fonts
    size = common.scaled(140 if k_shot <= 2 else 112)
    oi.keep_drawings_on_resize(state, size)  # a new size remounts the canvases with their strokes scaled to it
    cols = st.columns(GRID + 1 if query_beside else GRID, gap="small")
    for c in range(n_way):
        with cols[c]:
            st.markdown(f"**{ov.CLASS_NAMES[c]}**")
            for k in range(k_shot):
                inputs[ov.slot_id(c, k)] = oi.input_slot(state, ov.slot_id(c, k), size, st_canvas)
    if query_beside:
        with cols[GRID]:
            st.markdown("**Query**", help="Another example of one of your characters: which class will each method "
                                          "say it is?")
            pressed = st.button("Adapt", type="primary", icon=":material/play_arrow:", key="omni_adapt",
                                disabled=not checkpoints)
            inputs[ov.QUERY_SLOT] = oi.input_slot(state, ov.QUERY_SLOT, size, st_canvas)
else:
    split_config = next(iter(checkpoints.values())).config.omniglot if checkpoints else OmniglotTaskConfig()
    test, data_problem = oi.test_split(common.DATA_DIR, split_config)
    if test is None:
        st.info(data_problem, icon=":material/info:")
        if st.button("Download Omniglot (about 16 MB)", icon=":material/download:", key="omni_download"):
            with st.spinner(f"Downloading the official Omniglot archives into {common.DATA_DIR}…"):
                failure = oi.download_data(common.DATA_DIR)
            if failure:
                st.error(failure + " You can also draw your own characters (choose “Draw or upload” above).",
                         icon=":material/error:")
            else:
                st.rerun()
        st.caption("Drawing your own characters always works: choose “Draw or upload” above.")
    else:
        number = state.episode
        try:
            episode, names = ov.sample_episode(test, n_way, k_shot, settings.seed, number)
        except DataError as e:
            st.error(f"Could not sample an episode: {e}", icon=":material/error:")
            st.stop()
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.caption(f"Episode {number + 1} (seed {settings.seed}) from the {len(test)} held-out test characters "
                     f"(never seen in meta-training): {k_shot} example{'s' if k_shot > 1 else ''} of each of {n_way}, "
                     f"shown as the network sees them (28 x 28).")
        if right.button("New episode", icon=":material/casino:", key="omni_new_episode", width="stretch"):
            state.episode = number + 1
            st.rerun()
        if n_way <= GRID:
            cols = st.columns(GRID, gap="small")
            for c in range(n_way):
                with cols[c]:
                    st.markdown(f"**{ov.CLASS_NAMES[c]}**")
                    shots = episode.support_x[c * k_shot:(c + 1) * k_shot]
                    st.markdown(ov.tiles_html([(x, "") for x in shots], common.scaled(72 if k_shot <= 2 else 56)),
                                unsafe_allow_html=True)
                    st.caption(names[c])
        else:  # many classes: one wrapping row of tiles (the characters' names would not fit under each)
            st.markdown(ov.tiles_html([(episode.support_x[i], ov.CLASS_NAMES[i // k_shot])
                                       for i in range(n_way * k_shot)], common.scaled(56)), unsafe_allow_html=True)
            alphabets = sorted({n.split("/")[0].strip() for n in names})
            st.caption(f"{n_way} characters from {len(alphabets)} alphabets: {', '.join(alphabets)}.")
        support_x, query_x, query_y = episode.support_x, episode.query_x, episode.query_y
        class_tiles = [episode.support_x[c * k_shot] for c in range(n_way)]
        query_labels = [f"query {i + 1} ({ov.CLASS_NAMES[int(y)]})" for i, y in enumerate(query_y)]

scene.publish(SCENE)  # everything a link holds is settled by now (the page may stop early below)

# --- 2. the query, and adapt ----------------------------------------------------------------------------------
st.subheader("2. The query, then adapt")
mode = oc.EQUAL if settings.inner_lr is not None else oc.VALIDATED
plan = oc.mode_sentence(mode, chosen, settings.inner_steps, settings.inner_lr) if chosen else "No method is selected."


def set_own_lr() -> None:
    ss["own_lr"] = ss["omni_compare"] == oc.VALIDATED


def compare_control() -> None:
    """The two ways of comparing the methods, one click apart; it sets the sidebar's own switch (one state)."""
    ss["omni_compare"] = mode  # (before the widget: the sidebar's switch may have changed it)
    st.segmented_control("Compare the methods with", list(oc.MODES), format_func=oc.MODES.get, required=True,
                         key="omni_compare", on_change=set_own_lr,
                         help="Each method's own validated settings give the accuracies the tables report; the same α "
                              "and steps for every method make their speeds comparable.")
    st.caption(plan)

if source == "draw" and query_beside:
    st.markdown("The **query** and **Adapt** are in the last column above: draw another example of one of your "
                "characters there, and press Adapt.")
    compare_control()
    st.button("Clear all drawings and uploads", icon=":material/delete:", on_click=oi.clear_inputs,
              args=(state,), key="omni_clear", type="tertiary")
    messages = st.container()
if source == "draw" and not query_beside:
    qcol, acol = st.columns([1, 4], gap="small")
    with qcol:
        st.markdown("**Query**")
        inputs[ov.QUERY_SLOT] = oi.input_slot(state, ov.QUERY_SLOT, size, st_canvas)
    with acol:
        st.markdown("Draw **another example of one of your characters** here: which class will each method say it "
                    "is?")
        pressed = st.button("Adapt", type="primary", icon=":material/play_arrow:", key="omni_adapt",
                            disabled=not checkpoints)
        compare_control()
        st.button("Clear all drawings and uploads", icon=":material/delete:", on_click=oi.clear_inputs,
                  args=(state,), key="omni_clear", type="tertiary")
        messages = st.container()
if source == "draw":
    missing = [s for s, v in inputs.items() if v.x is None]
    if not missing:
        support_x = torch.stack([inputs[ov.slot_id(c, k)].x for c in range(n_way) for k in range(k_shot)])
        query_x = inputs[ov.QUERY_SLOT].x.unsqueeze(0)
        class_tiles = [inputs[ov.slot_id(c, 0)].x for c in range(n_way)]
        query_labels = ["your query"]
else:
    missing = []
    if query_x is not None:
        st.markdown(f"The query set: **{ov.DATASET_QUERIES} other drawings of each character** "
                    f"({len(query_x)} in all); the accuracy on all of them is charted after each step.")
        st.markdown(ov.tiles_html([(x, "") for x in query_x], common.scaled(40)), unsafe_allow_html=True)
    pressed = st.button("Adapt", type="primary", icon=":material/play_arrow:", key="omni_adapt",
                        disabled=not checkpoints or query_x is None)
    compare_control()
    messages = st.container()

support_y = torch.arange(n_way).repeat_interleave(k_shot) if support_x is not None else None
ready = support_x is not None and bool(chosen)
inputs_fp = ov.fingerprint(source, n_way, k_shot, support_x, query_x) if support_x is not None else None
settings_fp = ov.fingerprint(settings.inner_steps, settings.inner_lr, tuple((m, sources[m]) for m in chosen))
result = state.result
with messages:
    if pressed and not chosen and checkpoints:
        st.warning("No method is selected: pick at least one under “Methods” in the sidebar.",
                   icon=":material/warning:")
    if pressed and missing:
        blank = [s for s in missing if inputs[s].note == "blank"]
        empty = [s for s in missing if s not in blank]
        lines = []
        if blank:
            lines.append("The canvas is empty (nothing drawn) for " + ", ".join(ov.slot_name(s) for s in blank) + ".")
        if empty:
            lines.append("Still missing: " + ", ".join(ov.slot_name(s) for s in empty) + ".")
        st.warning(" ".join(lines) + " Draw a character on each canvas (or upload a picture), then press Adapt "
                   "again.", icon=":material/edit:")
# Recompute on the button, or by itself when only the sidebar settings changed since the last run.
auto = result is not None and result.inputs_fp == inputs_fp and result.settings_fp != settings_fp
if ready and (pressed or auto):
    runs = ov.run_adaptation(chosen, support_x, support_y, query_x, query_y, n_way=n_way,
                             steps=settings.inner_steps, inner_lr=settings.inner_lr)
    result = state.result = ov.EpisodeResult(
        inputs_fp=inputs_fp, settings_fp=settings_fp, runs=runs, n_way=n_way, k_shot=k_shot, source=source,
        support_x=support_x, query_x=query_x, query_y=query_y, class_tiles=class_tiles, query_labels=query_labels,
        mode=mode)
    state.shown.show(max((r.steps for r in runs.values()), default=0))  # new results: the last step

# --- 3. what happened ---------------------------------------------------------------------------------
with st.container(key="omni_results"):
    st.subheader("3. What happened")
if pressed and ready:  # the results start far below a laptop's screen: bring them up
    ss["omni_scroll_token"] = ss.get("omni_scroll_token", 0) + 1
    scroll_into_view("omni_results", ss["omni_scroll_token"], key="omni_scroll")
if result is None:
    if source == "draw":
        done = sum(v.x is not None for v in inputs.values())
        st.info(f"{done} of {len(inputs)} inputs ready. Fill every canvas above and press **Adapt**: the class "
                "probabilities after each inner step, the support loss and each method's pick appear here.",
                icon=":material/touch_app:")
    else:
        st.info("Press **Adapt** to adapt every method to this episode.", icon=":material/touch_app:")
    st.stop()

if result.inputs_fp != inputs_fp:
    st.caption(":material/history: These results are for the previous inputs: press **Adapt** to update them.")
runs = result.runs
if not runs:
    st.stop()
for m, run in runs.items():
    if run.diverged:
        st.warning(f"{common.METHOD_LABELS.get(m, m)} diverged: with α = {describe_lr(run.inner_lr)} the inner steps "
                   "blow up (the loss becomes infinite). Lower the inner learning rate in the sidebar, or switch back "
                   "to each model's validated rate.", icon=":material/warning:")
colors, labels = common.METHOD_COLORS, common.METHOD_LABELS

st.markdown("**What the network sees** (each input after preprocessing, 28 x 28, ink = 1)")
sx, k = result.support_x, result.k_shot
tiles = [(sx[i], f"{ov.CLASS_NAMES[i // k]}") for i in range(len(sx))]
if result.source == "draw":
    tiles.append((result.query_x[0], "query"))
st.markdown(ov.tiles_html(tiles, common.scaled(56)), unsafe_allow_html=True)

query_index, true_label = 0, None
if result.query_y is not None:
    labels_q = result.query_labels
    if not 0 <= int(ss.get("omni_query_index", 0)) < len(labels_q):  # a smaller episode than last time
        ss["omni_query_index"] = 0
    query_index = st.select_slider("Query to inspect", options=list(range(len(labels_q))),
                                   format_func=lambda i: labels_q[i], key="omni_query_index")
    query_index = min(int(query_index), len(labels_q) - 1)
    true_label = int(result.query_y[query_index])

view = step_control.step_control("omni", state.shown, max(r.steps for r in runs.values()))
step = view.step
# Normal layout: the bars, the picks, then the two curves side by side. Presenter layout: the bars and the support
# loss side by side right under the step control (one 1920 x 1080 screen from the step control down), the picks and
# the query accuracy below them. The same elements either way, only their places differ.
if present:
    bars_at, loss_at = st.columns([3, 2], gap="medium")
    picks_at, acc_at = st.columns([3, 2], gap="medium") if result.query_y is not None else (st.container(), None)
else:
    bars_at = picks_at = st.container()
    curves = st.columns(2 if result.query_y is not None else 1)
    loss_at, acc_at = curves[0], curves[1] if result.query_y is not None else None
bars_at.plotly_chart(ov.probability_figure(runs, query_index, result.n_way, true_label, step),
                     width="stretch", config=figures.PLOTLY_CONFIG, key="omni_prob_chart")
with picks_at:
    st.markdown(f"**Prediction {'before any inner step' if step == 0 else f'after inner step {step}'}** (the "
                "class each method picks for the query, framed in its colour)")
    st.markdown(ov.prediction_html(runs, result.class_tiles, result.query_x[query_index], query_index, colors,
                                   labels, true_label, size=common.scaled(72 if result.n_way <= 5 else 52),
                                   step=step), unsafe_allow_html=True)
loss_at.plotly_chart(ov.curve_figure(runs, "support_loss", step), width="stretch",
                     config=figures.PLOTLY_CONFIG, key="omni_loss_chart")
if acc_at is not None:
    acc_at.plotly_chart(ov.curve_figure(runs, "query_acc", step), width="stretch",
                        config=figures.PLOTLY_CONFIG, key="omni_acc_chart")
    st.caption(f"Accuracy on the {len(result.query_y)} query drawings after the last step: "
               f"{ov.finals_sentence(runs)}. Hollow circles mark the number of steps each network was validated with; "
               "lines of methods that tie lie on top of each other (each has its own dash and marker).")
else:
    st.caption("Hollow circles mark the number of steps each network was validated with on held-out characters.")
st.markdown(" ".join(t for t in (oc.speed_sentence(result.mode, runs), oc.loss_sentence(runs)) if t))
if "maml" in runs and (edge := oc.edge_sentence(results, result.n_way, runs if result.query_y is not None else None)):
    st.markdown(f"**How large is MAML's edge?** {edge}")

def validated_lr(m: str) -> str:
    same = m in checkpoints and result.n_way == ways_now  # (the networks of these ways, not a previous episode's)
    return f" at α = {describe_lr(checkpoints[m].inner_lr)}" if same else ""


with st.expander("How to read this, and where each network comes from"):
    st.markdown(
        ov.step_zero_sentence(runs) +
        "- Each **inner step** is one gradient step on the support loss (paper eq. 1). MAML was trained so that "
        "these few steps go a long way; transfer learning starts from features trained to classify other "
        "characters, with a fresh head.\n"
        "- FO-MAML ignores second derivatives during meta-training; at test time all methods take the same "
        "plain gradient steps.\n"
        f"- This episode has {result.n_way} ways. A network with more outputs uses its first {result.n_way} "
        "(the same classifier restricted to these classes); a network whose head starts at zero (the zeroing "
        f"trick) gets a zero head of {result.n_way} rows, so it starts at chance whatever the number of ways.\n"
        + "".join(f"- **{labels.get(m, m)}** (ran here with α = {describe_lr(r.inner_lr)}; validated with "
                  f"{r.eval_steps} steps{validated_lr(m)}): {sources.get(m, '')}\n" for m, r in runs.items()))
step_control.keep_playing(state.shown, view)  # last: while playing, the next step after a pause

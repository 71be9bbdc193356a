"""Human vs MAML: you (or a lecture hall, by a show of hands) answer N-way 1-shot Omniglot trials by clicking the
matching character, then see your accuracy beside MAML's, FO-MAML's and transfer learning's on the very same
trials. A view: the trials and the networks' answers come from maml_core/challenge.py, the sentences and tiles
from ui/challenge_view.py."""

import streamlit as st

from maml_core import OmniglotTaskConfig
from maml_core.challenge import LAKE_2015_HUMAN_ERROR, challenge_trials, score_answers, score_method
from maml_core.omniglot import find_archives
from ui import challenge_view as cv
from ui import common, scene
from ui import omniglot_compare as oc
from ui import omniglot_inputs as oi
from ui import omniglot_view as ov
from ui.lesson import lesson_bar

ss = st.session_state  # widget values (ui/challenge_view.WIDGETS) and the shared sidebar's seed and large fonts
state = cv.ChallengeState.of(ss)  # the answers and the networks' scores, for this user
SCENE = cv.scene_params()
restored = scene.restore(SCENE, state)
lesson_bar()  # while a lesson is presented: where it is, PageDown / PageUp (ui/lesson.py)
with st.sidebar:
    seed = common.seed_input()
    large = common.large_fonts_toggle()
common.apply_theme(large)
if large:  # projector mode: the band above the title trimmed, so a 20-way trial fits one 1080-pixel screen
    st.html("<style>[data-testid='stMainBlockContainer'] {padding-top: 2.5rem;}</style>")
restored.show()

st.title("Human vs MAML")
st.markdown(
    "Each trial shows **one drawing of each of N handwritten characters** that no network saw in training, and "
    "**one more drawing** of one of them: click the character it is. That is exactly the question MAML answers "
    "after adapting to the same N drawings. At the end your accuracy stands beside MAML's, FO-MAML's and transfer "
    "learning's **on the very same trials**. In a lecture: project it, take a show of hands, click the majority."
)

# --- the challenge: ways, trials, and the characters ------------------------------------------------------------
for k, v in (("ch_ways", 5), ("ch_trials", cv.DEFAULT_TRIALS)):
    ss.setdefault(k, v)  # (before the widgets: a shared link may have set them)
c1, c2, c3 = st.columns([1, 1.4, 1.2], vertical_alignment="bottom")
ways = int(c1.segmented_control("Ways (N)", cv.WAYS, required=True, key="ch_ways",
                                help="How many characters each trial shows. Lake et al.'s human figure is for "
                                     "20 ways."))
trials = int(c2.segmented_control("Trials", cv.TRIALS, required=True, key="ch_trials",
                                  help="More trials give a steadier score (and take longer)."))


def new_challenge() -> None:
    state.number += 1


c3.button("New challenge", icon=":material/casino:", key="ch_new", on_click=new_challenge, width="stretch",
          help="Other characters and drawings (your answers to this one stay with it).")

# The networks, shipped, each at its validated settings (the 20-way MAML network for 20 ways; the 5-way FO-MAML and
# transfer networks start from a zero head, which widens to 20 ways).
networks, unavailable = {}, []
for m in common.OMNIGLOT_CHECKPOINTS:
    start = common.starting_weights("omniglot", m, "shipped", ways)
    why = start.error if start.checkpoint is None else ov.head_problem(start.checkpoint, ways)
    if why:
        unavailable.append(f"**{common.METHOD_LABELS.get(m, m)}**: {why}")
    else:
        networks[m] = start
if unavailable:
    st.warning("Some networks cannot take part, so they are left out of the comparison:\n\n"
               + "\n\n".join(f"- {u}" for u in unavailable), icon=":material/warning:")

split_config = next(iter(networks.values())).checkpoint.config.omniglot if networks else OmniglotTaskConfig()
test, data_problem = oi.test_split(common.DATA_DIR, split_config)
if test is None:
    scene.publish(SCENE)
    folder = common.DATA_DIR.relative_to(common.ROOT) if common.DATA_DIR.is_relative_to(common.ROOT) else \
        common.DATA_DIR
    st.info(f"{data_problem}\n\nThe challenge needs the Omniglot archives: its trials are held-out characters "
            "that no network saw in training. From a terminal in the app's folder: `python -m maml_core download "
            f"--data-dir {folder}` (the folder this app reads), or the button here.", icon=":material/info:")
    if st.button("Download Omniglot (about 16 MB)", icon=":material/download:", key="ch_download"):
        with st.spinner(f"Downloading the official Omniglot archives into {common.DATA_DIR}…"):
            failure = oi.download_data(common.DATA_DIR)
        if failure:
            st.error(failure, icon=":material/error:")
        else:
            st.rerun()
    st.stop()

key = state.key(ways, trials, seed)
challenge = challenge_trials(test, ways, trials, cv.challenge_seed(seed, state.number))
answers = state.answers.setdefault(key, [])
scene.publish(SCENE)
st.caption(f"Challenge {state.number + 1} (seed {seed}): {trials} trials of {ways}-way 1-shot, from the {len(test)} "
           "held-out test characters (no network saw them in training), each drawing shown as the networks see it "
           "(28 × 28 pixels).")


def pick(k: tuple, t: int, c: int) -> None:
    """Record the answer to trial t (once: a second click on the same trial's tiles changes nothing)."""
    a = state.answers.setdefault(k, [])
    if len(a) == t:
        a.append(c)


def take_back(k: tuple) -> None:
    if state.answers.get(k):
        state.answers[k].pop()


# --- 1. the trials --------------------------------------------------------------------------------------------
done = len(answers)
if done < trials:
    t = done
    st.progress(t / trials, text=f"**Trial {t + 1} of {trials}**")
    tile, query_px = cv.tile_size(ways, large)
    # (20 ways in projector mode: the narrow query column leaves room for two rows of ten)
    left, right = st.columns([1, 5] if ways <= 5 else [1, 7] if large else [1.3, 7], gap="medium")
    with left:
        st.markdown("**This drawing…**")
        st.markdown(cv.query_html(challenge.query(t), query_px), unsafe_allow_html=True)
    with right:
        st.markdown("**…is the same character as which of these?** Click it"
                    + (f" (or press its number, 1 to {ways})." if ways <= 9 else "."))
        keys = [f"{cv.PICK_PREFIX}{t}_{c}" for c in range(ways)]
        st.html(cv.pick_css([(k_, challenge.support(t)[c]) for c, k_ in enumerate(keys)], tile))
        with st.container(horizontal=True, gap="small", key="ch_tiles"):
            for c, k_ in enumerate(keys):
                st.button(f"{c + 1}", key=k_, on_click=pick, args=(key, t, c),
                          shortcut=str(c + 1) if ways <= 9 else None)
    if done:
        last = int(challenge.answers[done - 1])
        verdict = "right" if answers[-1] == last else f"not it: it was {last + 1}"
        st.caption(f"Trial {done}: you chose {answers[-1] + 1}, {verdict}.")
        st.button("Take back my last answer", icon=":material/undo:", key="ch_undo", on_click=take_back,
                  args=(key,), type="tertiary")
    st.stop()

# --- 2. you beside the networks, on the same trials --------------------------------------------------------------
human = score_answers(answers, challenge).tolist()


@st.cache_data(max_entries=256, show_spinner=False)
def shared_score(fingerprint: tuple, _checkpoint, _challenge):
    """One network's answers to one challenge, shared by every session on the server: they depend only on the
    weights, the data and the challenge, all named in `fingerprint` (a lecture hall with one seed costs one
    computation)."""
    return score_method(_checkpoint, _challenge)


weights = tuple((m, w.weights_id) for m, w in networks.items())
data_id = (str(common.DATA_DIR), tuple((a.name, a.stat().st_size) for a in find_archives(common.DATA_DIR)),
           split_config.split, tuple(split_config.split_fractions), split_config.split_seed)
score_key = (key, weights, data_id)
if score_key not in state.scores and networks:
    bar = st.progress(0.0)
    done_scores = {}
    with st.spinner("The networks answer the same trials…", show_time=True):
        for i, (m, w) in enumerate(networks.items()):
            bar.progress(i / len(networks), text=f"{common.METHOD_LABELS.get(m, m)} adapts to each of the {trials} "
                                                 f"trials ({i + 1} of {len(networks)})")
            if w.weights_id:  # shipped weights (one's own run is this user's alone)
                done_scores[m] = shared_score((score_key, m, cv.challenge_seed(seed, state.number)), w.checkpoint,
                                              challenge)
            else:
                done_scores[m] = score_method(w.checkpoint, challenge)
    bar.empty()
    state.scores[score_key] = done_scores
scores = state.scores.get(score_key, {})

st.progress(1.0, text=f"**All {trials} trials answered**")
st.subheader("You beside the networks, on the same trials")
k = sum(human)
with st.container(horizontal=True, gap="large"):  # (wraps on a phone: two a row)
    st.metric("You", f"{k} of {trials}", help=f"{cv.percent(k, trials)} right", width="content")
    for m, s in scores.items():
        st.metric(common.METHOD_LABELS.get(m, m), f"{s.hits} of {trials}", help=f"{cv.percent(s.hits, trials)} right",
                  width="content")
    if ways == 20:
        st.metric("People (Lake et al. 2015)", f"{100 * (1 - LAKE_2015_HUMAN_ERROR):.1f}%", width="content",
                  help=f"{100 * LAKE_2015_HUMAN_ERROR:.1f}% errors on 20-way 1-shot trials")
st.table(cv.results_rows(human, scores))
st.markdown(cv.how_list(scores, ways))
figs = oc.test_figures({m: w.checkpoint for m, w in networks.items()},
                       {m: w.weights_id for m, w in networks.items()}, ways, oc.load_results(common.ASSETS))
st.markdown(cv.fair_sentence(human, scores, cv.held_out_tasks(figs)))
st.markdown(cv.lake_sentence(ways, human))
if text := cv.held_out_text(figs, ways):
    st.caption(text)
left, right = st.columns([1, 3], vertical_alignment="center")
left.button("New challenge", type="primary", icon=":material/casino:", key="ch_again", on_click=new_challenge)
right.button(f"Take back my answer to trial {trials}", icon=":material/undo:", key="ch_undo", on_click=take_back,
             args=(key,), type="tertiary")

st.subheader("Trial by trial")
st.markdown(cv.review_html(challenge, answers, scores, common.scaled(48)), unsafe_allow_html=True)

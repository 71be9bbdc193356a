"""What every page shares: method colours and names, cached checkpoint loading, sidebar settings, chart styling,
and the runs a user trained on the Meta-training page (so other pages can use them in place of shipped weights)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
import torch

from maml_core import Checkpoint, CheckpointError, load_checkpoint

from . import resources

# Every tensor in this app is small (a 1-40-40-1 MLP, 28x28 images): one intra-op thread per request is several
# times faster than two threads contending with other users' requests on a small shared server (measured on 2
# busy cores: 4 methods x 20 inner steps 130 ms with one thread, 3.9 s with two).
SERVER_THREADS = 1


def use_server_threads() -> None:
    """Give torch the server's intra-op thread count (process-wide): app.py's start-up hook (ui.warm) and every
    run of app.py (`run_app`) call it; importing a ui module changes nothing."""
    if torch.get_num_threads() != SERVER_THREADS:
        torch.set_num_threads(SERVER_THREADS)


ROOT = Path(__file__).resolve().parent.parent
# The app (not the library) reads settings from the environment: where weights and data live.
ASSETS = Path(os.environ.get("MAML_ASSETS_DIR", ROOT / "assets"))
DATA_DIR = Path(os.environ.get("MAML_DATA_DIR", ROOT / "data" / "omniglot"))

# One colour per method on every chart of every page (colour-blind-safe Okabe-Ito palette).
METHOD_COLORS = {
    "maml": "#0072B2",  # blue
    "fomaml": "#E69F00",  # orange
    "reptile": "#CC79A7",  # reddish purple
    "pretrain": "#009E73",  # green
    "transfer": "#009E73",  # green (the baseline's slot on the Omniglot page)
    "random": "#999999",  # grey
    "truth": "#000000",
    "support": "#D55E00",  # vermillion
}
METHOD_LABELS = {
    "maml": "MAML",
    "fomaml": "FO-MAML",
    "reptile": "Reptile",
    "pretrain": "Pretrained (all tasks)",
    "transfer": "Transfer learning",
    "random": "Random init",
}

SINUSOID_CHECKPOINTS = {"maml": "sinusoid_maml.pt", "fomaml": "sinusoid_fomaml.pt", "reptile": "sinusoid_reptile.pt",
                        "pretrain": "sinusoid_pretrain.pt"}
# Networks meta-trained for more ways, used in their place for episodes wider than the 5-way ones.
OMNIGLOT_WIDE_CHECKPOINTS = {"maml": "omniglot_20w1s_maml.pt"}
OMNIGLOT_CHECKPOINTS = {"maml": "omniglot_5w1s_maml.pt", "fomaml": "omniglot_5w1s_fomaml.pt",
                        "transfer": "omniglot_5w1s_transfer.pt"}

# Sidebar values survive page switches (Streamlit 1.67 `persist_state`): a lecturer sets them once.
PERSIST = "session"


@st.cache_resource(show_spinner="Loading trained weights…")
def load_shipped(name: str) -> Checkpoint:
    """A shipped checkpoint from assets/, loaded once per server and shared read-only by all users."""
    return load_checkpoint(ASSETS / name)


def shipped_id(name: str) -> str:
    """Names a shipped checkpoint's exact weights (its file and modification time), for shared caches."""
    try:
        return f"shipped:{name}:{(ASSETS / name).stat().st_mtime_ns}"
    except OSError:
        return f"shipped:{name}:missing"


def try_load(name: str) -> tuple[Checkpoint | None, str | None]:
    """(checkpoint, None) or (None, a message saying what is wrong and what to do)."""
    try:
        return load_shipped(name), None
    except CheckpointError as e:
        return None, f"{e}"


@dataclass(frozen=True)
class Settings:
    inner_steps: int
    inner_lr: float | None  # None: each checkpoint's own validated learning rate
    methods: tuple[str, ...]
    seed: int
    large_fonts: bool


DIVERGE_HINT = "Try 0.5 or more to see it diverge."  # true of the sinusoid networks, not of Omniglot's


def sidebar_settings(available_methods: tuple[str, ...], default_lr: float | None = None,
                     diverge_hint: str | None = DIVERGE_HINT) -> Settings:
    """The shared sidebar (same keys on every page, so values persist across page switches). `diverge_hint` ends
    the learning rate's help: None where it is not true."""
    ss = st.session_state
    ss.setdefault("inner_steps", 10)
    ss.setdefault("seed", 0)
    ss.setdefault("large_fonts", False)
    ss.setdefault("own_lr", True)
    ss.setdefault("inner_lr", float(default_lr or 0.01))
    with st.sidebar:
        st.header("Adaptation")
        steps = st.slider("Number of inner steps S", 0, 20, key="inner_steps", persist_state=PERSIST,
                          help="How many gradient steps each method takes on the support set, from its initial "
                               "weights (the step control on the page shows any one of them).")
        own = st.toggle("Use each model's validated learning rate", key="own_lr", persist_state=PERSIST,
                        help="Off: one inner learning rate (alpha) for every method.")
        lr = None
        if not own:
            lr = st.number_input("Inner learning rate (alpha)", min_value=0.0, max_value=100.0, step=0.005,
                                 format="%.4f", key="inner_lr", persist_state=PERSIST,
                                 help="Step size of every inner gradient step." + (f" {diverge_hint}"
                                                                                   if diverge_hint else ""))
        key = "methods_" + "_".join(available_methods)
        methods = st.multiselect("Methods", list(available_methods),  # (a shared link may have set them)
                                 default=None if key in ss else list(available_methods),
                                 format_func=lambda m: METHOD_LABELS.get(m, m), key=key, persist_state=PERSIST)
        seed = seed_input()
        large = large_fonts_toggle()
    return Settings(int(steps), lr, tuple(methods), int(seed), bool(large))


def seed_input() -> int:
    """The shared random seed (inside the sidebar)."""
    st.session_state.setdefault("seed", 0)
    return int(st.number_input("Random seed", min_value=0, max_value=2**31 - 1, step=1, key="seed",
                               persist_state=PERSIST,
                               help="Seeds sampled tasks and points, the random init, and training runs."))


def large_fonts_toggle() -> bool:
    """The projector switch (inside the shared sidebar; pages without adaptation settings show only this)."""
    st.session_state.setdefault("large_fonts", False)
    return st.toggle("Large fonts (projector)", key="large_fonts", persist_state=PERSIST,
                     help="Bigger text in the page and in every chart, for a lecture hall.")


# The app's pages, in sidebar order: (file, title, icon, default).
PAGES = (
    ("app_pages/home.py", "Home", ":material/home:", True),
    ("app_pages/sinusoid.py", "Sinusoid regression", ":material/ssid_chart:", False),
    ("app_pages/inside.py", "Inside MAML", ":material/insights:", False),
    ("app_pages/omniglot.py", "Omniglot few-shot", ":material/draw:", False),
    ("app_pages/challenge.py", "Human vs MAML", ":material/sports_esports:", False),
    ("app_pages/meta_training.py", "Meta-training, live", ":material/model_training:", False),
    ("app_pages/lesson.py", "Lesson", ":material/co_present:", False),
)


def run_app() -> None:
    """app.py: the page set-up and `st.navigation` over app_pages/. (The folder is not called pages/:
    Streamlit treats a pages/ folder beside the main script as old-style multipage navigation until
    st.navigation has run once in the server, so a shared deep link opened on a freshly started server
    would run that page alone, with file names in the sidebar and a narrow layout.)"""
    use_server_threads()
    st.set_page_config(page_title="MAML, visible", page_icon="🧠", layout="wide")
    page = st.navigation([st.Page(f, title=t, icon=i, default=d) for f, t, i, d in PAGES])
    try:
        with page_turn():
            page.run()
    finally:  # (a rerun or stop request ends a run by raising)
        resources.return_freed_memory()


# One page script at a time in this server process. A page run is Python-bound (figures, tensors, protobufs), so
# runs of several sessions share one interpreter lock and make no progress in parallel: run together, 30 students'
# changes all finish near the end; one after another, the first are served at once and the median halves
# (benchmarks/bench_class.py). Waits that are not work (the step control's play timer) give the turn up.
_PAGE_TURN = threading.Lock()
_HOLDS_TURN = threading.local()


@contextmanager
def page_turn():
    _PAGE_TURN.acquire()
    _HOLDS_TURN.value = True
    try:
        yield
    finally:
        _HOLDS_TURN.value = False
        _PAGE_TURN.release()


@contextmanager
def turn_given_up():
    """Let other sessions' pages run meanwhile (around a sleep), if this thread holds the page turn."""
    held = getattr(_HOLDS_TURN, "value", False)
    if held:
        _HOLDS_TURN.value = False
        _PAGE_TURN.release()
    try:
        yield
    finally:
        if held:
            _PAGE_TURN.acquire()
            _HOLDS_TURN.value = True


def apply_theme(large_fonts: bool) -> None:
    """Projector mode: bigger text everywhere (charts read `font_size()`)."""
    if large_fonts:
        # Streamlit sizes text, headings, widgets and spacing in rem: scaling the root scales them all in
        # proportion (a blanket `font-size` on every element would flatten the headings to body size).
        st.markdown("<style>html {font-size: 20px;}</style>", unsafe_allow_html=True)


def font_size() -> int:
    return 20 if st.session_state.get("large_fonts") else 13


def duration(seconds: float) -> str:
    """A wait as people say it: "40 s", "3 min", "1 min 20 s"."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    return f"{m} min" + (f" {s} s" if s and m < 10 else "")


def scaled(px: int) -> int:
    """A picture's size in pixels for the page's font: 1.4 x in projector mode (pictures grow with the text)."""
    return round(px * 1.4) if st.session_state.get("large_fonts") else px


# --- runs trained in this browser session (the Meta-training page writes them, other pages read them) -----------

def trained_runs(problem: str) -> dict[str, dict[str, Any]]:
    """This user's finished runs for a problem: algo -> {"checkpoint": Checkpoint, "label": str, ...}. A new
    session (a reload) starts from the runs this server keeps for this browser (ui/run_store.py)."""
    ss = st.session_state
    if "trained_runs" not in ss:
        from ui import browser, run_store

        ss["trained_runs"] = run_store.STORE.restore(browser.browser_id())
    return ss["trained_runs"].setdefault(problem, {})


@dataclass(frozen=True)
class StartingWeights:
    """Where a method starts adapting from, for one user: a checkpoint (or None, with `error` saying why), the
    sentence that tells the user which weights these are, and `weights_id` naming weights every user shares
    (shipped checkpoints; None for the user's own run)."""

    checkpoint: Checkpoint | None
    source: str
    weights_id: str | None = None
    error: str | None = None


def starting_weights(problem: str, method: str, choice: str = "shipped", ways: int = 5) -> StartingWeights:
    """The one rule for both pages: the user's own run when they chose it ("mine"), else the shipped checkpoint
    (for Omniglot episodes of more than 5 ways, the one meta-trained with more ways where there is one), else
    (shipped weights missing or damaged) their own run if they have one, else an error that says why."""
    filename = (SINUSOID_CHECKPOINTS if problem == "sinusoid" else OMNIGLOT_CHECKPOINTS)[method]
    if problem == "omniglot" and ways > 5 and method in OMNIGLOT_WIDE_CHECKPOINTS:
        wide = OMNIGLOT_WIDE_CHECKPOINTS[method]
        if try_load(wide)[0] is not None:  # (else the 5-way network, if its head can widen: `fit_head`)
            filename = wide
    run = trained_runs(problem).get(method)
    if run is not None and choice == "mine":
        return StartingWeights(run["checkpoint"], run["label"])
    ckpt, error = try_load(filename)
    if ckpt is not None:
        return StartingWeights(ckpt, f"shipped: {ckpt.describe()}", shipped_id(filename))
    if run is not None:
        return StartingWeights(run["checkpoint"], run["label"] + " (shipped weights unavailable)")
    return StartingWeights(None, "", error=error)


# The sidebar radio "<method> starts from" has the key <prefix><method> (the Meta-training page's "Use my trained
# model(s)" button sets the same keys).
SOURCE_KEYS = {"sinusoid": "sin_src_", "omniglot": "omni_src_"}
SOURCE_CHOICES = {"shipped": "shipped checkpoint", "mine": "my trained run", "both": "both, side by side"}


def weights_picker(problem: str, order: Sequence[str] | None = None, *, both: bool = False) -> None:
    """The sidebar's "Weights" section, for a user who trained runs on the Meta-training page: for each method they
    trained (in `order`, default the order they were trained), a radio for what it starts from: the shipped
    checkpoint, their run, or (`both`) the two side by side. Draws nothing for a user without runs; the pages read
    the choice with `chosen_weights`."""
    runs = trained_runs(problem)
    if not runs:
        return
    items = list(runs.items()) if order is None else sorted(runs.items(), key=lambda kv: order.index(kv[0]))
    options = ["shipped", "mine", "both"] if both else ["shipped", "mine"]
    with st.sidebar:
        st.header("Weights")
        for method, run in items:
            st.radio(f"{METHOD_LABELS.get(method, method)} starts from", options, key=SOURCE_KEYS[problem] + method,
                     horizontal=True, persist_state=PERSIST, format_func=SOURCE_CHOICES.get,
                     help=run["label"] + (". 'Both' draws your run dash-dotted beside the shipped weights."
                                          if both else ""))


def chosen_weights(problem: str, method: str, ways: int = 5) -> list[StartingWeights]:
    """The weights `method` starts from, as this user chose in `weights_picker` (the shipped checkpoint when they
    have not chosen): one `starting_weights`, or for "both" two, the shipped weights first and then their run."""
    choice = st.session_state.get(SOURCE_KEYS[problem] + method, "shipped")
    picks = ["shipped", "mine"] if choice == "both" else [choice]
    return [starting_weights(problem, method, pick, ways) for pick in picks]


def store_trained_run(problem: str, algo: str, checkpoint: Checkpoint, label: str, **extra: Any) -> bool:
    """Keep a finished run (per user, in session state, and on this server for this browser so that a reload
    keeps it; `extra`: e.g. its checkpoint file); the latest run of an algorithm replaces the previous. False when
    it could be kept for this session only (no browser id)."""
    from ui import browser, run_store

    entry = {"checkpoint": checkpoint, "label": label, **extra}
    trained_runs(problem)[algo] = entry
    return run_store.STORE.keep(browser.browser_id(), problem, algo, entry)


@st.cache_resource(show_spinner="Decoding the Omniglot archives (once per server)…")
def load_omniglot_cached(data_dir: str):
    """The decoded Omniglot characters in `data_dir`, shared read-only by every user. Raises `DataError`."""
    from maml_core import load_omniglot
    return load_omniglot(data_dir)


def omniglot_archives_present(data_dir: Path | None = None) -> bool:
    """Whether `data_dir` (default: DATA_DIR) holds at least one official Omniglot archive (cheap: no decoding)."""
    from maml_core.omniglot import ARCHIVES
    folder = Path(DATA_DIR if data_dir is None else data_dir)
    return any((folder / name).is_file() for name in ARCHIVES)

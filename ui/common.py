"""What every page shares: method colours and names, cached checkpoint loading, sidebar settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from maml_core import Checkpoint, CheckpointError, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
# The app (not the library) reads settings from the environment: where weights and data live.
ASSETS = Path(os.environ.get("MAML_ASSETS_DIR", ROOT / "assets"))
DATA_DIR = Path(os.environ.get("MAML_DATA_DIR", ROOT / "data" / "omniglot"))

# One colour per method on every chart of every page (colour-blind-safe Okabe-Ito palette).
METHOD_COLORS = {
    "maml": "#0072B2",  # blue
    "fomaml": "#E69F00",  # orange
    "pretrain": "#009E73",  # green
    "transfer": "#009E73",  # green (the baseline's slot on the Omniglot page)
    "random": "#999999",  # grey
    "truth": "#000000",
    "support": "#D55E00",  # vermillion
}
METHOD_LABELS = {
    "maml": "MAML",
    "fomaml": "FO-MAML",
    "pretrain": "Pretrained (all tasks)",
    "transfer": "Transfer learning",
    "random": "Random init",
}

SINUSOID_CHECKPOINTS = {"maml": "sinusoid_maml.pt", "fomaml": "sinusoid_fomaml.pt", "pretrain": "sinusoid_pretrain.pt"}
OMNIGLOT_CHECKPOINTS = {"maml": "omniglot_5w1s_maml.pt", "fomaml": "omniglot_5w1s_fomaml.pt",
                        "transfer": "omniglot_5w1s_transfer.pt"}


@st.cache_resource(show_spinner="Loading trained weights…")
def load_shipped(name: str) -> Checkpoint:
    """A shipped checkpoint from assets/, loaded once per server and shared read-only by all users."""
    return load_checkpoint(ASSETS / name)


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


def sidebar_settings(available_methods: tuple[str, ...], default_lr: float | None = None) -> Settings:
    """The shared sidebar (same keys on every page, so values persist across page switches)."""
    ss = st.session_state
    ss.setdefault("inner_steps", 10)
    ss.setdefault("seed", 0)
    ss.setdefault("large_fonts", False)
    with st.sidebar:
        st.header("Adaptation")
        steps = st.slider("Inner steps (S)", 0, 20, key="inner_steps",
                          help="Gradient steps on the support set, from the meta-learned initialisation.")
        own = st.toggle("Use each model's validated learning rate", value=True, key="own_lr",
                        help="Off: one inner learning rate (alpha) for every method.")
        lr = None
        if not own:
            lr = st.number_input("Inner learning rate (alpha)", min_value=0.0, max_value=100.0,
                                 value=float(default_lr or 0.01), step=0.005, format="%.4f", key="inner_lr")
        methods = st.multiselect("Methods", list(available_methods), default=list(available_methods),
                                 format_func=lambda m: METHOD_LABELS.get(m, m), key="methods_" + "_".join(available_methods))
        seed = st.number_input("Random seed", min_value=0, max_value=2**31 - 1, step=1, key="seed")
        large = st.toggle("Large fonts (projector)", key="large_fonts")
    return Settings(int(steps), lr, tuple(methods), int(seed), bool(large))


def apply_theme(large_fonts: bool) -> None:
    """Projector mode: bigger text everywhere (charts read `font_size()`)."""
    if large_fonts:
        st.markdown("<style>html, body, [class*='st-'] {font-size: 1.25rem;} h1 {font-size: 2.6rem;}</style>",
                    unsafe_allow_html=True)


def font_size() -> int:
    return 20 if st.session_state.get("large_fonts") else 13

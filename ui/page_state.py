"""Each page's per-user state: one typed object under one session-state key.

`SinusoidState.of(st.session_state)` (and `OmniglotState.of(...)`) returns the page's object, creating it on a
user's first visit; it lives in the session, so it survives reruns and page switches and is never shared between
users. Every value the page keeps is a field of it, except widget values: Streamlit keeps a widget's value under
the widget's own `key=`, so those stay loose. Each page's widget keys start with its prefix and are listed here
(`SINUSOID_WIDGETS`, `OMNIGLOT_WIDGETS`; "<...>" marks a part that varies). The shared sidebar's keys
(`inner_steps`, `own_lr`, `inner_lr`, `seed`, `large_fonts`, `methods_<...>`; ui/common.py) are the same on every
page on purpose: a lecturer sets them once.

No Streamlit here: tests and the views create and read these objects with a plain dict as the session.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from torch import Tensor

    from .state_types import EpisodeResult, MethodResult, Point


@dataclass
class ShownStep:
    """The inner step every chart, table and sentence of a page is drawn for (ui/step_control.py draws the
    control that moves it)."""

    step: int | None = None  # None until set: the page shows the last step
    playing: bool = False  # Play is walking through the steps, one per tick
    # The step a link asked for (`step=` in the URL, ui/scene.py): the control shows it the first time it is drawn,
    # over the page's own choice (a new S shows its last step; new Omniglot results too).
    linked: int | None = None
    drawn: bool = False  # the control was drawn in this session (else no click on it can have run its callback)

    def show(self, step: int, *, playing: bool = False) -> None:
        """Show `step`; stops playing unless told otherwise."""
        self.step, self.playing = int(step), playing


@dataclass
class PageState:
    """What every page's state has; `KEY` is its session-state key."""

    KEY: ClassVar[str]

    scene_restored: bool = False  # the link's scene was applied (once per session: ui/scene.restore)
    shown: ShownStep = field(default_factory=ShownStep)  # the step control's step and play state

    @classmethod
    def of(cls, session: MutableMapping[str, Any]) -> Self:
        """This user's state for the page (`st.session_state` or any mapping), created on first use."""
        state = session.get(cls.KEY)
        if state is None:
            state = session[cls.KEY] = cls()
        return state


# --- Sinusoid --------------------------------------------------------------------------------------------------

SINUSOID_PREFIX = "sin_"  # every widget key of the Sinusoid page ("Reset this page" deletes them all)
SINUSOID_WIDGETS = (
    "sin_amp", "sin_phase", "sin_k", "sin_new_task", "sin_sample", "sin_clear",  # 1 · the task, 2 · the points
    "sin_upload_<version>", "sin_plot", "sin_click", "sin_editor_<version>", "sin_download", "sin_losses",
    "sin_present", "sin_reset", "sin_src_<method>",  # sidebar (the Meta-training page sets sin_src_ too)
    "sin_step_row", "sin_first", "sin_prev", "sin_play", "sin_next", "sin_step_slider",  # the step control
)


@dataclass
class SinusoidState(PageState):
    """The Sinusoid page (app_pages/sinusoid.py), under `st.session_state["sinusoid"]`. The task (A, φ), K and the
    presenter layout are widgets: `sin_amp`, `sin_phase`, `sin_k`, `sin_present`."""

    KEY: ClassVar[str] = "sinusoid"

    points: list[Point] | None = None  # the support set; None until the page samples K points on a first visit
    version: int = 0  # bumped whenever the points change: new keys give a fresh table and uploader
    # (level, text) about the last change to the points: confirmations toast once, problems stay until the next
    messages: list[tuple[str, str]] = field(default_factory=list)
    messages_shown: bool = False  # the confirmations among `messages` were toasted (once)
    draws: int = 0  # random draws so far (new task, sample): each seeds its own generator
    last_steps: int | None = None  # the S the page last drew: a new S shows its last step
    last_click: float = 0.0  # the time stamp of the last chart click applied (ui/chart_click.py): each applies once
    # adaptation results for weights only this user has (their own run; shared weights use a server-wide cache)
    cache: dict[tuple, dict[str, MethodResult]] = field(default_factory=dict)

    @property
    def upload_key(self) -> str:
        return f"sin_upload_{self.version}"

    @property
    def editor_key(self) -> str:
        return f"sin_editor_{self.version}"


# --- Omniglot --------------------------------------------------------------------------------------------------

OMNIGLOT_PREFIX = "omni_"  # every widget key of the Omniglot page
OMNIGLOT_WIDGETS = (
    "omni_ways", "omni_shots", "omni_source", "omni_new_episode", "omni_download",  # 1 · the episode
    "omni_cv_<slot>_<canvas generation>", "omni_up_<slot>_<upload generation>",  # each input slot (ui/omniglot_inputs)
    "omni_undo_up_<slot>_<upload generation>",
    "omni_adapt", "omni_clear", "omni_query_index", "omni_prob_chart", "omni_loss_chart", "omni_acc_chart",
    "omni_src_<method>", "omni_present",  # sidebar (the Meta-training page sets omni_src_ too)
    "omni_step_row", "omni_first", "omni_prev", "omni_play", "omni_next", "omni_step_slider",  # the step control
)


@dataclass
class OmniglotState(PageState):
    """The Omniglot page (app_pages/omniglot.py), under `st.session_state["omniglot"]`. Ways, shots, where the
    examples come from and the inspected query are widgets: `omni_ways`, `omni_shots`, `omni_source`,
    `omni_query_index`. A slot is one input: "c<class>k<example>" or "q" (the query)."""

    KEY: ClassVar[str] = "omniglot"

    episode: int = 0  # the dataset episode shown, from 0 (the URL and the page count from 1)
    result: EpisodeResult | None = None  # the last adaptation ("Adapt"), kept until the inputs are cleared
    # slot -> the drawing, PNG bytes as the canvas sends them (tests may put an RGBA uint8 array here)
    drawings: dict[str, Any] = field(default_factory=dict)
    canvas_json: dict[str, Any] = field(default_factory=dict)  # slot -> the canvas's strokes, to redraw them
    canvas_init: dict[str, Any] = field(default_factory=dict)  # slot -> the strokes a canvas was (re)mounted with
    canvas_gen: dict[str, int] = field(default_factory=dict)  # slot -> generation in its canvas key (new: blank)
    upload_gen: dict[str, int] = field(default_factory=dict)  # slot -> generation in its uploader key (new: empty)
    # slot -> (the drawing's fingerprint, network input, note): each drawing is preprocessed once
    draw_memo: dict[str, tuple[str, Tensor | None, str]] = field(default_factory=dict)
    # slot -> (the upload's file id, network input, preview PNG, error): each upload is decoded once
    upload_memo: dict[str, tuple[str, Tensor | None, bytes | None, str | None]] = field(default_factory=dict)


# --- Home and Meta-training --------------------------------------------------------------------------------------
# Their links hold only the projector switch (`?big=1`), so a lecturer's prepared links open every page in large
# fonts; the Meta-training page's run lives in the session under its own keys (`mt_*`, ui/training_view.py).

@dataclass
class HomeState(PageState):
    KEY: ClassVar[str] = "home"


@dataclass
class MetaTrainingState(PageState):
    KEY: ClassVar[str] = "meta_training"

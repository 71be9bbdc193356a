"""The one control for "which inner step is shown", shared by the Sinusoid and Omniglot pages.

A slider ("Shown step") and four buttons (to step 0, back, play / pause, next) that always agree, because they all
read and write one number, the page state's `ShownStep` (ui/page_state.py); every chart, table and sentence on the
page is drawn for that step. Its widget keys start with the page's prefix (`<prefix>_next`, `<prefix>_step_slider`).
Keyboard (Streamlit's button shortcuts, each shown on its button): Left / Right = back / next, Space = play /
pause, Home = step 0. The step shown is distinct from S, the number of inner steps (the sidebar's
*Number of inner steps S*): the slider runs from 0 to S.

The page's address holds the step shown (`step=`, ui/scene.py), written as the step on screen after every run, so
it follows Next, Back, the slider and each tick of Play; a link opens at its step (the first time the control is
drawn: on Omniglot, with the first results), and Next, Back and Play go on from there (Play from the linked step,
or from step 0 when the link is at the last one). After a server restart the browser's page still shows its old
step and its first click comes to a new session that never drew the control: that click is applied to the step in
the address (`drawn`), so Next at step 0 shows step 1.

Play runs on the server: the page calls `keep_playing` last, which waits until the step has been shown for
`PLAY_SECONDS` and then re-runs the page on the next step (so every chart moves together); playing stops at the
last step. (A fragment timer in the browser was tried first: under load its timer was sometimes lost and play
stalled mid-way.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from . import common
from .page_state import ShownStep

# Button width at the 16-px root font: icon, label and key hint fit (width="content" cut "Back" to "B…").
BUTTON_PX = 132
FIRST_PX = 158  # "To step 0" and its key hint "Home"
PLAY_SECONDS = 0.9  # one inner step per tick: slow enough to read, fast enough for a class's attention


@dataclass(frozen=True)
class StepView:
    """What the page draws: `step` of `n_steps` (0 = the initialisation, before any inner step)."""

    step: int
    n_steps: int
    playing: bool
    drawn_at: float = 0.0  # time.monotonic() when the control was drawn: `keep_playing` waits from here


def shown_step(shown: ShownStep, n_steps: int) -> int:
    """The step the page shows, clamped to 0..n_steps (a smaller S than last time shows its last step)."""
    step = n_steps if shown.step is None else int(shown.step)
    if not 0 <= step <= n_steps:
        step = n_steps
        shown.step = step
    return step


def step_control(prefix: str, shown: ShownStep, n_steps: int, *, disabled: bool = False,
                 extend: Callable[[], bool] | None = None, label: str = "Shown step") -> StepView:
    """Draw the control for the page's `shown` step (widget keys start with `prefix`) and return what to show.
    `extend`, if given, is called when "next" is pressed on the last step: it may raise the number of steps
    (returning True), e.g. the Sinusoid page's S, and the control then shows the new step."""
    ss = st.session_state
    slider_key = f"{prefix}_step_slider"
    if shown.linked is not None:  # a link's step wins over what the page chose before drawing the control
        shown.show(min(shown.linked, n_steps), playing=False)
        shown.linked = None
    first_draw, shown.drawn = not shown.drawn, True
    step = shown_step(shown, n_steps)
    if disabled or n_steps == 0:
        shown.playing = False

    def now() -> int:  # (in a callback: the step as the last run left it, which that run drew as `step`)
        return step if shown.step is None else int(shown.step)

    def on_first() -> None:
        shown.show(0)

    def on_prev() -> None:
        shown.show(max(0, now() - 1))

    def on_next() -> None:
        s = now()
        if s < n_steps:
            shown.show(s + 1)
        elif extend is not None and extend():
            shown.show(s + 1)

    def on_play() -> None:
        if shown.playing:
            shown.show(now())
        else:  # from the start again when at the end
            shown.show(0 if now() >= n_steps else now(), playing=True)

    def on_slide() -> None:
        shown.show(int(ss[slider_key]))

    playing = shown.playing
    big = ss.get("large_fonts")
    px, first_px = ((round(BUTTON_PX * 1.25), round(FIRST_PX * 1.25)) if big  # the projector's 20-px root font
                    else (BUTTON_PX, FIRST_PX))
    no_more = step >= n_steps and extend is None
    # One horizontal row that wraps (on a phone the slider goes under the buttons instead of stacking all five).
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small", key=f"{prefix}_step_row")
    pressed = [
        (row.button("To step 0", icon=":material/first_page:", key=f"{prefix}_first", on_click=on_first,
                    disabled=disabled or step == 0, shortcut="Home", width=first_px,
                    help="Back to the initialisation, before any inner step (key: Home)."), on_first),
        (row.button("Back", icon=":material/chevron_left:", key=f"{prefix}_prev", on_click=on_prev,
                    disabled=disabled or step == 0, shortcut="Left", width=px,
                    help="Show the previous inner step (key: ←)."), on_prev),
        (row.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
                    key=f"{prefix}_play", on_click=on_play, disabled=disabled or n_steps == 0,
                    type="primary" if playing else "secondary", shortcut="Space", width=px,
                    help="Walk through the inner steps, one every second (key: space)."), on_play),
        (row.button("Next", icon=":material/chevron_right:", key=f"{prefix}_next", on_click=on_next,
                    disabled=disabled or no_more, shortcut="Right", width=px,
                    help="Show the next inner step (key: →)." + (" On the last step it adds one more inner step."
                                                               if extend is not None else "")), on_next),
    ]
    if first_draw:  # a click from a page this session never drew (the server restarted): its callback never ran
        for clicked, action in pressed:
            if clicked:
                action()
                st.rerun()
    ss[slider_key] = step
    if n_steps > 0:
        with row.container(width="stretch"):
            st.slider(label, 0, n_steps, key=slider_key, on_change=on_slide, disabled=disabled,
                      help="The inner step every chart and number shows: 0 is the initialisation, each step one "
                           "gradient step on the support set (how many there are: S, in the sidebar).")
    else:
        row.markdown(f"{label}: **0** of **0**: set *Number of inner steps S* in the sidebar above 0 to adapt.")

    return StepView(step, n_steps, playing, time.monotonic())


def keep_playing(shown: ShownStep, view: StepView) -> None:
    """Call last on the page: while playing, wait until the shown step has been up for `PLAY_SECONDS`, then show
    the next one (a new page run). The page is fully drawn before the wait; a click meanwhile (Pause, a slider)
    is handled by the next run. Playing stops on the last step."""
    if not view.playing:
        return
    wait = PLAY_SECONDS - (time.monotonic() - view.drawn_at)
    if wait > 0:
        with common.turn_given_up():  # other sessions' pages run while this one waits
            time.sleep(wait)
    nxt = view.step + 1
    shown.show(min(nxt, view.n_steps), playing=nxt < view.n_steps)
    st.rerun()

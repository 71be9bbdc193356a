"""Shareable scenes: what a page shows, kept in its URL's query parameters.

A lecturer prepares demos as links and a student shares what they found: every run of a page writes its scene
(the task, the points, the settings) to the address bar, and a page opened from such a link restores it before
any widget is drawn. A value the page cannot use (not a number, out of range, an unknown method) is left out
with a message that says which and what was used instead; the rest of the link still applies.

Each page describes its scene as a list of `Param`s: the name in the URL, how to read it into widget values in
the session or into fields of the page's state object (ui/page_state.py) (raising `ValueError` with the reason),
and how to write it from the session.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from .page_state import PageState, ShownStep


@dataclass(frozen=True)
class Param:
    name: str  # in the URL
    what: str  # in messages ("amplitude A")
    read: Callable[[list[str]], dict[str, Any]]  # URL values -> values by key; ValueError says why not
    write: Callable[[Any], list[str] | None]  # session state -> URL values (None: leave it out)
    page_state: bool = False  # `read`'s keys are fields of the page's state object (else widget keys)


@dataclass(frozen=True)
class Restored:
    applied: list[str]  # what the link set ("amplitude A", ...)
    problems: list[str]  # what it could not, one sentence each

    def show(self) -> None:
        """A note at the foot of the sidebar when a link's scene was applied (a shared link, or this page after a
        server restart: the browser's page runs again with its address), where it covers nothing and moves nothing
        when it goes with the next run (a toast covered the step slider); a warning naming each value that could
        not be used."""
        if self.applied:
            st.sidebar.info("Opened the scene saved in this page's address (" + ", ".join(self.applied[:4])
                            + (", …" if len(self.applied) > 4 else "") + ").", icon=":material/link:")
        if self.problems:
            st.warning(problems_message(self.problems), icon=":material/link_off:")


def restore(params: Sequence[Param], state: PageState) -> Restored:
    """Once per session and page (`state.scene_restored` records it): copy the link's scene into the widget keys
    and the page's `state` (call before the page's widgets)."""
    ss = st.session_state
    if state.scene_restored:
        return Restored([], [])
    state.scene_restored = True
    applied, problems = [], []
    for p in params:
        values = st.query_params.get_all(p.name)
        if not values:
            continue
        try:
            values_by_key = p.read(values)
            if p.page_state:
                for name, value in values_by_key.items():
                    setattr(state, name, value)
            else:
                ss.update(values_by_key)
            applied.append(p.what)
        except ValueError as e:
            shown = ", ".join(values)
            problems.append(f"{p.what}: “{shown[:40]}{'…' if len(shown) > 40 else ''}” {e}")
    return Restored(applied, problems)


LESSON = "lesson"  # in the address: the lesson that shows this page (ui/lesson_memory.py), for a server restart
LESSON_KEY = "lesson_address"  # session key: that value, set by ui/lesson.lesson_bar while a lesson is presented


def publish(params: Sequence[Param]) -> None:
    """Write the session's scene to the address bar (replacing other pages' parameters), and the lesson showing it."""
    ss = st.session_state
    out: dict[str, list[str]] = {}
    for p in params:
        v = p.write(ss)
        if v:
            out[p.name] = v
    if ss.get(LESSON_KEY):
        out[LESSON] = [ss[LESSON_KEY]]
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    if current != out:
        st.query_params.from_dict(out)


def problems_message(problems: list[str]) -> str:
    return ("This link had values the page cannot use, so it kept its own for them:\n\n- " + "\n- ".join(problems)
            + "\n\nEverything else in the link was applied.")


def flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError("is not 0 or 1")
    return text == "1"


def one(key: str, parse: Callable[[str], Any]) -> Callable[[list[str]], dict[str, Any]]:
    """A single value for one session key (the last one if the link repeats it)."""
    return lambda values: {key: parse(values[-1])}


def switch(name: str, what: str, key: str) -> Param:
    """An on/off widget (a toggle under session key `key`) in the URL as `name=1`, left out when off."""
    return Param(name, what, one(key, flag), lambda ss: ["1"] if ss.get(key) else None)


# The projector switch: part of every page's scene (Home's and Meta-training's scene is only this).
LARGE_FONTS = switch("big", "large fonts", "large_fonts")


def shown_step(state_cls: type[PageState]) -> Param:
    """The step the page's step control shows (`step=`, 0 = before any inner step; distinct from S, the number of
    steps): written as the step on screen, read into `ShownStep.linked` so the control opens at it."""

    def read(values: list[str]) -> dict[str, Any]:
        return {"shown": ShownStep(linked=number(0, 20, integer=True)(values[-1]))}

    def write(ss: Any) -> list[str] | None:
        shown = state_cls.of(ss).shown
        step = shown.linked if shown.linked is not None else shown.step  # (a linked step not drawn yet stays)
        return None if step is None else [str(step)]

    return Param("step", "shown step", read, write, page_state=True)


def settings_params(methods_key: str, methods: Sequence[str], state_cls: type[PageState] | None = None) -> list[Param]:
    """The shared sidebar's settings (`common.sidebar_settings`): inner steps, learning rate, methods, seed and
    the projector's large fonts; with the page's state class, also the step its step control shows."""

    def read_methods(values: list[str]) -> dict[str, Any]:
        chosen = [m for m in ",".join(values).split(",") if m]
        if any(m not in methods for m in chosen):
            raise ValueError(f"names no method here ({', '.join(methods)})")
        return {methods_key: chosen}

    def read_lr(values: list[str]) -> dict[str, Any]:
        if values[-1] == "own":
            return {"own_lr": True}
        return {"own_lr": False, "inner_lr": number(0.0, 100.0)(values[-1])}

    return [
        Param("S", "inner steps", one("inner_steps", number(0, 20, integer=True)),
              lambda ss: [str(ss.get("inner_steps", 10))]),
        *([shown_step(state_cls)] if state_cls is not None else []),
        Param("lr", "inner learning rate", read_lr,
              lambda ss: ["own"] if ss.get("own_lr", True) else [fmt(ss.get("inner_lr", 0.01), 4)]),
        Param("m", "methods", read_methods, lambda ss: [",".join(ss.get(methods_key, methods))]),
        Param("seed", "random seed", one("seed", number(0, 2**31 - 1, integer=True)),
              lambda ss: [str(ss.get("seed", 0))]),
        LARGE_FONTS,
    ]


# --- readers -------------------------------------------------------------------------------------------------

def number(lo: float, hi: float, *, integer: bool = False) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            v = float(text)
        except ValueError:
            raise ValueError("is not a number") from None
        if not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"is outside {lo:g} to {hi:g}")
        if integer:
            if v != int(v):
                raise ValueError("is not a whole number")
            return int(v)
        return v
    return parse


def choice(options: Sequence[Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        for o in options:
            if str(o) == text:
                return o
        raise ValueError(f"is not one of {', '.join(map(str, options))}")
    return parse


def fmt(v: float, digits: int = 3) -> str:
    """A number as short as it can be written exactly to `digits` decimals (3.0 -> '3', 0.125 -> '0.125')."""
    text = f"{round(float(v), digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text

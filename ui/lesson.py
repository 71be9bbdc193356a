"""Lesson mode in the app: the deck a lecturer builds or opens (ui/lesson_deck.py), where the lesson is, and the moves
between its scenes.

A lesson is walked one step at a time (`lesson_deck.steps`): a scene's "predict first" prompt on the Lesson page,
then the scene itself on its own page, opened from its address as a shared link would open it. PageDown and
PageUp (what presenter clickers send) are the shortcuts of the Next and Back buttons, on the Lesson page and in
the lesson bar (`lesson_bar`) that the scene pages draw at the top of their sidebar; they never clash with the
step control's keys (← → space Home). Where the lesson is lives in this session (it survives page switches) and,
for a reload (a clicker's "start" button sends F5), on this server for this browser (`Remembered`: the browser's
random id in a cookie, ui/browser.py, never in a link), and for a server restart in the address of the page it shows
(ui/lesson_memory.py). The Lesson page's address also names a shipped deck and its scene (`?deck=...&scene=3`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import streamlit as st

from . import browser, common
from . import lesson_deck as ld
from . import lesson_memory as lm
from .inside_state import INSIDE_PREFIX, InsideState
from .page_state import (
    OMNIGLOT_PREFIX,
    SINUSOID_PREFIX,
    HomeState,
    MetaTrainingState,
    OmniglotState,
    PageState,
    SinusoidState,
)
from .scene import LESSON, LESSON_KEY

LESSON_FILE = "app_pages/lesson.py"
LESSONS = common.ROOT / "assets" / "lessons"  # the example decks (part of the app, like its pages)
FILES = {Path(f).stem: f for f, *_ in common.PAGES}  # "sinusoid" -> "app_pages/sinusoid.py"
# What a scene's page keeps for a user, cleared before the scene opens (state class, widget-key prefix).
PAGE_STATE: dict[str, tuple[type[PageState], str | None]] = {
    "home": (HomeState, None),
    "sinusoid": (SinusoidState, SINUSOID_PREFIX),
    "inside": (InsideState, INSIDE_PREFIX),
    "omniglot": (OmniglotState, OMNIGLOT_PREFIX),
    "meta_training": (MetaTrainingState, None),  # (its run lives under mt_* keys and is never touched)
}


@dataclass
class LessonState(PageState):
    """The lesson, under `st.session_state["lesson"]` (the Lesson page's widget keys start with `lesson_`)."""

    KEY: ClassVar[str] = "lesson"

    deck: ld.Deck = field(default_factory=lambda: ld.Deck("", ()))
    uids: list[int] = field(default_factory=list)  # per scene, the number in its widgets' keys (kept when moved)
    next_uid: int = 0
    shipped: str | None = None  # the example deck it is, while unchanged (the Lesson page's address names it)
    origin: str = ""  # where the deck came from, in words
    at: int | None = None  # while presenting: the position in `steps(deck)`; None while editing
    go: bool = False  # a move was made (in a callback): switch to where the lesson now is
    upload_id: str | None = None  # the uploaded file already opened (a rerun does not open it again)
    notes: dict[int, str] = field(default_factory=dict)  # uid -> why its edited address was not used
    message: tuple[str, str] | None = None  # (level, text) about the last open or add
    mark_read: bool = False  # a scene page's address was read for a lesson to reopen (once per session)

    @property
    def presenting(self) -> bool:
        return self.at is not None and bool(self.deck.scenes)

    def step(self) -> ld.Step:
        return ld.steps(self.deck)[self.at or 0]


def state() -> LessonState:
    """This session's lesson; a new session (a reload) starts from the one this browser had on this server."""
    ss = st.session_state
    if LessonState.KEY not in ss:
        s = LessonState.of(ss)
        kept = lm.REMEMBERED.recall(browser.browser_id())
        if kept is not None:
            deck, origin, shipped, at = kept
            set_deck(s, deck, origin, shipped)
            s.at = at if at is not None and at < len(ld.steps(deck)) else None
        return s
    return LessonState.of(ss)


def remember(s: LessonState) -> None:
    """Keep where the lesson is for this browser (call at the end of each run that draws the lesson)."""
    lm.REMEMBERED.keep(browser.browser_id(), (s.deck, s.origin, s.shipped, s.at))


# --- decks ----------------------------------------------------------------------------------------------------------

def shipped_decks() -> tuple[dict[str, ld.Deck], list[str]]:
    """The example decks in assets/lessons/ by id (the file's name), and a sentence for each that cannot be read."""
    decks, problems = {}, []
    for path in sorted(LESSONS.glob("*.json")):
        try:
            decks[path.stem] = ld.load_deck(path.read_bytes(), path.name)
        except (OSError, ld.DeckError) as e:
            problems.append(str(e))
    return decks, problems


def set_deck(s: LessonState, deck: ld.Deck, origin: str, shipped: str | None = None) -> None:
    """Replace the deck (fresh widget keys for every scene) and stop presenting."""
    s.deck, s.origin, s.shipped, s.at, s.notes = deck, origin, shipped, None, {}
    s.uids = list(range(s.next_uid, s.next_uid + len(deck.scenes)))
    s.next_uid += len(deck.scenes)
    for uid, scene in zip(s.uids, deck.scenes):
        _fill(uid, scene)


def open_example(s: LessonState, deck: ld.Deck, name: str) -> str:
    """Opens the example deck `name`; returns how the page names it."""
    set_deck(s, deck, origin := f"the example deck “{deck.title or name}”", shipped=name)
    return origin


def _fill(uid: int, scene: ld.Scene) -> None:
    ss = st.session_state
    ss[f"lesson_title_{uid}"], ss[f"lesson_prompt_{uid}"], ss[f"lesson_path_{uid}"] = (
        scene.title, scene.prompt, scene.path)


def edited(s: LessonState, scenes: list[ld.Scene], uids: list[int] | None = None, title: str | None = None) -> None:
    s.deck = ld.Deck(s.deck.title if title is None else title, tuple(scenes))
    if uids is not None:
        s.uids = uids
    s.shipped = None  # no longer the example deck its address named


def add_scene(s: LessonState, text: str) -> str | None:
    """Add the scene at address `text` at the end; None, or why it was not added."""
    if len(s.deck.scenes) >= ld.MAX_SCENES:
        return f"The deck has {ld.MAX_SCENES} scenes, the most a deck has: remove one first, or start a second deck."
    try:
        scene = ld.parse_scene(text)
    except ld.DeckError as e:
        return str(e)
    uid = s.next_uid
    s.next_uid += 1
    _fill(uid, scene)
    edited(s, [*s.deck.scenes, scene], [*s.uids, uid])
    return None


def edit_scene(s: LessonState, uid: int) -> None:
    """A scene's title, prompt or address was edited (its widgets' values): keep what can be used."""
    ss = st.session_state
    n = s.uids.index(uid)
    old = s.deck.scenes[n]
    s.notes.pop(uid, None)
    try:
        title = ld.check_text(ss.get(f"lesson_title_{uid}", ""), "title", ld.MAX_TITLE)
        prompt = ld.check_text(ss.get(f"lesson_prompt_{uid}", ""), "prompt", ld.MAX_PROMPT, lines=True)
        new = ld.parse_scene(ss.get(f"lesson_path_{uid}", ""), title=title, prompt=prompt)
    except ld.DeckError as e:
        s.notes[uid] = f"{e} The deck keeps what it had: {old.path}"
        return
    scenes = list(s.deck.scenes)
    scenes[n] = new
    edited(s, scenes)


def move_scene(s: LessonState, uid: int, by: int) -> None:
    n = s.uids.index(uid)
    m = n + by
    if not 0 <= m < len(s.uids):
        return
    scenes, uids = list(s.deck.scenes), list(s.uids)
    scenes[n], scenes[m] = scenes[m], scenes[n]
    uids[n], uids[m] = uids[m], uids[n]
    edited(s, scenes, uids)


def remove_scene(s: LessonState, uid: int) -> None:
    n = s.uids.index(uid)
    s.notes.pop(uid, None)
    edited(s, [sc for i, sc in enumerate(s.deck.scenes) if i != n], [u for i, u in enumerate(s.uids) if i != n])


def set_title(s: LessonState) -> None:
    try:
        title = ld.check_text(st.session_state.get("lesson_deck_title", ""), "deck's title", ld.MAX_TITLE)
    except ld.DeckError as e:
        s.message = ("error", str(e))
        return
    edited(s, list(s.deck.scenes), title=title)


# --- moving through the lesson ------------------------------------------------------------------------------------

def move(s: LessonState, to: int) -> None:
    """Go to position `to` of the lesson (a button's callback); the run it starts switches to the page that shows
    it (`follow`)."""
    s.at = max(0, min(to, len(ld.steps(s.deck)) - 1))
    s.go = True


def fresh(page: str) -> None:
    """The scene's page as a new visitor finds it, so that it applies the scene's address (a page applies a link
    once per session, ui/scene.py) and nothing of the last scene on it stays: its state and widgets are cleared and
    the shared settings go back to their defaults. Large fonts and the weights each method starts from stay."""
    ss = st.session_state
    cls, prefix = PAGE_STATE[page]
    if prefix:
        for key in [k for k in ss if str(k).startswith(prefix) and "_src_" not in str(k)]:
            del ss[key]
    ss[cls.KEY] = cls()
    ss["inner_steps"], ss["own_lr"], ss["seed"] = 10, True, 0
    for key in [k for k in ss if str(k).startswith("methods_")]:
        del ss[key]


def follow(s: LessonState, here: str) -> None:
    """After a move: switch to the page that shows the lesson's step (`here`: this page's name). Call before any
    widget of the page: opening a scene clears its page's widgets (`fresh`), and on a scene's page this run has
    already applied the old address to them (a scene page's restore comes first)."""
    if not s.go:
        return
    s.go = False
    if not s.presenting:
        return
    step = s.step()
    if step.reveal:
        scene = s.deck.scenes[step.scene]
        fresh(scene.page)
        st.switch_page(FILES[scene.page], query_params=scene.params)
    if here != "lesson":
        st.switch_page(LESSON_FILE, query_params=lesson_address(s))


def lesson_address(s: LessonState) -> dict[str, str]:
    """The Lesson page's address: the example deck (while unchanged), the scene shown, large fonts."""
    out = {}
    if s.shipped:
        out["deck"] = s.shipped
        if s.presenting:
            out["scene"] = str(s.step().scene + 1)
    if st.session_state.get("large_fonts"):
        out["big"] = "1"
    return out


def describe(s: LessonState, position: int) -> str:
    """What the lesson shows at `position`, in a few words ('scene 3's question', 'scene 3')."""
    step = ld.steps(s.deck)[position]
    return f"scene {step.scene + 1}" + ("" if step.reveal else "’s question")


def nav_buttons(s: LessonState, prefix: str, container: Any = None) -> None:
    """Back (PageUp) and Next (PageDown), moving one step through the lesson."""
    box = container if container is not None else st.container(horizontal=True, gap="small")
    at, last = s.at or 0, len(ld.steps(s.deck)) - 1
    box.button("Back", icon=":material/skip_previous:", key=f"{prefix}_back", shortcut="PageUp",
               disabled=at == 0, on_click=move, args=(s, at - 1),
               help=f"Back to {describe(s, at - 1)} (key: PageUp)." if at > 0 else "The lesson's first step.")
    box.button("Next", icon=":material/skip_next:", key=f"{prefix}_next", shortcut="PageDown",
               disabled=at >= last, type="primary", on_click=move, args=(s, at + 1),
               help=f"On to {describe(s, at + 1)} (key: PageDown)." if at < last else "The lesson's last step.")


def lesson_bar() -> None:
    """On a scene's page, at the top of its sidebar while a lesson is presented: where the lesson is, and Back /
    Next (PageUp / PageDown) to move on. Draws nothing otherwise. Call before the page's other sidebar widgets."""
    s = state()
    reopen_from_address(s)
    follow(s, "scene")
    if not s.presenting:
        st.session_state.pop(LESSON_KEY, None)  # (and the next scene.publish drops it from the address)
        return
    step = s.step()
    shown = s.deck.scenes[step.scene]
    n = len(s.deck.scenes)
    st.session_state[LESSON_KEY] = lm.mark(s.shipped, step.scene)
    with st.sidebar.container(border=True, key="lesson_bar"):
        st.markdown(f"**:material/co_present: Lesson** · scene {step.scene + 1} of {n}: {plain(shown.heading)}")
        if shown.prompt:
            st.caption("Asked first: " + plain(shown.prompt))
        nav_buttons(s, "lesson_bar")
        at, last = s.at or 0, len(ld.steps(s.deck)) - 1
        st.caption((f"PageDown: {describe(s, at + 1)}" if at < last else "The lesson's last scene")
                   + (f" · PageUp: {describe(s, at - 1)}" if at > 0 else "") + ".")
        st.page_link(LESSON_FILE, label="The lesson's page", icon=":material/co_present:",
                     query_params=lesson_address(s))
    remember(s)


def reopen_from_address(s: LessonState) -> None:
    """Once per session on a scene's page: a lesson its address names (`?lesson=`, a page shown by a lesson before
    a server restart) is presented again at that scene, unless this browser's lesson already is; a warning says why
    a named lesson cannot be."""
    if s.mark_read:
        return
    s.mark_read = True
    value = st.query_params.get(LESSON)
    if value is None or s.presenting:
        return
    decks, _ = shipped_decks()
    try:
        name, at = lm.read_mark(value, decks)
    except ValueError as e:
        st.sidebar.warning(plain(str(e)), icon=":material/co_present:")
        return
    open_example(s, decks[name], name)
    s.at = ld.reveal_step(decks[name], at)


_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>:$&=\"'%^@])")


def plain(text: str) -> str:
    """Text from a deck shown as itself in markdown: every markup character escaped (no links, pictures, colours,
    icons or formulas come from a file), line breaks kept."""
    return "  \n".join(_PUNCT.sub(r"\\\1", line) for line in text.split("\n"))


def restore_address(s: LessonState, decks: dict[str, ld.Deck]) -> str | None:
    """Once per session, before any widget: large fonts with `big=1`; then, unless this browser's lesson was already
    being presented, the example deck the address names (`deck=`), at its scene (`scene=`, from 1). Returns why a
    part of the address was not used, or None."""
    if s.scene_restored:
        return None
    s.scene_restored = True
    q = st.query_params
    if q.get(ld.PRESENTER) == "1":
        st.session_state["large_fonts"] = True
    if s.presenting:  # a reload mid-lesson: this browser's lesson, where it was (`state`)
        return None
    name = q.get("deck")
    if name is None:
        return None
    if name not in decks:
        return (f"This address names the example deck “{ld._short(name)}”, which this app does not have: choose one "
                f"below ({', '.join(decks) or 'none ship with this copy'}).")
    deck = decks[name]
    open_example(s, deck, name)
    scene = q.get("scene")
    if scene is None:
        return None
    if not scene.isdigit() or not 1 <= int(scene) <= len(deck.scenes):
        return (f"This address asks for scene “{ld._short(scene)}”; the deck has scenes 1 to {len(deck.scenes)}: "
                "press Present to start at scene 1.")
    s.at = ld.first_step(deck, int(scene) - 1)
    return None


def publish(s: LessonState) -> None:
    """The Lesson page's address (`lesson_address`), written when it changed."""
    out = lesson_address(s)
    if {k: st.query_params.get(k) for k in st.query_params} != out:
        st.query_params.from_dict(out)


def stop(s: LessonState) -> None:
    s.at = None


def open_shipped(s: LessonState, decks: dict[str, ld.Deck]) -> None:
    name = st.session_state.get("lesson_example")
    if name in decks:
        s.message = ("success", f"Opened {open_example(s, decks[name], name)} ({scenes(len(decks[name].scenes))}).")


def open_upload(s: LessonState, upload: Any) -> None:
    """An uploaded deck file (untrusted): opened once per file, or refused with what is wrong."""
    if upload is None or upload.file_id == s.upload_id:
        return
    s.upload_id = upload.file_id
    try:
        deck = ld.load_deck(upload.getvalue(), upload.name)
    except ld.DeckError as e:
        s.message = ("error", f"Could not open {ld._short(upload.name)}: {e}")
        return
    set_deck(s, deck, f"the file {upload.name}")
    s.message = ("success", f"Opened {upload.name}: “{deck.title or 'untitled'}”, {scenes(len(deck.scenes))}.")


def on_add(s: LessonState) -> None:
    why = add_scene(s, st.session_state.get("lesson_add", ""))
    s.message = ("error", why) if why else ("success", f"Added scene {len(s.deck.scenes)}.")


def file_name(deck: ld.Deck) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", deck.title).strip("_").lower()[:60]
    return f"{slug or 'lesson'}.json"


def draws(scene: ld.Scene) -> bool:
    """An Omniglot scene whose examples are drawn (the page's default): it opens with blank canvases."""
    return scene.page == "omniglot" and scene.params.get("src", ["draw"])[-1] == "draw"


def scenes(n: int) -> str:
    return f"{n} scene{'' if n == 1 else 's'}"

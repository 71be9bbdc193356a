"""Where a presented lesson is, kept for a reload and for a server restart.

A reload (a clicker's "start" button sends F5) finds this browser's lesson on this server (`Remembered`: the
browser's random id in a cookie, ui/browser.py, never in a link). A server restart (a Community Cloud wake, a
redeploy) forgets that, so a page shown while a lesson is presented also names the lesson in its address
(`?lesson=<deck>.<scene>`, written with the page's scene by ui/scene.publish): on a new server an example deck
reopens there at that scene; a deck opened from a file or edited is not on the new server, and the page says to
open it again (`read_mark`).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping

from . import lesson_deck as ld

OWN = "own"  # in a mark: the deck came from a file or was edited, so only this server has it
_MARK = re.compile(r"(?P<deck>[A-Za-z0-9_-]{1,80})\.(?P<scene>[0-9]{1,3})")

Kept = tuple[ld.Deck, str, str | None, int | None]  # (deck, origin in words, example deck's id, position)


class Remembered:
    """browser id -> (deck, origin, shipped, position): the lesson each browser last had, so that a reload finds it;
    the least recently used browsers beyond `max_browsers` are dropped (a deck is at most 64 KB, most are ~2 KB)."""

    def __init__(self, max_browsers: int = 200) -> None:
        self.max_browsers = max_browsers
        self._lessons: OrderedDict[str, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, browser_id: str | None, kept: Kept) -> None:
        if browser_id is None:
            return
        with self._lock:
            if not kept[0].scenes and browser_id not in self._lessons:
                return  # (nothing to keep: a visit that never built a lesson)
            self._lessons[browser_id] = kept
            self._lessons.move_to_end(browser_id)
            while len(self._lessons) > self.max_browsers:
                self._lessons.popitem(last=False)

    def recall(self, browser_id: str | None) -> Kept | None:
        with self._lock:
            return self._lessons.get(browser_id) if browser_id is not None else None


REMEMBERED = Remembered()  # this server process's memory (like ui/run_store.STORE)


def mark(shipped: str | None, scene: int) -> str:
    """The address's lesson part for scene index `scene` of the example deck `shipped` (None: a deck of one's own)."""
    return f"{shipped or OWN}.{scene + 1}"


def read_mark(value: str, decks: Mapping[str, ld.Deck]) -> tuple[str, int]:
    """(example deck id, scene index) from an address's `lesson=` value; ValueError says, for the page, why the lesson
    cannot be reopened and what to do."""
    m = _MARK.fullmatch(value)
    if m is None:
        raise ValueError(f"This address names a lesson as “{ld._short(value)}”, which is not a lesson this app "
                         "can read: the page opened without it. Open a lesson on the Lesson page.")
    name, scene = m["deck"], int(m["scene"])
    if name not in decks:
        if name == OWN:
            raise ValueError(f"This page was shown at scene {scene} of a lesson from a deck file, which this server "
                             "does not have (it restarted, or this is another browser): open the file again on the "
                             f"Lesson page and present it from there (this was scene {scene}).")
        raise ValueError(f"This address names a lesson from the example deck “{ld._short(name)}”, which this app "
                         "does not have: choose a deck on the Lesson page.")
    deck = decks[name]
    if not 1 <= scene <= len(deck.scenes):
        raise ValueError(f"This address names scene {scene} of the lesson “{ld._short(deck.title or name)}”, which has "
                         f"scenes 1 to {len(deck.scenes)}: open it on the Lesson page.")
    return name, scene - 1

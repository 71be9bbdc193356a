"""A lesson deck: scenes (the paths the pages already put in the address bar), in order, each with an optional
"predict first" prompt, saved as a small versioned JSON file that a lecturer shares and opens again.

No Streamlit here: a deck is built, checked and written by pure functions (tests/test_lesson.py). A file opened
from disk is untrusted input: `load_deck` checks its size, its encoding, its format and version, every page and
query parameter name, and the length and characters of every string, and raises `DeckError` saying what is wrong
and what to do. A scene holds only its address: a drawn Omniglot character stays in the browser that drew it, so
a drawn scene opens with blank canvases. The values in a query are checked again by the page that opens it
(ui/scene.py names any it cannot use).

The file, version 1:
    {"format": "maml-visible-lesson", "version": 1, "title": "MAML in 5 scenes",
     "scenes": [{"page": "sinusoid", "query": "A=3&phi=0.5&K=5", "title": "...", "prompt": "..."}, ...]}
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

FORMAT = "maml-visible-lesson"
VERSION = 1
MAX_BYTES = 64 * 1024  # a 30-scene deck with long prompts is under 20 KB
MAX_SCENES = 30  # a lecture's worth; also bounds the page that lists them
MAX_TITLE = 100
MAX_PROMPT = 500
MAX_QUERY = 3000  # a Sinusoid scene with its 100 support points is about 1,500 characters
MAX_VALUE = 40  # one parameter value ("1.23_-0.45", "maml,fomaml,pretrain,random")
MAX_VALUES = 100  # values of one repeated parameter (the Sinusoid page's support points, p=x_y)

# The pages a scene can be on (url path -> the title in the sidebar) and the parameters each page's scene has
# (ui/scene.py, the pages' SCENE lists; tests/test_lesson.py checks both against the running pages).
SHARED = ("S", "lr", "m", "seed")  # the shared sidebar's settings (scene.settings_params)
PAGES = {
    "home": "Home",
    "sinusoid": "Sinusoid regression",
    "inside": "Inside MAML",
    "omniglot": "Omniglot few-shot",
    "challenge": "Human vs MAML",
    "meta_training": "Meta-training, live",
}
PARAMS = {
    "home": (),
    "sinusoid": ("A", "phi", "K", "p", "present", *SHARED, "step"),
    "inside": ("th", "pl", "at", *SHARED),
    "omniglot": ("N", "K", "src", "ep", "present", *SHARED, "step"),
    "challenge": ("N", "T", "ch", "seed"),  # (a person's answers are never part of a scene)
    "meta_training": (),
}
PRESENTER = "big"  # large fonts: the presenter's choice for the whole lesson, not part of a scene
_VALUE = re.compile(r"[A-Za-z0-9._,+\-]*")  # numbers, names and lists of them: all any scene writes
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # can make text read in another order
_KEYS = {"format", "version", "title", "scenes"}
_SCENE_KEYS = {"page", "query", "title", "prompt"}


class DeckError(ValueError):
    """A deck or a scene that cannot be used; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Scene:
    page: str  # a key of PAGES
    query: str  # url-encoded, without "?" and without the presenter's `big`
    title: str = ""
    prompt: str = ""  # "predict first": asked before the scene is revealed; "" = shown at once

    @property
    def path(self) -> str:
        """The scene's address in this app ('/sinusoid?A=3&...'; Home is '/')."""
        base = "/" if self.page == "home" else f"/{self.page}"
        return base + (f"?{self.query}" if self.query else "")

    @property
    def params(self) -> dict[str, list[str]]:
        """The query as `st.switch_page(query_params=...)` takes it (repeated names keep every value)."""
        out: dict[str, list[str]] = {}
        for name, value in parse_qsl(self.query, keep_blank_values=True):
            out.setdefault(name, []).append(value)
        return out

    @property
    def heading(self) -> str:
        return self.title or PAGES[self.page]


@dataclass(frozen=True)
class Deck:
    title: str
    scenes: tuple[Scene, ...]


@dataclass(frozen=True)
class Step:
    """One press of PageDown: a scene's prompt (`reveal` False), or the scene itself."""

    scene: int  # index into Deck.scenes
    reveal: bool


def steps(deck: Deck) -> list[Step]:
    """The lesson in the order PageDown walks it: each scene's prompt first (if it has one), then the scene."""
    out: list[Step] = []
    for i, s in enumerate(deck.scenes):
        if s.prompt:
            out.append(Step(i, False))
        out.append(Step(i, True))
    return out


def first_step(deck: Deck, scene: int) -> int:
    """The position in `steps(deck)` where scene `scene` starts (its prompt, if it has one)."""
    return next(n for n, s in enumerate(steps(deck)) if s.scene == scene)


def reveal_step(deck: Deck, scene: int) -> int:
    """The position in `steps(deck)` that shows scene `scene` itself (after its prompt, if it has one)."""
    return next(n for n, s in enumerate(steps(deck)) if s.scene == scene and s.reveal)


# --- reading a scene from an address ------------------------------------------------------------------------------

def parse_scene(text: str, *, title: str = "", prompt: str = "") -> Scene:
    """A scene from what a lecturer pastes: a path ('/sinusoid?A=2&phi=1'), a full link from the address bar, or
    'sinusoid?A=2'. Raises `DeckError`."""
    text = (text or "").strip()
    if not text:
        raise DeckError("The scene's address is empty: paste a page's address (copy it from the address bar, e.g. "
                        "/sinusoid?A=2&phi=1).")
    if len(text) > MAX_QUERY + 200:
        raise DeckError(f"The scene's address is {len(text):,} characters long; a scene's is at most "
                        f"{MAX_QUERY:,}: copy the page's address again, or use fewer support points.")
    parts = urlsplit(text if "://" in text or text.startswith("/") else "/" + text)
    segments = [s for s in parts.path.split("/") if s]
    page = segments[-1] if segments else "home"
    if page == "lesson":
        raise DeckError("That is the Lesson page's address: a scene is another page's (Sinusoid, Inside MAML, "
                        "Omniglot, ...). Open that page and copy its address.")
    if page not in PAGES:
        raise DeckError(f"“{_short(page)}” is not a page of this app: a scene is on one of "
                        f"{', '.join(PAGES)} (the part of the address after the last /, before ?).")
    return Scene(page, check_query(page, parts.query), check_text(title, "title", MAX_TITLE),
                 check_text(prompt, "prompt", MAX_PROMPT, lines=True))


def check_query(page: str, query: str) -> str:
    """The query, re-encoded, when every parameter is one the page's scene has and every value is a short plain
    string (the presenter's `big` is dropped); else `DeckError`."""
    if len(query) > MAX_QUERY:
        raise DeckError(f"The scene's query is {len(query):,} characters long (at most {MAX_QUERY:,}): copy the "
                        "page's address again, or use fewer support points.")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=MAX_VALUES + 20)
    except ValueError:
        raise DeckError(f"The scene's query “{_short(query)}” is not name=value pairs joined by &: copy the page's "
                        "address again.") from None
    allowed = PARAMS[page]
    kept, counts = [], {}
    for name, value in pairs:
        if name == PRESENTER:
            continue
        if name not in allowed:
            have = ", ".join(allowed) if allowed else "none besides big"
            raise DeckError(f"“{_short(name)}” is not a setting of the {PAGES[page]} page's scene (it has "
                            f"{have}): remove it, or copy the page's address again.")
        if len(value) > MAX_VALUE or not _VALUE.fullmatch(value):
            raise DeckError(f"The value of {name} (“{_short(value)}”) is not a short number or name (at most "
                            f"{MAX_VALUE} letters, digits and . , _ + -): copy the page's address again.")
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > MAX_VALUES:
            raise DeckError(f"{name} is given more than {MAX_VALUES} times: use fewer support points.")
        kept.append((name, value))
    return urlencode(kept, safe=",")


def check_text(value: object, what: str, limit: int, *, lines: bool = False) -> str:
    """A title or prompt: a string of at most `limit` characters, without control characters or text-direction
    overrides (line breaks only where `lines`); surrounding spaces are trimmed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DeckError(f"The {what} is {_kind(value)}, not text: write it in quotes.")
    text = value.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise DeckError(f"The {what} is {len(text):,} characters long (at most {limit:,}): shorten it.")
    for ch in text:
        if ch == "\n" and lines:
            continue
        if ch in _BIDI or unicodedata.category(ch) == "Cc":
            where = "a line break" if ch == "\n" else f"the invisible character U+{ord(ch):04X}"
            raise DeckError(f"The {what} “{_short(text)}” contains {where}: remove it"
                            + (" (a title is one line)." if ch == "\n" else "."))
    return text


# --- the file -----------------------------------------------------------------------------------------------------

def dump_deck(deck: Deck) -> bytes:
    """The deck as its JSON file (UTF-8, indented, human-editable)."""
    data = {"format": FORMAT, "version": VERSION, "title": deck.title,
            "scenes": [{"page": s.page, "query": s.query, "title": s.title, "prompt": s.prompt}
                       for s in deck.scenes]}
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def load_deck(data: bytes, name: str = "the file") -> Deck:
    """A deck from an untrusted file's bytes (`name` in messages). Raises `DeckError` with what to do."""
    if len(data) > MAX_BYTES:
        raise DeckError(f"{name} is {len(data) / 1024:,.0f} KB; a lesson deck is at most {MAX_BYTES // 1024} KB "
                        "(a deck holds scene addresses, not pictures): choose the .json file the Lesson page saved.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DeckError(f"{name} is not text (not UTF-8): choose the .json file the Lesson page saved.") from None
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        where = f" (line {e.lineno}, column {e.colno}: {e.msg})" if isinstance(e, json.JSONDecodeError) else ""
        raise DeckError(f"{name} is not valid JSON{where}: choose the .json file the Lesson page saved, or fix "
                        "that line.") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DeckError(f"{name} is JSON but not a lesson deck (it has no \"format\": \"{FORMAT}\"): choose a "
                        "file saved with the Lesson page's “Download the deck”.")
    version = raw.get("version")
    if type(version) is not int:
        raise DeckError(f"{name} has no whole-number \"version\" (it has {_kind(version)}): this app reads "
                        f"version {VERSION}; add \"version\": {VERSION}.")
    if version != VERSION:
        newer = version > VERSION
        raise DeckError(f"{name} is a version {version} deck; this app reads version {VERSION}"
                        + (": it was saved by a newer app. Open it there, or save it again as version 1."
                           if newer else ": save it again with the Lesson page."))
    unknown = sorted(map(str, set(raw) - _KEYS))
    if unknown:
        raise DeckError(f"{name} has fields a version 1 deck does not have ({_short(', '.join(unknown))}): "
                        "remove them (a deck holds format, version, title and scenes).")
    title = check_text(raw.get("title", ""), "deck's title", MAX_TITLE)
    scenes = raw.get("scenes")
    if not isinstance(scenes, list):
        raise DeckError(f"{name} has no list of \"scenes\" (it has {_kind(scenes)}): add \"scenes\": [...].")
    if not scenes:
        raise DeckError(f"{name} has no scenes: add at least one (a page's address from the address bar).")
    if len(scenes) > MAX_SCENES:
        raise DeckError(f"{name} has {len(scenes)} scenes; a deck has at most {MAX_SCENES}: split it into two "
                        "lessons.")
    return Deck(title, tuple(_scene(n, s) for n, s in enumerate(scenes, 1)))


def _scene(n: int, raw: object) -> Scene:
    try:
        if not isinstance(raw, dict):
            raise DeckError(f"It is {_kind(raw)}, not an object with page, query, title and prompt.")
        unknown = sorted(map(str, set(raw) - _SCENE_KEYS))
        if unknown:
            drawn = " (drawings are not saved in a deck: they stay in the browser)" if any(
                "draw" in k for k in unknown) else ""
            raise DeckError(f"It has fields a scene does not have ({_short(', '.join(unknown))}){drawn}: remove "
                            "them (a scene holds page, query, title and prompt).")
        page, query = raw.get("page"), raw.get("query", "")
        if page is None:
            raise DeckError(f"It has no page: add \"page\": one of {', '.join(PAGES)}.")
        if not isinstance(page, str) or page not in PAGES:
            raise DeckError(f"Its page “{_short(str(page))}” is not a page of this app: use one of "
                            f"{', '.join(PAGES)}.")
        if not isinstance(query, str):
            raise DeckError(f"Its query is {_kind(query)}, not text like \"A=2&phi=1\".")
        return Scene(page, check_query(page, query), check_text(raw.get("title", ""), "title", MAX_TITLE),
                     check_text(raw.get("prompt", ""), "prompt", MAX_PROMPT, lines=True))
    except DeckError as e:
        raise DeckError(f"Scene {n}: {e}") from None


def _kind(value: object) -> str:
    if value is None:
        return "none"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _short(text: str, n: int = 40) -> str:
    """Untrusted text quoted in a message: control characters shown as '?', cut at `n` characters."""
    clean = "".join("?" if unicodedata.category(c) == "Cc" or c in _BIDI else c for c in text)
    return clean[:n] + ("…" if len(clean) > n else "")

"""Every page opened with a hostile address: each URL parameter any page reads, set to values no page can use.

Community Cloud shows errors with `showErrorDetails = false` (.streamlit/config.toml sets the same), so a traceback
would reach a student as a bare stack trace: every page must instead say, in its own words, what it could not use,
and keep its own values. Uploads, drawings, CSV and checkpoint files have their own tests beside each page's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ui import common, lesson_deck, scene

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")

# Every parameter name a page reads from its address, found in the source (so a new one is covered by itself).
_SOURCES = [*ROOT.glob("app_pages/*.py"), *ROOT.glob("ui/*.py")]
NAMES = sorted({m for f in _SOURCES for m in re.findall(r'(?:Param|switch)\("(\w+)"', f.read_text())}
               | {"deck", "scene", lesson_deck.PRESENTER, scene.LESSON})
HOSTILE = {
    "words": "abc",
    "not finite": "nan",
    "minus infinity": "-inf",
    "out of every range": "1e9",
    "huge and foreign": "1e400" + "😀" * 200 + "<script>alert(1)</script>",
}
PAGES = [f for f, *_ in common.PAGES]


def test_the_names_are_found():
    assert {"A", "phi", "K", "p", "S", "lr", "m", "seed", "step", "th", "pl", "at", "N", "src", "ep", "ch",
            "big"} <= set(NAMES), NAMES


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("page", PAGES, ids=[Path(p).stem for p in PAGES])
def test_a_hostile_address_is_refused_in_words_and_the_page_works(page, value):
    from streamlit.testing.v1 import AppTest

    common.load_shipped.clear()  # (another module's tests may have cached their quick checkpoints under these names)
    at = AppTest.from_file(APP, default_timeout=240)
    for name in NAMES:
        at.query_params[name] = value
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    said = " ".join(m.value for m in [*at.warning, *at.error, *at.info])
    if page.endswith("lesson.py"):
        assert "which this app does not have" in said, said
    elif not page.endswith(("home.py", "meta_training.py")):  # (these read only `big`, a switch: "abc" is refused)
        assert "This link had values the page cannot use" in said, said
    # and the page still answers a click: its first enabled button (not Start training: a real run) runs cleanly
    buttons = [b for b in at.button if not b.proto.disabled and b.key != "mt_start"]
    if buttons:
        buttons[0].click().run()
        assert not at.exception, at.exception


def _extremes(at, end: str) -> dict[str, float]:
    """Every slider and number box on the page set to its `end` ("min" or "max"); returns what was set, by label."""
    done = {}
    for w in [*at.slider, *at.number_input]:
        if w.proto.disabled or isinstance(w.value, (tuple, list)):
            continue
        value = getattr(w, end)
        w.set_value(type(w.value)(value) if w.value is not None else value)
        done[w.label] = value
    return done


def _charts(at) -> int:
    return len(at.get("plotly_chart")) + len(at.get("bidi_component"))  # (the step-linked charts are components)


@pytest.mark.parametrize("page", [p for p in PAGES if not p.endswith(("home.py", "lesson.py"))],
                         ids=[Path(p).stem for p in PAGES if not p.endswith(("home.py", "lesson.py"))])
def test_every_slider_and_number_box_at_both_ends_keeps_the_page_working(page):
    # extreme settings (20 inner steps at the largest rate, a huge seed, 50 points...) must give the page's own
    # words, never a traceback, and the page must still draw its charts and keep what was set
    from streamlit.testing.v1 import AppTest

    common.load_shipped.clear()
    at = AppTest.from_file(APP, default_timeout=240)
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    charts = _charts(at)
    assert charts or page.endswith(("omniglot.py", "challenge.py")), "no chart drawn"  # (those wait for drawings)
    for end in ("max", "min", "max"):  # (from max back to min: a shown step beyond the new S, and so on)
        done = _extremes(at, end)
        assert done, "no slider or number box found"
        at.run()
        assert not at.exception, (end, done, at.exception)
        assert _charts(at) == charts, (end, done)
        kept = {w.label: w.value for w in [*at.slider, *at.number_input] if w.label in done}
        changed = {k: (v, kept[k]) for k, v in done.items() if k in kept and kept[k] != v}
        # a shown step past the new number of steps is clamped by the page; nothing else may move by itself
        assert set(changed) <= {"Shown step"}, changed

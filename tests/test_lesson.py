"""Lesson mode: the deck file (ui/lesson_deck.py) as untrusted input, the walk through a lesson, and the Lesson page
headless (Streamlit AppTest) opening, editing, saving and presenting a deck into the scenes' pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ui import lesson, lesson_memory
from ui import lesson_deck as ld

ROOT = Path(__file__).resolve().parent.parent

APP = str(ROOT / "app.py")
PAGE = "app_pages/lesson.py"
SHIPPED = sorted((ROOT / "assets" / "lessons").glob("*.json"))


def deck_bytes(**over) -> bytes:
    data = {"format": ld.FORMAT, "version": 1, "title": "T",
            "scenes": [{"page": "sinusoid", "query": "A=2&phi=1", "title": "one", "prompt": "guess?"}]}
    data.update(over)
    return json.dumps(data).encode()


def refused(data: bytes) -> str:
    with pytest.raises(ld.DeckError) as e:
        ld.load_deck(data, "deck.json")
    return str(e.value)


# --- the file ---------------------------------------------------------------------------------------------------

def test_a_deck_round_trips_through_its_file():
    deck = ld.Deck("MAML — 5 scènes", (
        ld.Scene("sinusoid", "A=2&phi=1&p=1_c&p=-2_0.5", "Few points", "Which fits best?\nSay why."),
        ld.Scene("inside", "th=maml&at=0.05,-0.02"),
        ld.Scene("home", ""),
    ))
    data = ld.dump_deck(deck)
    assert json.loads(data)["version"] == 1 and json.loads(data)["format"] == "maml-visible-lesson"
    assert ld.load_deck(data) == deck
    assert deck.scenes[0].params == {"A": ["2"], "phi": ["1"], "p": ["1_c", "-2_0.5"]}
    assert deck.scenes[0].path == "/sinusoid?A=2&phi=1&p=1_c&p=-2_0.5" and deck.scenes[2].path == "/"
    assert deck.scenes[1].heading == "Inside MAML"  # no title: the page's


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_deck_opens(path):
    deck = ld.load_deck(path.read_bytes(), path.name)
    assert deck.title and 2 <= len(deck.scenes) <= ld.MAX_SCENES
    assert all(s.title for s in deck.scenes)
    assert ld.dump_deck(deck) == path.read_bytes()  # saved by dump_deck: a lecturer's download looks the same


def test_refusals_say_what_is_wrong_and_what_to_do():
    assert "is not valid JSON (line 1" in refused(b"{nope") and "choose the .json file" in refused(b"{nope")
    assert "not text (not UTF-8)" in refused(b"\xff\xfe\x00garbage")
    assert "not a lesson deck" in refused(json.dumps({"scenes": []}).encode())
    assert "not a lesson deck" in refused(b"[1, 2]")
    assert "version 2 deck; this app reads version 1: it was saved by a newer app" in refused(deck_bytes(version=2))
    assert "no whole-number \"version\" (it has text)" in refused(deck_bytes(version="1"))
    assert "no whole-number \"version\" (it has true/false)" in refused(deck_bytes(version=True))
    assert "fields a version 1 deck does not have (author)" in refused(deck_bytes(author="me"))
    assert "has no scenes: add at least one" in refused(deck_bytes(scenes=[]))
    assert "no list of \"scenes\" (it has an object)" in refused(deck_bytes(scenes={}))
    too_many = [{"page": "home", "query": ""}] * (ld.MAX_SCENES + 1)
    assert f"has {ld.MAX_SCENES + 1} scenes; a deck has at most {ld.MAX_SCENES}: split it" in refused(
        deck_bytes(scenes=too_many))
    big = b" " * (ld.MAX_BYTES + 1)
    assert "a lesson deck is at most 64 KB" in refused(big)
    nested = b"[" * 100_000 + b"]" * 100_000  # (within no size limit: refused before parsing)
    assert "at most 64 KB" in refused(nested)
    deep = b"[" * 30_000 + b"]" * 30_000  # 60 KB of nesting: the parser's recursion limit, not a traceback
    assert "not valid JSON" in refused(deep) or "not a lesson deck" in refused(deep)


@pytest.mark.parametrize("scene, says", [
    ({"page": "lesson", "query": ""}, "Scene 1: Its page “lesson” is not a page of this app"),
    ({"page": "../../etc/passwd"}, "is not a page of this app: use one of home, sinusoid"),
    ({"query": "A=2"}, "Scene 1: It has no page"),
    ({"page": "sinusoid", "query": "A=2&evil=1"}, "“evil” is not a setting of the Sinusoid regression page's scene"),
    ({"page": "home", "query": "A=2"}, "(it has none besides big)"),
    ({"page": "sinusoid", "query": "A=<script>alert(1)</script>"}, "The value of A (“<script>alert(1)</script>”) is "
                                                                    "not a short number or name"),
    ({"page": "sinusoid", "query": "A=" + "9" * 41}, "is not a short number or name (at most 40"),
    ({"page": "sinusoid", "query": "&".join(["p=1_c"] * 101)}, "p is given more than 100 times"),
    ({"page": "sinusoid", "query": "p=1_c&" * 600}, "characters long (at most 3,000)"),
    ({"page": "sinusoid", "query": "A"}, "is not name=value pairs"),
    ({"page": "sinusoid", "query": 3}, "Its query is a number, not text"),
    ({"page": "sinusoid", "title": "x" * 101}, "The title is 101 characters long (at most 100): shorten it."),
    ({"page": "sinusoid", "title": "two\nlines"}, "contains a line break: remove it (a title is one line)."),
    ({"page": "sinusoid", "prompt": "bell\x07"}, "contains the invisible character U+0007"),
    ({"page": "sinusoid", "prompt": "abc\u202edcba"}, "contains the invisible character U+202E"),
    ({"page": "sinusoid", "title": ["a"]}, "The title is a list, not text"),
    ({"page": "omniglot", "drawings": {"q": "data:image/png;base64,..."}},
     "(drawings are not saved in a deck: they stay in the browser)"),
    ("sinusoid", "It is text, not an object"),
])
def test_a_bad_scene_is_refused_with_its_number_and_the_fix(scene, says):
    message = refused(deck_bytes(scenes=[scene]))
    assert message.startswith("Scene 1: ") and says in message, message
    assert "\x07" not in message and "\u202e" not in message  # quoted untrusted text is made harmless


def test_a_prompt_may_have_lines_and_text_is_trimmed():
    deck = ld.load_deck(deck_bytes(scenes=[{"page": "sinusoid", "title": "  A  ", "prompt": "one\r\ntwo "}]))
    assert deck.scenes[0].title == "A" and deck.scenes[0].prompt == "one\ntwo"


# --- an address pasted into the deck -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, page, query", [
    ("/sinusoid?A=2&phi=1&big=1", "sinusoid", "A=2&phi=1"),  # the presenter's large fonts are not the scene's
    ("http://localhost:8501/inside?th=maml&at=0.05,-0.02", "inside", "th=maml&at=0.05,-0.02"),
    ("https://example.org/some/base/omniglot?N=5&K=1", "omniglot", "N=5&K=1"),
    ("sinusoid?K=3", "sinusoid", "K=3"),
    ("http://localhost:8501/", "home", ""),
    ("  /meta_training?big=1  ", "meta_training", ""),
    ("/sinusoid?m=maml%2Cfomaml", "sinusoid", "m=maml,fomaml"),
])
def test_an_address_becomes_a_scene(text, page, query):
    scene = ld.parse_scene(text)
    assert (scene.page, scene.query) == (page, query)


@pytest.mark.parametrize("text, says", [
    ("", "The scene's address is empty: paste a page's address"),
    ("/lesson?deck=x", "That is the Lesson page's address"),
    ("/settings?A=1", "“settings” is not a page of this app"),
    ("/sinusoid?A=1&x=2", "“x” is not a setting of the Sinusoid regression page's scene"),
    ("/sinusoid?" + "p=1_c&" * 700, "characters long; a scene's is at most 3,000"),
    ("/sinusoid?A=%0a", "The value of A"),
])
def test_a_bad_address_says_why(text, says):
    with pytest.raises(ld.DeckError) as e:
        ld.parse_scene(text)
    assert says in str(e.value), str(e.value)


def test_the_lesson_walks_each_prompt_then_its_scene():
    deck = ld.Deck("", (ld.Scene("home", "", prompt="q"), ld.Scene("sinusoid", ""), ld.Scene("inside", "", prompt="q")))
    assert ld.steps(deck) == [ld.Step(0, False), ld.Step(0, True), ld.Step(1, True), ld.Step(2, False),
                              ld.Step(2, True)]
    assert [ld.first_step(deck, i) for i in range(3)] == [0, 2, 3]
    assert [ld.reveal_step(deck, i) for i in range(3)] == [1, 2, 4]  # after each prompt


def test_the_deck_knows_every_page_and_scene_parameter_of_the_app():
    """PAGES and PARAMS mirror the app: each deck page is a registered page with its sidebar title, and each page's
    parameters are the ones its scene writes (Inside MAML's are checked on the running page below)."""
    from ui import common
    from ui import omniglot_view as ov
    from ui import sinusoid_view as sv

    registered = {Path(f).stem: t for f, t, *_ in common.PAGES}
    assert {p: registered.get(p) for p in ld.PAGES} == ld.PAGES and "lesson" in registered
    sin = {p.name for p in sv.scene_params("methods_x", ("maml",))} - {ld.PRESENTER}
    omni = {p.name for p in ov.scene_params("methods_x", ("maml",))} - {ld.PRESENTER}
    assert sin == set(ld.PARAMS["sinusoid"]) and omni == set(ld.PARAMS["omniglot"])
    from ui import challenge_view as cv
    assert {p.name for p in cv.scene_params()} - {ld.PRESENTER} == set(ld.PARAMS["challenge"])


def test_deck_text_is_shown_as_itself_in_markdown():
    from ui.lesson import plain

    shown = plain("![x](http://evil/p.png) :red[big] $x$ <b>")
    assert "](" not in shown and ":red[" not in shown and "$x$" not in shown
    assert plain("a\nb") == "a  \nb"


def test_the_pages_with_a_lesson_bar_draw_it():
    for page in ld.PAGES:  # every page a scene can be on draws the bar
        assert "lesson_bar()" in (ROOT / lesson.FILES[page]).read_text(), page


# --- the page, headless -------------------------------------------------------------------------------------------

@pytest.fixture()
def at(monkeypatch):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=120)
    return app


def open_lesson(at, **query):
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def text(at) -> str:
    """The page's text as read (deck text is markdown-escaped on screen: `lesson.plain`)."""
    return re.sub(r"\\(.)", r"\1", " ".join(
        e.value for kind in ("markdown", "caption", "header", "info", "warning", "error", "success")
        for e in at.get(kind) if isinstance(e.value, str)))


def test_an_example_deck_from_the_address_is_presented_into_its_pages(at):
    open_lesson(at, deck="maml_in_5_scenes", big="1")
    assert at.session_state["large_fonts"] is True
    assert [at.text_input(key=f"lesson_title_{u}").value for u in range(5)][0] == "Five points, before any step"
    assert at.query_params["deck"] == "maml_in_5_scenes"
    at.button(key="lesson_present").click().run()
    assert at.header[0].value == "Five points, before any step" and "Predict first" in text(at)
    assert "scene 1 of 5" in text(at) and at.query_params["scene"] == "1"
    at.button(key="lesson_reveal").click().run()  # one click: the scene on its page
    assert not at.exception, at.exception
    assert at.title[0].value == "Sinusoid regression"
    assert at.query_params["step"] == "0" and at.query_params["K"] == "5" and at.query_params["big"] == "1"
    assert at.session_state["sinusoid"].shown.step == 0
    # the lesson bar on the scene's page: on to scene 2's question, then scene 2 (PageDown twice)
    at.button(key="lesson_bar_next").click().run()
    assert at.title[0].value == "Lesson" and at.header[0].value == "Three points, all on the left"
    at.button(key="lesson_next").click().run()
    assert at.title[0].value == "Sinusoid regression" and at.query_params["K"] == "3"
    assert [p.x for p in at.session_state["sinusoid"].points] == [-4, -3.5, -3]  # scene 2's, not scene 1's
    at.button(key="lesson_bar_back").click().run()  # PageUp: scene 2's question
    at.button(key="lesson_back").click().run()  # PageUp: scene 1 again, opened as its address says
    assert at.title[0].value == "Sinusoid regression" and at.query_params["K"] == "5"
    assert at.session_state["sinusoid"].shown.step == 0


def test_building_saving_and_reopening_a_deck(at):
    open_lesson(at)
    assert at.button(key="lesson_present").disabled and at.get("download_button")[0].disabled
    at.text_input(key="lesson_add").set_value("/sinusoid?A=2&phi=1&K=5&big=1")
    at.get("form_submit_button")[0].click().run()
    at.text_input(key="lesson_add").set_value("/nowhere?x=1")
    at.get("form_submit_button")[0].click().run()
    assert "“nowhere” is not a page of this app" in text(at)
    at.text_input(key="lesson_add").set_value("http://localhost:8501/inside?th=fomaml")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    s = at.session_state["lesson"]
    assert [sc.path for sc in s.deck.scenes] == ["/sinusoid?A=2&phi=1&K=5", "/inside?th=fomaml"]
    second = s.uids[1]
    at.button(key=f"lesson_up_{second}").click().run()
    at.text_area(key=f"lesson_prompt_{second}").set_value("Where is FO-MAML's start?").run()
    at.text_input(key=f"lesson_path_{s.uids[1]}").set_value("/sinusoid?A=<b>").run()
    assert "The deck keeps what it had: /sinusoid?A=2&phi=1&K=5" in text(at)
    at.text_input(key="lesson_deck_title").set_value("Mine").run()
    deck = at.session_state["lesson"].deck
    assert [sc.page for sc in deck.scenes] == ["inside", "sinusoid"] and deck.scenes[0].prompt
    assert deck.title == "Mine" and deck.scenes[1].query == "A=2&phi=1&K=5"
    assert ld.load_deck(ld.dump_deck(deck)) == deck  # what "Download the deck" writes opens again


def test_a_bad_address_for_the_lesson_page_is_named(at):
    open_lesson(at, deck="../../secrets", scene="2")
    assert "names the example deck “../../secrets”, which this app does not have" in text(at)
    at2 = type(at).from_file(APP, default_timeout=120)
    open_lesson(at2, deck="maml_in_5_scenes", scene="9")
    assert "the deck has scenes 1 to 5" in text(at2)
    at3 = type(at).from_file(APP, default_timeout=120)
    open_lesson(at3, deck="maml_in_5_scenes", scene="3")
    assert at3.header[0].value == "A task outside training"  # presenting, at scene 3's question


def test_an_uploaded_deck_is_checked_before_it_is_used(at):
    open_lesson(at)
    at.file_uploader(key="lesson_upload").upload("photo.png", b"\x89PNG\r\n\x1a\n\x00\xff", "image/png").run()
    assert not at.exception, at.exception
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]
    assert errors == ["Could not open photo.png: photo.png is not text (not UTF-8): choose the .json file the Lesson "
                      "page saved."], errors
    assert not at.session_state["lesson"].deck.scenes
    good = ld.dump_deck(ld.Deck("Shared", (ld.Scene("sinusoid", "A=2", "One", "Guess?"),)))
    at.file_uploader(key="lesson_upload").upload("shared.json", good, "application/json").run()
    assert not at.exception, at.exception
    assert "Opened shared.json: “Shared”, 1 scene." in text(at)
    assert at.session_state["lesson"].deck.scenes[0].prompt == "Guess?"
    at.text_input(key="lesson_deck_title").set_value("Edited").run()  # a rerun does not open the file again
    assert at.session_state["lesson"].deck.title == "Edited"
    hostile = ld.dump_deck(ld.Deck("[click](javascript:alert(1)) :red[x]", (ld.Scene("home", "", "![p](http://e/p.png)"),)))
    at.file_uploader(key="lesson_upload").upload("h.json", hostile, "application/json").run()
    shown = " ".join(e.value for e in at.success)
    assert "\\[click\\]\\(javascript\\:alert" in shown and "\\:red\\[x\\]" in shown, shown  # shown as text


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_scene_of_the_shipped_decks_restores_on_its_page(path, monkeypatch):
    """Each scene opened as the lesson opens it: the page runs without an exception, applies the scene's address
    and names no value it could not use."""
    from streamlit.testing.v1 import AppTest


    deck = ld.load_deck(path.read_bytes())
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["deck"] = path.stem
    at.switch_page(PAGE).run()
    at.button(key="lesson_present").click().run()
    for n, scene in enumerate(deck.scenes):
        if scene.prompt:
            at.button(key="lesson_reveal").click().run()
        assert not at.exception, (n, at.exception)
        assert at.title[0].value.startswith(ld.PAGES[scene.page].split(",")[0]), (n, at.title[0].value)
        warnings = " ".join(w.value for w in at.warning)
        assert "cannot use" not in warnings, (n, warnings)
        for name, values in scene.params.items():
            got = at.query_params.get(name)
            got = got if isinstance(got, list) else [got]
            assert got == values, (n, name, got, values)
        if n + 1 < len(deck.scenes):  # (every scene's page has the lesson bar)
            at.button(key="lesson_bar_next").click().run()


def test_every_scene_page_draws_the_bar_so_the_lesson_goes_on_from_there(at, tmp_path):
    """Home and Meta-training draw the lesson bar too: the lesson goes on from the scene's own page."""
    deck = ld.Deck("Three", (ld.Scene("home", "", "Start", "Ready?"), ld.Scene("meta_training", "", "Train"),
                             ld.Scene("sinusoid", "A=2&K=3", "Go")))
    open_lesson(at)
    at.file_uploader(key="lesson_upload").upload("three.json", ld.dump_deck(deck), "application/json").run()
    at.button(key="lesson_present").click().run()
    at.button(key="lesson_reveal").click().run()
    assert not at.exception and at.title[0].value == "MAML, visible"
    assert any("scene 1 of 3: Start" in m.value for m in at.sidebar.markdown)
    at.button(key="lesson_bar_next").click().run()
    assert not at.exception and at.title[0].value == "Meta-training, live"
    at.button(key="lesson_bar_next").click().run()
    assert at.title[0].value == "Sinusoid regression" and at.query_params["A"] == "2"
    at.switch_page(PAGE).run()
    at.button(key="lesson_end").click().run()
    assert at.button(key="lesson_present") and at.session_state["lesson"].at is None


def test_two_scenes_of_one_page_in_a_row_each_open_as_their_address_says(at):
    deck = ld.Deck("Same page", (ld.Scene("sinusoid", "A=2&K=3&S=4&step=1"), ld.Scene("sinusoid", "phi=1&m=maml")))
    open_lesson(at)
    at.file_uploader(key="lesson_upload").upload("same.json", ld.dump_deck(deck), "application/json").run()
    at.button(key="lesson_present").click().run()  # no question first: the scene at once
    assert at.title[0].value == "Sinusoid regression" and not at.exception, at.exception
    assert (at.session_state["sin_amp"], at.session_state["sin_k"], at.session_state["inner_steps"]) == (2, 3, 4)
    assert at.session_state["sinusoid"].shown.step == 1
    at.button(key="lesson_bar_next").click().run()
    assert not at.exception, at.exception
    assert at.query_params["phi"] == "1" and at.query_params["m"] == "maml"
    # nothing of the last scene stays: the page's own opening task and K, and the sidebar's defaults (S = 10)
    assert (at.session_state["sin_amp"], at.session_state["sin_k"], at.session_state["inner_steps"]) == (3, 5, 10)
    assert at.session_state["sinusoid"].shown.step == 10 and at.query_params["A"] == "3"


def test_a_reload_finds_this_browsers_lesson_where_it_was(monkeypatch):
    """A reload is a new session: it starts from the lesson this browser had on this server (its id from its
    cookie), on the Lesson page and in a scene page's lesson bar; another browser gets none."""
    from streamlit.testing.v1 import AppTest

    me, other = "ab" * 16, "cd" * 16
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["browser_id"] = me
    open_lesson(at, deck="maml_in_5_scenes")
    at.button(key="lesson_present").click().run()
    at.button(key="lesson_reveal").click().run()
    at.button(key="lesson_bar_next").click().run()  # at scene 2's question
    assert at.header[0].value == "Three points, all on the left"

    again = AppTest.from_file(APP, default_timeout=120)  # the reload: a new session, the same browser
    again.session_state["browser_id"] = me
    open_lesson(again, big="1")
    assert again.header[0].value == "Three points, all on the left" and "scene 2 of 5" in text(again)
    assert again.session_state["large_fonts"] is True
    again.button(key="lesson_reveal").click().run()
    assert again.title[0].value == "Sinusoid regression" and again.query_params["K"] == "3"

    scene_page = AppTest.from_file(APP, default_timeout=120)  # a reload on the scene's page
    scene_page.session_state["browser_id"] = me
    scene_page.switch_page("app_pages/sinusoid.py").run()
    assert "scene 2 of 5" in " ".join(m.value for m in scene_page.sidebar.markdown)

    stranger = AppTest.from_file(APP, default_timeout=120)
    stranger.session_state["browser_id"] = other
    open_lesson(stranger)
    assert not stranger.session_state["lesson"].deck.scenes and stranger.button(key="lesson_present").disabled


def _restarted(at, browser_id: str, monkeypatch):
    """The same tab on a new server: every session and the server's memory of browsers gone, the address kept."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(lesson_memory, "REMEMBERED", lesson_memory.Remembered())
    page = {"Sinusoid regression": "app_pages/sinusoid.py", "MAML, visible": "app_pages/home.py",
            "Meta-training, live": "app_pages/meta_training.py"}[at.title[0].value]
    again = AppTest.from_file(APP, default_timeout=120)
    again.session_state["browser_id"] = browser_id
    for k in at.query_params:
        again.query_params[k] = at.query_params[k]
    again.switch_page(page).run()
    assert not again.exception, again.exception
    return again


def test_a_server_restart_mid_lesson_reopens_an_example_deck_at_its_scene(monkeypatch):
    """The scene page's address names the lesson (`lesson=deck.scene`), so a new server (a Cloud wake, a redeploy)
    presents it again where it was, and PageDown goes on; a lesson that ended leaves no trace in the address."""
    from streamlit.testing.v1 import AppTest

    me = "ef" * 16
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["browser_id"] = me
    open_lesson(at, deck="maml_in_5_scenes")
    at.button(key="lesson_present").click().run()
    at.button(key="lesson_reveal").click().run()
    assert at.query_params["lesson"] == "maml_in_5_scenes.1"
    at.button(key="lesson_bar_next").click().run()
    at.button(key="lesson_next").click().run()  # scene 2 on the Sinusoid page
    assert at.title[0].value == "Sinusoid regression" and at.query_params["lesson"] == "maml_in_5_scenes.2"

    again = _restarted(at, me, monkeypatch)
    bar = " ".join(m.value for m in again.sidebar.markdown)
    assert "scene 2 of 5" in bar, bar
    assert again.query_params["K"] == "3" and [p.x for p in again.session_state["sinusoid"].points] == [-4, -3.5, -3]
    again.button(key="lesson_bar_next").click().run()  # PageDown: scene 3's question, as before the restart
    assert again.title[0].value == "Lesson" and "scene 3 of 5" in text(again)

    again.button(key="lesson_end").click().run()
    again.switch_page("app_pages/sinusoid.py").run()
    assert not again.exception and "lesson" not in again.query_params
    assert not any("Lesson** · scene" in m.value for m in again.sidebar.markdown)


def test_after_a_restart_a_deck_from_a_file_is_asked_for_again(at, monkeypatch):
    deck = ld.Deck("Mine", (ld.Scene("home", "", "Start"), ld.Scene("sinusoid", "A=2&K=3", "Go")))
    at.session_state["browser_id"] = "0a" * 16
    open_lesson(at)
    at.file_uploader(key="lesson_upload").upload("mine.json", ld.dump_deck(deck), "application/json").run()
    at.button(key="lesson_present").click().run()
    at.button(key="lesson_bar_next").click().run()
    assert at.title[0].value == "Sinusoid regression" and at.query_params["lesson"] == "own.2"
    again = _restarted(at, "0a" * 16, monkeypatch)
    said = " ".join(w.value for w in again.sidebar.warning)
    assert "open the file again on the Lesson page" in said and "scene 2" in said, said
    assert not again.session_state["lesson"].presenting and again.query_params["A"] == "2"  # the scene itself stays


@pytest.mark.parametrize("value, says", [
    ("maml_in_5_scenes.9", "which has scenes 1 to 5"),
    ("no_such_deck.1", "which this app does not have"),
    ("maml_in_5_scenes", "which is not a lesson this app can read"),
    ("maml_in_5_scenes.²", "which is not a lesson this app can read"),
])
def test_a_lesson_the_address_cannot_reopen_is_named(value, says):
    decks, _ = lesson.shipped_decks()
    with pytest.raises(ValueError, match=says):
        lesson_memory.read_mark(value, decks)
    assert lesson_memory.read_mark("maml_in_5_scenes.5", decks) == ("maml_in_5_scenes", 4)
    assert all(lesson_memory.read_mark(lesson_memory.mark(name, 0), decks) == (name, 0) for name in decks)

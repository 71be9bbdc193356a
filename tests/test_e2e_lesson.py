"""Lesson mode in a real browser (Playwright, Debian's chromium): a shipped deck opened from its link in projector
mode (1920 x 1080, ?big=1) runs its 5 scenes with the keyboard only: PageDown starts and goes on, Enter reveals,
PageUp goes back, on a Sinusoid scene the step keys still step through it without moving the lesson, and a reload
keeps the lesson.
Screenshots of the page at 1400 x 1000, in projector mode and on a 390 x 844 touch screen go to
test-artifacts/screenshots/.

Helpers and fixtures (the server, chromium) come from tests/test_e2e.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import test_e2e as e2e

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

THUMB = ".st-key-sin_step_slider [data-testid=stSliderThumbValue]"
BAR = ".st-key-lesson_bar"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    e2e._need_chromium()
    tmp = tmp_path_factory.mktemp("e2e_lesson")
    port = e2e._free_port()
    proc = e2e.start_server(e2e.assets_for_e2e(tmp / "assets"), port, tmp / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        e2e.stop_server(proc)


@pytest.fixture(scope="module")
def browser(server):
    with e2e.launch_chromium() as b:
        yield b


def open_page(browser, url: str, **context):
    return e2e.open_in_context(browser, url, "Lesson", 90_000, **context)


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def key(page, name: str) -> None:
    """A key press as a presenter clicker sends it: to the page, nothing focused."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press(name)


def wait_heading(page, text: str) -> None:
    page.get_by_role("heading", name=text).first.wait_for()
    e2e.settle(page)
    e2e.assert_no_error(page)


def wait_scene(page, title: str, bar: str) -> None:
    """A scene's page, with its lesson bar saying where the lesson is."""
    wait_heading(page, title)
    page.locator(BAR).wait_for()
    assert bar in page.locator(BAR).inner_text(), page.locator(BAR).inner_text()


def test_a_shipped_deck_runs_five_scenes_with_the_keyboard_only_in_projector_mode(server, browser):
    ctx, page = open_page(browser, f"{server}/lesson?deck=maml_in_5_scenes&big=1",
                          viewport={"width": 1920, "height": 1080})
    try:
        assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "20px"
        body = page.inner_text("body")
        assert "MAML in 5 scenes" in body and "5 scenes, 5 with a question first" in body
        e2e.shot(page, "lesson_deck_1920_big")

        key(page, "PageDown")  # Present
        wait_heading(page, "Five points, before any step")
        assert "Predict first" in page.inner_text("body") and "scene 1 of 5" in page.inner_text("body")
        reveal = page.locator(".st-key-lesson_reveal button:visible").first
        box = reveal.bounding_box()
        assert box["y"] + box["height"] <= 1080, box  # the question and its reveal on the projected screen
        e2e.shot(page, "lesson_question_1920_big")

        key(page, "Enter")  # the reveal
        wait_scene(page, "Sinusoid regression", "scene 1 of 5")
        page.locator(".st-key-sin_plot .js-plotly-plot").wait_for()
        assert page.locator(THUMB).inner_text().strip() == "0" and query(page)["step"] == ["0"]
        assert query(page)["big"] == ["1"] and query(page)["K"] == ["5"]
        key(page, "ArrowRight")  # the step keys still step through the scene...
        page.wait_for_function("s => document.querySelector(s)?.innerText.trim() === '1'", arg=THUMB)
        e2e.settle(page)
        assert "scene 1 of 5" in page.locator(BAR).inner_text()  # ...and leave the lesson where it is
        chart = page.locator(".st-key-sin_plot").bounding_box()
        assert chart["y"] + chart["height"] / 2 < 1080, chart  # the bar sits in the sidebar: the chart stays up
        e2e.shot(page, "lesson_scene_sinusoid_1920_big")
        page.reload()  # F5 (some clickers' "start" button): a new session finds this browser's lesson
        wait_scene(page, "Sinusoid regression", "scene 1 of 5")
        page.wait_for_function("s => document.querySelector(s)?.innerText.trim() === '1'", arg=THUMB)

        key(page, "PageDown")  # scene 2's question
        try:
            page.get_by_role("heading", name="Three points, all on the left").first.wait_for(timeout=20_000)
        except Exception:  # (a loaded machine may still be wiring the reloaded page: a presenter presses again)
            key(page, "PageDown")
        wait_heading(page, "Three points, all on the left")
        key(page, "PageDown")  # PageDown reveals too (a clicker has no Enter)
        wait_scene(page, "Sinusoid regression", "scene 2 of 5")
        assert query(page)["K"] == ["3"] and query(page)["p"] == ["-4_c", "-3.5_c", "-3_c"]

        key(page, "PageDown")
        wait_heading(page, "A task outside training")
        key(page, "Enter")
        wait_scene(page, "Sinusoid regression", "scene 3 of 5")
        assert query(page)["A"] == ["8"]

        key(page, "PageDown")
        wait_heading(page, "Inside MAML: the loss around its start")
        key(page, "Enter")
        wait_scene(page, "Inside MAML", "scene 4 of 5")
        assert query(page)["th"] == ["maml"]

        key(page, "PageDown")
        wait_heading(page, "Your own characters, 5-way 1-shot")
        key(page, "Enter")
        wait_scene(page, "Omniglot few-shot", "scene 5 of 5")
        assert "The lesson's last scene" in page.locator(BAR).inner_text()
        e2e.shot(page, "lesson_scene_omniglot_1920_big")

        key(page, "PageUp")  # back: scene 5's question, then scene 4 again
        wait_heading(page, "Your own characters, 5-way 1-shot")
        key(page, "PageUp")
        wait_scene(page, "Inside MAML", "scene 4 of 5")
    finally:
        ctx.close()


def test_screenshots_at_a_laptop_and_a_phone(server, browser):
    ctx, page = open_page(browser, f"{server}/lesson?deck=maml_in_5_scenes")
    try:
        e2e.assert_no_error(page)
        e2e.shot(page, "lesson_deck_1400")
        page.locator(".st-key-lesson_present button:visible").first.click()
        wait_heading(page, "Five points, before any step")
        page.locator(".st-key-lesson_reveal button:visible").first.click()
        wait_scene(page, "Sinusoid regression", "scene 1 of 5")
        e2e.shot(page, "lesson_scene_sinusoid_1400")
    finally:
        ctx.close()
    ctx, page = open_page(browser, f"{server}/lesson?deck=first_order_and_alpha&scene=1",
                          viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        wait_heading(page, "MAML beside FO-MAML")
        e2e.shot(page, "lesson_question_390_touch")
        page.locator(".st-key-lesson_reveal button:visible").first.tap()
        wait_heading(page, "Sinusoid regression")
        e2e.shot(page, "lesson_scene_sinusoid_390_touch")
    finally:
        ctx.close()


def test_an_uploaded_deck_walks_two_scenes_of_one_page_each_as_its_address_says(server, browser):
    """A deck file chosen in the browser; two Sinusoid scenes in a row, without questions: PageDown opens each, and
    nothing of the first (its task, K, S) stays in the second."""
    from ui import lesson_deck as ld

    deck = ld.Deck("Same page", (ld.Scene("sinusoid", "A=2&K=3&S=4&step=1", "First"),
                                 ld.Scene("sinusoid", "phi=1&m=maml", "Second")))
    ctx, page = open_page(browser, f"{server}/lesson")
    try:
        page.locator(".st-key-lesson_upload input[type=file]").set_input_files(
            files=[{"name": "same.json", "mimeType": "application/json", "buffer": ld.dump_deck(deck)}])
        page.get_by_text("Opened same.json").first.wait_for()
        e2e.settle(page)
        key(page, "PageDown")  # Present: no question first, the scene at once
        wait_scene(page, "Sinusoid regression", "scene 1 of 2")
        q = query(page)
        assert (q["A"], q["K"], q["S"], q["step"]) == (["2"], ["3"], ["4"], ["1"]), q
        key(page, "PageDown")
        page.wait_for_function("() => location.search.includes('phi=1')")
        wait_scene(page, "Sinusoid regression", "scene 2 of 2")
        q = query(page)
        assert (q["A"], q["K"], q["S"], q["m"]) == (["3"], ["5"], ["10"], ["maml"]), q
    finally:
        ctx.close()

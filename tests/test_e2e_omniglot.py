"""The Omniglot page in a real browser (Playwright + Debian's chromium, as tests/test_e2e.py, whose server, browser
and helpers this uses): strokes that start at a canvas's edge the moment the pointer arrives, the results brought
into view after Adapt, projector mode at 1920 x 1080, and 20-way tiles on a phone."""

from __future__ import annotations

import os

import pytest
import test_e2e
from test_e2e import canvas_ink, open_page, settle, shot

server, browser, page = test_e2e.server, test_e2e.browser, test_e2e.page  # the same fixtures (one server per module)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CANVASES = """() => [...document.querySelectorAll('*')].filter(h => h.shadowRoot &&
    h.shadowRoot.querySelector('canvas.upper-canvas')).map(h => {
      const r = h.shadowRoot.querySelector('canvas.upper-canvas').getBoundingClientRect();
      return [r.left, r.top, r.width, r.height]; })"""


def wait_for_canvases(page, n: int) -> None:
    """Until `n` canvases are drawn (components load after the page's run, each in a shadow root)."""
    page.wait_for_function(f"() => ({CANVASES})().length >= {n}", timeout=60_000)
    page.wait_for_timeout(300)


def canvas_box(page, i: int) -> list[float]:
    return page.evaluate(CANVASES)[i]


# Where a stroke starts, in canvas fractions, and where it goes (inwards). Each starts on the canvas's own edge pixel
# (or in its top fifth), where the toolbar used to lie over the canvas.
EDGE_STARTS = {
    "top edge": ((0.5, 0.0), (0.5, 0.5)),
    "top fifth": ((0.3, 0.12), (0.7, 0.5)),
    "top-right corner": ((1.0, 0.0), (0.5, 0.5)),
    "left edge": ((0.0, 0.5), (0.5, 0.6)),
    "right edge": ((1.0, 0.5), (0.5, 0.4)),
    "bottom edge": ((0.5, 1.0), (0.5, 0.5)),
}


def press_at_once(page, box, start, end) -> None:
    """The pointer comes from far away straight to `start` and presses there at once (no hover, no pause), then
    drags to `end` and lets go: a quick mouse or trackpad stroke."""
    x, y, w, h = box
    px = lambda f: x + min(max(f * w, 0.5), w - 0.5)  # noqa: E731  (the edge pixel itself, inside the canvas)
    py = lambda f: y + min(max(f * h, 0.5), h - 0.5)  # noqa: E731
    page.mouse.move(5, 5)
    page.mouse.move(px(start[0]), py(start[1]))
    page.mouse.down()
    for t in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(px(start[0] + t * (end[0] - start[0])), py(start[1] + t * (end[1] - start[1])))
    page.mouse.up()


def toolbar_button(page, i: int, label: str):
    """Canvas i's toolbar button by its accessible name (Playwright's locators pierce the open shadow roots)."""
    return page.locator(".dc-root").nth(i).get_by_role("button", name=label, exact=True)


def test_a_mouse_stroke_started_at_any_edge_the_moment_the_pointer_arrives_leaves_ink(server, page):
    open_page(page, server, "omniglot")
    wait_for_canvases(page, 6)  # 5-way 1-shot: five classes and the query
    lost = []
    for i, (where, (start, end)) in enumerate(EDGE_STARTS.items()):
        page.locator("canvas.upper-canvas").nth(i).scroll_into_view_if_needed()  # (scrolls; does not hover)
        page.wait_for_timeout(300)
        before = canvas_ink(page)[i]
        press_at_once(page, canvas_box(page, i), start, end)
        settle(page, quiet_ms=300)
        if canvas_ink(page)[i] <= before:
            lost.append(where)
    assert not lost, f"strokes that started at the {', '.join(lost)} left no ink"
    # Undo and clear stay reachable with the mouse: hover the canvas, its toolbar shows above it.
    ink = canvas_ink(page)[0]
    assert ink > 0
    page.locator("canvas.upper-canvas").first.hover()
    page.wait_for_timeout(400)
    toolbar_button(page, 0, "Undo").click()
    page.wait_for_timeout(300)
    assert canvas_ink(page)[0] == 0, "undo did not take the stroke back"
    press_at_once(page, canvas_box(page, 0), *EDGE_STARTS["top edge"])
    settle(page, quiet_ms=300)
    assert canvas_ink(page)[0] > 0
    page.locator("canvas.upper-canvas").first.hover()
    page.wait_for_timeout(400)
    toolbar_button(page, 0, "Reset canvas & history").click()
    page.wait_for_timeout(300)
    assert canvas_ink(page)[0] == 0, "clear did not empty the canvas"


def test_on_a_phone_a_stroke_at_the_top_edge_leaves_ink_and_a_tap_clears_it(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, server, "omniglot")
        wait_for_canvases(page, 6)
        page.locator("canvas.upper-canvas").first.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        press_at_once(page, canvas_box(page, 0), *EDGE_STARTS["top edge"])
        settle(page, quiet_ms=300)
        assert canvas_ink(page)[0] > 0
        toolbar_button(page, 0, "Reset canvas & history").tap()  # shown above the canvas: nothing hovers on touch
        page.wait_for_timeout(300)
        assert canvas_ink(page)[0] == 0, "a tap on clear did not empty the canvas"
    finally:
        context.close()


def in_view(page, name: str) -> bool:
    """The heading's box lies inside the window, below Streamlit's fixed header bar."""
    return page.evaluate("""(name) => {
        const h = [...document.querySelectorAll('h1, h2, h3')].find(e => e.innerText.trim() === name);
        const bar = document.querySelector('[data-testid="stHeader"]');
        const top = bar ? bar.getBoundingClientRect().bottom : 0, r = h.getBoundingClientRect();
        return r.top >= top - 1 && r.bottom <= window.innerHeight; }""", name)


def test_after_adapt_the_results_are_in_view_on_a_laptop(server, page):
    open_page(page, server, "omniglot")
    page.get_by_text("Omniglot test set").click()
    settle(page)
    page.get_by_role("button", name="Adapt").click()
    page.get_by_text("Accuracy on the episode's query set").first.wait_for()
    settle(page)
    page.wait_for_timeout(500)
    assert in_view(page, "3. What happened"), "after Adapt the results heading is not on the screen"


def test_projector_mode_has_larger_canvases_and_the_query_and_adapt_on_the_first_screen(server, browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{server}/omniglot?big=1")
        page.get_by_role("heading", name="Omniglot few-shot").first.wait_for()
        settle(page)
        wait_for_canvases(page, 6)
        page.wait_for_timeout(500)
        boxes = page.evaluate(CANVASES)
        assert len(boxes) == 6 and all(b[2] >= 180 and b[3] >= 180 for b in boxes), f"canvases: {boxes}"
        query = boxes[5]  # the last canvas in page order is the query's
        assert query[1] + query[3] <= 1080, f"the query canvas ends at y = {query[1] + query[3]:.0f}"
        adapt = page.get_by_role("button", name="Adapt").bounding_box()
        assert adapt["y"] + adapt["height"] <= 1080, f"Adapt ends at y = {adapt['y'] + adapt['height']:.0f}"
        assert all(b[0] + b[2] <= 1920 for b in boxes)
    finally:
        context.close()


def test_on_a_phone_the_20_way_prediction_tiles_stay_square_and_on_the_screen(server, browser):
    if not os.environ.get("MAML_DATA_DIR"):
        pytest.skip("20-way episodes come from the Omniglot test set (set MAML_DATA_DIR)")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, server, "omniglot")
        page.get_by_text("Omniglot test set").click()
        settle(page)
        page.get_by_role("radio", name="20").click() if page.get_by_role("radio", name="20").count() else \
            page.get_by_text("20", exact=True).first.click()
        settle(page)
        page.get_by_role("button", name="Adapt").click()
        page.get_by_text("framed in its colour").first.wait_for()
        settle(page)
        tiles = page.evaluate("""() => [...document.querySelectorAll('img[title^="Class "]')].map(i => {
            const r = i.getBoundingClientRect(); return [r.width, r.height, r.right]; })""")
        assert len(tiles) >= 60, f"{len(tiles)} tiles"  # 20 classes for each of three methods
        bad = [t for t in tiles if abs(t[0] - t[1]) > 1 or t[2] > 391]
        assert not bad, f"{len(bad)} of {len(tiles)} tiles squashed or off the screen, e.g. {bad[:3]}"
        shot(page, "omniglot_phone_20way")
    finally:
        context.close()

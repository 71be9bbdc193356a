"""End to end in a real browser: `streamlit run app.py` on loopback, driven by Playwright with Debian's
chromium. Opens every page, draws a character per class and a query on the Omniglot canvases with
the mouse, adapts, and checks that predictions and curves appear. Screenshots go to
test-artifacts/screenshots/ (and to $E2E_SCREENSHOT_DIR as well, e.g. docs/screenshots for the README).

Skipped only when /usr/bin/chromium is missing outside CI; in CI (env CI set) that is a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.harness import (  # the shared e2e helpers; the other e2e modules import them from here
    CHROMIUM,
    QUERY,
    STROKES,
    click_chart,
    draw,
    launch_chromium,
    new_page,
    open_page,
    settle,
    start_server,
    stop_server,
    wait_for_chart_clicks,
)
from benchmarks.harness import app_assets as assets_for_e2e
from benchmarks.harness import free_port as _free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
PAGES = {  # url path -> the title the page shows
    "": "MAML, visible",
    "sinusoid": "Sinusoid regression",
    "omniglot": "Omniglot few-shot",
    "meta_training": "Meta-training",
}

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run must install Debian's chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); these tests run in CI")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    _need_chromium()
    tmp = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    proc = start_server(assets_for_e2e(tmp / "assets"), port, tmp / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


def open_in_context(browser, url: str, heading: str, timeout_ms: int = 60_000, **context):
    """A new browser context (1400 x 1000 unless `context` says otherwise) on `url`, once its heading is drawn and
    the page has settled: (context, page)."""
    ctx, page = new_page(browser, timeout_ms, **context)
    page.goto(url)
    page.get_by_role("heading", name=heading).first.wait_for()
    settle(page)
    return ctx, page


@pytest.fixture(scope="module")
def browser(server):
    with launch_chromium() as b:
        yield b


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def shot(page, name: str) -> None:
    """A screenshot of the whole app (Streamlit scrolls an inner container, so a "full page" screenshot
    would stop at the viewport: the viewport is stretched to the content for the picture)."""
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
                           "[data-testid=\"stAppScrollToBottomContainer\"], section')].map(e => e.scrollHeight), "
                           "document.body.scrollHeight)")
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], int(height)), 6000)})
    page.wait_for_timeout(500)  # charts re-lay out to the new size
    try:
        folders = [ARTIFACTS]
        extra = os.environ.get("E2E_SCREENSHOT_DIR")
        if extra:
            folders.append(Path(extra) if Path(extra).is_absolute() else ROOT / extra)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{name}.png"))
    finally:
        page.set_viewport_size(size)


def assert_no_error(page) -> None:
    """No exception box, no traceback, and no exception class name (ValueError, ...) anywhere in the text."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:3000]
    body = page.inner_text("body")
    assert "Traceback" not in body, body[:3000]
    names = re.findall(r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b", body)
    assert not names, f"{names} on the page: {body[:3000]}"


# drawing of class 2's.
def canvas_ink(page) -> list[int]:
    """Dark pixels on each drawing canvas, in page order (the canvases live in shadow roots)."""
    return page.evaluate("""() => {
        const counts = [];
        for (const host of document.querySelectorAll('*')) {
            if (!host.shadowRoot) continue;
            for (const c of host.shadowRoot.querySelectorAll('canvas.dc-canvas.lower-canvas')) {
                const d = c.getContext('2d', {willReadFrequently: true}).getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 128) n++;
                counts.push(n);
            }
        }
        return counts;
    }""")


# --- tests (in file order: the first one must be the server's first visitor) ----------------------------

def test_deep_link_on_a_fresh_server_gets_the_app_navigation(server, page):
    """A shared link to a page, opened before anyone loaded "/" (e.g. a sleeping cloud app waking up), must
    run app.py's st.navigation: its page titles in the sidebar, not Streamlit's file-name pages."""
    open_page(page, server, "omniglot")
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Sinusoid regression" in nav and "Meta-training, live" in nav, (
        f"sidebar navigation is {nav!r}: the first request ran pages/omniglot.py without app.py (Streamlit "
        "treats a folder named pages/ beside the main script as old-style multipage navigation until "
        "st.navigation has run once)")
    assert page.get_by_role("heading", name="Omniglot few-shot").count() >= 1, "the deep link must open its own page"
    # Its widgets belong to the routed page from the first interaction (no lost first click).
    root_size = "getComputedStyle(document.documentElement).fontSize"
    before = page.evaluate(root_size)
    page.get_by_text("Large fonts (projector)").click()
    page.wait_for_function(f"{root_size} !== {before!r}", timeout=15_000)


def test_every_page_renders(server, page):
    for path, title in PAGES.items():
        open_page(page, server, path)
        assert_no_error(page)
        assert page.get_by_role("heading", name=title).count() >= 1
        if path == "sinusoid":
            page.locator(".js-plotly-plot").first.wait_for()
        shot(page, f"page_{path or 'home'}")


def test_sinusoid_chart_click_keys_and_play(server, page):
    """The real browser: a click on the chart adds a support point, the arrow keys and Home step, and Play walks
    the steps by itself (a fragment timer that AppTest cannot run) and stops at the end, all in one step control."""
    open_page(page, server, "sinusoid")
    numbers = page.locator('[data-testid="stMarkdownContainer"]:has-text("The numbers")').first
    page.get_by_text("Support points (5)").wait_for()
    wait_for_chart_clicks(page)
    chart = page.locator(".st-key-sin_plot .js-plotly-plot")
    # ui/live_chart.py: in Streamlit's chart font, and updated in place (the same element, one more draw)
    assert "Source Sans" in chart.evaluate("gd => gd._fullLayout.font.family")
    draws = int(chart.evaluate("gd => { gd.__kept = true; return gd.dataset.draws; }"))
    click_chart(chart, 0.5, 0.55)
    page.get_by_text("Support points (6)").wait_for(timeout=30_000)
    settle(page)
    assert chart.evaluate("gd => gd.__kept === true") and int(chart.evaluate("gd => gd.dataset.draws")) > draws
    click_chart(chart, 0.5, 0.55)  # on the new point: removes it
    page.get_by_text("Support points (5)").wait_for(timeout=30_000)
    settle(page)
    click_chart(chart, 0.3, 0.5)
    page.get_by_text("Support points (6)").wait_for(timeout=30_000)
    settle(page)
    with page.expect_download() as download:  # the CSV is written when the button is clicked
        page.get_by_role("button", name="Download points as CSV").click()
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0] == "x,y" and len(rows) == 7 and all(len(r.split(",")) == 2 for r in rows[1:]), rows
    assert all(r.split(",")[1] not in ("", "nan") for r in rows[1:]), rows  # every y, the curve points' too
    page.get_by_role("heading", name="Sinusoid regression").click()  # focus the page, not a widget
    page.keyboard.press("Home")
    page.wait_for_function("t => document.body.innerText.includes(t)", arg="step 0 → step 0", timeout=30_000)
    settle(page)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("t => document.body.innerText.includes(t)", arg="step 0 → step 1", timeout=30_000)
    settle(page)
    assert page.locator(".st-key-sin_step_slider [data-testid=stSliderThumbValue]").inner_text().strip() == "1"
    page.keyboard.press("Home")
    page.wait_for_function("t => document.body.innerText.includes(t)", arg="step 0 → step 0", timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("t => document.body.innerText.includes(t)", arg="step 0 → step 3", timeout=60_000)
    page.wait_for_function("t => document.body.innerText.includes(t)", arg="step 0 → step 10", timeout=90_000)
    settle(page, quiet_ms=2500)
    assert "step 0 → step 10" in numbers.inner_text()  # it stopped at the last step
    assert page.get_by_role("button", name="Play").count() == 1  # and the button reads Play again
    # "Next" on the last step: one more inner step, in the sidebar too (S is a sidebar setting; the step control
    # is in the page's fragment, whose own reruns leave the sidebar as it was)
    page.get_by_role("button", name="Next").click()
    page.wait_for_function("t => document.body.innerText.includes(t)", arg="step 0 → step 11", timeout=30_000)
    settle(page)
    assert page.locator(".st-key-inner_steps [data-testid=stSliderThumbValue]").inner_text().strip() == "11"
    assert_no_error(page)
    shot(page, "sinusoid_after_play")


def test_phone_tap_on_the_sinusoid_chart_adds_a_point(server, browser):
    """A tap on a touch screen is a click: it adds a support point where the finger was."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, server, "sinusoid")
        page.get_by_text("Support points (5)").wait_for()
        wait_for_chart_clicks(page)
        chart = page.locator(".st-key-sin_plot .js-plotly-plot")
        box = None
        for _ in range(20):  # the phone page may still shift as it finishes loading: tap once the chart is in view
            chart.scroll_into_view_if_needed()
            page.wait_for_timeout(250)
            box = chart.bounding_box()
            if box and 0 <= box["y"] and box["y"] + box["height"] * 0.6 < 844:
                break
        assert box and 0 <= box["y"] < 844, f"the chart never came into view: {box}"
        page.touchscreen.tap(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.6)
        page.get_by_text("Support points (6)").wait_for(timeout=30_000)
        assert_no_error(page)
    finally:
        context.close()


def test_meta_training_starts_and_stops(server, page):
    open_page(page, server, "meta_training")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("it/s").first.wait_for(timeout=60_000)  # progress lines appear while it trains
    page.wait_for_timeout(1500)
    page.locator(".st-key-mt_stop button").click()  # (the app header has a "Stop" button while a script runs)
    page.get_by_text("Finished").first.wait_for(timeout=60_000)
    settle(page)
    assert_no_error(page)
    assert page.locator(".js-plotly-plot").count() >= 1
    shot(page, "meta_training_after_a_short_run")


def test_omniglot_draw_adapt_predict(server, page):
    open_page(page, server, "omniglot")
    canvases = page.locator("canvas.upper-canvas")
    canvases.first.wait_for()
    assert canvases.count() == 6  # 5-way 1-shot: five classes and the query
    status = page.get_by_text("network input", exact=True)
    for i, strokes in enumerate([*STROKES, QUERY]):
        draw(page, canvases.nth(i), strokes)
        page.wait_for_function(f"() => document.body.innerText.split('network input').length - 1 >= {i + 1}")
    assert status.count() == 6
    assert_no_error(page)
    page.get_by_role("button", name="Adapt").click()
    page.get_by_text("framed in its colour").first.wait_for()
    settle(page)
    assert_no_error(page)
    charts = page.locator(".js-plotly-plot")
    charts.nth(1).wait_for()  # plotly renders asynchronously: the animated probabilities and the support loss
    assert charts.count() == 2
    page.get_by_text("Class probabilities for the query").first.wait_for()
    page.get_by_text("Support loss").first.wait_for()
    assert page.locator("span", has_text="after 10 steps").count() == 3  # one prediction row per method
    assert all(n > 0 for n in canvas_ink(page))
    shot(page, "omniglot_drawn_and_adapted")
    # Projector mode: bigger text, and the drawings stay on their canvases (nothing above them remounts them).
    page.get_by_text("Large fonts (projector)").click()
    settle(page)
    page.get_by_text("framed in its colour").first.wait_for()
    assert_no_error(page)
    ink = canvas_ink(page)
    assert len(ink) == 6 and all(n > 0 for n in ink), f"a canvas lost its drawing: dark pixels {ink}"
    shot(page, "omniglot_large_fonts")
    # Another page and back (same session): the drawings come back on the canvases, the results stay.
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Home").click()
    page.get_by_role("heading", name=PAGES[""]).first.wait_for()
    settle(page)
    nav.get_by_role("link", name="Omniglot few-shot").click()
    page.get_by_text("framed in its colour").first.wait_for()
    settle(page)
    page.locator("canvas.upper-canvas").nth(5).wait_for()
    page.wait_for_timeout(500)
    ink = canvas_ink(page)
    assert len(ink) == 6 and all(n > 0 for n in ink), f"drawings lost after a page switch: dark pixels {ink}"
    assert_no_error(page)


def test_phone_canvas_takes_strokes_that_start_at_its_top(server, browser):
    """On a touch screen the canvas's toolbar sits visible above the canvas, not invisible over its top fifth
    (where it swallowed strokes): a stroke that starts at the very top of the canvas leaves ink."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, server, "omniglot")
        assert page.evaluate("matchMedia('(hover: none)').matches")
        # the canvases are components drawn after the page (each in a shadow root): wait for them on a busy machine
        page.wait_for_function("""() => [...document.querySelectorAll('*')].some(h => h.shadowRoot &&
            h.shadowRoot.querySelector('.dc-toolbar') && h.shadowRoot.querySelector('canvas.upper-canvas'))""",
                               timeout=60_000)
        hosts = page.evaluate("""() => [...document.querySelectorAll('*')].filter(h => h.shadowRoot &&
            h.shadowRoot.querySelector('.dc-toolbar')).map(h => {
              const r = h.shadowRoot.querySelector('canvas.upper-canvas').getBoundingClientRect();
              const t = h.shadowRoot.querySelector('.dc-toolbar').getBoundingClientRect();
              return [r.top, t.bottom]; })""")
        assert hosts and all(toolbar_bottom <= canvas_top + 1 for canvas_top, toolbar_bottom in hosts), hosts
        page.get_by_text("Class 1").first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        top = page.evaluate("""() => { const h = [...document.querySelectorAll('*')].find(h => h.shadowRoot &&
            h.shadowRoot.querySelector('canvas.upper-canvas'));
            const r = h.shadowRoot.querySelector('canvas.upper-canvas').getBoundingClientRect();
            return [r.left, r.top, r.width, r.height]; }""")
        x, y, w, h = top
        page.mouse.move(x + 0.3 * w, y + 0.03 * h)
        page.mouse.down()
        for f in (0.2, 0.4, 0.6):
            page.mouse.move(x + (0.3 + f / 2) * w, y + f * h)
        page.mouse.up()
        settle(page)
        assert canvas_ink(page)[0] > 0, "a stroke starting at the canvas's top left no ink"
    finally:
        context.close()


OVERLAPS_JS = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const boxes = [...main.querySelectorAll('[data-testid="stElementContainer"]')]
        .filter(e => !e.querySelector('[data-testid="stElementContainer"]'))  // leaf elements only
        .filter(e => !e.closest('details:not([open])') && e.checkVisibility({opacityProperty: true,
                                                                             visibilityProperty: true}))  // shown
        .map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.width > 2 && r.height > 2);
    const name = e => (e.innerText || e.querySelector('[data-testid]')?.dataset.testid || '?').slice(0, 40);
    const out = [];
    for (let i = 0; i < boxes.length; i++) {
        const [a, r] = boxes[i];
        if (r.right > window.innerWidth + 1) out.push(`${name(a)} ends at x=${r.right} (page ${window.innerWidth})`);
        for (let j = i + 1; j < boxes.length; j++) {
            const [b, q] = boxes[j];
            const w = Math.min(r.right, q.right) - Math.max(r.left, q.left);
            const h = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
            if (w > 1 && h > 1) out.push(`${name(a)} overlaps ${name(b)} (${w.toFixed(0)} x ${h.toFixed(0)} px)`);
        }
    }
    return [boxes.length, out];
}"""


def test_nothing_overlaps_on_a_phone(server, browser):
    """At 390 x 844 with touch, no two elements of a page overlap and none runs off the screen's width (on a phone
    Play and Pause once covered the step slider): every leaf element's box, on each page, after adapting."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        for path in PAGES:
            open_page(page, server, path)
            if path == "sinusoid":
                page.locator(".js-plotly-plot").first.wait_for()
            if path == "omniglot" and os.environ.get("MAML_DATA_DIR"):
                page.get_by_text("Omniglot test set").click()
                settle(page)
                page.get_by_role("button", name="Adapt").click()
                page.get_by_text("Accuracy on the episode's query set").first.wait_for()
                settle(page)
            page.wait_for_timeout(500)
            count, problems = page.evaluate(OVERLAPS_JS)
            assert count > 10, f"{path}: only {count} elements measured"
            assert not problems, f"{path or 'home'}: {problems}"
    finally:
        context.close()


def test_omniglot_dataset_episode(server, page):
    open_page(page, server, "omniglot")
    page.get_by_text("Omniglot test set").click()
    settle(page)
    assert_no_error(page)
    if not os.environ.get("MAML_DATA_DIR"):
        page.get_by_text("MAML_DATA_DIR").first.wait_for()  # says how to enable it
        page.get_by_role("button", name="Download Omniglot").wait_for()
        shot(page, "omniglot_no_dataset")
        return
    page.get_by_role("button", name="New episode").wait_for()
    page.get_by_role("button", name="Adapt").click()
    page.get_by_text("Accuracy on the episode's query set").first.wait_for()
    settle(page)
    assert_no_error(page)
    page.locator(".js-plotly-plot").nth(2).wait_for()  # probabilities, support loss, query accuracy
    assert page.get_by_text("(true class:").count() == 1
    shot(page, "omniglot_dataset_episode")

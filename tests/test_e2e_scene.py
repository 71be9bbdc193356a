"""The Sinusoid page's scene and step control in a real browser (Playwright, Debian's chromium): a link opens at its
shown step, a server restart with the tab open keeps the step and the next click walks on from it, projector mode
has the step control and the chart on one 1920 x 1080 screen, and no toast lies over the step control.

The server is this module's own (it is restarted mid-test); helpers come from tests/test_e2e.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_e2e import (
    _free_port,
    _need_chromium,
    assert_no_error,
    assets_for_e2e,
    click_chart,
    launch_chromium,
    open_in_context,
    settle,
    shot,
    start_server,
    stop_server,
    wait_for_chart_clicks,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

THUMB = ".st-key-sin_step_slider [data-testid=stSliderThumbValue]"


class Server:
    """`streamlit run app.py` on one port, which `restart` stops and starts again (a fresh process: every session
    is gone, as on a Community Cloud wake)."""

    def __init__(self, assets: Path, log: Path) -> None:
        self.assets, self.log, self.port = assets, log, _free_port()
        self.proc = start_server(assets, self.port, log)
        self.url = f"http://127.0.0.1:{self.port}"

    def restart(self) -> None:
        stop_server(self.proc)
        self.proc = start_server(self.assets, self.port, self.log)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    _need_chromium()
    tmp = tmp_path_factory.mktemp("e2e_scene")
    s = Server(assets_for_e2e(tmp / "assets"), tmp / "server.log")
    try:
        yield s
    finally:
        stop_server(s.proc)


@pytest.fixture(scope="module")
def browser(server):
    with launch_chromium() as b:
        yield b


def open_sinusoid(browser, url: str, **context):
    ctx, page = open_in_context(browser, url, "Sinusoid regression", **context)
    page.locator(".st-key-sin_plot .js-plotly-plot").wait_for()
    settle(page)
    return ctx, page


def shown(page) -> str:
    return page.locator(THUMB).inner_text().strip()


def wait_shown(page, step: int) -> None:
    page.wait_for_function("([sel, s]) => document.querySelector(sel)?.innerText.trim() === s", arg=[THUMB, str(step)],
                           timeout=60_000)
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=f"step 0 → step {step}", timeout=60_000)
    settle(page)


def url_step(page) -> str | None:
    from urllib.parse import parse_qs, urlparse

    return (parse_qs(urlparse(page.url).query).get("step") or [None])[-1]


def test_a_link_opens_at_its_step_and_a_restart_keeps_it(server, browser):
    """Item 8: a link made at step 2 opened at step 5; after a restart, "Next" at step 0 jumped to step 10 (the
    first click reached a new session that never drew the control, which then showed its last step)."""
    ctx, page = open_sinusoid(browser, f"{server.url}/sinusoid?S=5&step=2")
    try:
        assert shown(page) == "2" and "step 0 → step 2" in page.inner_text("body")
        assert url_step(page) == "2"
        page.locator(".st-key-sin_next button").first.click()
        wait_shown(page, 3)
        assert url_step(page) == "3"  # the address follows the step on screen: a link made now opens at 3
        page.locator(".st-key-sin_first button").first.click()
        wait_shown(page, 0)
        assert url_step(page) == "0"
        server.restart()  # the tab stays open on step 0
        page.wait_for_timeout(3000)  # (the browser notices and reconnects by itself)
        page.locator(".st-key-sin_next button").first.click()
        wait_shown(page, 1)
        settle(page, quiet_ms=1500)
        assert shown(page) == "1" and url_step(page) == "1", (shown(page), page.url)
        page.locator(".st-key-sin_next button").first.click()  # and the control works on as before
        wait_shown(page, 2)
        server.restart()  # the keyboard: → after a restart at step 2 shows step 3
        page.wait_for_timeout(3000)
        page.get_by_role("heading", name="Sinusoid regression").first.click()
        page.keyboard.press("ArrowRight")
        wait_shown(page, 3)
        assert_no_error(page)
    finally:
        ctx.close()


def test_projector_mode_has_the_step_control_and_the_chart_on_one_screen(server, browser):
    """Item 6: with ?big=1 at 1920 x 1080 the chart started at 874 px (below the fold with its 480 px) unless the
    separate presenter switch was also on. Also: the link's note is at the sidebar's foot, not a toast."""
    ctx, page = open_sinusoid(browser, f"{server.url}/sinusoid?big=1", viewport={"width": 1920, "height": 1080})
    try:
        chart = page.locator(".st-key-sin_plot .js-plotly-plot").bounding_box()
        row = page.locator(".st-key-sin_step_row").bounding_box()
        loss = page.locator(".st-key-sin_losses .js-plotly-plot").bounding_box()
        assert row["y"] >= 0 and row["y"] + row["height"] <= chart["y"], (row, chart)
        assert chart["y"] + chart["height"] <= 1080, f"the chart ends at {chart['y'] + chart['height']:.0f} px"
        assert loss["y"] + loss["height"] <= 1080, f"the loss chart ends at {loss['y'] + loss['height']:.0f} px"
        assert page.locator('[data-testid="stToast"]').count() == 0
        assert "Opened the scene saved in this page's address (large fonts)" in page.locator(
            '[data-testid="stSidebar"]').inner_text()
        assert_no_error(page)
        shot(page, "scene_sinusoid_1920_big")
    finally:
        ctx.close()


def test_no_toast_covers_the_step_control(server, browser):
    """Item 10: confirmations were toasts in the top right corner, over the step slider once the page was scrolled
    to it. A click on the chart now confirms in a line of its own, and nothing floats over the controls."""
    ctx, page = open_sinusoid(browser, f"{server.url}/sinusoid?S=4")
    try:
        page.get_by_text("Support points (5)").wait_for()
        wait_for_chart_clicks(page)
        page.locator(".st-key-sin_step_row").scroll_into_view_if_needed()
        click_chart(page.locator(".st-key-sin_plot .js-plotly-plot"), 0.5, 0.55)
        page.get_by_text("Support points (6)").wait_for()
        settle(page)
        assert page.get_by_text("Added a point at").count() == 1
        assert page.locator('[data-testid="stToast"]').count() == 0
        shot(page, "scene_sinusoid_1400")
    finally:
        ctx.close()


def test_phone_screenshot(server, browser):
    ctx, page = open_sinusoid(browser, f"{server.url}/sinusoid", viewport={"width": 390, "height": 844},
                              has_touch=True, is_mobile=True)
    try:
        assert_no_error(page)
        shot(page, "scene_sinusoid_390")
    finally:
        ctx.close()


def test_a_server_restart_mid_lesson_keeps_the_lesson_bar_and_pagedown_goes_on(server, browser):
    """Before, a restart (a Cloud wake, a redeploy) left the scene on screen but dropped the lesson bar without a
    word: the server's memory of the browser was gone. The scene's address now names the lesson."""
    bar = ".st-key-lesson_bar"
    ctx, page = open_in_context(browser, f"{server.url}/lesson?deck=maml_in_5_scenes", "Lesson", 90_000)
    try:
        page.locator(".st-key-lesson_present button").first.click()
        page.get_by_role("heading", name="Five points, before any step").first.wait_for()
        settle(page)
        page.locator(".st-key-lesson_reveal button:visible").first.click()
        page.locator(bar).wait_for()
        page.locator(".st-key-sin_plot .js-plotly-plot").wait_for()
        settle(page)
        assert "scene 1 of 5" in page.locator(bar).inner_text()
        assert "lesson=maml_in_5_scenes.1" in page.url, page.url
        server.restart()  # the tab stays open on the scene
        page.wait_for_function("t => document.querySelector(t)?.innerText.includes('scene 1 of 5')", arg=bar,
                               timeout=90_000)  # (the browser reconnects and reruns the page by itself)
        settle(page, quiet_ms=1500)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.keyboard.press("PageDown")  # the clicker goes on: scene 2's question
        try:
            page.get_by_role("heading", name="Three points, all on the left").first.wait_for(timeout=20_000)
        except Exception:  # (a loaded machine may still be wiring the rerun page: a presenter presses again)
            page.keyboard.press("PageDown")
            page.get_by_role("heading", name="Three points, all on the left").first.wait_for(timeout=60_000)
        assert "scene 2 of 5" in page.inner_text("body")
        assert_no_error(page)
    finally:
        ctx.close()

"""The Inside MAML page in a real browser: a click on the plane moves theta (the plane stays), the keys step, and
the page holds together on a phone and in projector mode (screenshots in test-artifacts/screenshots/)."""

from __future__ import annotations

import pytest
import test_e2e as e2e
from test_e2e import assert_no_error, click_chart, settle, shot, wait_for_chart_clicks

server, browser, page = e2e.server, e2e.browser, e2e.page  # the fixtures: one server for this module

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def open_inside(page, base: str, query: str = "") -> None:
    page.goto(f"{base}/inside{query}")
    page.get_by_role("heading", name="Inside MAML").first.wait_for(timeout=60_000)
    page.get_by_role("heading", name="4. What adaptation changes").wait_for(timeout=120_000)
    settle(page)


def wait_text(page, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout)


def test_a_click_on_the_plane_moves_theta_and_the_keys_step(server, page):
    open_inside(page, server)
    wait_text(page, "After 10 inner steps from the MAML start")
    wait_for_chart_clicks(page)
    chart = page.locator(".st-key-ins_landscape .js-plotly-plot")
    grid = "gd => [gd.data[0].x, gd.data[0].y, gd._fullLayout.xaxis.range, gd._fullLayout.yaxis.range]"
    plane = chart.evaluate(grid)
    click_chart(chart, 0.5, 0.35)  # the mouse arrives and presses at once
    wait_text(page, "After 10 inner steps from the θ you clicked")
    settle(page)
    assert page.get_by_role("button", name="Back to the start").count() == 1
    names = chart.evaluate("gd => gd.data.map(t => t.name)")
    assert "θ you clicked" in names
    assert chart.evaluate(grid) == plane  # the plane, its grid and the square shown stay
    page.get_by_role("heading", name="Inside MAML").first.click()  # focus the page, not a widget
    page.keyboard.press("Home")
    wait_text(page, "Step 0: every path starts at the θ you clicked")
    settle(page)
    page.keyboard.press("ArrowRight")
    wait_text(page, "After 1 inner step from the θ you clicked")
    settle(page)
    assert_no_error(page)
    shot(page, "inside_after_a_click")
    page.get_by_role("button", name="Back to the start").click()
    wait_text(page, "from the MAML start")
    settle(page)
    assert_no_error(page)


def test_the_page_in_projector_mode_and_on_a_phone(server, browser):
    for name, options, query in (
            ("inside_large_fonts", dict(viewport={"width": 1920, "height": 1080}), "?big=1"),
            ("inside_phone", dict(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True), "")):
        context = browser.new_context(**options)
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            open_inside(page, server, query)
            chart = page.locator(".st-key-ins_landscape .js-plotly-plot")
            box = chart.bounding_box()
            assert box["width"] > 250 and box["height"] > 250, box
            assert box["x"] >= 0 and box["x"] + box["width"] <= options["viewport"]["width"] + 1, box
            if query == "?big=1":  # a lecture hall: the step control and the whole landscape on the first screen
                control = page.locator(".st-key-ins_step_row").bounding_box()
                assert control["y"] >= 0 and box["y"] + box["height"] <= 1080, (control, box)
            assert_no_error(page)
            shot(page, name)
        finally:
            context.close()

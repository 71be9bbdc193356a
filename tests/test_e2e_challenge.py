"""The Human vs MAML page in a real browser (Playwright + Debian's chromium, with tests/test_e2e.py's server, browser
and helpers): a 5-way challenge played by mouse clicks, a number key and Tab + Enter, then the comparison; a 20-way
trial on one projected 1920 x 1080 screen; a phone played by taps; and, on a server without the archives, the
message that says how to get them. The trials need the Omniglot archives (MAML_DATA_DIR; CI sets it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import test_e2e
from test_e2e import assert_no_error, settle, shot

server, browser, page = test_e2e.server, test_e2e.browser, test_e2e.page  # the same fixtures (one server per module)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
TILES = '[class*="st-key-ch_pick_"] button'
needs_data = pytest.mark.skipif(not os.environ.get("MAML_DATA_DIR"),
                                reason="MAML_DATA_DIR is not set (the trials are held-out Omniglot characters)")


def open_challenge(page, base: str, query: str = "") -> None:
    page.goto(f"{base}/challenge{query}")
    page.get_by_role("heading", name="Human vs MAML").first.wait_for()
    settle(page)


def trial_text(page) -> str:
    return page.locator('[data-testid="stProgress"]').inner_text().strip()


def wait_for_trial(page, n: int, of: int) -> None:
    page.get_by_text(f"Trial {n} of {of}", exact=True).wait_for()
    settle(page, quiet_ms=300)


def tile_boxes(page) -> list[dict]:
    return [page.locator(TILES).nth(i).bounding_box() for i in range(page.locator(TILES).count())]


@needs_data
def test_a_5_way_challenge_played_by_clicks_and_keys_ends_in_the_comparison(server, page):
    open_challenge(page, server)
    assert_no_error(page)
    wait_for_trial(page, 1, 5)
    assert page.locator(TILES).count() == 5
    shot(page, "challenge_trial_laptop")
    page.locator(TILES).nth(0).click()  # a mouse click on the first tile
    wait_for_trial(page, 2, 5)
    assert "Trial 1: you chose 1" in page.inner_text("body")
    page.locator(TILES).nth(1).click()
    wait_for_trial(page, 3, 5)
    page.evaluate("document.activeElement && document.activeElement.blur()")  # (focus in no input)
    page.keyboard.press("3")  # a number key answers too
    wait_for_trial(page, 4, 5)
    assert "Trial 3: you chose 3" in page.inner_text("body")
    page.locator(TILES).nth(3).focus()  # the keyboard alone: a tile is a real button
    page.keyboard.press("Enter")
    wait_for_trial(page, 5, 5)
    assert "Trial 4: you chose 4" in page.inner_text("body")
    page.locator(TILES).nth(4).click()
    page.get_by_text("All 5 trials answered").wait_for(timeout=120_000)
    page.get_by_text("You beside the networks, on the same trials").wait_for()
    settle(page)
    assert_no_error(page)
    metrics = page.locator('[data-testid="stMetric"]')
    labels = [metrics.nth(i).locator('[data-testid="stMetricLabel"]').inner_text().strip()
              for i in range(metrics.count())]
    assert labels == ["You", "MAML", "FO-MAML", "Transfer learning"]
    values = [metrics.nth(i).locator('[data-testid="stMetricValue"]').inner_text().strip()
              for i in range(metrics.count())]
    assert all(v.endswith(" of 5") for v in values), values
    body = page.inner_text("body")
    assert "not shown beside 5-way ones" in body and "95.5%" not in body
    assert "Only one of you right" in body and "95% Wilson interval" in body
    shot(page, "challenge_results_laptop")
    page.get_by_role("button", name="Take back my answer to trial 5").click()  # a mis-click, taken back
    wait_for_trial(page, 5, 5)


@needs_data
def test_projector_mode_shows_a_20_way_trial_on_one_1920x1080_screen(server, browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        open_challenge(page, server, "?big=1&N=20")
        wait_for_trial(page, 1, 5)
        root = page.evaluate("getComputedStyle(document.documentElement).fontSize")
        assert root == "20px", root
        boxes = tile_boxes(page)
        assert len(boxes) == 20
        query = page.locator('img[title="the query"]').bounding_box()
        bottom = max(b["y"] + b["height"] for b in boxes + [query])
        assert bottom <= 1080, f"the trial reaches {bottom:.0f} px: below a 1080-pixel screen"
        assert min(b["width"] for b in boxes) >= 100, "projected tiles too small to see from the back"
        assert len({round(b["y"]) for b in boxes}) == 2, "20 tiles should sit in two rows"
        shot(page, "challenge_trial_projector")
        for _ in range(5):
            page.locator(TILES).first.click()
            settle(page, quiet_ms=300)
        page.get_by_text("You beside the networks, on the same trials").wait_for(timeout=120_000)
        settle(page)
        assert_no_error(page)
        assert "People (Lake et al. 2015)" in page.inner_text("body")
        shot(page, "challenge_results_projector")
    finally:
        context.close()


@needs_data
def test_a_phone_plays_by_taps_with_four_tiles_a_row(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        open_challenge(page, server)
        wait_for_trial(page, 1, 5)
        boxes = tile_boxes(page)
        assert max(b["x"] + b["width"] for b in boxes) <= 390, "a tile sticks out of the phone's screen"
        assert len({round(b["y"]) for b in boxes}) == 2  # 4 + 1
        shot(page, "challenge_trial_phone")
        for n in range(5):
            page.locator(TILES).nth(n % 5).tap()
            if n < 4:
                wait_for_trial(page, n + 2, 5)
        page.get_by_text("You beside the networks, on the same trials").wait_for(timeout=120_000)
        settle(page)
        assert_no_error(page)
        shot(page, "challenge_results_phone")
    finally:
        context.close()


@pytest.fixture(scope="module")
def server_without_data(tmp_path_factory):
    test_e2e._need_chromium()
    tmp = tmp_path_factory.mktemp("e2e_nodata")
    port = test_e2e._free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MAML_DATA_DIR", raising=False)  # (start_server passes the caller's on)
        proc = test_e2e.start_server(test_e2e.assets_for_e2e(tmp / "assets"), port, tmp / "server.log",
                                     extra_env={"MAML_DATA_DIR": str(Path(tmp) / "empty")})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        test_e2e.stop_server(proc)


def test_without_the_archives_the_page_says_how_to_get_them(server_without_data, page):
    open_challenge(page, server_without_data)
    assert_no_error(page)
    body = page.inner_text("body")
    assert "No Omniglot archive" in body and "python -m maml_core download --data-dir" in body
    assert page.get_by_role("button", name="Download Omniglot (about 16 MB)").count() == 1
    assert page.locator(TILES).count() == 0

"""The Meta-training page in a real browser (Playwright, Debian's chromium): a finished run survives a reload, a
server restart says plainly that it is gone (and keeps the settings the page shows), and the projector and phone
layouts hold. Screenshots go to test-artifacts/screenshots/ (see tests/test_e2e.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_e2e import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    _free_port,
    _need_chromium,
    assert_no_error,
    assets_for_e2e,
    open_page,
    settle,
    shot,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server that a test may restart on the same port: (base url, restart())."""
    _need_chromium()
    tmp = tmp_path_factory.mktemp("e2e_training")
    assets, port = assets_for_e2e(tmp / "assets"), _free_port()
    procs = [start_server(assets, port, tmp / "server.log")]

    def restart() -> None:
        stop_server(procs[-1])
        procs.append(start_server(assets, port, tmp / f"server{len(procs)}.log"))

    try:
        yield f"http://127.0.0.1:{port}", restart
    finally:
        stop_server(procs[-1])


@pytest.fixture(scope="module")
def chromium(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def iterations_input(page):
    return page.get_by_label("Iterations", exact=True)


def train(page, iterations: int) -> None:
    box = iterations_input(page)
    box.fill(str(iterations))
    box.press("Enter")
    settle(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Finished. Your weights are kept on this server for this browser").wait_for(timeout=180_000)
    settle(page)


def body(page) -> str:
    return page.inner_text("body")


def test_a_run_survives_a_reload_and_a_restart_says_it_is_gone(served, chromium):
    base, restart = served
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, base, "meta_training")
        train(page, 300)
        shot(page, "meta_training_finished")
        assert page.get_by_role("button", name="Download MAML").count() == 1
        with page.expect_download() as download:
            page.get_by_role("button", name="Download MAML").click()
        saved = Path(download.value.path())
        from maml_core import load_checkpoint

        assert load_checkpoint(saved).info["iteration"] == 300

        page.reload()
        page.get_by_role("heading", name="Meta-training").first.wait_for()
        settle(page)
        text = body(page)
        assert "Your trained weights are kept on this server for this browser" in text, text[:2000]
        assert "your run: MAML, 300 iterations" in text
        assert_no_error(page)
        shot(page, "meta_training_after_reload")
        box = iterations_input(page)  # a reload starts the settings afresh; the student sets 300 again
        box.fill("300")
        box.press("Enter")
        settle(page)

        restart()
        # the open tab asks for a run once it has reconnected: no stale "Finished", no click needed
        page.get_by_text("Your earlier run is gone: this server restarted since it finished.").wait_for(
            timeout=60_000)
        settle(page)
        text = body(page)
        shot(page, "meta_training_after_restart")
        assert "Your earlier run is gone: this server restarted since it finished." in text
        assert "Finished" not in text and "No run yet" not in text
        assert iterations_input(page).input_value() == "300"  # the settings the page showed, not 2000
        assert_no_error(page)
    finally:
        context.close()

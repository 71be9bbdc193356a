"""The Meta-training page in a real browser (Playwright, Debian's chromium): a finished run survives a reload, a
server restart says plainly that it is gone (and keeps the settings the page shows), and the projector and phone
layouts hold. Screenshots go to test-artifacts/screenshots/ (see tests/test_e2e.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_e2e import (
    ARTIFACTS,
    _free_port,
    _need_chromium,
    assert_no_error,
    assets_for_e2e,
    launch_chromium,
    open_page,
    settle,
    shot,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parent.parent

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
    with launch_chromium() as b:
        yield b


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
        saved = Path(download.value.path()).with_name(download.value.suggested_filename)
        download.value.save_as(saved)
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

        # the downloaded file brings the run back; a file that is not one is refused, saying what to do
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        fake = saved.with_name("notes.pt")  # (the uploader itself turns away names not ending in .pt)
        fake.write_text((ROOT / "README.md").read_text())
        uploader.set_input_files(str(fake))
        page.get_by_text("Not used: notes.pt is not a readable checkpoint: it is a text file").wait_for()
        settle(page)
        uploader.set_input_files(str(saved))
        page.get_by_text("It is listed above, ready to use.").wait_for()
        settle(page)
        text = body(page)
        assert "Your trained weights are kept on this server for this browser" in text
        assert "MAML, 300 iterations" in text and "Your earlier run is gone" not in text
        shot(page, "meta_training_after_upload")
        page.get_by_role("button", name="Use my trained model(s) on the Sinusoid page").click()
        page.get_by_role("heading", name="Sinusoid regression").first.wait_for()
        settle(page)
        assert "MAML starts from" in body(page)  # the Sinusoid page offers the uploaded run (common.weights_picker)
        assert_no_error(page)
    finally:
        context.close()


GEOMETRY = """() => {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
                        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const chart = (key) => document.querySelector('.st-key-' + key);
  const titles = [...(chart('mt_loss_chart')?.querySelectorAll('g.annotation') || [])].map(box);
  const snap = chart('mt_snapshot_chart');
  return {loss: box(chart('mt_loss_chart')), titles,
          buttons: [...(snap?.querySelectorAll('g.updatemenu-button') || [])].map(box),
          label: box(snap?.querySelector('.slider-group text, g.slider-container text')),
          ticks: [...(snap?.querySelectorAll('g.xtick text') || [])].map(box)};
}"""


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def start_long_run(page) -> None:
    for label, value in (("Iterations", "20000"), ("Snapshot every", "50")):  # several snapshots in seconds
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        settle(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("training…").first.wait_for(timeout=60_000)
    page.locator(".st-key-mt_loss_chart g.annotation").first.wait_for(timeout=60_000)
    page.wait_for_timeout(3000)  # a couple of curve refreshes


def stop_run(page) -> None:
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Your weights are kept").wait_for(timeout=90_000)
    settle(page)


def test_projector_mode_shows_the_live_curves_above_the_fold_while_training(served, chromium):
    base, _ = served
    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{base}/meta_training?big=1")
        page.get_by_role("heading", name="Meta-training").first.wait_for()
        settle(page)
        start_long_run(page)
        page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
        page.wait_for_timeout(500)
        g = page.evaluate(GEOMETRY)
        page.screenshot(path=str(ARTIFACTS / "meta_training_projector_training.png"))
        assert g["loss"]["bottom"] <= 1080, g["loss"]  # the whole loss chart, not only its top (was at 862 px)
        stop_run(page)
        assert_no_error(page)
    finally:
        context.close()


def test_on_a_phone_the_chart_titles_and_the_replay_controls_do_not_collide(served, chromium):
    base, _ = served
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                   device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, base, "meta_training")
        start_long_run(page)
        page.locator(".st-key-mt_loss_chart").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "meta_training_phone_curves.png"))  # (the chart redraws: no element shot)
        titles = page.evaluate(GEOMETRY)["titles"]
        assert len(titles) == 2 and not overlap(*titles), titles
        stop_run(page)
        snap = page.locator(".st-key-mt_snapshot_chart")
        snap.locator("g.updatemenu-button").first.wait_for()
        snap.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "meta_training_phone_snapshots.png"))
        g = page.evaluate(GEOMETRY)
        assert len(g["buttons"]) == 2 and g["label"] is not None, g
        for b in g["buttons"]:
            assert not overlap(b, g["label"]), (b, g["label"])
            assert not any(overlap(b, t) for t in g["ticks"]), (b, g["ticks"])
        assert_no_error(page)
    finally:
        context.close()

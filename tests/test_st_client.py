"""benchmarks/st_client.py against a real `streamlit run app.py` on loopback (no browser): two sessions on the
Sinusoid page; a change in one shows up in its own page and not in the other's.

Marked e2e like tests/test_e2e.py (a real server); it needs no chromium, so it is not skipped without one.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("websockets")  # a Streamlit dependency

from test_e2e import _free_port, assets_for_e2e, start_server, stop_server  # noqa: E402

from benchmarks.st_client import CLICK, Session  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("st_client")
    port = _free_port()
    proc = start_server(assets_for_e2e(tmp / "assets"), port, tmp / "server.log")
    try:
        yield port
    finally:
        stop_server(proc)


def test_two_sessions_see_only_their_own_change(port):
    async def scenario():
        a, b = Session(port, page="sinusoid"), Session(port, page="sinusoid")
        first = await asyncio.gather(a.connect(), b.connect())
        try:
            assert all(r.status == "FINISHED_SUCCESSFULLY" and not r.exceptions for r in first), first
            assert a.session_id and b.session_id and a.session_id != b.session_id
            assert a.widget_ids()["inner_steps"].startswith("$$ID-")
            assert a.widget_ids()["inner_steps"].endswith("-inner_steps")
            for s in (a, b):  # the page's defaults: seed 0, S = 10, shown at its last step
                assert "random initialisation, seed 0" in s.text()
                assert "(step 0 → step 10)" in s.text()
                charts = [e for e in s.elements.values() if e.WhichOneof("type") == "bidi_component"
                          and e.bidi_component.component_name == "maml.live_chart"]
                assert len(charts) == 2  # the prediction and the loss chart (ui/live_chart.py)

            changed = await a.run({"seed": 4242, "inner_steps": 3})
            assert changed.status == "FINISHED_SUCCESSFULLY" and changed.seconds > 0, changed
            assert "random initialisation, seed 4242" in a.text()
            assert "(step 0 → step 3)" in a.text()
            await a.run({"sin_prev": CLICK})  # the step control's Back button
            assert "(step 0 → step 2)" in a.text()
            assert len(a.tables()[-1]) == 5  # the numbers: a row per method, Reptile included

            await b.run()  # b reruns (as after any click of its own) and must still show its own scene
            assert "random initialisation, seed 0" in b.text()
            assert "(step 0 → step 10)" in b.text()
            assert "4242" not in b.text() and "4242" not in b.query
            assert "seed=4242" in a.query  # the page publishes its scene to the query string
        finally:
            await asyncio.gather(a.close(), b.close())

    asyncio.run(scenario())

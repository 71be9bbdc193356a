"""The Home page and the app's routing, headless (Streamlit AppTest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

APP = str(ROOT / "app.py")


@pytest.fixture()
def app(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setattr(common, "ASSETS", tmp_path)  # no weights at all: Home must not need any
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_explains_maml_with_both_updates(app):
    assert app.title[0].value == "MAML, visible"
    text = " ".join(m.value for m in app.markdown)
    assert "Meta-learning" in text and "MAML" in text and "FO-MAML" in text
    latex = [m.value for m in app.latex]
    assert len(latex) == 3
    assert any(r"\alpha" in s and r"\theta_i'" in s for s in latex)  # inner update
    assert any(r"\beta" in s and r"\sum" in s for s in latex)  # outer update
    assert any("FO-MAML" in s for s in latex)  # first-order marked


def test_home_has_a_card_per_page(app):
    links = {p.proto.page for p in app.get("page_link")}
    assert {"sinusoid", "omniglot", "meta_training"} <= links  # url paths of the registered pages
    captions = " ".join(c.value for c in app.caption)
    assert "Trained weights available: 0 of 3" in captions  # says what is missing instead of failing


def test_large_fonts_toggle_restyles_and_persists(app):
    assert not any("html {font-size: 20px;}" in m.value for m in app.markdown)
    app.sidebar.toggle(key="large_fonts").set_value(True).run()
    assert any("html {font-size: 20px;}" in m.value for m in app.markdown)
    # AppTest's first run after switch_page still returns the widget's default for a persisted key (a real browser
    # returns the kept value at once: checked with Playwright), so the page is run once more before checking.
    app.switch_page("app_pages/meta_training.py").run().run()
    assert app.sidebar.toggle(key="large_fonts").value is True
    assert any("html {font-size: 20px;}" in m.value for m in app.markdown)
    assert not app.exception


def test_streamlit_run_serves_app_py_as_an_asgi_app_with_a_start_up_warm_up():
    """`streamlit run app.py` must find the st.App in app.py (so its lifespan hook warms the server up before its
    health check answers) and still run app.py as the page script (`__name__ == "__main__"`, the AppTests)."""
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(Path(APP))
    assert found.is_asgi_app and found.app_name == "app", found


def test_warm_up_imports_torch_dynamo_once_in_a_fresh_process():
    """The warm-up does what the first torch.func.grad of a process would otherwise make a visitor wait for."""
    import subprocess

    code = ("import sys; from ui.warm import warm_up, _DONE\n"
            "assert 'torch' not in sys.modules\n"
            "warm_up(); assert _DONE.is_set()\n"
            "assert 'torch._dynamo' in sys.modules and 'ui.sinusoid_view' in sys.modules\n"
            "import torch.func; calls = []; torch.func.grad = lambda f: calls.append(f)\n"
            "warm_up(); assert calls == []  # once per process: a second call computes nothing\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("page", ["", "app_pages/meta_training.py"])
def test_a_link_with_big_opens_home_and_meta_training_in_large_fonts(tmp_path, monkeypatch, page):
    """A lecturer's prepared links carry ?big=1 to every page, not only to the two with a task (both used to
    ignore it); another page's scene is dropped from the address bar, the switch stays in it."""
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setattr(common, "ASSETS", tmp_path)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["big"] = "1"
    at.query_params["A"] = "2"  # a Sinusoid scene's amplitude: not Home's or Meta-training's
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.toggle(key="large_fonts").value is True
    assert any("html {font-size: 20px;}" in m.value for m in at.markdown)
    assert dict(at.query_params) in ({"big": "1"}, {"big": ["1"]})
    at.sidebar.toggle(key="large_fonts").set_value(False).run()
    assert "big" not in at.query_params  # the switch turned off is not applied again from the old link
    assert not any("html {font-size: 20px;}" in m.value for m in at.markdown)

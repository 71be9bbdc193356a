"""What a user feels in the browser, each figure beside its floor, in one run (issue #8, "Browser speed").

The floor is a bare Streamlit page (written to a temporary folder, served by its own `streamlit run`): a slider
that redraws one Plotly chart of the Sinusoid page's main chart's size (480 px high, the same width, five
200-point lines and a few markers), and the same drawing canvas as the Omniglot page with a 28 x 28 preview of
what is drawn. Whatever this floor costs (Streamlit's round trip, Plotly's drawing, the canvas component) no page
can go below; the app's figures are measured the same way on the same browser, one after the other.

1. Sinusoid: a settings change (the phase slider moved one step with the keyboard, so the task changes and
   every method adapts again) -> the main chart redrawn. Floor: the bare slider -> its chart redrawn.
   "Redrawn" = the chart's SVG line paths differ from before, polled on every animation frame.
2. Omniglot: the end of a stroke on a canvas -> the "network input" preview of that drawing shown. Floor: a stroke
   on the bare canvas -> its preview shown.
3. First view after a server start: a fresh server (health check answered), then the page opened by its first
   visitor -> its main chart drawn (Sinusoid) / its canvases shown (Omniglot). Floor: the bare page's chart.
   The app's server imports torch and makes its first torch.func call before it answers its health check
   (app.py's start-up hook), so the time from the process start to the health check is printed too, and the sum.

Targets (issue #8): 1 and 2 within 2x the floor (median over repeats); 3 under 5 s.

Usage: MAML_DATA_DIR=../shared/omniglot python benchmarks/bench_browser.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the e2e helpers: server start/stop, settle, drawing

import test_e2e as e2e  # noqa: E402

TARGET_RATIO = 2.0
TARGET_FIRST_VIEW_S = 5.0

FLOOR_APP = '''
import io
import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

st.set_page_config(layout="wide")
st.session_state.runs = st.session_state.get("runs", 0) + 1
st.title("Floor")
st.caption(f"run {st.session_state.runs}")
left, right = st.columns([2.3, 1])
with left:
    phi = st.slider("Phase φ", 0.0, 3.14, 0.5, step=0.01, key="phase")
    x = np.linspace(-5, 5, 200)
    fig = go.Figure([go.Scatter(x=x, y=3 * np.sin(x + phi + k / 5), mode="lines", name=f"line {k}")
                     for k in range(5)])
    fig.add_scatter(x=[-4, -2, 0, 2, 4], y=[3 * np.sin(v + phi) for v in (-4, -2, 0, 2, 4)], mode="markers")
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=30, b=10))
    st.plotly_chart(fig, width="stretch", config={"displayModeBar": False}, key="chart")
with right:
    result = st_canvas(stroke_width=8, stroke_color="#000000", background_color="#ffffff", height=140, width=140,
                       drawing_mode="freedraw", return_image_data=True, key="canvas")
    png = result.image_bytes
    if png is not None:
        img = Image.open(io.BytesIO(png)).convert("L")
        if np.asarray(img).min() < 128:  # something drawn
            small = io.BytesIO()
            img.resize((28, 28)).save(small, format="PNG")
            st.markdown(f'<img src="data:image/png;base64,{base64.b64encode(small.getvalue()).decode()}" '
                        'width="56"> floor preview', unsafe_allow_html=True)
'''

# The first Plotly chart's line paths (a `st.plotly_chart` or ui/live_chart.py's), as one string: it changes
# exactly when the chart is redrawn with new data.
CHART_PATHS = """() => { const c = document.querySelector('.js-plotly-plot .main-svg');
    return c ? [...c.querySelectorAll('.scatterlayer path.js-line')].map(p => p.getAttribute('d')).join('|') : ''; }"""


def start_floor(tmp: Path, port: int):
    app = tmp / "floor_app.py"
    app.write_text(FLOOR_APP)
    return e2e.start_server(tmp, port, tmp / "floor.log", script=app)


def first_chart(page, url: str) -> float:
    """Seconds from opening `url` to its first Plotly chart drawn with lines."""
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"() => ({CHART_PATHS})().length > 0", timeout=120_000)
    return time.perf_counter() - t


def slider_to_chart(page, label: str, repeats: int) -> list[float]:
    """Move the slider `label` one step (keyboard) and time until the first chart's lines change."""
    times = []
    thumb = page.get_by_role("slider", name=label).first
    for i in range(repeats):
        thumb.focus()
        before = page.evaluate(CHART_PATHS)
        t = time.perf_counter()
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"b => ({CHART_PATHS})() !== b && ({CHART_PATHS})().length > 0", arg=before,
                               timeout=60_000)
        times.append(time.perf_counter() - t)
        e2e.settle(page, quiet_ms=400)
    return times


def stroke_to_preview(page, marker: str, repeats: int, canvas_index=lambda i: 0) -> list[float]:
    """Draw a stroke on a canvas and time from releasing it until one more `marker` text is on the page (a new
    drawing's preview). Each repeat clears nothing: it adds a stroke, so the drawing (and its preview) changes."""
    times = []
    canvases = page.locator("canvas.upper-canvas")
    for i in range(repeats):
        canvas = canvases.nth(canvas_index(i))
        canvas.scroll_into_view_if_needed()
        canvas.hover()
        page.wait_for_timeout(300)
        box = canvas.bounding_box()
        # the markers' images, as a fingerprint: a changed drawing changes its preview image
        count = "() => [...document.querySelectorAll('img')].map(i => i.src.length + ':' + i.src.slice(-40)).join()"
        before = page.evaluate(count)
        y = 0.2 + 0.6 * ((i * 0.37) % 1)
        page.mouse.move(box["x"] + 0.15 * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for f in (0.3, 0.5, 0.7, 0.85):
            page.mouse.move(box["x"] + f * box["width"], box["y"] + (y + 0.1 * f) * box["height"])
        t = time.perf_counter()
        page.mouse.up()
        page.wait_for_function(f"b => ({count})() !== b && document.body.innerText.includes({marker!r})",
                               arg=before, timeout=60_000)
        times.append(time.perf_counter() - t)
        e2e.settle(page, quiet_ms=400)
    return times


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    if not e2e.CHROMIUM.exists():
        sys.exit(f"{e2e.CHROMIUM} is missing: apt-get install -y chromium")
    res: dict[str, list[float] | float] = {}
    with tempfile.TemporaryDirectory() as tmp_name, sync_playwright() as pw:
        tmp = Path(tmp_name)
        assets = e2e.assets_for_e2e(tmp / "assets")
        browser = pw.chromium.launch(executable_path=str(e2e.CHROMIUM), args=e2e.CHROMIUM_ARGS)

        def fresh_page():
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            p = ctx.new_page()
            p.set_default_timeout(60_000)
            return ctx, p

        # --- the floor ---
        port = e2e._free_port()
        t = time.perf_counter()
        proc = start_floor(tmp, port)
        res["floor_start"] = time.perf_counter() - t
        try:
            ctx, page = fresh_page()
            res["floor_first"] = first_chart(page, f"http://127.0.0.1:{port}/")
            e2e.settle(page)
            res["floor_slider"] = slider_to_chart(page, "Phase φ", args.repeats)
            res["floor_stroke"] = stroke_to_preview(page, "floor preview", args.repeats)
            ctx.close()
        finally:
            e2e.stop_server(proc)
        print("floor measured", flush=True)

        # --- the app: Sinusoid on a fresh server, then Omniglot on another fresh server ---
        for name in ("sinusoid", "omniglot"):
            port = e2e._free_port()
            t = time.perf_counter()
            proc = e2e.start_server(assets, port, tmp / f"{name}.log")
            res[f"{name[:3]}_start"] = time.perf_counter() - t
            try:
                ctx, page = fresh_page()
                url = f"http://127.0.0.1:{port}/{name}"
                if name == "sinusoid":
                    res["sin_first"] = first_chart(page, url)
                    e2e.settle(page)
                    res["sin_slider"] = slider_to_chart(page, "Phase φ", args.repeats)
                else:
                    t = time.perf_counter()
                    page.goto(url)
                    page.locator("canvas.upper-canvas").nth(5).wait_for(timeout=120_000)
                    res["omni_first"] = time.perf_counter() - t
                    e2e.settle(page)
                    res["omni_stroke"] = stroke_to_preview(page, "network input", args.repeats,
                                                           canvas_index=lambda i: i % 6)
                ctx.close()
            finally:
                e2e.stop_server(proc)
            print(f"{name} measured", flush=True)
        browser.close()

    med = {k: statistics.median(v) if isinstance(v, list) else v for k, v in res.items()}
    rows = [
        ("Sinusoid: settings change (phase slider, keyboard) -> main chart redrawn", med["sin_slider"],
         med["floor_slider"], f"<= {TARGET_RATIO:g}x floor", med["sin_slider"] <= TARGET_RATIO * med["floor_slider"]),
        ("Omniglot: end of a stroke -> its 28 x 28 preview", med["omni_stroke"], med["floor_stroke"],
         f"<= {TARGET_RATIO:g}x floor", med["omni_stroke"] <= TARGET_RATIO * med["floor_stroke"]),
        ("First view after a server start: Sinusoid's main chart", med["sin_first"], med["floor_first"],
         f"< {TARGET_FIRST_VIEW_S:g} s", med["sin_first"] < TARGET_FIRST_VIEW_S),
        ("First view after a server start: Omniglot's canvases", med["omni_first"], med["floor_first"],
         f"< {TARGET_FIRST_VIEW_S:g} s", med["omni_first"] < TARGET_FIRST_VIEW_S),
    ]
    width = max(len(r[0]) for r in rows)
    head = f"measure (median of {args.repeats})"
    print(f"\n{head.ljust(width)} | app     | floor   | ratio | target        | result")
    for name, app, floor, target, ok in rows:
        print(f"{name.ljust(width)} | {app:5.2f} s | {floor:5.2f} s | {app / floor:4.1f}x | {target:<13} | "
              f"{'PASS' if ok else 'FAIL'}")
    # The app's server warms up before it answers its health check (app.py's start-up hook): say what that costs.
    print(f"Server start -> health check answered: app {med['sin_start']:.2f} s (Sinusoid run), "
          f"{med['omn_start']:.2f} s (Omniglot run); floor {med['floor_start']:.2f} s. From the process start to "
          f"the first view: Sinusoid {med['sin_start'] + med['sin_first']:.2f} s, Omniglot "
          f"{med['omn_start'] + med['omni_first']:.2f} s, floor {med['floor_start'] + med['floor_first']:.2f} s.")
    for k in ("floor_slider", "sin_slider", "floor_stroke", "omni_stroke"):
        print(f"  {k}: " + ", ".join(f"{v:.2f}" for v in res[k]))
    print(f"machine: {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f} at the end; "
          f"weights: {assets}")


if __name__ == "__main__":
    main()

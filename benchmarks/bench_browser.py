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
--one-core (issue 24): every server (the floor's too) and its children on CPU 0, this client and the browser on
CPU 1; the figures are labelled "1 core".

Usage: MAML_DATA_DIR=../shared/omniglot python -m benchmarks.bench_browser [--repeats 7] [--one-core]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.harness import (
    browser_benchmark_args,
    cores_label,
    first_chart,
    launch_chromium,
    new_page,
    pick_assets,
    serving,
    serving_floor,
    settle,
    slider_to_chart,
)

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
        settle(page, quiet_ms=400)
    return times


def main() -> None:
    args, cpus = browser_benchmark_args(__doc__)
    res: dict[str, list[float] | float] = {}
    with tempfile.TemporaryDirectory() as tmp_name, launch_chromium() as browser:
        tmp = Path(tmp_name)
        assets, _ = pick_assets(tmp)

        # --- the floor ---
        with serving_floor(FLOOR_APP, tmp, cpus=cpus) as (res["floor_start"], port):
            ctx, page = new_page(browser)
            res["floor_first"] = first_chart(page, f"http://127.0.0.1:{port}/")
            settle(page)
            res["floor_slider"] = slider_to_chart(page, "Phase φ", args.repeats)
            res["floor_stroke"] = stroke_to_preview(page, "floor preview", args.repeats)
            ctx.close()
        print("floor measured", flush=True)

        # --- the app: Sinusoid on a fresh server, then Omniglot on another fresh server ---
        for name in ("sinusoid", "omniglot"):
            t = time.perf_counter()
            with serving(assets, tmp / f"{name}.log", cpus=cpus) as (_, port):
                res[f"{name[:3]}_start"] = time.perf_counter() - t
                ctx, page = new_page(browser)
                url = f"http://127.0.0.1:{port}/{name}"
                if name == "sinusoid":
                    res["sin_first"] = first_chart(page, url)
                    settle(page)
                    res["sin_slider"] = slider_to_chart(page, "Phase φ", args.repeats)
                else:
                    t = time.perf_counter()
                    page.goto(url)
                    page.locator("canvas.upper-canvas").nth(5).wait_for(timeout=120_000)
                    res["omni_first"] = time.perf_counter() - t
                    settle(page)
                    res["omni_stroke"] = stroke_to_preview(page, "network input", args.repeats,
                                                           canvas_index=lambda i: i % 6)
                ctx.close()
            print(f"{name} measured", flush=True)

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
    head = f"measure (median of {args.repeats}; server on {cores_label(cpus)})"
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
    print(f"machine: {os.cpu_count()} CPU cores, the servers on {cores_label(cpus)}; load average "
          f"{os.getloadavg()[0]:.1f} at the end; weights: {assets}")


if __name__ == "__main__":
    main()

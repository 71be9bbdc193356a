"""The Inside MAML page in the browser: a click on the plane -> the inner-step paths redrawn from the clicked theta,
beside its floor, in one run.

The floor is a bare Streamlit page (its own `streamlit run`) that shows the same 41 x 41 contour chart (four tasks'
contour lines, four 11-point paths) and redraws it with moved paths when a slider moves: Streamlit's round trip and
Plotly's drawing of that chart, which no page can go below. "Redrawn" = the chart's path lines differ from before,
polled on every animation frame. The app's click is a mouse press on the plane (the paths are recomputed on the
server from the clicked theta); each repeat clicks somewhere else.

Target (the Inside MAML issue): the click within 2x the floor (median over repeats).
--one-core (issue 24): both servers and their children on CPU 0, this client and the browser on CPU 1.
Usage: python -m benchmarks.bench_browser_inside [--repeats 7] [--one-core]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.harness import (
    CHART_PATHS,
    browser_benchmark_args,
    cores_label,
    launch_chromium,
    new_page,
    pick_assets,
    serving,
    serving_floor,
    settle,
    slider_to_chart,
    wait_chart_changed,
    wait_for_chart_clicks,
)

TARGET_RATIO = 2.0

FLOOR_APP = '''
import numpy as np
import streamlit as st

st.set_page_config(layout="wide")
st.title("Floor")
shift = st.slider("Shift", 0.0, 1.0, 0.5, step=0.01, key="shift")
a = np.linspace(-0.5, 0.5, 41)
aa, bb = np.meshgrid(a, a)
data = []
for k, c in enumerate(("#000000", "#CC79A7", "#56B4E9", "#D55E00")):
    z = np.log10(1e-3 + (aa - 0.1 * k) ** 2 + 3 * (bb + 0.05 * k) ** 2)
    data.append(dict(type="contour", x=a.tolist(), y=a.tolist(), z=z.round(4).tolist(), showscale=False,
                     contours=dict(coloring="lines"), colorscale=[[0, c], [1, c]]))
for k in range(4):
    t = np.linspace(0, 1, 11)
    data.append(dict(type="scatter", mode="lines+markers", x=(shift * t * np.cos(k)).tolist(),
                     y=(shift * t * np.sin(k)).tolist()))
left, right = st.columns([1.15, 1])
with left:
    st.plotly_chart({"data": data, "layout": {"height": 540, "xaxis": {"range": [-0.5, 0.5]},
                                              "yaxis": {"range": [-0.5, 0.5], "scaleanchor": "x"}}},
                    key="chart", config={"displayModeBar": False})
with right:
    st.markdown(f"Shift {shift:.2f}")
'''


def click_times(page, repeats: int) -> list[float]:
    times = []
    chart = page.locator(".st-key-ins_landscape .js-plotly-plot")
    for i in range(repeats):
        before = page.evaluate(CHART_PATHS)
        box = chart.bounding_box()
        fx, fy = 0.35 + 0.3 * ((i * 0.37) % 1), 0.3 + 0.4 * ((i * 0.61) % 1)
        t = time.perf_counter()
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])  # arrives and presses at once
        wait_chart_changed(page, before)
        times.append(time.perf_counter() - t)
        settle(page, quiet_ms=400)
    return times


def main() -> None:
    args, cpus = browser_benchmark_args(__doc__)
    with tempfile.TemporaryDirectory() as tmp_name, launch_chromium() as browser:
        tmp = Path(tmp_name)
        with serving_floor(FLOOR_APP, tmp, cpus=cpus) as (_, port):
            ctx, page = new_page(browser)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(f"() => ({CHART_PATHS})().length > 0", timeout=120_000)
            settle(page)
            floor = slider_to_chart(page, "Shift", args.repeats)
            ctx.close()
        assets, _ = pick_assets(tmp)
        with serving(assets, tmp / "app.log", cpus=cpus) as (_, port):
            ctx, page = new_page(browser)
            page.goto(f"http://127.0.0.1:{port}/inside")
            page.get_by_role("heading", name="6. Omniglot: what adaptation changes").wait_for(timeout=180_000)
            settle(page)
            wait_for_chart_clicks(page)
            clicks = click_times(page, args.repeats)
            ctx.close()
    f, c = statistics.median(floor), statistics.median(clicks)
    print(f"Inside MAML: a click on the plane -> paths redrawn: {c:.2f} s; floor (bare 41x41 contour redrawn) "
          f"{f:.2f} s; {c / f:.1f}x (target <= {TARGET_RATIO:g}x: {'PASS' if c <= TARGET_RATIO * f else 'FAIL'}), "
          f"median of {args.repeats}, server on {cores_label(cpus)}")
    print("  floor: " + ", ".join(f"{v:.2f}" for v in floor))
    print("  click: " + ", ".join(f"{v:.2f}" for v in clicks))
    print(f"machine: {os.cpu_count()} CPU cores, the servers on {cores_label(cpus)}; load average "
          f"{os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

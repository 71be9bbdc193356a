"""Clicks on a Plotly chart, as data coordinates: a tiny Streamlit component (components v2, inline JavaScript).

Plotly reports clicks only on drawn points, so the Sinusoid page used to lay an invisible grid of about 4,000
WebGL markers over its chart to catch "click anywhere": drawing that grid cost about a quarter of a second of the
browser's time after every change (measured with benchmarks/bench_browser.py, headless chromium). This component
draws nothing. Its script puts one click listener on the page (once per browser tab); a click inside the plot area
of the chart whose Streamlit key is `chart_key` is turned into data coordinates with the chart's own axes
(`_fullLayout.xaxis.p2c`), and sent to the server as a one-run trigger value, together with the nearest point of
the trace `points_trace` when it lies within `radius_px` pixels of the click (a click on a point).

A touch screen's tap is a click too. Each click carries the browser's time stamp `t`: a page applies a click once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

_JS = r"""
export default function(component) {
  const { data, setTriggerValue } = component;
  const charts = (window.__mamlChartClicks = window.__mamlChartClicks || {});
  charts[data.chart_key] = { send: setTriggerValue, data };  // the latest mount of this chart's listener
  if (window.__mamlChartClickListener) return;
  window.__mamlChartClickListener = true;
  document.addEventListener('click', (ev) => {
    for (const [key, { send, data }] of Object.entries(window.__mamlChartClicks)) {
      const gd = document.querySelector('.st-key-' + key + ' .js-plotly-plot');
      if (!gd || !gd.contains(ev.target) || !gd._fullLayout || !gd._fullLayout.xaxis) continue;
      const fl = gd._fullLayout, box = gd.getBoundingClientRect();
      const px = ev.clientX - box.left - fl._size.l, py = ev.clientY - box.top - fl._size.t;
      if (px < 0 || py < 0 || px > fl._size.w || py > fl._size.h) return;  // the margins: not a click on the plot
      let near = null, best = data.radius_px * data.radius_px;
      const trace = (gd.data || [])[data.points_trace];
      if (trace && trace.x) {
        for (let i = 0; i < trace.x.length; i++) {
          const dx = fl.xaxis.c2p(trace.x[i]) - px, dy = fl.yaxis.c2p(trace.y[i]) - py;
          if (dx * dx + dy * dy <= best) { best = dx * dx + dy * dy; near = [trace.x[i], trace.y[i]]; }
        }
      }
      send('click', { x: fl.xaxis.p2c(px), y: fl.yaxis.p2c(py), near, t: Date.now() });
      return;
    }
  }, true);
}
"""


@dataclass(frozen=True)
class ChartClick:
    x: float
    y: float
    near: tuple[float, float] | None  # the clicked point of `points_trace`, if the click was on one
    t: float  # the browser's time stamp (ms): the same click is applied once


_REGISTERED: list[Any] = []  # the component, registered once per server process (on the first page run)


def _component():
    if not _REGISTERED:
        _REGISTERED.append(st.components.v2.component("maml.chart_click", js=_JS, html="<span></span>"))
    return _REGISTERED[0]


def chart_click(chart_key: str, *, key: str, points_trace: int, radius_px: float = 12,
                on_click: Callable[[ChartClick], None] | None = None) -> ChartClick | None:
    """Listen for clicks on the chart drawn with key `chart_key` (`st.plotly_chart` or `ui.live_chart`; call after
    it); returns the click of this run, or None. Draws nothing (zero height). `on_click` runs before the next run
    of the page, as a widget callback: a page that applies a click there draws it in that run, without a rerun."""

    def callback() -> None:
        value = st.session_state.get(key)
        click = parse(value.get("click") if isinstance(value, dict) else None)
        if click is not None and on_click is not None:
            on_click(click)

    try:
        result = _component()(key=key, data={"chart_key": chart_key, "points_trace": points_trace,
                                             "radius_px": radius_px}, height=0, on_click_change=callback)
    except Exception:  # a component failure must not take the page down: the table and upload still add points
        return None
    return parse(getattr(result, "click", None) if result is not None else None)


def parse(value: Any) -> ChartClick | None:
    """The component's trigger value -> a ChartClick, or None for anything that is not a finite click."""
    if not isinstance(value, dict):
        return None
    try:
        x, y, t = float(value["x"]), float(value["y"]), float(value.get("t") or 0)
        near = value.get("near")
        near = (float(near[0]), float(near[1])) if near is not None else None
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    if not all(math.isfinite(v) for v in (x, y, *(near or ()))):
        return None
    return ChartClick(x, y, near, t)

"""A Plotly chart that stays on the page and is updated in place: a small Streamlit component (components v2,
inline JavaScript) around `Plotly.react`.

Why not `st.plotly_chart`: Streamlit 1.67 gives a Plotly chart an element id computed from its figure, and its
frontend keys the chart's React element by that id, so a chart whose figure changes is unmounted and drawn anew
with `Plotly.newPlot` on every rerun (measured: a DOM marker on the Sinusoid chart vanished after each settings
change; in a Chrome CPU profile of 8 changes, Plotly's code was 2.1 s of 7.3 s of busy time). This component keeps
one element per `key`; each rerun sends the new figure, and the browser hands it to `Plotly.react`, which redraws
only what changed. `benchmarks/bench_browser.py` prints what a user feels with it, beside its floor.

The figure is the JSON the page wrote (`ui.figures.Figure.to_dict()`), with Streamlit's light chart theme as its
template (`STREAMLIT_THEME`), so these charts look like the `st.plotly_chart` ones on the other pages.

Plotly itself: the component does not ship plotly.js (4.8 MB). Streamlit's frontend has it in the chunk it loads
for `st.plotly_chart` (`static/js/PlotlyChart.<hash>.js`, which sets `window.Plotly`). The component uses
`window.Plotly` when a chart has already loaded it, and otherwise imports that chunk from the same server; the
chunk's file name is found here, in the installed Streamlit (`plotly_chunk`). If the chart cannot be drawn, the
component says so in its place and asks for a reload.

Clicks on the chart are read by ui/chart_click.py, as on a `st.plotly_chart` (the same `.js-plotly-plot` element).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import streamlit as st

from .figures import PLOTLY_CONFIG

_FONT = '"Source Sans", sans-serif'
_TEXT, _MUTED, _LINE = "#262730", "#808495", "#e6eaf1"
# Streamlit 1.67's chart theme for this app's light theme: the template its frontend puts into every
# `st.plotly_chart` figure (read back from a drawn chart, `gd.layout.template`), less what no chart here uses
# (colour scales, colour bars, ternary axes, range selectors).
STREAMLIT_THEME: dict[str, Any] = {
    "data": {"scatter": [{"type": "scatter", "marker": {"line": {"width": 0}}}]},
    "layout": {
        "colorway": ["#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a",
                     "#6d3fc0", "#d5dae5"],
        "font": {"color": _MUTED, "family": _FONT, "size": 12, "weight": 400},
        "title": {"font": {"family": _FONT, "size": 16, "color": "#2F2D2B"}, "pad": {"l": 4}, "xanchor": "left",
                  "x": 0},
        "legend": {"title": {"font": {"size": 12, "color": _MUTED}, "side": "top"}, "valign": "top",
                   "bordercolor": "transparent", "borderwidth": 0, "font": {"size": 12, "color": _TEXT}},
        "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF",
        "xaxis": {"zerolinecolor": _LINE, "gridcolor": _LINE, "showgrid": False, "tickcolor": _LINE,
                  "tickfont": {"color": _MUTED, "size": 12}, "title": {"font": {"color": _MUTED, "size": 14},
                                                                       "standoff": 20},
                  "minor": {"gridcolor": _LINE}, "zeroline": False, "automargin": True},
        "yaxis": {"ticklabelposition": "outside", "zerolinecolor": _LINE, "gridcolor": _LINE, "tickcolor": _LINE,
                  "tickfont": {"color": _MUTED, "size": 12}, "title": {"font": {"color": _MUTED, "size": 14},
                                                                       "standoff": 24},
                  "minor": {"gridcolor": _LINE}, "automargin": True},
        "margin": {"pad": 8, "r": 0, "l": 0},
        "hoverlabel": {"bgcolor": "#FFFFFF", "bordercolor": "rgba(47, 45, 43, 0.2)",
                       "font": {"color": _MUTED, "family": _FONT, "size": 12}},
    },
}

_JS = r"""
function loadPlotly(chunk) {
  if (window.Plotly && window.Plotly.react) return Promise.resolve(window.Plotly);
  if (!window.__mamlPlotly) {
    const main = document.querySelector('script[type="module"][src*="/static/js/index."]');
    const url = main ? new URL(chunk, main.src).href : new URL('static/js/' + chunk, document.baseURI).href;
    window.__mamlPlotly = import(url).then(() => {
      if (!(window.Plotly && window.Plotly.react)) throw new Error('Plotly did not load from ' + url);
      return window.Plotly;
    });
    window.__mamlPlotly.catch(() => { window.__mamlPlotly = null; });  // the next rerun tries again
  }
  return window.__mamlPlotly;
}

function broken(root, e) {
  root.textContent = 'This chart could not be drawn (' + (e && e.message || e) + '). Reload the page.';
}

// Charts draw one at a time, in the order their figures arrived, and the browser paints after each: the first
// chart of a page (its main one) shows before the next is drawn.
function schedule(root, Plotly) {
  if (root.__queued) return;  // its newest figure is drawn when its turn comes
  root.__queued = true;
  window.__mamlDraws = (window.__mamlDraws || Promise.resolve()).then(() => {
    root.__queued = false;
    if (!root.isConnected) return;
    const d = root.__latest;
    const figure = JSON.parse(d.figure);
    return Plotly.react(root, figure.data, figure.layout, d.config).then(() => {
      root.dataset.draws = String(Number(root.dataset.draws || 0) + 1);  // tests and benchmarks wait on it
      return new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
    });
  }).catch((e) => broken(root, e));
}

export default function(component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector('.maml-live-chart');
  root.__latest = data;
  loadPlotly(data.chunk).then((Plotly) => {
    if (!root.__observer) {  // follow the column's width (sidebar, window, projector mode)
      root.__observer = new ResizeObserver(() => { if (root._fullLayout) Plotly.Plots.resize(root); });
      root.__observer.observe(root);
    }
    schedule(root, Plotly);
  }, (e) => broken(root, e));
  // Streamlit calls this when the chart leaves the page (not on a rerun, which calls the function above again)
  return () => {
    if (root.__observer) { root.__observer.disconnect(); root.__observer = null; }
    if (window.Plotly && root._fullLayout) window.Plotly.purge(root);
  };
}
"""

_CSS = ".maml-live-chart { width: 100%; }"

_REGISTERED: list[Any] = []  # the component, registered once per server process


def _component():
    if not _REGISTERED:
        _REGISTERED.append(st.components.v2.component(
            "maml.live_chart", js=_JS, css=_CSS, html='<div class="maml-live-chart"></div>', isolate_styles=False))
    return _REGISTERED[0]


@functools.cache
def plotly_chunk() -> str:
    """The file name of the Streamlit frontend's Plotly chunk (it carries plotly.js and sets `window.Plotly`)."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    found = sorted(p.name for p in folder.glob("PlotlyChart.*.js"))
    if not found:
        raise RuntimeError(f"no PlotlyChart.*.js in {folder}: this Streamlit is not the pinned one "
                           "(pip install -r requirements.txt)")
    return found[0]


def themed(spec: dict[str, Any]) -> dict[str, Any]:
    """The figure with Streamlit's chart theme as its template, and its title in bold (as Streamlit's frontend
    writes a chart title): what `st.plotly_chart` would draw."""
    layout = {**spec["layout"], "template": STREAMLIT_THEME}
    title = layout.get("title")
    if isinstance(title, dict) and title.get("text"):
        layout["title"] = {**title, "text": f"<b>{title['text']}</b>"}
    return {"data": spec["data"], "layout": layout}


def live_chart(fig: Any, *, key: str) -> None:
    """Show `fig` (a `ui.figures.Figure` or a plotly figure) at its layout's height, across the column, updated in
    place under the same `key` from one rerun to the next."""
    spec = fig.to_dict()
    # The figure goes as one JSON string: Streamlit then encodes a string (twice: to send it, and to hash it for
    # the element's identity), not the figure's thousands of numbers (py-spy: 15 of the page's 55 ms before).
    figure = json.dumps(themed(spec), separators=(",", ":"))
    _component()(key=key, height=spec["layout"]["height"], width="stretch",
                 data={"figure": figure, "config": {**PLOTLY_CONFIG, "responsive": False}, "chunk": plotly_chunk()})

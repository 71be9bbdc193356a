"""One figure API for the three views (Sinusoid, Omniglot, Meta-training): every chart is built by `figure`
(or, for subplots, finished by `style`) on `layout`, so all of them share the fixed height, the projector-aware
font, the white background, the legend above the plot and the axis styling, and every page shows them with
`PLOTLY_CONFIG`. Colours and labels per method come from ui/common.py (`METHOD_COLORS`, `METHOD_LABELS`).

Plotly only: no widgets. The font size follows the page's *Large fonts (projector)* switch (`common.font_size`).
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go

from .common import font_size

PLOTLY_CONFIG = {"displayModeBar": False, "scrollZoom": False}
GRID = "#eee"  # grid lines on every chart


def layout(height: int, **overrides: Any) -> dict[str, Any]:
    """The layout every chart shares: a fixed height (no layout jumps while a run updates), the projector-aware
    font, a white background, and the legend above the plot; `overrides` replace any of it."""
    fs = font_size()
    out: dict[str, Any] = dict(
        height=height, font=dict(size=fs), margin=dict(l=10, r=10, t=40 + fs, b=10),
        paper_bgcolor="white", plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, font=dict(size=fs)),
        hoverlabel=dict(font=dict(size=fs)),
    )
    out.update(overrides)
    out["legend"] = {**out.get("legend", {}), "font": dict(size=fs)}  # also where a chart sets its own legend
    return out


def style(fig: go.Figure) -> go.Figure:
    """Axis ticks, axis titles and notes at the page's font size (Streamlit's chart theme would otherwise keep
    them small in projector mode). Returns the figure."""
    fs = font_size()
    fig.update_xaxes(tickfont=dict(size=fs), title_font=dict(size=fs))
    fig.update_yaxes(tickfont=dict(size=fs), title_font=dict(size=fs))
    fig.update_annotations(font_size=fs)  # subplot titles and notes
    return fig


class Figure(go.Figure):
    """A chart kept as the JSON-ready dicts it was written in, and sent to the browser as they are.

    Building plotly's object tree validates every property and copies every array, which the page would pay on
    every rerun (`benchmarks/bench_figures.py` prints both costs). `st.plotly_chart` sends a plotly figure's
    `to_dict()` without validating it again (hence the subclass), so this figure returns its dicts. Read it as
    `to_dict()` (what is sent) or `checked()` (plotly's validated figure, e.g. `fig.checked().data[0].y`); plotly's
    own attributes and methods are not there. Read-only: build the dicts first (`figure`), then wrap them.
    """

    def __init__(self, spec: dict[str, Any]) -> None:  # not plotly's __init__: no object tree, no validation
        self._spec = spec
        self._checked: go.Figure | None = None

    def __getattr__(self, name: str) -> Any:  # reached only where plotly's object tree would answer
        raise AttributeError(f"ui.figures.Figure keeps its chart as dicts, without plotly's objects: read "
                             f"fig.to_dict() (what is sent) or fig.checked() (plotly's figure) for {name!r}")

    def __reduce__(self) -> tuple:  # copies and pickles carry the dicts (plotly's own reads its object tree)
        return (Figure, (self._spec,))

    def __repr__(self) -> str:
        return f"Figure({len(self._spec['data'])} traces)"

    def to_dict(self) -> dict[str, Any]:
        """What the browser gets: the dicts themselves (not a copy: nothing may change them)."""
        return self._spec

    to_plotly_json = to_dict

    def checked(self) -> go.Figure:
        """The same chart as a validated plotly figure (raises on a property plotly does not know)."""
        if self._checked is None:
            self._checked = go.Figure(self._spec)
        return self._checked


@functools.cache
def _template() -> dict[str, Any]:
    """The layout template plotly would add (Streamlit's: its frontend swaps in the theme's colours)."""
    return go.Figure().to_dict()["layout"]["template"]


_AXIS = re.compile(r"[xy]axis\d*")


def _styled(layout: dict[str, Any]) -> dict[str, Any]:
    """`style` for a layout dict: ticks, axis titles and notes without a size of their own at the page's font
    size, in the canonical form plotly's validation would give (a title is a dict with its text)."""
    fs = font_size()
    out = dict(layout)
    for name in {"xaxis", "yaxis", *(k for k in layout if _AXIS.fullmatch(k))}:
        axis = dict(out.get(name) or {})
        title = axis.get("title")
        title = dict(text=title) if isinstance(title, str) else dict(title or {})
        title["font"] = {**title.get("font", {}), "size": fs}
        axis["title"] = title
        axis["tickfont"] = {**axis.get("tickfont", {}), "size": fs}
        out[name] = axis
    if "annotations" in out:
        out["annotations"] = [{**a, "font": {"size": fs, **a.get("font", {})}} for a in out["annotations"]]
    if isinstance(out.get("title"), str):
        out["title"] = dict(text=out["title"])
    out["template"] = _template()
    return out


def figure(data: Iterable[dict[str, Any]], height: int, **overrides: Any) -> Figure:
    """A chart: `data` (traces as dicts, e.g. `dict(type="scatter", x=..., y=...)`, in plotly's nested form: no
    `marker_color` shorthands) on the shared `layout(height, **overrides)`, styled."""
    return Figure({"data": [_pruned(trace) for trace in data],
                   "layout": _pruned(_styled(layout(height, **overrides)), empty_lists=True)})


def _pruned(spec: dict[str, Any], empty_lists: bool = False) -> dict[str, Any]:
    """Without properties set to None (plotly's "not set", so `marker=dict(color=None)` leaves the colour to
    plotly's cycle), without what is left empty, and, in a layout, without empty lists (no shapes or notes): as
    plotly's validation would send it. None inside a list of values stays (a gap in a line)."""
    out = {}
    for k, v in spec.items():
        if isinstance(v, dict):
            v = _pruned(v, empty_lists)
        elif isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
            v = [_pruned(e, empty_lists) for e in v]
        if v is None or v == {} or (empty_lists and isinstance(v, list) and not v):
            continue
        out[k] = v
    return out


def step_line(step: int) -> dict[str, Any]:
    """The dashed vertical line at the inner step the page shows (a layout shape for a chart whose x is steps)."""
    return dict(type="line", x0=step, x1=step, yref="paper", y0=0, y1=1, line=dict(color="#999", width=1.5,
                                                                                    dash="dash"))


def legend_on_top(fig: go.Figure, height: int, bottom: int = 10) -> None:
    """The legend in the figure's top band (container coordinates), clear of the subplot titles below it."""
    fig.update_layout(**layout(height, margin=dict(l=10, r=10, t=100, b=bottom)))
    fig.update_layout(legend=dict(yref="container", y=0.99, yanchor="top", x=0, xanchor="left"))


def empty(text: str, height: int) -> go.Figure:
    """A placeholder of the chart's height, saying what will appear there (in lines short enough for a phone: a
    Plotly annotation does not wrap)."""
    return figure([], height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                  annotations=[dict(text="<br>".join(textwrap.wrap(text, 40)), x=0.5, y=0.5, xref="paper",
                                    yref="paper", showarrow=False,
                                    font=dict(color="#777"))])

"""One figure API for the three views (Sinusoid, Omniglot, Meta-training): every chart is built by `figure`
(or, for subplots, finished by `style`) on `layout`, so all of them share the fixed height, the projector-aware
font, the white background, the legend above the plot and the axis styling, and every page shows them with
`PLOTLY_CONFIG`. Colours and labels per method come from ui/common.py (`METHOD_COLORS`, `METHOD_LABELS`).

Plotly only: no widgets. The font size follows the page's *Large fonts (projector)* switch (`common.font_size`).
"""

from __future__ import annotations

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


def figure(data: Iterable[Any], height: int, **overrides: Any) -> go.Figure:
    """A chart: `data` (traces, as objects or dicts) on the shared `layout(height, **overrides)`, styled."""
    return style(go.Figure(data=list(data), layout=layout(height, **overrides), skip_invalid=True))


def step_line(step: int) -> dict[str, Any]:
    """The dashed vertical line at the inner step the page shows (a layout shape for a chart whose x is steps)."""
    return dict(type="line", x0=step, x1=step, yref="paper", y0=0, y1=1, line=dict(color="#999", width=1.5,
                                                                                    dash="dash"))


def legend_on_top(fig: go.Figure, height: int, bottom: int = 10) -> None:
    """The legend in the figure's top band (container coordinates), clear of the subplot titles below it."""
    fig.update_layout(**layout(height, margin=dict(l=10, r=10, t=100, b=bottom)))
    fig.update_layout(legend=dict(yref="container", y=0.99, yanchor="top", x=0, xanchor="left"))


def empty(text: str, height: int) -> go.Figure:
    """A placeholder of the chart's height, saying what will appear there."""
    return figure([], height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                  annotations=[dict(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                                    font=dict(color="#777"))])

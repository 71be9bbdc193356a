"""The charts the pages send: `ui.figures.Figure` sends its dicts without plotly's validation (which would cost
every rerun; benchmarks/bench_figures.py), so these tests check, chart by chart, that what is sent equals what
plotly's validated figure would have sent, in the states a class meets (normal, outside the training range,
diverged, projector fonts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from maml_core import load_checkpoint
from ui import common, figures
from ui import omniglot_view as ov
from ui import sinusoid_view as sv

ASSETS = Path(__file__).resolve().parents[1] / "assets"  # the shipped weights


def sent(fig: figures.Figure) -> dict:
    """The JSON the browser receives from `st.plotly_chart(fig)` (Streamlit: `to_dict()`, then `to_json`)."""
    return json.loads(pio.to_json(fig.to_dict(), validate=False))


def first_difference(a, b, path="") -> str | None:
    """Where two JSON values first differ (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only in {'sent' if k in a else 'validated'}"
            if (d := first_difference(a[k], b[k], f"{path}.{k}")) is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: sent {a!r}, validated {b!r}"


def validated(fig: figures.Figure) -> dict:
    return json.loads(pio.to_json(fig.checked().to_dict(), validate=False))


def fonts(monkeypatch, size: int) -> None:
    """The page's font size (13, or 20 with *Large fonts*) wherever the views read it."""
    for module in (common, figures, sv):
        monkeypatch.setattr(module, "font_size", lambda: size)


def sinusoid_figures() -> list[figures.Figure]:
    ck = load_checkpoint(ASSETS / "sinusoid_maml.pt")
    x = np.linspace(-4, 4, 6)
    out = []
    for lr, amp, phase in ((0.01, 3.0, 0.5), (50.0, 4.0, 0.0), (0.01, 9.0, 4.0)):  # fine, diverged, outside
        res = sv.adapt_methods([sv.MethodModel("maml", ck.model, ck.params, lr, "")], x, amp * np.sin(x - phase),
                               amp, phase, 10)
        out += [sv.prediction_figure(res, x, amp * np.sin(x - phase), amp, phase, 3), sv.loss_figure(res, 3)]
    return out


def omniglot_figures() -> list[figures.Figure]:
    probs = torch.full((4, 1, 5), 0.2)
    probs[2:] = float("nan")
    bad = ov.MethodRun("maml", 1e6, 3, probs, torch.tensor([1.6, 3e3, float("inf"), float("nan")]))
    good = ov.MethodRun("fomaml", 0.4, 3, torch.full((4, 1, 5), 0.2), torch.tensor([1.6, 0.5, 0.1, 0.05]),
                        torch.tensor([0.2, 0.6, 0.8, 1.0]))
    mine = ov.MethodRun("mine", 0.4, 3, torch.full((4, 1, 5), 0.2), torch.tensor([1.6, 0.5, 0.1, 0.05]))
    runs = {"maml": bad, "fomaml": good, "mine": mine}  # "mine": a name without a colour of its own
    return [ov.probability_figure(runs, 0, 5, true_label=1, step=1), ov.probability_figure(runs, 0, 5, step=3),
            ov.curve_figure(runs, "support_loss", step=2), ov.curve_figure(runs, "query_acc"),
            figures.empty("Nothing yet.", 300)]


@pytest.mark.parametrize("large", [False, True], ids=["normal fonts", "projector fonts"])
def test_what_is_sent_equals_what_plotly_validates(monkeypatch, large):
    fonts(monkeypatch, 20 if large else 13)
    for fig in sinusoid_figures() + omniglot_figures():
        assert sent(fig) == validated(fig), first_difference(sent(fig), validated(fig))


def test_projector_fonts_reach_ticks_titles_and_notes_but_a_note_keeps_its_own_size(monkeypatch):
    fonts(monkeypatch, 20)
    pred = sent(sinusoid_figures()[4])  # outside the training range: two notes
    layout = pred["layout"]
    assert layout["xaxis"]["tickfont"]["size"] == 20 and layout["yaxis"]["title"] == {"text": "y",
                                                                                       "font": {"size": 20}}
    assert [a["font"]["size"] for a in layout["annotations"]] == [18, 21]  # "x not trained on", the warning
    assert layout["legend"]["font"]["size"] == 20 and layout["template"]  # Streamlit's theme template kept


def test_an_invalid_property_is_caught_by_the_validated_view():
    fig = figures.figure([dict(type="scatter", x=[0, 1], y=[0, 1], colour="red")], 300)
    assert fig.to_dict()["data"][0]["colour"] == "red"  # sent as written: only the validated view checks
    with pytest.raises(ValueError, match="colour"):
        fig.checked()


def test_the_figure_is_read_as_its_dicts_or_as_plotlys_validated_figure():
    fig = figures.figure([dict(type="scatter", x=[0, 1], y=[2, 3], name="a")], 300, title="t")
    assert fig.to_dict() is fig.to_dict()  # no copy per call: the dicts are what the page sends
    assert fig.to_dict()["data"][0]["y"] == [2, 3] and fig.to_dict()["layout"]["height"] == 300
    checked = fig.checked()
    assert type(checked) is go.Figure and checked is fig.checked()  # built once
    assert checked.data[0].y == (2, 3) and checked.layout.height == 300 and checked.layout.title.text == "t"
    with pytest.raises(AttributeError, match=r"fig.checked\(\).*'data'"):  # plotly's attributes are not mixed in
        fig.data  # noqa: B018
    with pytest.raises(AttributeError, match="keeps its chart as dicts"):
        fig.update_layout(height=1)  # read-only: a change would not reach the dicts that are sent


def test_a_copied_or_pickled_figure_keeps_its_dicts():
    import copy
    import pickle

    fig = figures.figure([dict(type="scatter", x=[0, 1], y=[2, 3])], 300)
    for twin in (copy.deepcopy(fig), pickle.loads(pickle.dumps(fig))):
        assert type(twin) is figures.Figure and twin.to_dict() == fig.to_dict()


def test_a_placeholder_chart_says_its_text_in_lines_a_phone_shows_whole():
    """A Plotly annotation does not wrap: on a 390-px phone a one-line placeholder was cut at both sides."""
    from ui import figures

    text = "Snapshots of the initialisation adapting to a probe task appear here."
    lines = figures.empty(text, 300).to_dict()["layout"]["annotations"][0]["text"].split("<br>")
    assert len(lines) > 1 and max(map(len, lines)) <= 40 and " ".join(lines) == text

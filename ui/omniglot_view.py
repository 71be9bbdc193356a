"""The Omniglot few-shot page's logic and pieces: adapting every method on one episode, and the figures (safe
image input is ui/omniglot_images.py, re-exported here). `app_pages/omniglot.py` lays them out, with the widgets
that feed it in ui/omniglot_inputs.py (no Streamlit here, as in the other views); tests and benchmarks call the same
functions (`run_adaptation` is what the page runs when you press "Adapt").

Shapes: one input is (1, 28, 28) float, ink = 1 (the output of `maml_core.preprocess_image`);
support_x (N*K, 1, 28, 28), support_y (N*K,) int64 with labels 0..N-1; query_x (M, 1, 28, 28).
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import replace

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from maml_core import (
    Checkpoint,
    Episode,
    OmniglotData,
    OmniglotTasks,
    adapt_and_measure,
    build_model,
)
from maml_core.omniglot import fit_head  # noqa: F401  (the page and tests use it from here)
from ui import common, figures, scene
from ui.omniglot_images import (  # noqa: F401  (re-exported: the pages and tests read them from here)
    MAX_INK,
    MAX_PIXELS,
    MAX_UPLOAD_MB,
    WORK_SIZE,
    InputError,
    fingerprint,
    image_from_drawing,
    load_upload,
    preview_png,
    read_upload,
    texture_warning,
    to_network_input,
)
from ui.page_state import OmniglotState
from ui.state_types import LOSS_CAP, EpisodeResult, MethodRun  # noqa: F401  (EpisodeResult: the page's)

# N: the 5-way checkpoints serve 2-5 ways (their head's first N outputs); 20 ways uses the 20-way MAML checkpoint,
# and a network whose head starts at zero (the zeroing trick) for any N (see `fit_head`).
WAYS = (2, 3, 4, 5, 20)
DRAW_WAYS_MAX = 5  # more characters than this come from the dataset (20 canvases are too many for a demo)
SHOTS = (1, 2, 3, 4, 5)  # K
DATASET_QUERIES = 5  # query drawings per class in a sampled episode (accuracy per step)
CLASS_NAMES = tuple(f"Class {i + 1}" for i in range(max(WAYS)))
LOSS_FLOOR = 1e-6  # a log axis cannot show 0
LINE_DASHES = ("solid", "dash", "dot")  # one per method, in the order drawn
MARKERS = ("circle", "square", "diamond")

Params = dict[str, Tensor]


# ---------------------------------------------------------------------------------------------
# Adaptation
# ---------------------------------------------------------------------------------------------

def head_problem(ckpt: Checkpoint, n_way: int) -> str | None:
    """Why this network cannot classify `n_way` ways (None when it can): the check `fit_head` makes."""
    try:
        fit_head({"head.weight": ckpt.params["head.weight"], "head.bias": ckpt.params["head.bias"]}, n_way)
    except ValueError as e:
        return str(e)
    return None


def scene_params(methods_key: str, methods: tuple[str, ...]) -> list[scene.Param]:
    """The Omniglot page's scene: ways, shots, where the examples come from, the dataset episode, then the shared
    sidebar settings (drawings stay in the browser that made them: a link to a drawn scene opens blank canvases)."""
    return [
        scene.Param("N", "ways", scene.one("omni_ways", scene.choice(WAYS)), lambda ss: [str(ss.get("omni_ways", 5))]),
        scene.Param("K", "shots", scene.one("omni_shots", scene.choice(SHOTS)),
                    lambda ss: [str(ss.get("omni_shots", 1))]),
        scene.Param("src", "examples from", scene.one("omni_source", scene.choice(["draw", "dataset"])),
                    lambda ss: [str(ss.get("omni_source", "draw"))]),
        scene.Param("ep", "episode", lambda v: {"episode": scene.number(1, 10**6, integer=True)(v[-1]) - 1},
                    lambda ss: [str(OmniglotState.of(ss).episode + 1)] if ss.get("omni_source") == "dataset" else None,
                    page_state=True),
        scene.switch("present", "presenter layout", "omni_present"),
        *scene.settings_params(methods_key, methods, OmniglotState),
    ]


def finals_sentence(runs: dict[str, MethodRun]) -> str:
    """Each method's query accuracy after its last step, grouping methods that tie: 'MAML and FO-MAML tied at 100%,
    Transfer learning 96%'."""
    groups: dict[float, list[str]] = {}
    for m, r in runs.items():
        if r.query_acc is not None:
            groups.setdefault(round(100 * float(r.query_acc[-1]), 6), []).append(common.METHOD_LABELS.get(m, m))
    parts = []
    for acc, names in sorted(groups.items(), reverse=True):
        if len(names) == 1:
            parts.append(f"{names[0]} {acc:.0f}%")
        else:
            parts.append(f"{', '.join(names[:-1])} and {names[-1]} tied at {acc:.0f}%")
    return ", ".join(parts)


def step_zero_sentence(runs: dict[str, MethodRun]) -> str:
    """What step 0 shows, read off the numbers: a start at chance (every class 1/N for every query) or a
    network that already favours some class before it has seen the examples (a markdown list item)."""
    at_chance = [m for m, r in runs.items() if not r.diverged and
                 float((r.probs[0] - 1.0 / r.probs.shape[-1]).abs().max()) <= 0.01]
    others = [m for m in runs if m not in at_chance]
    label = lambda ms: ", ".join(common.METHOD_LABELS.get(m, m) for m in ms)  # noqa: E731
    parts = []
    if at_chance:
        parts.append(f"{label(at_chance)} start{'s' if len(at_chance) == 1 else ''} at chance: every class gets "
                     "1/N for every query, because the network has no reason to prefer any class before it has "
                     "seen your examples.")
    if others:
        parts.append(f"{label(others)} already favour{'s' if len(others) == 1 else ''} some class before any step: "
                     "the class numbers mean nothing yet, so that first guess is chance, however confident it looks.")
    return "- **Step 0** is the network before it has seen your examples. " + " ".join(parts) + "\n"


def run_adaptation(checkpoints: dict[str, Checkpoint], support_x: Tensor, support_y: Tensor, query_x: Tensor,
                   query_y: Tensor | None = None, *, n_way: int, steps: int,
                   inner_lr: float | None = None) -> dict[str, MethodRun]:
    """Adapt each method's initialisation to the support set for `steps` inner steps (each its own
    validated learning rate unless `inner_lr` is given) and record, after every step 0..S, the class
    probabilities of each query, the support loss and (with `query_y`) the query accuracy.

    support_x (N*K, 1, 28, 28), support_y (N*K,) in 0..N-1; query_x (M, 1, 28, 28); query_y (M,).
    Test-time steps are first-order: nothing is differentiated through them, and the adapted weights
    are the same as second-order ones.
    """
    runs: dict[str, MethodRun] = {}
    for name, ckpt in checkpoints.items():
        # A fresh module per call: `functional_call` swaps parameters on the module it is given, so a
        # module shared between concurrent sessions (threads) would not be safe. Building it is ~1 ms.
        model = build_model(replace(ckpt.config.model, n_out=n_way)).requires_grad_(False)
        params = fit_head(ckpt.params, n_way)
        lr = ckpt.inner_lr if inner_lr is None else float(inner_lr)  # a number, or LEARNED (the checkpoint's rates)
        with torch.no_grad():
            m = adapt_and_measure(model, params, support_x, support_y, query_x, query_y, steps=steps,
                                  inner_lr=lr, outputs=True)
        runs[name] = MethodRun(name, lr, ckpt.eval_steps, m["query_out"].softmax(-1), m["support_loss"],
                               m.get("query_acc"))
    return runs


# ---------------------------------------------------------------------------------------------
# Pictures and charts
# ---------------------------------------------------------------------------------------------

def tile_png(x: Tensor, size: int = 84) -> bytes:
    """A (1, 28, 28) input as a PNG, ink dark on paper, enlarged without smoothing (pixels visible)."""
    a = (255 - (x.reshape(28, 28).clamp(0, 1) * 255).round().to(torch.uint8)).numpy()
    image = Image.fromarray(a, mode="L").resize((size, size), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def img_tag(png: bytes, size: int, *, border: str = "#d0d0d0", width: int = 1, title: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" width="{size}" height="{size}" alt="{title}" title="{title}" '
            f'style="border:{width}px solid {border};border-radius:4px;image-rendering:pixelated;'
            f'box-sizing:border-box;display:block"/>')


def tiles_html(tiles: list[tuple[Tensor | None, str]], size: int = 56) -> str:
    """A wrapped row of 28x28 inputs with captions; None draws an empty placeholder of the same size."""
    cells = []
    for x, caption in tiles:
        if x is None:
            pic = (f'<div style="width:{size}px;height:{size}px;border:1px dashed #bbb;border-radius:4px;'
                   'box-sizing:border-box"></div>')
        else:
            pic = img_tag(tile_png(x, size), size, title=caption)
        cells.append(f'<figure style="margin:0 8px 6px 0;text-align:center">{pic}'
                     f'<figcaption style="font-size:0.8em;color:#555">{caption}</figcaption></figure>')
    return '<div style="display:flex;flex-wrap:wrap;align-items:flex-start">' + "".join(cells) + "</div>"


def prediction_html(runs: dict[str, MethodRun], class_tiles: list[Tensor], query: Tensor, query_index: int,
                    colors: dict[str, str], labels: dict[str, str], true_label: int | None = None,
                    size: int = 72, step: int | None = None) -> str:
    """For each method, the support classes with the one it picks for the query after `step` inner steps (default:
    its last) framed in its colour; none is framed while every class has the same probability (a start at
    chance)."""
    n = len(class_tiles)
    class_png = [tile_png(t, size) for t in class_tiles]
    rows = [f'<div style="display:flex;align-items:center;gap:14px;margin-bottom:10px">'
            f'<div style="width:150px;font-weight:600">Query</div>{img_tag(tile_png(query, size), size)}'
            + (f'<div style="color:#555">(true class: {CLASS_NAMES[true_label]})</div>' if true_label is not None
               else "") + "</div>"]
    for name, run in runs.items():
        color = colors.get(name, "#333")
        s = run.steps if step is None else min(step, run.steps)
        head = (f'<div style="width:150px;flex:none;font-weight:600;color:{color}">{labels.get(name, name)}<br>'
                f'<span style="font-weight:400;color:#555;font-size:0.85em">'
                + ("before any step" if s == 0 else f'after {s} step{"" if s == 1 else "s"}') + '</span></div>')
        if run.diverged and s >= run.diverged_at:
            rows.append(f'<div style="display:flex;align-items:center;gap:14px;margin-bottom:10px">{head}'
                        f'<div style="color:#b00020">diverged at step {run.diverged_at}: its numbers overflowed, so it '
                        "picks nothing. Lower the inner learning rate α.</div></div>")
            continue
        probs = run.probs[s, query_index]
        tie = float(probs.max() - probs.min()) < 1e-4  # a start at chance: no class is picked yet
        pick = -1 if tie else run.prediction(query_index, s)[0]
        if tie:
            head = head[:-len("</span></div>")] + f"<br>no pick yet: every class {100 / n:.0f}%</span></div>"
        cells = []
        for c in range(n):
            picked = c == pick
            border, width = (colors.get(name, "#333"), 5) if picked else ("#d0d0d0", 1)
            mark = ""
            if picked and true_label is not None:
                mark = " ✓" if pick == true_label else " ✗"
            weight = "700" if picked else "400"
            cells.append(f'<figure style="margin:0;text-align:center;flex:none">'
                         f'{img_tag(class_png[c], size, border=border, width=width, title=CLASS_NAMES[c])}'
                         f'<figcaption style="font-size:0.8em;font-weight:{weight}">{CLASS_NAMES[c]}{mark}<br>'
                         f'{100 * float(probs[c]):.0f}%</figcaption></figure>')
        # the tiles wrap (flex:none keeps each square): 20 classes in one row were squashed to slivers on a phone
        rows.append(f'<div style="display:flex;flex-wrap:wrap;align-items:center;gap:10px 14px;margin-bottom:10px">'
                    f'{head}' + "".join(cells) + "</div>")
    return "".join(rows)


def probability_figure(runs: dict[str, MethodRun], query_index: int, n_way: int, true_label: int | None = None,
                       step: int | None = None, height: int = 420) -> figures.Figure:
    """Grouped bars: each method's class probabilities for one query after `step` inner steps (default: the last;
    the page's step control picks it). A method that has diverged by then has no bars."""
    names = [CLASS_NAMES[c] + (" (true)" if c == true_label else "") for c in range(n_way)]
    steps = max(r.steps for r in runs.values())
    step = steps if step is None else min(step, steps)
    bars = []
    for name, run in runs.items():
        s = min(step, run.steps)
        p = run.probs[s, query_index]
        if run.diverged and s >= run.diverged_at:
            p = np.full_like(p, np.nan)
        bars.append(dict(type="bar", x=names, y=[v if np.isfinite(v) else None for v in p.tolist()],
                         name=common.METHOD_LABELS.get(name, name), marker=dict(color=common.METHOD_COLORS.get(name)),
                         text=[f"{100 * v:.0f}%" if np.isfinite(v) else "" for v in p.tolist()],
                         textposition="outside", cliponaxis=False))
    # The step goes under the bars, not into the title: a title with it did not fit a phone's width and ran into
    # the legend (seen at 390 px). The top margin holds the title and up to three rows of legend (a phone stacks
    # the three methods).
    when = "before any inner step (step 0)" if step == 0 else f"after inner step {step}"
    return figures.figure(
        bars, height, barmode="group",
        title=dict(text="Class probabilities for the query", x=0, y=0.98, yanchor="top"),
        xaxis=dict(title=when),
        yaxis=dict(range=[0, 1.15], tickformat=".0%", title="probability", gridcolor=figures.GRID),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        margin=dict(l=10, r=10, t=50 + 4 * common.font_size(), b=10))


def curve_figure(runs: dict[str, MethodRun], which: str, step: int | None = None, height: int = 380) -> figures.Figure:
    """Support loss (which='support_loss') or query accuracy (which='query_acc') after each inner step,
    one line per method; a hollow marker shows the number of steps each checkpoint was validated with, and a
    dashed vertical line the step the page shows."""
    colors, labels = common.METHOD_COLORS, common.METHOD_LABELS
    traces = []
    lowest = LOSS_CAP
    for i, (name, run) in enumerate(runs.items()):
        values = getattr(run, which)
        if values is None:
            continue
        raw = values.tolist()
        if which == "support_loss":  # a log axis cannot show 0; a diverged loss is drawn at the cap with a cross
            ys = [min(max(v, LOSS_FLOOR), LOSS_CAP) if v == v else LOSS_CAP for v in raw]
            off = [not (v == v and v <= LOSS_CAP) for v in raw]
        else:
            ys = [v if np.isfinite(v) else None for v in raw]  # no accuracy for a diverged step: a gap
            off = [False] * len(raw)
        lowest = min([lowest, *[y for y in ys if y is not None]])
        traces.append(dict(
            type="scatter", x=list(range(len(ys))), y=ys, mode="lines+markers", name=labels.get(name, name),
            # methods that tie (e.g. all at 100%) draw on top of each other: each later line is narrower and has
            # its own dash and marker, so every one stays visible
            line=dict(color=colors.get(name), width=max(2.0, 7 - 2.5 * i), dash=LINE_DASHES[i % len(LINE_DASHES)]),
            marker=dict(size=[12 if o else max(6, 13 - 3 * i) for o in off],
                        symbol=["x" if o else MARKERS[i % len(MARKERS)] for o in off]),
            hovertext=[f"step {s}: diverged (off the chart)" if o else f"step {s}: {v:.3g}"
                       for s, (v, o) in enumerate(zip(raw, off))], hoverinfo="text+name"))
        if 0 <= run.eval_steps < len(ys) and ys[run.eval_steps] is not None:
            traces.append(dict(type="scatter", x=[run.eval_steps], y=[ys[run.eval_steps]], mode="markers",
                               showlegend=False, hoverinfo="text",
                               hovertext=f"{labels.get(name, name)}: validated with {run.eval_steps} steps",
                               marker=dict(size=15, color="rgba(0,0,0,0)",
                                           line=dict(color=colors.get(name), width=2))))
    steps = max(r.steps for r in runs.values())
    xaxis = dict(title="inner step", range=[-0.4, steps + 0.4], dtick=1 if steps <= 12 else None,
                 gridcolor=figures.GRID)
    if which == "query_acc":
        title, yaxis = "Accuracy on the episode's query set", dict(range=[0, 1.05], tickformat=".0%", title="accuracy")
    else:  # log scale: the loss falls by orders of magnitude, and the late steps matter as much as the first
        title = "Support loss (cross-entropy on the examples)"
        decades = math.log10(LOSS_CAP) - math.log10(max(lowest, LOSS_FLOOR))
        top = math.log10(LOSS_CAP) + 0.3 if any(r.diverged for r in runs.values()) else None
        # at most about 6 labels, whatever the range (a diverged run stretches it over many decades)
        yaxis = dict(type="log", title="loss (log scale)", dtick=max(1, math.ceil(decades / 6)) if top else 1,
                     tickformat="~g", range=[math.log10(max(lowest, LOSS_FLOOR)) - 0.3, top] if top else None)
    return figures.figure(
        traces, height, title=dict(text=title, x=0, y=0.98, yanchor="top"), xaxis=xaxis,
        yaxis=dict(gridcolor=figures.GRID, **yaxis), shapes=[figures.step_line(step)] if step is not None and steps > 0
        else [],
        # The legend at the figure's bottom edge, in a margin sized for the ticks, the axis title and up to three
        # rows of legend (a phone's width) at the page's font: placed under the plot by a fraction of its height, it
        # ran over the axis title in projector mode.
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0),
        margin=dict(l=10, r=10, t=40 + common.font_size(), b=30 + 5 * common.font_size()))


# ---------------------------------------------------------------------------------------------
# Input slots: one drawing or upload each (ui/omniglot_inputs.py draws them), slot = "c<class>k<example>" or "q"
# ---------------------------------------------------------------------------------------------

QUERY_SLOT = "q"


def slot_id(c: int, k: int) -> str:
    return f"c{c}k{k}"


def slot_name(slot: str) -> str:
    if slot == QUERY_SLOT:
        return "the query"
    c, k = slot[1:].split("k")
    return f"{CLASS_NAMES[int(c)]} · example {int(k) + 1}"


ALL_SLOTS = tuple(slot_id(c, k) for c in range(max(WAYS)) for k in range(max(SHOTS))) + (QUERY_SLOT,)


def status_html(x: Tensor | None, text: str, size: int = 42) -> str:
    """A fixed-height line under each input: the 28x28 network input (or a dashed box) and a note."""
    if x is None:
        pic = (f'<div style="width:{size}px;height:{size}px;border:1px dashed #bbb;border-radius:4px;'
               'box-sizing:border-box;flex:none"></div>')
    else:
        pic = f'<div style="flex:none">{img_tag(tile_png(x, size), size, title="what the network sees")}</div>'
    return (f'<div style="display:flex;gap:8px;align-items:center;height:{size + 4}px;overflow:hidden">{pic}'
            f'<div style="font-size:0.8em;color:#555;line-height:1.2">{text}</div></div>')


# ---------------------------------------------------------------------------------------------
# Omniglot data (optional): episodes of the held-out characters (ui/omniglot_inputs.test_split loads them)
# ---------------------------------------------------------------------------------------------

def sample_episode(test: OmniglotData, n_way: int, k_shot: int, seed: int, number: int) -> tuple[Episode, list[str]]:
    """Episode `number` for this seed (the same seed and number always give the same characters) and
    the name of each class ('Alphabet / character NN')."""
    tasks = OmniglotTasks(test, n_way, k_shot, n_query=DATASET_QUERIES)
    g = torch.Generator().manual_seed(int(seed) * 100_003 + int(number))
    episode = tasks.sample(1, g).task(0)
    names = [tasks.class_name(int(c)).replace("/", " / ").replace("_", " ") for c in episode.classes]
    return episode, names

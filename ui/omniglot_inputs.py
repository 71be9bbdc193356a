"""The Omniglot page's Streamlit pieces that feed ui/omniglot_view.py: the input slots (a drawing canvas, or an
uploaded picture in its place) and the held-out characters of the Omniglot test split (cached per server).

What a slot holds lives in the page's `OmniglotState` (ui/page_state.py): `state.drawings[slot]` is a slot's
drawing, PNG bytes as the canvas sends them (a test may put an RGBA uint8 array there instead); slot =
"c<class>k<example>" or "q" (`omniglot_view.slot_id`, `QUERY_SLOT`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from torch import Tensor

from maml_core import DataError, OmniglotData, OmniglotTaskConfig, download, split
from maml_core.omniglot import find_archives
from ui import common
from ui.omniglot_images import (
    MAX_PIXELS,
    MAX_UPLOAD_MB,
    InputError,
    fingerprint,
    image_from_drawing,
    load_upload,
    texture_warning,
    to_network_input,
)
from ui.omniglot_view import ALL_SLOTS, slot_name, status_html
from ui.page_state import OmniglotState

INK = "#000000"
PAPER = "#ffffff"

# streamlit-drawable-canvas 0.13 keeps its toolbar (undo, redo, clear) invisible over the top ~20% of the canvas, and
# on hover slides it up after 0.1 s to 2.65rem above, where its 2.9rem still cover the canvas's top edge: a mouse
# stroke that starts there within ~0.2 s of the pointer arriving, or on the top edge at any time, lands on the toolbar
# and leaves no ink. These rules (inside the component's shadow root, next to its own stylesheet) keep the toolbar
# always wholly above the canvas (its bottom on the canvas's top edge, whatever the font size), showing on hover
# with a mouse; only its card takes clicks, and only while shown. A touch screen has no hover: there the toolbar
# is always shown, in room kept for it above the canvas.
CANVAS_HTML = """<style>
.dc-root>.dc-toolbar{top:auto!important;bottom:100%!important;pointer-events:none;transition:opacity .15s .1s!important}
.dc-root>.dc-toolbar .dc-toolbar-card{pointer-events:none}
.dc-root:hover>.dc-toolbar .dc-toolbar-card,.dc-root>.dc-toolbar:focus-within .dc-toolbar-card,
.dc-root>.dc-toolbar[data-pinned=true] .dc-toolbar-card{pointer-events:auto}
@media (hover:none){.dc-root{margin-top:3.1rem}
.dc-root>.dc-toolbar{opacity:1!important}.dc-root>.dc-toolbar .dc-toolbar-card{pointer-events:auto}}
</style><div class="canvas-root"></div>"""


def get_canvas():
    """(st_canvas, None), or (None, why) when the drawing component cannot load here. The import
    registers a Components-v2 element, which needs a running Streamlit server (or AppTest); it is registered
    again under its own name with `CANVAS_HTML` (the same script and stylesheet)."""
    try:
        import streamlit_drawable_canvas as sdc

        if getattr(sdc, "_maml_toolbar_fix", None) is None:
            sdc.out = st.components.v2.component("streamlit-drawable-canvas.streamlit_drawable_canvas",
                                                 js="index-*.js", css="index-*.css", html=CANVAS_HTML,
                                                 isolate_styles=True)
            sdc._maml_toolbar_fix = True
    except Exception as e:  # ImportError, StreamlitAPIException: the page must keep working without it
        return None, f"{type(e).__name__}: {e}"
    return sdc.st_canvas, None


@dataclass
class SlotInput:
    """What one slot holds: the network input (None when empty) and a short description."""

    slot: str
    x: Tensor | None
    source: str  # "drawing", "upload" or "" (empty)
    note: str  # e.g. the file name, or why the slot is empty


def _process_drawing(state: OmniglotState, slot: str) -> SlotInput:
    """The slot's stored drawing -> network input, memoised on the drawing's content."""
    value = state.drawings.get(slot)
    if value is None:
        return SlotInput(slot, None, "", "empty")
    fp = fingerprint(value if isinstance(value, (bytes, bytearray, np.ndarray)) else repr(value))
    hit = state.draw_memo.get(slot)
    if hit is None or hit[0] != fp:
        try:
            x = to_network_input(image_from_drawing(value), f"The drawing for {slot_name(slot)}")
            hit = (fp, x, "")
        except InputError:
            hit = (fp, None, "blank")
        except Exception as e:  # never a traceback for a strange drawing
            hit = (fp, None, f"unreadable ({type(e).__name__})")
        state.draw_memo[slot] = hit
    _, x, note = hit
    return SlotInput(slot, x, "drawing" if x is not None else "", note)


def _process_upload(state: OmniglotState, slot: str, file, what: str,
                    size: int) -> tuple[Tensor | None, bytes | None, str | None]:
    """(x, preview, error) for the slot's uploaded file, memoised on the upload's id."""
    fid = getattr(file, "file_id", None) or fingerprint(file.getvalue())
    hit = state.upload_memo.get(slot)
    if hit is None or hit[0] != fid:
        try:
            x, preview = load_upload(file.name, file.getvalue(), what, size)
            hit = (fid, x, preview, None)
        except InputError as e:
            hit = (fid, None, None, str(e))
        state.upload_memo[slot] = hit
    return hit[1], hit[2], hit[3]


def input_slot(state: OmniglotState, slot: str, size: int, st_canvas) -> SlotInput:
    """One input: a drawing canvas (or, with an upload, the uploaded picture in its place), a line
    showing what the network sees, and an "Upload" popover. A bad upload shows its error here and
    the slot keeps using the drawing."""
    ss = st.session_state
    what = slot_name(slot)
    upgen = state.upload_gen.get(slot, 0)
    cvgen = state.canvas_gen.get(slot, 0)
    area, status = st.container(), st.container()
    if st_canvas is not None:
        holder = st.popover("Upload", icon=":material/upload:", help=f"Use a picture instead of drawing ({what})")
    else:
        holder = st.container()
    with holder:
        file = st.file_uploader(f"Picture for {what}", key=f"omni_up_{slot}_{upgen}", max_upload_size=MAX_UPLOAD_MB,
                                help=f"PNG, JPEG, GIF, BMP or WebP, up to {MAX_UPLOAD_MB} MB and "
                                     f"{MAX_PIXELS // 1_000_000} megapixels; one character, any colours.",
                                label_visibility="collapsed" if st_canvas is not None else "visible")
    up_x = up_preview = up_error = None
    if file is not None:
        up_x, up_preview, up_error = _process_upload(state, slot, file, what, size)

    with area:
        if up_x is not None:
            st.image(up_preview, width=size)
        elif st_canvas is not None:
            ckey = f"omni_cv_{slot}_{cvgen}"
            if ckey not in ss:  # (re)mounted, e.g. after visiting another page: redraw the last drawing
                state.canvas_init[slot] = state.canvas_json.get(slot)
            try:
                result = st_canvas(stroke_width=max(6, size // 16), stroke_color=INK, background_color=PAPER,
                                   height=size, width=size, drawing_mode="freedraw", return_image_data=True,
                                   initial_drawing=state.canvas_init.get(slot), key=ckey)
                png = result.image_bytes
            except Exception as e:  # a component failure must not take the page down: uploads still work
                st.caption(f"The canvas could not be shown ({type(e).__name__}): use Upload.")
                png = None
            if png is not None and png != state.drawings.get(slot):
                state.drawings[slot] = png
                state.canvas_json[slot] = result.json_data

    drawn = _process_drawing(state, slot)
    with status:
        if up_x is not None:
            st.markdown(status_html(up_x, f"uploaded<br>{html.escape(file.name[:24])}"), unsafe_allow_html=True)
            st.button("Draw instead", key=f"omni_undo_up_{slot}_{upgen}", type="tertiary",
                      icon=":material/draw:", on_click=_drop_upload, args=(state, slot))
            note = texture_warning(up_x)
            if note:
                st.warning(note, icon=":material/texture:")
            return SlotInput(slot, up_x, "upload", file.name)
        if drawn.x is not None:
            text = "network input"
        elif drawn.note == "blank":
            text = "blank: draw a character"
        elif st_canvas is None:
            text = "upload a picture"
        else:
            text = "draw here"
        st.markdown(status_html(drawn.x, text), unsafe_allow_html=True)
        if up_error:
            st.error(up_error, icon=":material/error:")
    return drawn


def keep_drawings_on_resize(state: OmniglotState, size: int) -> None:
    """When the canvases change size (projector mode on or off): every drawn canvas remounts (a new key) with its
    strokes scaled to the new size, so a drawing keeps its place and shape instead of staying in one corner."""
    ss = st.session_state
    old = ss.get("omni_canvas_size")
    ss["omni_canvas_size"] = size
    if old is None or old == size:
        return
    f = size / old
    for slot, drawing in list(state.canvas_json.items()):
        if not isinstance(drawing, dict):
            continue
        objects = [{**o, **{k: o[k] * f for k in ("left", "top", "scaleX", "scaleY")
                            if isinstance(o.get(k), (int, float))}}
                   for o in drawing.get("objects", []) if isinstance(o, dict)]
        state.canvas_json[slot] = {**drawing, "objects": objects}
        state.canvas_gen[slot] = state.canvas_gen.get(slot, 0) + 1  # a new canvas key: mounted from canvas_json


def _drop_upload(state: OmniglotState, slot: str) -> None:
    state.upload_gen[slot] = state.upload_gen.get(slot, 0) + 1
    state.upload_memo.pop(slot, None)


def clear_inputs(state: OmniglotState) -> None:
    """Empty every drawing and upload (new canvas and uploader keys: they remount blank), and forget the result."""
    state.drawings.clear()
    state.canvas_json.clear()
    state.canvas_init.clear()
    for slot in ALL_SLOTS:
        state.canvas_gen[slot] = state.canvas_gen.get(slot, 0) + 1
        state.upload_gen[slot] = state.upload_gen.get(slot, 0) + 1
    state.draw_memo.clear()
    state.upload_memo.clear()
    state.result = None


# ---------------------------------------------------------------------------------------------
# Omniglot data (optional): the test split of the checkpoints' own split, sampled into episodes
# (`omniglot_view.sample_episode`)
# ---------------------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=4)
def _test_split(data_dir: str, stamp: tuple, split_how: tuple) -> OmniglotData:
    """The held-out characters (never seen in meta-training) of the checkpoints' own split. The archive
    is decoded once per server (`common.load_omniglot_cached`, shared with the other pages)."""
    data = common.load_omniglot_cached(data_dir)
    kind, fractions, seed = split_how
    return split(data, OmniglotTaskConfig(split=kind, split_fractions=fractions, split_seed=seed))["test"]


def test_split(data_dir: Path, task_config: OmniglotTaskConfig) -> tuple[OmniglotData | None, str | None]:
    """(test characters, None) or (None, what is missing and how to get it)."""
    archives = find_archives(data_dir)
    if not archives:
        return None, (f"No Omniglot archive in `{data_dir}`. Set the environment variable `MAML_DATA_DIR` to a "
                      "folder holding `images_background.zip` and `images_evaluation.zip` (or "
                      "`images_background_small1/2.zip`) and restart the app, or download the official archives "
                      "(about 16 MB) with the button below.")
    stamp = tuple((a.name, a.stat().st_size) for a in archives)
    how = (task_config.split, tuple(task_config.split_fractions), task_config.split_seed)
    try:
        return _test_split(str(data_dir), stamp, how), None
    except DataError as e:
        return None, f"The Omniglot data could not be read: {e}"


def download_data(data_dir: Path) -> str | None:
    """Fetch the official archives; None on success, else the error message."""
    try:
        download(data_dir)
    except (DataError, OSError) as e:
        return f"Download failed: {e}"
    common.load_omniglot_cached.clear()
    _test_split.clear()
    return None

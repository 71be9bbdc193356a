"""The Omniglot few-shot page, headless (Streamlit AppTest), and the functions it calls.

Drawings are injected the way the canvas stores them (in the page's state object, `OmniglotState.drawings[slot]`,
an RGBA array or PNG bytes); uploads go through the real file_uploader widget. Quick tiny checkpoints are
trained here, so nothing depends on the shipped assets/.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from benchmarks.harness import quick_omniglot_checkpoints
from maml_core import load_checkpoint
from ui import omniglot_inputs as oi
from ui import omniglot_view as ov
from ui.page_state import OmniglotState

ROOT = Path(__file__).resolve().parent.parent

PAGE = str(ROOT / "app_pages" / "omniglot.py")
SLOTS_5W1S = [ov.slot_id(c, 0) for c in range(5)] + [ov.QUERY_SLOT]


# --- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def assets_dir(tmp_path_factory) -> Path:
    return quick_omniglot_checkpoints(tmp_path_factory.mktemp("assets"))


@pytest.fixture()
def page(assets_dir, tmp_path, monkeypatch):
    """A fresh AppTest of the page, reading the quick checkpoints and no dataset (tests that want the
    dataset point `ui.common.DATA_DIR` at it)."""
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setenv("MAML_ASSETS_DIR", str(assets_dir))
    monkeypatch.setattr(common, "ASSETS", assets_dir)
    monkeypatch.setattr(common, "DATA_DIR", tmp_path / "no-data")
    common.load_shipped.clear()
    oi._test_split.clear()
    common.load_omniglot_cached.clear()
    at = AppTest.from_file(PAGE, default_timeout=60)
    yield at
    common.load_shipped.clear()


def drawing(shape: int, size: int = 150) -> np.ndarray:
    """An RGBA canvas drawing (black ink on white), one of a few distinct shapes."""
    im = Image.new("RGBA", (size, size), "white")
    d = ImageDraw.Draw(im)
    w = 9
    s = size
    shapes = [
        lambda: d.line([(s * .2, s * .2), (s * .8, s * .8)], fill="black", width=w),
        lambda: d.ellipse([s * .2, s * .2, s * .8, s * .8], outline="black", width=w),
        lambda: (d.line([(s * .5, s * .15), (s * .5, s * .85)], fill="black", width=w),
                 d.line([(s * .15, s * .5), (s * .85, s * .5)], fill="black", width=w)),
        lambda: d.polygon([(s * .5, s * .15), (s * .85, s * .85), (s * .15, s * .85)], outline="black", width=w),
        lambda: d.line([(s * .1, s * .3), (s * .35, s * .7), (s * .6, s * .3), (s * .9, s * .7)], fill="black",
                       width=w),
    ]
    shapes[shape % len(shapes)]()
    return np.asarray(im).copy()


def blank(size: int = 150) -> np.ndarray:
    return np.full((size, size, 4), 255, dtype=np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but whose data is a few bytes: what a decompression
    bomb or a hostile upload looks like to the server before decoding."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def state(at) -> OmniglotState:
    """The page's state object in the AppTest's session."""
    return OmniglotState.of(at.session_state)


def fill(at, slots=SLOTS_5W1S, query_shape: int = 1):
    for i, slot in enumerate(slots):
        state(at).drawings[slot] = drawing(query_shape if slot == ov.QUERY_SLOT else i)


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


# --- the page -------------------------------------------------------------------------------------------

def test_renders_with_empty_state(page):
    at = page.run()
    no_traceback(at)
    assert at.title[0].value.endswith("Omniglot few-shot")
    assert "0 of 6 inputs ready" in at.info[0].value
    assert not at.error
    assert len(at.file_uploader) == 6  # 5 classes x 1 shot + the query, one upload each


def test_states_each_checkpoints_recorded_held_out_accuracy(page):
    page.run()
    text = " ".join(c.value for c in page.caption)
    assert "on 600 held-out 5-way 1-shot episodes of characters these networks never saw" in text
    assert "**FO-MAML** 91.2% ± 0.6 (3 steps, α = 0.4)" in text
    assert "**Transfer learning**: no held-out 5-way figure for these weights" in text  # none recorded, none claimed


def test_drawings_adapt_and_show_results(page):
    at = page.run()
    fill(at)
    at.run()
    assert "6 of 6 inputs ready" in at.info[0].value
    at.button(key="omni_adapt").click().run()
    no_traceback(at)
    result = state(at).result
    runs = result.runs
    assert set(runs) == {"maml", "fomaml", "transfer"}
    for run in runs.values():
        assert run.probs.shape == (11, 1, 5)  # steps 0..10, one query, 5 classes
        assert torch.allclose(run.probs.sum(-1), torch.ones(11, 1), atol=1e-5)
        assert run.support_loss.shape == (11,)
    assert len(at.get("plotly_chart")) == 2  # probabilities and the support loss
    body = texts(at)
    assert "What the network sees" in body and "framed in its colour" in body
    assert "after 10 steps" in body  # the prediction table, one row per method
    # one step control moves the bars, the picks and the marker on the loss chart together
    assert state(at).shown.step == 10 and at.slider(key="omni_step_slider").value == 10
    at.button(key="omni_first").click().run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "before any inner step" in spec["layout"]["xaxis"]["title"]["text"]
    bars = {t["name"]: t["y"] for t in spec["data"]}
    assert bars["MAML"] == pytest.approx(runs["maml"].probs[0, 0].tolist(), abs=1e-6)
    assert "before any step" in texts(at) and "after 10 steps" not in texts(at)
    loss = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert [sh["x0"] for sh in loss["layout"]["shapes"]] == [0]
    at.slider(key="omni_step_slider").set_value(3).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"]: t["y"] for t in spec["data"]}["MAML"] == pytest.approx(runs["maml"].probs[3, 0].tolist(),
                                                                              abs=1e-6)
    assert "after 3 steps" in texts(at) and not at.exception


def test_sidebar_change_readapts_without_button(page):
    at = page.run()
    fill(at)
    at.run()
    at.button(key="omni_adapt").click().run()
    at.sidebar.slider(key="inner_steps").set_value(4).run()
    no_traceback(at)
    assert state(at).result.runs["maml"].probs.shape[0] == 5


def test_fewer_ways_use_the_first_outputs(page):
    at = page.run()
    at.segmented_control(key="omni_ways").set_value(3).run()
    fill(at, [ov.slot_id(c, 0) for c in range(3)] + [ov.QUERY_SLOT])
    at.run()
    at.button(key="omni_adapt").click().run()
    no_traceback(at)
    assert state(at).result.runs["fomaml"].probs.shape == (11, 1, 3)


def test_inputs_survive_changing_the_episode_shape(page):
    at = page.run()
    fill(at)
    at.run()
    at.segmented_control(key="omni_ways").set_value(2).run()
    at.segmented_control(key="omni_source").set_value("dataset").run()
    at.segmented_control(key="omni_source").set_value("draw").run()
    at.segmented_control(key="omni_ways").set_value(5).run()
    no_traceback(at)
    assert "6 of 6 inputs ready" in at.info[0].value  # classes 3-5 were hidden, not forgotten


def test_upload_replaces_the_canvas(page):
    at = page.run()
    fill(at)
    at.run()
    at.file_uploader(key="omni_up_c0k0_0").upload("letter.png", png_bytes(drawing(3)), "image/png")
    at.run()
    no_traceback(at)
    assert "letter.png" in texts(at)
    at.button(key="omni_adapt").click().run()
    no_traceback(at)
    assert state(at).result is not None
    x = state(at).result.support_x[0]
    assert torch.equal(x, ov.to_network_input(Image.fromarray(drawing(3)), "test"))  # the upload, not drawing 0


BAD_UPLOADS = [
    ("notes.png", b"these are my lecture notes, not a picture", "is not an image this app can read"),
    ("empty.png", b"", "is empty (0 bytes)"),
    ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (11 * 2**20), "pictures are limited to 10 MB"),
    ("wide.png", png_header_only(8000, 6000), "the limit is 40 megapixels"),
    ("bomb.png", png_header_only(40000, 40000), "decompression bomb"),
    ("truncated.png", png_bytes(drawing(2))[:300], "could not be decoded"),
    ("white.png", png_bytes(blank()), "shows no character"),
]


@pytest.mark.parametrize("name,data,message", BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_bad_upload_gives_a_message_and_keeps_the_rest(page, name, data, message):
    at = page.run()
    fill(at)
    at.run()
    at.file_uploader(key="omni_up_c1k0_0").upload(name, data, "image/png")
    at.run()
    no_traceback(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and message in errors[0], errors
    # The user's drawings are intact (class 2 falls back to its drawing) and the page still adapts.
    for i, slot in enumerate(SLOTS_5W1S[:-1]):
        assert np.array_equal(state(at).drawings[slot], drawing(i))
    at.button(key="omni_adapt").click().run()
    no_traceback(at)
    assert state(at).result.runs


def test_empty_canvas_is_named_on_adapt(page):
    at = page.run()
    fill(at)
    state(at).drawings["c2k0"] = blank()
    at.run()
    assert "blank: draw a character" in texts(at)
    at.button(key="omni_adapt").click().run()
    no_traceback(at)
    warning = " ".join(w.value for w in at.warning)
    assert "The canvas is empty (nothing drawn) for Class 3 · example 1" in warning
    assert state(at).result is None
    # Drawing it afterwards (PNG bytes, as the canvas sends them) makes the episode complete.
    state(at).drawings["c2k0"] = png_bytes(drawing(2))
    at.run()
    at.button(key="omni_adapt").click().run()
    assert state(at).result is not None


def test_dataset_mode_without_data_says_how_to_enable_it(page):
    at = page.run()
    at.segmented_control(key="omni_source").set_value("dataset").run()
    no_traceback(at)
    info = " ".join(i.value for i in at.info)
    assert "No Omniglot archive" in info and "MAML_DATA_DIR" in info
    assert any("Download Omniglot" in b.label for b in at.button)
    # Switching back to drawing keeps the page working.
    at.segmented_control(key="omni_source").set_value("draw").run()
    no_traceback(at)


def test_download_failure_is_a_clear_message(page, monkeypatch):
    def offline(data_dir, *args, **kwargs):
        raise oi.DataError("could not download https://example/images_background.zip: no internet. Check the "
                           f"internet connection, or put it into {data_dir} by hand.")
    monkeypatch.setattr(oi, "download", offline)
    at = page.run()
    at.segmented_control(key="omni_source").set_value("dataset").run()
    at.button(key="omni_download").click().run()
    no_traceback(at)
    assert "Download failed: could not download" in at.error[0].value
    assert "draw your own characters" in at.error[0].value


@pytest.mark.data
def test_dataset_episode_accuracy_per_step(page, monkeypatch, real_data_dir):
    from ui import common
    monkeypatch.setattr(common, "DATA_DIR", real_data_dir)
    at = page.run()
    at.segmented_control(key="omni_source").set_value("dataset").run(timeout=120)
    no_traceback(at)
    at.button(key="omni_adapt").click().run()
    no_traceback(at)
    result = state(at).result
    assert result.query_y.shape == (5 * ov.DATASET_QUERIES,)
    assert result.runs["maml"].query_acc.shape == (11,)
    assert len(at.get("plotly_chart")) == 3  # probabilities, support loss, query accuracy
    at.select_slider(key="omni_query_index").set_value(3).run()
    no_traceback(at)
    first = state(at).result.support_x.clone()
    at.button(key="omni_new_episode").click().run()
    no_traceback(at)
    at.button(key="omni_adapt").click().run()
    assert not torch.equal(first, state(at).result.support_x)


def test_page_works_without_the_canvas(page, monkeypatch):
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", None)  # import fails
    at = page.run()
    no_traceback(at)
    assert "drawing canvas could not load" in " ".join(w.value for w in at.warning)
    at.file_uploader(key="omni_up_q_0").upload("q.png", png_bytes(drawing(1)), "image/png").run()
    no_traceback(at)
    assert "q.png" in texts(at)


def test_no_checkpoints_gives_instructions(page, monkeypatch, tmp_path):
    from ui import common
    monkeypatch.setattr(common, "ASSETS", tmp_path / "empty")
    at = page.run()
    no_traceback(at)
    assert "No trained Omniglot network" in at.error[0].value
    assert "python -m maml_core train omniglot" in at.error[0].value


def test_clear_all_empties_inputs(page):
    at = page.run()
    fill(at)
    at.run()
    at.button(key="omni_clear").click().run()
    no_traceback(at)
    assert "c0k0" not in state(at).drawings and state(at).result is None
    assert "0 of 6 inputs ready" in at.info[0].value


# --- the functions behind it ----------------------------------------------------------------------------

def test_fit_head_keeps_the_checkpoint(assets_dir):
    ckpt = load_checkpoint(assets_dir / "omniglot_5w1s_maml.pt")
    before = ckpt.params["head.weight"].clone()
    p = ov.fit_head(ckpt.params, 3)
    assert p["head.weight"].shape == (3, 256) and p["head.bias"].shape == (3,)
    assert torch.equal(p["head.weight"], before[:3])
    assert torch.equal(ckpt.params["head.weight"], before)


def test_a_start_at_chance_frames_no_pick(assets_dir):
    ckpt = load_checkpoint(assets_dir / "omniglot_5w1s_fomaml.pt")  # zero head: step 0 is 1/5 for every class
    sx = torch.rand(5, 1, 28, 28)
    runs = ov.run_adaptation({"fomaml": ckpt}, sx, torch.arange(5), sx[:1], n_way=5, steps=2, inner_lr=0.4)
    at_zero = ov.prediction_html(runs, list(sx), sx[0], 0, {"fomaml": "#E69F00"}, {}, 0, step=0)
    assert "no pick yet: every class 20%" in at_zero and "5px solid" not in at_zero and "✓" not in at_zero
    later = ov.prediction_html(runs, list(sx), sx[0], 0, {"fomaml": "#E69F00"}, {}, 0, step=2)
    assert "no pick yet" not in later and "5px solid #E69F00" in later


def test_fit_head_widens_only_a_head_whose_rows_are_equal():
    zero = {"head.weight": torch.zeros(5, 8), "head.bias": torch.zeros(5), "conv.weight": torch.ones(2)}
    wide = ov.fit_head(zero, 20)
    assert wide["head.weight"].shape == (20, 8) and not wide["head.weight"].any() and wide["conv.weight"] is \
        zero["conv.weight"]
    learned = {"head.weight": torch.randn(5, 8), "head.bias": torch.zeros(5)}
    with pytest.raises(ValueError, match="learned 5 classes, so it cannot classify 20 ways"):
        ov.fit_head(learned, 20)


def test_twenty_ways_from_a_zero_head_start_at_chance(assets_dir):
    ckpt = load_checkpoint(assets_dir / "omniglot_5w1s_fomaml.pt")
    assert ov.head_problem(ckpt, 20) is None  # the zeroing trick: any number of ways
    sx = torch.rand(20, 1, 28, 28)
    runs = ov.run_adaptation({"fomaml": ckpt}, sx, torch.arange(20), sx[:3], n_way=20, steps=2)
    assert runs["fomaml"].probs.shape == (3, 3, 20)
    assert torch.allclose(runs["fomaml"].probs[0], torch.full((3, 20), 1 / 20))


def test_twenty_ways_ask_for_the_dataset_not_twenty_drawings(page):
    page.query_params["N"] = "20"
    at = page.run()
    assert any("20 characters are a lot to draw" in i.value for i in at.info)
    assert not at.exception and not at.get("plotly_chart")


def test_run_adaptation_lowers_support_loss_and_leaves_weights(assets_dir):
    ckpts = {m: load_checkpoint(assets_dir / f"omniglot_5w1s_{m}.pt") for m in ("maml", "transfer")}
    before = {m: {k: v.clone() for k, v in c.params.items()} for m, c in ckpts.items()}
    sx = torch.stack([ov.to_network_input(Image.fromarray(drawing(i)), "t") for i in range(4)])
    sy = torch.arange(4)
    runs = ov.run_adaptation(ckpts, sx, sy, sx, sy, n_way=4, steps=5, inner_lr=0.05)
    for m, run in runs.items():
        assert run.probs.shape == (6, 4, 4)
        assert run.support_loss[-1] < run.support_loss[0]
        assert run.query_acc.shape == (6,)
        assert run.inner_lr == 0.05
        assert ov.run_adaptation({m: ckpts[m]}, sx, sy, sx, n_way=4, steps=0)[m].inner_lr == ckpts[m].inner_lr
        assert all(torch.equal(v, before[m][k]) for k, v in ckpts[m].params.items())
    assert float(runs["transfer"].probs[0].std()) < 1e-6  # a zero head: uniform before any step
    again = ov.run_adaptation(ckpts, sx, sy, sx, sy, n_way=4, steps=2, inner_lr=0.0)
    assert torch.allclose(again["maml"].probs[0], again["maml"].probs[-1])  # alpha = 0 changes nothing


def test_read_upload_accepts_images_and_first_frames():
    frames = [Image.fromarray(drawing(i)).convert("P") for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    im = ov.read_upload("anim.gif", buf.getvalue())
    assert im.size == (150, 150)
    x, preview = ov.load_upload("anim.gif", buf.getvalue(), "t", 100)
    assert x.shape == (1, 28, 28) and preview.startswith(b"\x89PNG")
    jpeg = io.BytesIO()
    Image.fromarray(drawing(4)).convert("RGB").save(jpeg, format="JPEG")
    assert ov.load_upload("a.jpg", jpeg.getvalue(), "t", 100)[0].sum() > 0


@pytest.mark.parametrize("name,data,message", BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_load_upload_refuses_bad_files(name, data, message):
    with pytest.raises(ov.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ov.load_upload(name, data, "test", 100)


def test_my_trained_run_can_replace_the_shipped_weights(page, assets_dir):
    mine = load_checkpoint(assets_dir / "omniglot_5w1s_fomaml.pt")
    mine.params = {k: v * 0.5 for k, v in mine.params.items()}  # different weights, same shapes
    at = page.run()
    at.session_state["trained_runs"] = {"omniglot": {"fomaml": {"checkpoint": mine, "label": "my 100-iteration run"}}}
    fill(at)
    at.run()
    at.button(key="omni_adapt").click().run()
    shipped = state(at).result.runs["fomaml"].probs
    at.sidebar.radio(key="omni_src_fomaml").set_value("mine").run()  # re-adapts by itself: the weights changed
    no_traceback(at)
    assert not torch.allclose(state(at).result.runs["fomaml"].probs, shipped)
    assert "my 100-iteration run" in texts(at)


def test_step_zero_sentence_reads_the_numbers():
    uniform = torch.full((3, 4, 5), 0.2)
    peaked = torch.full((3, 4, 5), 0.01)
    peaked[..., 0] = 0.96
    runs = {"maml": ov.MethodRun("maml", 0.4, 3, uniform, torch.ones(3)),
            "fomaml": ov.MethodRun("fomaml", 0.4, 3, peaked, torch.ones(3))}
    text = ov.step_zero_sentence(runs)
    assert "MAML starts at chance" in text and "FO-MAML already favours some class" in text
    assert "already favour" not in ov.step_zero_sentence({"maml": runs["maml"]})
    assert "at chance" not in ov.step_zero_sentence({"fomaml": runs["fomaml"]})


def test_a_diverged_method_shows_where_instead_of_a_pick_and_the_loss_axis_stays_readable():
    probs = torch.full((4, 1, 5), 0.2)
    probs[2:] = float("nan")
    loss = torch.tensor([1.6, 3e3, float("inf"), float("nan")])
    good = ov.MethodRun("fomaml", 0.4, 3, torch.full((4, 1, 5), 0.2), torch.tensor([1.6, 0.5, 0.1, 0.05]))
    bad = ov.MethodRun("maml", 1e6, 3, probs, loss)
    assert bad.diverged_at == 2 and good.diverged_at is None
    tiles = [torch.zeros(1, 28, 28)] * 5
    html = ov.prediction_html({"maml": bad, "fomaml": good}, tiles, torch.zeros(1, 28, 28), 0,
                              {"maml": "#00f", "fomaml": "#f90"}, {"maml": "MAML", "fomaml": "FO-MAML"})
    maml_row = html.split("FO-MAML")[0]
    assert "diverged at step 2" in maml_row and "%" not in maml_row.split("MAML<br>")[-1]
    assert "after 3 steps" in html
    fig = ov.curve_figure({"maml": bad, "fomaml": good}, "support_loss").checked()
    ticks = (fig.layout.yaxis.range[1] - fig.layout.yaxis.range[0]) / fig.layout.yaxis.dtick
    assert ticks <= 8  # a handful of labels, not one per decade up to the overflow
    ys = fig.data[0].y
    assert max(ys) == ov.LOSS_CAP and all(v == v for v in ys)  # off-scale steps are drawn at the cap, marked
    assert list(fig.data[0].marker.symbol) == ["circle", "circle", "x", "x"]


def test_a_noise_photo_is_used_but_called_what_it_is(page):
    at = page.run()
    noise = (np.random.default_rng(0).random((300, 300, 3)) * 255).astype(np.uint8)
    at.file_uploader(key="omni_up_c0k0_0").upload("noise.png", png_bytes(noise), "image/png")
    at.run()
    no_traceback(at)
    warnings = [w.value for w in at.warning]
    assert any("looks like a photo or texture, not a character" in w for w in warnings), warnings
    at.file_uploader(key="omni_up_c1k0_0").upload("letter.png", png_bytes(drawing(3)), "image/png")
    at.run()
    assert sum("looks like a photo or texture" in w.value for w in at.warning) == 1  # a character gets no note
    assert ov.texture_warning(ov.to_network_input(Image.fromarray(drawing(1)), "t")) is None


def test_a_link_restores_the_episode_settings_and_names_bad_values(page):
    for k, v in {"N": "3", "K": "2", "S": "4", "m": "maml,fomaml", "big": "1", "lr": "0.2"}.items():
        page.query_params[k] = v
    at = page.run()
    ss = at.session_state
    assert (ss["omni_ways"], ss["omni_shots"], ss["inner_steps"], ss["large_fonts"]) == (3, 2, 4, True)
    assert ss["methods_maml_fomaml_transfer"] == ["maml", "fomaml"] and ss["inner_lr"] == 0.2
    assert "3 of 6 inputs ready" not in texts(at) and not at.exception
    url = {k: (v if isinstance(v, list) else [v]) for k, v in at.query_params.items()}
    assert url["N"] == ["3"] and url["K"] == ["2"] and url["src"] == ["draw"] and "ep" not in url


def test_a_link_with_bad_values_keeps_the_page_defaults(page):
    for k, v in {"N": "7", "src": "camera", "ep": "0", "S": "2"}.items():
        page.query_params[k] = v
    at = page.run()
    (warning,) = [w.value for w in at.warning if "This link had values" in w.value]
    assert "ways: “7” is not one of 2, 3, 4, 5" in warning
    assert "examples from: “camera” is not one of draw, dataset" in warning
    assert "episode: “0” is outside 1 to 1e+06" in warning
    assert at.session_state["omni_ways"] == 5 and at.session_state["inner_steps"] == 2 and not at.exception


def test_presenter_layout_puts_the_bars_and_the_loss_side_by_side_and_a_link_keeps_it(page):
    """At 1920 x 1080 the step control, the class probabilities and the support loss must share one screen: the
    presenter layout puts the bars and the loss in one row of columns; the normal one stacks them."""
    page.query_params["present"] = "1"
    at = page.run()
    assert at.sidebar.toggle(key="omni_present").value is True
    fill(at)
    at.run()
    at.button(key="omni_adapt").click().run()
    no_traceback(at)

    def column_of(key: str) -> int | None:
        for i, col in enumerate(at.columns):
            if any(key in c.proto.id for c in col.get("plotly_chart")):  # a keyed element's id holds its key
                return i
        return None

    bars, loss = column_of("omni_prob_chart"), column_of("omni_loss_chart")
    assert bars is not None and loss == bars + 1  # neighbours in one row
    assert at.query_params["present"] == ["1"] or at.query_params["present"] == "1"
    at.sidebar.toggle(key="omni_present").set_value(False).run()
    no_traceback(at)
    assert column_of("omni_prob_chart") is None  # full width again, above the picks
    assert column_of("omni_loss_chart") is not None  # beside the accuracy, as before
    assert "present" not in at.query_params


# --- the fair comparison (ui/omniglot_compare.py) --------------------------------------------------------------

def test_the_default_mode_is_each_methods_validated_settings_and_speed_is_compared_only_with_the_same_alpha(page):
    at = page.run()
    fill(at)
    at.run()
    assert at.segmented_control(key="omni_compare").value == "validated"
    text = texts(at)
    assert "**Each method's own validated settings**: MAML α = 0.4, validated with 3 steps" in text
    assert "Transfer learning α = 0.1, validated with 3 steps" in text
    at.button(key="omni_adapt").click().run()
    no_traceback(at)
    text = texts(at)
    assert "Watch how quickly" not in text
    assert "Their α differ (MAML 0.4, FO-MAML 0.4, Transfer learning 0.1)" in text
    assert "compares the methods" not in text
    # one click: the same α and steps for every method, the sidebar's switch follows, the sentence compares speed
    at.segmented_control(key="omni_compare").set_value("equal").run()
    no_traceback(at)
    assert at.session_state["own_lr"] is False
    assert at.toggle(key="own_lr").value is False
    at.button(key="omni_adapt").click().run()
    text = texts(at)
    assert f"**The same α and steps for every method**: α = {at.session_state['inner_lr']:g} and S = 10 steps" in text
    assert "so how fast each moves compares the methods" in text
    assert {r.inner_lr for r in state(at).result.runs.values()} == {at.session_state["inner_lr"]}
    assert f"**Transfer learning** (ran here with α = {at.session_state['inner_lr']:g}; validated with 3 steps at " \
        "α = 0.1)" in text
    at.segmented_control(key="omni_compare").set_value("validated").run()
    assert at.session_state["own_lr"] is True


def fake_run(method: str, loss: list[float], acc: list[float] | None = None, lr: float = 0.2, queries: int = 25):
    s = len(loss) - 1
    return ov.MethodRun(method, lr, s, torch.full((s + 1, queries, 5), 0.2), torch.tensor(loss),
                        None if acc is None else torch.tensor(acc))


def test_loss_sentence_says_where_a_support_loss_rose():
    from ui import omniglot_compare as oc

    text = oc.loss_sentence({"maml": fake_run("maml", [1.61, 0.5, 0.7, 0.1]),
                             "transfer": fake_run("transfer", [1.61, 1.0, 0.4, 0.2]),
                             "fomaml": fake_run("fomaml", [1.61, 0.0, 0.0, 0.0])})
    assert "FO-MAML's support loss goes from 1.61 to 0 and never rises, but stays the same at step 2, 3" in text
    assert "MAML's support loss goes from 1.61 to 0.1 and rises at step 2" in text
    assert "Transfer learning's support loss goes from 1.61 to 0.2 and falls at every step" in text


RESULTS = {"20": {"tasks": 600, "methods": {
    "maml": {"checkpoint": "omniglot_20w1s_maml.pt", "trained_ways": 20, "steps": 8, "inner_lr": 0.1,
             "accuracy": 0.887, "ci95": 0.004},
    "transfer": {"checkpoint": "omniglot_5w1s_transfer.pt", "trained_ways": 5, "steps": 3, "inner_lr": 0.01,
                 "accuracy": 0.870, "ci95": 0.004}},
    "pairs": [{"a": "maml", "b": "transfer", "difference": 0.017, "ci95": 0.003, "better": 349, "equal": 60,
               "worse": 191}]}}


def test_the_20_way_caption_shows_20_way_figures_only_and_says_what_each_is(assets_dir):
    from ui import omniglot_compare as oc

    five = load_checkpoint(assets_dir / "omniglot_5w1s_transfer.pt")  # records no headline: only the file's figure
    five.metrics.inner_lr, five.metrics.eval_steps = 0.01, 3
    fo = load_checkpoint(assets_dir / "omniglot_5w1s_fomaml.pt")  # records a 5-way headline: not a 20-way figure
    cks = {"transfer": five, "fomaml": fo}
    ids = {"transfer": "shipped:omniglot_5w1s_transfer.pt:1", "fomaml": "shipped:omniglot_5w1s_fomaml.pt:1"}
    figs = oc.test_figures(cks, ids, 20, RESULTS)
    assert set(figs) == {"transfer"}
    text = oc.held_out_caption(figs, 20, ["transfer", "fomaml"])
    assert "600 held-out 20-way 1-shot episodes" in text
    assert "**Transfer learning** 87.0% ± 0.4 (3 steps, α = 0.01, its 5-way network with a 20-way zero head)" in text
    assert "**FO-MAML**: no held-out 20-way figure for these weights" in text
    assert "91.2" not in text  # FO-MAML's 5-way figure is not set beside 20-way ones
    # the user's own run (no shipped id) or other settings: the file's figure is not theirs
    assert oc.test_figures(cks, {"transfer": None}, 20, RESULTS) == {}
    five.metrics.inner_lr = 0.2
    assert oc.test_figures(cks, ids, 20, RESULTS) == {}


def test_edge_sentence_sizes_the_measured_difference_and_the_episodes():
    from ui import omniglot_compare as oc

    text = oc.edge_sentence(RESULTS, 20)
    assert ("(each method at its own validated settings), MAML − Transfer learning is +1.7 ± 0.3 points (per "
            "episode, paired): a small edge for MAML") in text
    assert "better on 349, equal on 60 and worse on 191" in text
    tied = {"maml": fake_run("maml", [1.6, 0.1], [0.2, 1.0]), "transfer": fake_run("transfer", [1.6, 0.2], [0.2, 1.0])}
    assert "after 1 step: MAML 100%; Transfer learning 100% (tied)." in oc.edge_sentence(RESULTS, 20, tied)
    ahead = {"maml": fake_run("maml", [1.6, 0.1], [0.2, 0.96]),
             "transfer": fake_run("transfer", [1.6, 0.2], [0.2, 0.92])}
    assert "Transfer learning 92% (MAML ahead by 4 points, 1 of 25 queries)" in oc.edge_sentence(RESULTS, 20, ahead)
    big = {"20": {**RESULTS["20"], "pairs": [{**RESULTS["20"]["pairs"][0], "difference": 0.05}]}}
    assert "a clear edge" in oc.edge_sentence(big, 20)
    none = {"20": {**RESULTS["20"], "pairs": [{**RESULTS["20"]["pairs"][0], "difference": 0.002}]}}
    assert "no clear difference" in oc.edge_sentence(none, 20)


def test_tied_methods_are_said_to_tie_and_their_accuracy_lines_stay_distinguishable():
    runs = {"maml": fake_run("maml", [1.6, 0.1], [0.2, 1.0]), "fomaml": fake_run("fomaml", [1.6, 0.1], [0.2, 1.0]),
            "transfer": fake_run("transfer", [1.6, 0.2], [0.2, 0.96])}
    assert ov.finals_sentence(runs) == "MAML and FO-MAML tied at 100%, Transfer learning 96%"
    fig = ov.curve_figure(runs, "query_acc")
    lines = [t for t in fig.to_dict()["data"] if t.get("mode") == "lines+markers"]
    assert len(lines) == 3
    styles = {(t["line"]["dash"], t["line"]["width"], t["marker"]["symbol"][0]) for t in lines}
    assert len({s[0] for s in styles}) == 3 and len({s[1] for s in styles}) == 3 and len({s[2] for s in styles}) == 3


def test_the_learning_rate_help_claims_no_divergence_it_cannot_show(page):
    """Omniglot's networks classify an episode perfectly even at alpha = 50: the Sinusoid page's "Try 0.5 or more to
    see it diverge" would be false here (issue 22, item 9)."""
    page.session_state["own_lr"] = False
    page.run()
    no_traceback(page)
    help_text = page.number_input(key="inner_lr").help
    assert help_text.startswith("Step size of every inner gradient step") and "diverge" not in help_text

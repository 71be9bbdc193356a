"""maml_core.preprocess: one glyph drawn three ways (dataset PNG, canvas RGBA, inverted photo) gives
the same 28x28 input; blank, empty, wrong-type and huge images are handled."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from maml_core import ImageError, has_ink, preprocess_image

# An asymmetric glyph in unit coordinates (x right, y down): a stem, a diagonal, a hook.
GLYPH = [
    [(0.2, 0.05), (0.2, 0.95)],
    [(0.2, 0.45), (0.75, 0.6)],
    [(0.45, 0.95), (0.9, 0.8), (0.8, 0.2), (0.55, 0.1)],
]
STROKE = 0.06  # stroke width as a fraction of the glyph's size


def draw_glyph(image: Image.Image, left: float, top: float, side: float, fill) -> Image.Image:
    d = ImageDraw.Draw(image)
    for stroke in GLYPH:
        pts = [(left + x * side, top + y * side) for x, y in stroke]
        d.line(pts, fill=fill, width=max(1, round(STROKE * side)), joint="curve")
    return image


def dataset_style() -> Image.Image:
    """Like an Omniglot PNG: 105x105, mode '1', black ink on white, not centred."""
    return draw_glyph(Image.new("1", (105, 105), 1), 8, 30, 60, 0)


def canvas_style(stroke=(0, 0, 0, 255), background=(0, 0, 0, 0)) -> Image.Image:
    """Like a streamlit-drawable-canvas drawing: RGBA, transparent (or opaque) background, off-centre."""
    return draw_glyph(Image.new("RGBA", (400, 300), background), 230, 20, 140, stroke)


def photo_style() -> Image.Image:
    """Like a phone photo of chalk on a blackboard: bigger, RGB, light strokes on dark, blurred, noisy."""
    img = draw_glyph(Image.new("RGB", (1200, 900), (35, 40, 38)), 300, 250, 500, (225, 225, 215))
    img = img.filter(ImageFilter.GaussianBlur(3))
    rng = np.random.default_rng(0)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 10, (900, 1200, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def check_convention(x: torch.Tensor) -> None:
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= 0.0 and x.max() == pytest.approx(1.0)
    # paper = 0: the border (inside the 10% margin) is empty
    assert x[0, 0].abs().sum() == 0 and x[0, -1].abs().sum() == 0
    assert x[0, :, 0].abs().sum() == 0 and x[0, :, -1].abs().sum() == 0
    # the ink's bounding box is centred and its larger side fills ~80% (10% margin each side)
    rows, cols = torch.nonzero(x[0] > 0.1, as_tuple=True)
    assert (rows.min() + rows.max()) / 2 == pytest.approx(13.5, abs=1.5)
    assert (cols.min() + cols.max()) / 2 == pytest.approx(13.5, abs=1.5)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 == pytest.approx(22.4, abs=2.5)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


@pytest.mark.parametrize("make", [dataset_style, canvas_style, photo_style,
                                  lambda: canvas_style(stroke=(255, 255, 255, 255)),
                                  lambda: canvas_style(background=(255, 255, 255, 255)),
                                  lambda: canvas_style(stroke=(30, 60, 200, 255), background=(255, 255, 255, 255))],
                         ids=["dataset", "canvas", "photo", "canvas-white-ink", "canvas-opaque-white", "blue-pen"])
def test_every_style_follows_the_convention(make):
    x = preprocess_image(make())
    check_convention(x)
    assert has_ink(x)


def test_the_same_glyph_drawn_three_ways_gives_similar_inputs():
    ref = preprocess_image(dataset_style())
    for img in (canvas_style(), canvas_style(stroke=(255, 255, 255, 255)),
                canvas_style(background=(255, 255, 255, 255)), photo_style()):
        assert cosine(preprocess_image(img), ref) > 0.8
    # ... while a different glyph (mirrored) is clearly less similar: the check can fail
    mirrored = preprocess_image(dataset_style().transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert cosine(mirrored, ref) < 0.75


def test_position_and_scale_do_not_matter():
    small = draw_glyph(Image.new("L", (200, 200), 255), 5, 5, 40, 0)
    large = draw_glyph(Image.new("L", (200, 200), 255), 60, 50, 130, 0)
    assert cosine(preprocess_image(small), preprocess_image(large)) > 0.85


@pytest.mark.parametrize("image", [
    Image.new("1", (105, 105), 1),
    Image.new("RGBA", (300, 300), (0, 0, 0, 0)),
    Image.new("RGB", (64, 48), (128, 128, 128)),
    Image.new("L", (1, 1), 0),
], ids=["white", "transparent", "grey", "one-pixel"])
def test_blank_images_give_zeros(image):
    x = preprocess_image(image)
    assert x.shape == (1, 28, 28) and x.abs().sum() == 0
    assert not has_ink(x)


@pytest.mark.parametrize("bad", [None, "drawing.png", np.zeros((28, 28)), torch.zeros(1, 28, 28), b"\x89PNG"],
                         ids=["None", "str", "ndarray", "tensor", "bytes"])
def test_non_images_raise_image_error(bad):
    with pytest.raises(ImageError, match="PIL image"):
        preprocess_image(bad)


@pytest.mark.parametrize("size", [(0, 0), (0, 10), (10, 0)])
def test_empty_image_raises_image_error(size):
    with pytest.raises(ImageError, match="empty"):
        preprocess_image(Image.new("L", size))


def test_huge_image_is_fast():
    img = draw_glyph(Image.new("L", (6000, 6000), 255), 1500, 1000, 3000, 0)
    start = time.perf_counter()
    x = preprocess_image(img)
    seconds = time.perf_counter() - start
    check_convention(x)
    assert cosine(x, preprocess_image(dataset_style())) > 0.8
    assert seconds < 2.0, f"preprocessing a 6000x6000 image took {seconds:.2f} s"


def test_palette_images_with_transparency():
    pal = canvas_style().convert("P")  # in memory: an RGBA palette, no 'transparency' key
    check_convention(preprocess_image(pal))
    buf = io.BytesIO()
    pal.save(buf, "PNG")  # from a file: an RGB palette and a 'transparency' (tRNS) entry
    with Image.open(io.BytesIO(buf.getvalue())) as reopened:
        check_convention(preprocess_image(reopened))


def test_input_image_is_not_modified():
    img = photo_style()
    before = np.asarray(img).copy()
    preprocess_image(img)
    assert np.array_equal(np.asarray(img), before) and img.size == (1200, 900)

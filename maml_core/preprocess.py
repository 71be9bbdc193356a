"""The single path from any image to the network's 28x28 input.

Convention (training data goes through this same function, so everything matches):
- polarity: ink = 1.0, paper = 0.0 (float32). Whatever the source colours, the background is
  taken to be the median colour of the image border, and ink is whatever differs from it
  (dark ink on white paper, white chalk on a blackboard, a coloured pen: all become ink = 1);
- transparency is composited onto the background first (canvas drawings are RGBA);
- framing: the ink's bounding box is centred in a square with a 10% margin on each side, then
  area-averaged down to 28x28 and scaled so the strongest pixel is 1. A drawing's position
  and size on the canvas therefore do not matter; neither do they for dataset images.
- an image with no ink (blank, or uniform) gives an all-zero tensor; `has_ink` tells.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

SIZE = 28
MARGIN = 0.10  # of the square side, on each side
WORK_SIZE = 256  # larger images are shrunk to this first (bounded time and memory)
INK_FLOOR = 0.25  # ink below this fraction of the full contrast is treated as paper noise


class ImageError(ValueError):
    """An image cannot be used; the message says why and what to do."""


def _to_gray(image: Image.Image) -> np.ndarray:
    """Float gray in [0, 1]; alpha composited over the border colour of the opaque pixels."""
    image = ImageOps.exif_transpose(image)
    # has_transparency_data also covers in-memory palette images with an RGBA palette (no info key)
    if image.mode in ("RGBA", "LA", "PA") or image.has_transparency_data:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:4]
        gray = rgba[..., :3].mean(-1, keepdims=True)
        opaque = alpha[..., 0] > 0.5
        # A transparent background means "paper": paper is the opposite of the ink's shade.
        if opaque.any() and not opaque.all():
            ink_shade = float(np.median(gray[..., 0][opaque]))
            paper = 1.0 if ink_shade < 0.5 else 0.0
        else:
            paper = 1.0
        return (gray * alpha + paper * (1 - alpha))[..., 0]
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def ink_map(image: Image.Image) -> np.ndarray:
    """Ink strength in [0, 1] at (shrunk) full resolution, paper = 0."""
    if image.width < 1 or image.height < 1:
        raise ImageError("the image is empty (0 pixels): upload or draw a character")
    if max(image.size) > WORK_SIZE:
        image = image.copy()
        image.thumbnail((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX)
    gray = _to_gray(image)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    diff = np.abs(gray - paper)
    full = float(np.percentile(diff, 99.9)) if diff.size else 0.0
    if full < 0.15:  # no visible contrast: nothing drawn
        return np.zeros_like(gray)
    ink = np.clip(diff / full, 0.0, 1.0)
    ink[ink < INK_FLOOR] = 0.0
    return ink


def preprocess_image(image: Image.Image) -> Tensor:
    """Any image (Omniglot PNG, RGBA canvas drawing, photo of ink on paper, any size or colour)
    -> float tensor (1, 28, 28), ink = 1, paper = 0, the character centred with a 10% margin."""
    if not isinstance(image, Image.Image):
        raise ImageError(f"expected a PIL image, got {type(image).__name__}")
    ink = ink_map(image)
    rows, cols = np.nonzero(ink)
    if rows.size == 0:
        return torch.zeros(1, SIZE, SIZE)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    h, w = bottom - top, right - left
    side = int(np.ceil(max(h, w) / (1 - 2 * MARGIN)))
    canvas = np.zeros((side, side), dtype=np.float32)
    oy, ox = (side - h) // 2, (side - w) // 2
    canvas[oy:oy + h, ox:ox + w] = ink[top:bottom, left:right]
    small = Image.fromarray(canvas).resize((SIZE, SIZE), Image.Resampling.BOX)
    out = np.asarray(small, dtype=np.float32)
    peak = out.max()
    if peak > 0:
        out = out / peak
    return torch.from_numpy(out.copy()).unsqueeze(0)


def has_ink(x: Tensor) -> bool:
    """Whether a preprocessed tensor holds any ink."""
    return bool(x.abs().sum() > 0)

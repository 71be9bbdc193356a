"""Images in for the Omniglot pages: an upload or a canvas drawing -> the network's 28 x 28 input, each failure an
`InputError` whose message says what to do (a damaged or hostile file never reaches a user as a traceback)."""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from maml_core import has_ink, preprocess_image

MAX_UPLOAD_MB = 10
MAX_PIXELS = 40_000_000  # 40 MP: a phone photo is ~12 MP; beyond this decoding alone costs too much memory
WORK_SIZE = 1024  # uploads are shrunk to this right after decoding (preprocessing works at 256 pixels anyway)


class InputError(ValueError):
    """An input image cannot be used; the message says why and what to do (shown as is)."""


# ---------------------------------------------------------------------------------------------
# Input: uploads and drawings -> the network's 28x28 input
# ---------------------------------------------------------------------------------------------

def read_upload(name: str, data: bytes, *, max_mb: float = MAX_UPLOAD_MB, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an uploaded file into a PIL image, refusing anything unsafe or unusable.

    Checks, in this order and before any pixel is decoded: size in bytes, that the header is an
    image Pillow knows, and the pixel count it declares (`Image.open` is lazy). Animated or
    multi-page files give their first frame. Raises `InputError` with a message for the user.
    """
    size_mb = len(data) / 2**20
    if len(data) == 0:
        raise InputError(f"“{name}” is empty (0 bytes): upload a picture of one character.")
    if size_mb > max_mb:
        raise InputError(f"“{name}” is {size_mb:.1f} MB; pictures are limited to {max_mb:g} MB. "
                         "Crop it to the character or save it smaller, then upload it again.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise InputError(f"“{name}” declares an enormous image (over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                         "megapixels) and was refused without decoding: a decompression bomb, or a damaged file. "
                         "Upload an ordinary picture.") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise InputError(f"“{name}” is not an image this app can read: upload a PNG, JPEG, GIF, BMP or WebP "
                         "picture of one character.") from e
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(f"“{name}” is {width:,} x {height:,} pixels ({width * height / 1e6:.0f} megapixels); "
                         f"the limit is {max_pixels / 1e6:.0f} megapixels. Crop it to the character or shrink it.")
    if width < 1 or height < 1:
        raise InputError(f"“{name}” has no pixels ({width} x {height}): upload a picture of one character.")
    try:
        image.seek(0)
        if image.format == "JPEG":  # decode a big photo at a fraction of its size: faster, far less memory
            image.draft(image.mode, (WORK_SIZE, WORK_SIZE))
        image.load()
        if max(image.size) > WORK_SIZE:  # keep one small copy; the full-size pixels are freed right away
            image.thumbnail((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise InputError(f"“{name}” could not be decoded: the file looks damaged or truncated "
                         f"({type(e).__name__}). Save it again and upload the new copy.") from e
    return image


def image_from_drawing(value: object) -> Image.Image:
    """A canvas drawing as a PIL image. Accepts PNG bytes (what the canvas sends) or an RGBA/RGB/gray
    uint8 array (H, W[, C]) (what tests inject)."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            image = Image.open(io.BytesIO(bytes(value)))
            image.load()
            return image
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise InputError("the drawing could not be read back from the canvas: clear it and draw again.") from e
    if isinstance(value, np.ndarray):
        arr = value
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
            raise InputError(f"a drawing must be an image array (H, W, 4), got shape {value.shape}")
        return Image.fromarray(arr)
    raise InputError(f"unexpected drawing data of type {type(value).__name__}: clear the canvas and draw again.")


def to_network_input(image: Image.Image, what: str) -> Tensor:
    """`preprocess_image` (1, 28, 28), refusing an image with no visible character."""
    x = preprocess_image(image)
    if not has_ink(x):
        raise InputError(f"{what} shows no character (it is blank or one flat colour): draw the character, "
                         "or upload a picture with dark strokes on a light background.")
    return x


def fingerprint(*parts: object) -> str:
    """A short stable hash of tensors, arrays, bytes and plain values (detects changed inputs)."""
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, Tensor):
            h.update(p.detach().contiguous().numpy().tobytes())
        elif isinstance(p, np.ndarray):
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, (bytes, bytearray)):
            h.update(bytes(p))
        else:
            h.update(repr(p).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


def preview_png(image: Image.Image, size: int) -> bytes:
    """An uploaded picture shrunk onto a white square of `size` pixels (shown in place of the canvas)."""
    im = image.copy()
    im.thumbnail((size, size), Image.Resampling.BILINEAR)
    if im.mode in ("RGBA", "LA", "PA", "P"):
        im = im.convert("RGBA")
    square = Image.new("RGBA", (size, size), "white")
    square.alpha_composite(im.convert("RGBA"), ((size - im.width) // 2, (size - im.height) // 2))
    buf = io.BytesIO()
    square.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


# Measured on all 4,840 drawings of our 242 characters after preprocessing: ink covers 12% of the 28 x 28 input on
# average, 22% at the 99th percentile, 33.2% at most. A photo of noise or texture covers 36-48%.
MAX_INK = 0.34


def texture_warning(x: Tensor) -> str | None:
    """A note when an input looks like a photo or texture rather than a character (more ink than any Omniglot
    drawing); None for anything character-like. The input is still used: this only says what it is."""
    ink = float(x.mean())
    if ink <= MAX_INK:
        return None
    return (f"This looks like a photo or texture, not a character: ink covers {ink:.0%} of the network's 28×28 "
            "input (Omniglot characters: at most 33%). It is used as is; for a fair test, use one character on "
            "plain paper.")


def load_upload(name: str, data: bytes, what: str, preview_size: int) -> tuple[Tensor, bytes]:
    """An uploaded file -> (network input (1, 28, 28), preview PNG). Every failure is an `InputError`
    with a specific message; nothing else escapes (a malformed file can make Pillow raise anything)."""
    image = read_upload(name, data)
    try:
        x = to_network_input(image, f"“{name}” ({what})")
        return x, preview_png(image, preview_size)
    except InputError:
        raise
    except Exception as e:  # a damaged file must never reach the user as a traceback
        raise InputError(f"“{name}” could not be processed ({type(e).__name__}): the file looks damaged; "
                         "save it again, or draw the character instead.") from e

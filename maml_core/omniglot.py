"""Omniglot (Lake et al., 2015): read the official zip archives, split, sample N-way K-shot episodes.

The loader reads whichever official archives are in `data_dir`: the full `images_background.zip`
(964 characters) and `images_evaluation.zip` (659), and/or the small `images_background_small1.zip`
and `images_background_small2.zip` (242 distinct characters together). Characters found in more
than one archive (Greek and Latin are in both small ones) are kept once. Every image is decoded
once, through `preprocess_image`, and kept as one uint8 tensor.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from .config import OmniglotTaskConfig
from .heads import fit
from .preprocess import preprocess_image
from .tasks import Episode

log = logging.getLogger(__name__)

# The dataset's official location (brendenlake/omniglot, folder python/) and md5 sums.
OFFICIAL_URL = "https://github.com/brendenlake/omniglot/raw/master/python/"
ARCHIVES: dict[str, str] = {
    "images_background.zip": "68d2efa1b9178cc56df9314c21c6e718",
    "images_evaluation.zip": "6b91aef0f799c5bb55b94e3f2daec811",
    "images_background_small1.zip": "e704a628b5459e08445c13499850abc4",
    "images_background_small2.zip": "b75a71a51d3b13f821f212756fe481fd",
}
FULL_ARCHIVES = ("images_background.zip", "images_evaluation.zip")
DRAWINGS = 20  # per character
_PNG = re.compile(r"(?:^|/)images_[a-z_0-9]+/([^/]+)/(character\d+)/([^/]+\.png)$")


class DataError(RuntimeError):
    """Omniglot data is missing or damaged; the message says how to get it."""


@dataclass(frozen=True)
class OmniglotData:
    """Decoded characters: images (C, 20, 1, 28, 28) uint8 (ink = 255); names[c] = 'Alphabet/characterNN'."""

    images: Tensor
    names: tuple[str, ...]

    @property
    def alphabets(self) -> tuple[str, ...]:
        return tuple(n.split("/")[0] for n in self.names)

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, idx: list[int]) -> OmniglotData:
        return OmniglotData(self.images[idx], tuple(self.names[i] for i in idx))

    def float_images(self) -> Tensor:
        return self.images.float() / 255.0


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(data_dir: str | Path, names: tuple[str, ...] = FULL_ARCHIVES, *, base_url: str = OFFICIAL_URL,
             timeout: float = 60.0) -> list[Path]:
    """Download the official archives into `data_dir` and check their md5 sums.

    Archives already present with the right checksum are kept. A file whose checksum does not
    match is deleted and `DataError` raised (retry, or download it by hand into `data_dir`).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names:
        if name not in ARCHIVES:
            raise DataError(f"unknown Omniglot archive {name!r}: choose from {', '.join(ARCHIVES)}")
        target = data_dir / name
        if target.exists() and md5(target) == ARCHIVES[name]:
            done.append(target)
            continue
        partial = target.with_suffix(".zip.part")
        url = base_url.rstrip("/") + "/" + name
        log.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(partial, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except OSError as e:
            partial.unlink(missing_ok=True)
            raise DataError(f"could not download {url}: {e}. Check the internet connection, or put "
                            f"{name} into {data_dir} by hand.") from e
        got = md5(partial)
        if got != ARCHIVES[name]:
            partial.unlink(missing_ok=True)
            raise DataError(f"{name} downloaded from {url} has md5 {got}, expected {ARCHIVES[name]}: "
                            "the download is damaged; try again.")
        partial.replace(target)
        done.append(target)
    return done


def find_archives(data_dir: str | Path) -> list[Path]:
    data_dir = Path(data_dir)
    return [data_dir / n for n in ARCHIVES if (data_dir / n).is_file()]


def load_omniglot(data_dir: str | Path, *, download_missing: bool = False, cache_dir: str | Path | None = None,
                  base_url: str = OFFICIAL_URL) -> OmniglotData:
    """Every distinct character in the official archives found in `data_dir`.

    With `download_missing`, fetch the full archives first if no archive is there. With
    `cache_dir`, the decoded tensor is saved there and reused (keyed by the archives' sizes).
    """
    data_dir = Path(data_dir)
    archives = find_archives(data_dir)
    if not archives and download_missing:
        archives = download(data_dir, base_url=base_url)
    if not archives:
        raise DataError(f"no Omniglot archive in {data_dir.resolve()}: put images_background.zip and "
                        "images_evaluation.zip (or images_background_small1/2.zip) there, or download them "
                        "with `python -m maml_core download --data-dir DIR`.")
    key = hashlib.md5(";".join(f"{a.name}:{a.stat().st_size}" for a in archives).encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"omniglot_{key}.pt" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            blob = torch.load(cache, weights_only=True)
            return OmniglotData(blob["images"], tuple(blob["names"]))
        except Exception:  # a damaged cache is rebuilt
            log.warning("ignoring unreadable Omniglot cache %s", cache)
    data = _decode(archives)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": data.images, "names": list(data.names)}, cache)
    return data


def _decode(archives: list[Path]) -> OmniglotData:
    files: dict[str, dict[str, tuple[Path, str]]] = {}
    for archive in archives:
        try:
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    m = _PNG.search(member)
                    if m:
                        files.setdefault(f"{m.group(1)}/{m.group(2)}", {}).setdefault(m.group(3), (archive, member))
        except zipfile.BadZipFile as e:
            raise DataError(f"{archive} is not a readable zip archive ({e}): delete it and download it again.") from e
    names = sorted(n for n, d in files.items() if len(d) >= DRAWINGS)
    skipped = len(files) - len(names)
    if skipped:
        log.warning("skipped %d characters with fewer than %d drawings", skipped, DRAWINGS)
    if not names:
        raise DataError(f"no character with {DRAWINGS} drawings found in {', '.join(map(str, archives))}: "
                        "are these the official Omniglot archives?")
    images = torch.empty(len(names), DRAWINGS, 1, 28, 28, dtype=torch.uint8)
    handles: dict[Path, zipfile.ZipFile] = {}
    try:
        for c, name in enumerate(names):
            for d, drawing in enumerate(sorted(files[name])[:DRAWINGS]):
                archive, member = files[name][drawing]
                if archive not in handles:
                    handles[archive] = zipfile.ZipFile(archive)
                z = handles[archive]
                with Image.open(io.BytesIO(z.read(member))) as im:
                    images[c, d] = (preprocess_image(im) * 255).round().to(torch.uint8)
    finally:
        for z in handles.values():
            z.close()
    return OmniglotData(images, tuple(names))


def split(data: OmniglotData, config: OmniglotTaskConfig) -> dict[str, OmniglotData]:
    """Train / val / test by character (the paper's protocol) or by alphabet (no evaluation
    character comes from a training alphabet), with `config.split_fractions` and `split_seed`."""
    g = torch.Generator().manual_seed(config.split_seed)
    f_train, f_val, _ = config.split_fractions
    if config.split == "character":
        order = torch.randperm(len(data), generator=g).tolist()
        n_train, n_val = round(f_train * len(data)), round(f_val * len(data))
        parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    else:
        alphabets = sorted(set(data.alphabets))
        if len(alphabets) < 3:
            raise DataError(f"a split by alphabet needs at least 3 alphabets, the data has {len(alphabets)}")
        order = [alphabets[i] for i in torch.randperm(len(alphabets), generator=g).tolist()]
        count = {a: data.alphabets.count(a) for a in alphabets}
        want_test, want_val = (1 - f_train - f_val) * len(data), f_val * len(data)
        test, val = [], []
        while order and (sum(count[a] for a in test) < want_test) and len(order) > 2:
            test.append(order.pop())
        while order and (sum(count[a] for a in val) < want_val) and len(order) > 1:
            val.append(order.pop())
        group = {**{a: "test" for a in test}, **{a: "val" for a in val}}
        parts = {"train": [], "val": [], "test": []}
        for i, a in enumerate(data.alphabets):
            parts[group.get(a, "train")].append(i)
    return {k: data.subset(sorted(v)) for k, v in parts.items()}


# Koch, Zemel & Salakhutdinov, "Siamese Neural Networks for One-shot Image Recognition" (ICML 2015
# Deep Learning Workshop), section 3.3: each of rotation, shear, scale and shift is applied with
# probability 1/2. Shifts are in pixels of our 28 x 28 images.
AFFINE_ROTATION_DEG = 10.0
AFFINE_SHEAR = 0.3
AFFINE_SCALE = (0.8, 1.2)
AFFINE_SHIFT_PX = 2.0


def random_affine(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random affine distortions of images (B, 1, H, W), one draw per image (Koch et al. 2015):
    rotation within +-10 degrees, shear within +-0.3, scale 0.8-1.2 per axis, shift within +-2 px,
    each applied with probability 1/2. Ink stays in [0, 1] (bilinear; paper = 0 fills the border)."""
    b, _, h, w = x.shape
    u = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    on = lambda: (u(b) < 0.5).float()  # noqa: E731
    theta = math.radians(AFFINE_ROTATION_DEG) * (2 * u(b) - 1) * on()
    shear = AFFINE_SHEAR * (2 * u(b, 2) - 1) * on()[:, None]
    lo, hi = AFFINE_SCALE
    scale = 1 + ((lo + (hi - lo) * u(b, 2)) - 1) * on()[:, None]
    shift = AFFINE_SHIFT_PX * (2 * u(b, 2) - 1) * on()[:, None] * torch.tensor([2 / w, 2 / h])
    cos, sin = torch.cos(theta), torch.sin(theta)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    shr = torch.eye(2).repeat(b, 1, 1)
    shr[:, 0, 1], shr[:, 1, 0] = shear[:, 0], shear[:, 1]
    a = rot @ shr @ torch.diag_embed(scale)
    grid = F.affine_grid(torch.cat([a, shift[:, :, None]], -1), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp_(0, 1)


def character_and_turns(cls: int | Tensor, n_characters: int) -> tuple[int | Tensor, int | Tensor]:
    """A rotation class's character and quarter turns (ints or tensors alike): with rotations, class c is
    character c % C turned 90 * (c // C) degrees, so classes 0..C-1 are the characters as drawn."""
    return cls % n_characters, cls // n_characters


def class_images(images: Tensor, classes: Tensor, draws: Tensor) -> Tensor:
    """Drawings of rotation classes (`character_and_turns`) from `images` (C, 20, 1, 28, 28): `draws[..., j]` of
    class `classes[...]`, where draws has the shape of classes or one more dimension; each image is turned as its
    class says. Returns draws.shape + (1, 28, 28), a new tensor (the OmniglotTasks episodes and the transfer
    baseline's batches both come from here)."""
    chars, turns = character_and_turns(classes, images.shape[0])
    x = images[chars if draws.dim() == classes.dim() else chars[..., None], draws]
    for r in (1, 2, 3):
        mask = turns == r
        if mask.any():
            x[mask] = torch.rot90(x[mask], r, dims=(-2, -1))
    return x


class OmniglotTasks:
    """N-way K-shot episodes with Q queries per class from a set of characters.

    With `rotations`, each character at 0/90/180/270 degrees is a separate class (the paper's
    augmentation for meta-training; leave it off for evaluation). With `augment`, every drawing
    also gets a random affine distortion (`random_affine`; training only).
    """

    def __init__(self, data: OmniglotData, n_way: int = 5, k_shot: int = 1, n_query: int = 1,
                 rotations: bool = False, augment: bool = False) -> None:
        self.augment = augment
        self.images = data.float_images()  # (C, 20, 1, 28, 28)
        self.names = data.names
        self.n_way, self.k_shot, self.n_query, self.rotations = n_way, k_shot, n_query, rotations
        self.n_classes = len(data) * (4 if rotations else 1)
        if self.n_classes < n_way:
            raise DataError(f"{n_way}-way episodes need at least {n_way} classes, but this split has "
                            f"{self.n_classes}: use fewer ways, or more data (the full archives).")
        if k_shot + n_query > DRAWINGS:
            raise DataError(f"shots + queries ({k_shot + n_query}) exceed the {DRAWINGS} drawings per character")

    def class_name(self, cls: int) -> str:
        c, r = character_and_turns(cls, len(self.names))
        return self.names[c] + (f" (rotated {90 * r} deg)" if r else "")

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Episode:
        n, k, q = self.n_way, self.k_shot, self.n_query
        classes = torch.rand(batch, self.n_classes, generator=generator).argsort(-1)[:, :n]  # (B, N)
        draws = torch.rand(batch, n, DRAWINGS, generator=generator).argsort(-1)[..., :k + q]  # (B, N, K+Q)
        x = class_images(self.images, classes, draws)  # (B, N, K+Q, 1, 28, 28)
        if self.augment:
            x = random_affine(x.reshape(-1, 1, 28, 28), generator).reshape(x.shape)
        labels = torch.arange(n)
        sx = x[:, :, :k].reshape(batch, n * k, 1, 28, 28)
        qx = x[:, :, k:].reshape(batch, n * q, 1, 28, 28)
        sy = labels.repeat_interleave(k).expand(batch, -1).contiguous()
        qy = labels.repeat_interleave(q).expand(batch, -1).contiguous()
        return Episode(sx, sy, qx, qy, n, k, q, classes=classes)


def fit_head(params: dict[str, Tensor], n_way: int) -> dict[str, Tensor]:
    """An N-way network from a checkpoint with another number of outputs: `maml_core.heads.fit`."""
    return fit(params, n_way)

"""maml_core.omniglot on small synthetic archives with the official layout (built here), an offline
download from a loopback HTTP server, splits, episodes; and the real archives when MAML_DATA_DIR is set."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_omniglot
from PIL import Image, ImageDraw

from maml_core import DataError, OmniglotTaskConfig, OmniglotTasks, download, load_omniglot, preprocess_image, split
from maml_core import omniglot as omniglot_module

# ---------------------------------------------------------------------------------------------
# Synthetic archives: images_background_small1/<Alphabet>/characterNN/<id>_<drawer>.png,
# 105x105 mode '1', black ink on white, 20 drawers per character.
# ---------------------------------------------------------------------------------------------


def glyph_png(seed: int, drawer: int) -> bytes:
    """A random 3-stroke glyph (fixed per `seed`), jittered a little per drawer."""
    rng = np.random.default_rng(seed)
    strokes = rng.uniform(15, 90, size=(3, 3, 2))
    jitter = np.random.default_rng(seed * 100 + drawer).normal(0, 1.5, size=strokes.shape)
    img = Image.new("1", (105, 105), 1)
    d = ImageDraw.Draw(img)
    for s in strokes + jitter:
        d.line([tuple(p) for p in s], fill=0, width=3)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def write_archive(path: Path, characters: dict[str, int], seed_offset: int = 0) -> Path:
    """characters: {'Alphabet/characterNN': number of drawings}. The glyph depends on the name only
    (plus `seed_offset`), so the same character in two archives is the same drawing unless offset."""
    root = path.stem  # e.g. images_background_small1
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{root}/", "")
        for name, n in characters.items():
            alphabet, char = name.split("/")
            seed = int(hashlib.md5(name.encode()).hexdigest()[:6], 16)
            z.writestr(f"{root}/{alphabet}/{char}/", "")
            for drawer in range(1, n + 1):  # same file names in both archives, as in the official ones
                z.writestr(f"{root}/{alphabet}/{char}/{seed % 9000 + 100:04d}_{drawer:02d}.png",
                           glyph_png(seed + seed_offset, drawer))
    return path


SMALL1 = {"Greek/character01": 20, "Greek/character02": 20, "Latin/character01": 20, "Latin/character02": 20,
          "Balinese/character01": 20, "Balinese/character02": 19}  # the last one is incomplete
SMALL2 = {"Greek/character01": 20, "Greek/character02": 20, "Korean/character01": 20, "Korean/character02": 20}


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("omniglot")
    write_archive(d / "images_background_small1.zip", SMALL1)
    # Greek in small2 is drawn differently: the loader must keep the copy from the first archive only
    write_archive(d / "images_background_small2.zip", SMALL2, seed_offset=7)
    return d


def test_load_two_archives_dedupes_and_skips_incomplete(archives, caplog):
    with caplog.at_level(logging.WARNING, logger="maml_core.omniglot"):
        data = load_omniglot(archives)
    assert data.names == ("Balinese/character01", "Greek/character01", "Greek/character02", "Korean/character01",
                          "Korean/character02", "Latin/character01", "Latin/character02")
    assert "fewer than 20" in caplog.text  # Balinese/character02 has 19 drawings
    assert data.images.shape == (7, 20, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.alphabets == ("Balinese", "Greek", "Greek", "Korean", "Korean", "Latin", "Latin")
    # every drawing decoded through the same preprocess_image path as the app's input, ink = 255
    with zipfile.ZipFile(archives / "images_background_small1.zip") as z:
        first = sorted(n for n in z.namelist() if "/Greek/character01/" in n and n.endswith(".png"))[0]
        expected = (preprocess_image(Image.open(io.BytesIO(z.read(first)))) * 255).round().to(torch.uint8)
    assert torch.equal(data.images[1, 0], expected)
    assert data.images.amax(dim=(2, 3, 4)).min() == 255  # every drawing has ink
    assert data.images[:, :, :, 0, :].max() == 0  # paper (the margin) is 0
    # different characters differ; drawings of one character are similar
    f = data.float_images().flatten(2)
    same = torch.nn.functional.cosine_similarity(f[1, 0], f[1, 1], dim=0)
    other = torch.nn.functional.cosine_similarity(f[1, 0], f[4, 0], dim=0)
    assert same > other


def test_duplicate_character_comes_from_the_first_archive(archives, tmp_path):
    only_small1 = tmp_path / "one"
    only_small1.mkdir()
    (only_small1 / "images_background_small1.zip").write_bytes((archives / "images_background_small1.zip").read_bytes())
    only_small2 = tmp_path / "two"
    only_small2.mkdir()
    (only_small2 / "images_background_small2.zip").write_bytes((archives / "images_background_small2.zip").read_bytes())
    both, one, two = load_omniglot(archives), load_omniglot(only_small1), load_omniglot(only_small2)
    greek = both.names.index("Greek/character01")
    assert torch.equal(both.images[greek], one.images[one.names.index("Greek/character01")])
    assert not torch.equal(both.images[greek], two.images[two.names.index("Greek/character01")])


def test_cache_dir_round_trip(archives, tmp_path):
    first = load_omniglot(archives, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("omniglot_*.pt"))) == 1
    again = load_omniglot(archives, cache_dir=tmp_path / "cache")
    assert again.names == first.names and torch.equal(again.images, first.images)
    # a damaged cache file is rebuilt, not fatal
    next((tmp_path / "cache").glob("omniglot_*.pt")).write_bytes(b"garbage")
    assert load_omniglot(archives, cache_dir=tmp_path / "cache").names == first.names


def test_corrupt_zip_raises_data_error(tmp_path):
    (tmp_path / "images_background_small1.zip").write_bytes(b"PK\x03\x04 this is not really a zip" * 10)
    with pytest.raises(DataError, match="images_background_small1.zip.*not a readable zip"):
        load_omniglot(tmp_path)


@pytest.mark.parametrize("exists", [False, True], ids=["missing-dir", "empty-dir"])
def test_no_archives_raises_data_error_saying_what_to_do(tmp_path, exists):
    d = tmp_path / "nowhere"
    if exists:
        d.mkdir()
    with pytest.raises(DataError) as e:
        load_omniglot(d)
    msg = str(e.value)
    assert str(d) in msg and "images_background.zip" in msg and "download" in msg


def test_archive_without_complete_characters_raises_data_error(tmp_path):
    write_archive(tmp_path / "images_background_small1.zip", {"Greek/character01": 5})
    with pytest.raises(DataError, match="no character with 20 drawings"):
        load_omniglot(tmp_path)


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------

def test_split_by_character_is_disjoint_with_the_right_fractions():
    data = synthetic_omniglot(n_chars=40, n_alphabets=5)
    parts = split(data, OmniglotTaskConfig(split="character"))  # 0.65 / 0.15 / 0.20
    assert [len(parts[k]) for k in ("train", "val", "test")] == [26, 6, 8]
    names = [set(parts[k].names) for k in ("train", "val", "test")]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    assert set().union(*names) == set(data.names)
    # images travel with their names
    for part in parts.values():
        for i, n in enumerate(part.names):
            assert torch.equal(part.images[i], data.images[data.names.index(n)])
    # deterministic per seed, different across seeds
    assert split(data, OmniglotTaskConfig())["test"].names == parts["test"].names
    assert split(data, OmniglotTaskConfig(split_seed=1))["test"].names != parts["test"].names


def test_split_by_alphabet_keeps_alphabets_whole():
    data = synthetic_omniglot(n_chars=60, n_alphabets=10)
    parts = split(data, OmniglotTaskConfig(split="alphabet"))
    alphabets = {k: set(v.alphabets) for k, v in parts.items()}
    assert all(alphabets.values())
    assert not (alphabets["train"] & alphabets["val"]) and not (alphabets["train"] & alphabets["test"])
    assert not (alphabets["val"] & alphabets["test"])
    assert sum(len(v) for v in parts.values()) == 60
    # roughly the requested fractions (whole alphabets of 6 characters: within one alphabet)
    assert abs(len(parts["test"]) - 0.20 * 60) <= 6 and abs(len(parts["val"]) - 0.15 * 60) <= 6


def test_split_by_alphabet_needs_three_alphabets():
    with pytest.raises(DataError, match="at least 3 alphabets"):
        split(synthetic_omniglot(n_chars=10, n_alphabets=2), OmniglotTaskConfig(split="alphabet"))


# ---------------------------------------------------------------------------------------------
# Episodes
# ---------------------------------------------------------------------------------------------

def test_episode_shapes_and_labels(omniglot_data):
    tasks = OmniglotTasks(omniglot_data, n_way=5, k_shot=2, n_query=3)
    e = tasks.sample(4, torch.Generator().manual_seed(0))
    assert e.support_x.shape == (4, 10, 1, 28, 28) and e.query_x.shape == (4, 15, 1, 28, 28)
    assert e.support_y.shape == (4, 10) and e.query_y.shape == (4, 15)
    assert e.support_y.dtype == torch.int64
    assert e.support_y[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert e.query_y[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert (e.n_way, e.k_shot, e.n_query) == (5, 2, 3)
    assert e.classes.shape == (4, 5)
    assert all(len(set(row.tolist())) == 5 for row in e.classes)  # N distinct classes per task
    assert 0.0 <= e.support_x.min() and e.support_x.max() <= 1.0
    images = omniglot_data.float_images()
    for b in range(4):
        for label in range(5):
            drawings = images[e.classes[b, label]]  # (20, 1, 28, 28)
            picked = torch.cat([e.support_x[b, e.support_y[b] == label], e.query_x[b, e.query_y[b] == label]])
            idx = [next(i for i in range(20) if torch.equal(drawings[i], p)) for p in picked]
            assert len(set(idx)) == 5  # support and query use different drawings of that class


def test_rotations_are_extra_classes(omniglot_data):
    tasks = OmniglotTasks(omniglot_data, n_way=20, k_shot=1, n_query=1, rotations=True)
    assert tasks.n_classes == 4 * 30
    e = tasks.sample(8, torch.Generator().manual_seed(1))
    images = omniglot_data.float_images()
    rotated = 0
    for b in range(8):
        for label in range(20):
            cls = e.classes[b, label].item()
            char, r = cls % 30, cls // 30
            expected = torch.rot90(images[char], r, dims=(-2, -1))  # (20, 1, 28, 28)
            x = e.support_x[b, label]
            assert any(torch.equal(x, expected[i]) for i in range(20)), (b, label, cls)
            rotated += r > 0
            if r:
                assert "rotated" in tasks.class_name(cls)
    assert rotated > 0


def test_episode_errors(omniglot_data):
    with pytest.raises(DataError, match="at least 40 classes"):
        OmniglotTasks(omniglot_data, n_way=40)
    with pytest.raises(DataError, match="exceed the 20 drawings"):
        OmniglotTasks(omniglot_data, n_way=5, k_shot=15, n_query=6)


# ---------------------------------------------------------------------------------------------
# Download, offline: a loopback HTTP server
# ---------------------------------------------------------------------------------------------

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path, archives, monkeypatch):
    """Serves a folder holding images_background_small1.zip on 127.0.0.1 (ephemeral port)."""
    served = tmp_path / "served"
    served.mkdir()
    for name in ("images_background_small1.zip", "images_background_small2.zip"):
        (served / name).write_bytes((archives / name).read_bytes())
    (served / "images_background_small2.zip").rename(served / "images_evaluation.zip")
    (served / "images_background.zip").write_bytes((served / "images_background_small1.zip").read_bytes())
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_download_checks_md5(server, tmp_path, monkeypatch):
    served, url = server
    name = "images_background_small1.zip"
    monkeypatch.setitem(omniglot_module.ARCHIVES, name, omniglot_module.md5(served / name))
    dest = tmp_path / "dest"
    [path] = download(dest, (name,), base_url=url)
    assert path == dest / name and path.read_bytes() == (served / name).read_bytes()
    assert not list(dest.glob("*.part"))
    assert load_omniglot(dest).names[0] == "Balinese/character01"
    # already present with the right checksum: kept, not downloaded again
    (served / name).unlink()
    assert download(dest, (name,), base_url=url) == [path]


def test_download_md5_mismatch_removes_the_partial_file(server, tmp_path, monkeypatch):
    _, url = server
    name = "images_background_small1.zip"
    monkeypatch.setitem(omniglot_module.ARCHIVES, name, "0" * 32)
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="md5"):
        download(dest, (name,), base_url=url)
    assert list(dest.iterdir()) == []


def test_download_http_404_raises_data_error(server, tmp_path):
    _, url = server
    with pytest.raises(DataError, match="could not download .*images_background_small2.zip"):
        download(tmp_path / "dest", ("images_background_small2.zip",), base_url=url)
    assert list((tmp_path / "dest").iterdir()) == []


def test_download_unknown_archive_name(tmp_path):
    with pytest.raises(DataError, match="unknown Omniglot archive"):
        download(tmp_path, ("omniglot.zip",))


def test_load_with_download_missing_fetches_the_full_archives(server, tmp_path, monkeypatch):
    served, url = server
    for name in ("images_background.zip", "images_evaluation.zip"):
        monkeypatch.setitem(omniglot_module.ARCHIVES, name, omniglot_module.md5(served / name))
    data = load_omniglot(tmp_path / "data", download_missing=True, base_url=url)
    assert (tmp_path / "data" / "images_background.zip").is_file()
    assert (tmp_path / "data" / "images_evaluation.zip").is_file()
    assert "Korean/character01" in data.names and "Latin/character01" in data.names


# ---------------------------------------------------------------------------------------------
# The real archives (CI: MAML_DATA_DIR=../shared/omniglot)
# ---------------------------------------------------------------------------------------------

@pytest.mark.data
@pytest.mark.timeout(300)
def test_real_small_archives(real_data_dir):
    data = load_omniglot(real_data_dir)
    assert len(data) == 242 and len(set(data.alphabets)) == 8
    assert data.images.shape == (242, 20, 1, 28, 28)
    assert data.images.float().mean() / 255 < 0.3  # mostly paper (0), some ink
    parts = split(data, OmniglotTaskConfig())
    assert [len(parts[k]) for k in ("train", "val", "test")] == [157, 36, 49]
    e = OmniglotTasks(parts["test"], 5, 1, 5).sample(2, torch.Generator().manual_seed(0))
    assert e.query_x.shape == (2, 25, 1, 28, 28)


def test_random_affine_keeps_shape_and_ink_range_and_moves_the_ink(omniglot_data):
    from maml_core.omniglot import random_affine

    x = omniglot_data.float_images()[:8, 0]  # (8, 1, 28, 28), ink 1 on paper 0
    y = random_affine(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    changed = [(y[i] - x[i]).abs().sum() > 1.0 for i in range(8)]
    assert 0 < sum(changed) <= 8  # each distortion is applied with probability 1/2: most images move
    z = random_affine(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, z)  # reproducible from the generator


def test_augmented_episodes_only_when_asked(omniglot_data):
    plain = OmniglotTasks(omniglot_data, 5, 1, 1).sample(2, torch.Generator().manual_seed(0))
    again = OmniglotTasks(omniglot_data, 5, 1, 1).sample(2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(plain.support_x, again.support_x)
    aug = OmniglotTasks(omniglot_data, 5, 1, 1, augment=True).sample(2, torch.Generator().manual_seed(0))
    assert aug.support_x.shape == plain.support_x.shape
    assert not torch.equal(aug.support_x, plain.support_x)
    assert float(aug.support_x.min()) >= 0 and float(aug.support_x.max()) <= 1


def test_fit_head_widens_only_a_head_whose_rows_are_all_the_same():
    from maml_core.omniglot import fit_head

    zero = {"head.weight": torch.zeros(5, 3), "head.bias": torch.zeros(5), "f": torch.ones(2)}
    wide = fit_head(zero, 20)
    assert wide["head.weight"].shape == (20, 3) and wide["head.bias"].shape == (20,) and wide["f"] is zero["f"]
    assert fit_head(zero, 3)["head.weight"].shape == (3, 3)
    learned = {"head.weight": torch.randn(5, 3), "head.bias": torch.zeros(5)}
    with pytest.raises(ValueError, match="choose at most 5 ways"):
        fit_head(learned, 20)


def test_paired_script_measures_every_method_on_the_same_wider_episodes(tmp_path, monkeypatch):
    """scripts/paired.py at more ways than the networks were trained with (their zero heads widen): each method's
    mean is its per-episode mean, and each pair's difference is the difference of the two (same episodes)."""
    from benchmarks.harness import quick_omniglot_checkpoints
    from scripts import paired

    monkeypatch.setattr(paired, "ASSETS", quick_omniglot_checkpoints(tmp_path))
    data = synthetic_omniglot(120)  # 24 test characters: enough for 8-way episodes
    r = paired.measure(data, tasks=6, ways=8)
    assert r["ways"] == 8 and r["tasks"] == 6 and set(r["methods"]) == {"maml", "fomaml", "transfer"}
    assert all(m["trained_ways"] == 5 for m in r["methods"].values())
    for p in r["pairs"]:
        a, b = r["methods"][p["a"]]["accuracy"], r["methods"][p["b"]]["accuracy"]
        assert p["difference"] == pytest.approx(a - b, abs=1e-6)
        assert p["better"] + p["equal"] + p["worse"] == 6
    assert "| MAML − Transfer learning |" in "\n".join(paired.rows(r))

"""maml_core.checkpoints: a round trip keeps everything; every kind of bad file raises CheckpointError
naming the file (and nothing in a file is ever executed)."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import pytest
import torch

from maml_core import (
    CheckpointError,
    adapt,
    build_model,
    default_config,
    get_params,
    load_checkpoint,
    predict,
    save_checkpoint,
)
from maml_core.checkpoints import FORMAT, VERSION, Headline, Metrics

MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "maml_core_test_pickle_ran"


class Evil:
    """Unpickling this would run code (create MARKER); weights_only loading must refuse it."""

    def __reduce__(self):
        return (Path.touch, (MARKER,))


HEADLINE = Headline("mse", 0.5, 0.05, 7, 0.02, 600, 1234, "test", 10)


def _sinusoid(tmp_path):
    torch.manual_seed(0)
    config = default_config("sinusoid", "fomaml", iterations=123)
    model = build_model(config.model)
    params = get_params(model)
    path = save_checkpoint(tmp_path / "sub" / "s.pt", config, params,
                           metrics=Metrics(inner_lr=0.02, eval_steps=7, headline=HEADLINE),
                           info={"command": "python -m maml_core train sinusoid", "iteration": 123})
    return path, config, model, params


def test_round_trip_sinusoid(tmp_path):
    path, config, model, params = _sinusoid(tmp_path)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))  # written atomically
    ckpt = load_checkpoint(path)
    assert ckpt.config == config
    assert ckpt.algo == "fomaml"
    assert set(ckpt.params) == set(params)
    for k in params:
        assert torch.equal(ckpt.params[k], params[k])
    assert ckpt.metrics == Metrics(inner_lr=0.02, eval_steps=7, headline=HEADLINE)
    assert ckpt.metrics.headline.describe() == "MSE 0.500 ± 0.050"
    assert ckpt.inner_lr == 0.02 and ckpt.eval_steps == 7
    assert ckpt.info["command"] == "python -m maml_core train sinusoid" and "torch" in ckpt.info["machine"]
    assert "FOMAML" in ckpt.describe() and "123 iterations" in ckpt.describe()
    x = torch.linspace(-5, 5, 50).reshape(-1, 1)
    assert torch.equal(predict(ckpt.model, ckpt.params, x), predict(model, params, x))
    assert torch.equal(ckpt.model(x), model(x))  # the module holds the weights too
    assert not any(p.requires_grad for p in ckpt.model.parameters())


def test_round_trip_omniglot_and_adaptation_does_not_modify_the_loaded_weights(tmp_path):
    config = default_config("omniglot", "maml", n_way=20, split="alphabet", iterations=5)
    model = build_model(config.model)
    path = save_checkpoint(tmp_path / "o.pt", config, get_params(model))
    ckpt = load_checkpoint(path)
    assert ckpt.config == config  # tuples (split_fractions, hidden) survive the round trip
    assert ckpt.config.omniglot.split_fractions == (0.65, 0.15, 0.20)
    assert ckpt.inner_lr == 0.1 and ckpt.eval_steps == config.eval_steps  # fall back to the config's
    before = {k: v.clone() for k, v in ckpt.params.items()}
    x = torch.rand(20, 1, 28, 28)
    adapted = adapt(ckpt.model, ckpt.params, x, torch.arange(20), steps=2, inner_lr=0.1)[-1]
    assert not torch.equal(adapted["head.weight"], ckpt.params["head.weight"])
    for k in before:
        assert torch.equal(ckpt.params[k], before[k])


def _bad_files(tmp_path):
    good, *_ = _sinusoid(tmp_path)
    blob = good.read_bytes()
    files = {}
    files["missing"] = tmp_path / "does_not_exist.pt"
    files["directory"] = tmp_path / "a_folder.pt"
    files["directory"].mkdir()
    files["truncated"] = tmp_path / "truncated.pt"
    files["truncated"].write_bytes(blob[: len(blob) // 2])
    files["random"] = tmp_path / "random.pt"
    files["random"].write_bytes(os.urandom(4096))
    files["empty"] = tmp_path / "empty.pt"
    files["empty"].write_bytes(b"")
    files["foreign"] = tmp_path / "foreign.pt"
    torch.save({"a": 1}, files["foreign"])
    files["state_dict"] = tmp_path / "state_dict.pt"
    torch.save(build_model(default_config().model).state_dict(), files["state_dict"])
    files["class_torch"] = tmp_path / "class_torch.pt"
    torch.save({"format": FORMAT, "evil": Evil()}, files["class_torch"])
    files["class_pickle"] = tmp_path / "class_pickle.pt"
    files["class_pickle"].write_bytes(pickle.dumps(Evil(), protocol=2))
    raw = torch.load(good, weights_only=True)
    files["newer"] = tmp_path / "newer.pt"
    torch.save({**raw, "version": VERSION + 1}, files["newer"])
    files["bad_config"] = tmp_path / "bad_config.pt"
    torch.save({**raw, "config": {"problem": "sinusoid", "no_such_field": 1}}, files["bad_config"])
    files["no_config"] = tmp_path / "no_config.pt"
    torch.save({k: v for k, v in raw.items() if k != "config"}, files["no_config"])
    files["wrong_shapes"] = tmp_path / "wrong_shapes.pt"
    torch.save({**raw, "params": {k: v[..., :1] for k, v in raw["params"].items()}}, files["wrong_shapes"])
    files["invalid_value"] = tmp_path / "invalid_value.pt"
    torch.save({**raw, "config": {**raw["config"], "inner_steps": -3}}, files["invalid_value"])
    return files


BAD = ["missing", "directory", "truncated", "random", "empty", "foreign", "state_dict", "class_torch",
       "class_pickle", "newer", "bad_config", "no_config", "wrong_shapes", "invalid_value"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_files_raise_checkpoint_error_naming_the_file(tmp_path, kind):
    MARKER.unlink(missing_ok=True)
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)
    assert "\n" not in str(e.value)  # one line, for the CLI and the app
    assert "weights_only" not in str(e.value)  # never torch's advice to load a file that could run code
    assert not MARKER.exists(), "loading a checkpoint ran code from the file"


def test_many_random_files_raise_checkpoint_error(tmp_path):
    """Random bytes make torch's unpickler raise IndexError, KeyError, ... (about 1 file in 15): all must be
    reported as CheckpointError."""
    path = tmp_path / "noise.pt"
    for seed in range(100):
        path.write_bytes(random.Random(seed).randbytes(2048))
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            load_checkpoint(path)


def test_the_pickle_fixture_would_run_code(tmp_path):
    """Guard for the test above: plain unpickling of the 'class' file does run code."""
    MARKER.unlink(missing_ok=True)
    try:
        pickle.loads(_bad_files(tmp_path)["class_pickle"].read_bytes())
        assert MARKER.exists()
    finally:
        MARKER.unlink(missing_ok=True)


def test_a_version_1_omniglot_checkpoint_loads_as_layer_norm_with_a_learned_head(tmp_path):
    """Checkpoints written before the normalisation was recorded used GroupNorm(1, C) and a free head."""
    import torch.nn.functional as F

    config = default_config("omniglot", "fomaml", norm="layer", head="learned")
    params = get_params(build_model(config.model))
    raw = config.to_dict()
    del raw["model"]["norm"], raw["model"]["head"], raw["omniglot"]["augment"]
    path = tmp_path / "v1.pt"
    torch.save({"format": FORMAT, "version": 1, "config": raw, "params": params, "metrics": {}, "info": {}}, path)
    ckpt = load_checkpoint(path)
    assert (ckpt.config.model.norm, ckpt.config.model.head, ckpt.config.omniglot.augment) == ("layer", "learned", False)
    x = torch.rand(3, 1, 28, 28)
    h = x
    for i in range(4):  # the version-1 network, written out with the library's group norm
        h = F.conv2d(h, params[f"features.{i}.conv.weight"], params[f"features.{i}.conv.bias"], stride=2, padding=1)
        h = torch.relu(F.group_norm(h, 1, params[f"features.{i}.norm.weight"], params[f"features.{i}.norm.bias"]))
    expected = F.linear(h.flatten(1), params["head.weight"], params["head.bias"])
    torch.testing.assert_close(predict(ckpt.model, ckpt.params, x), expected)


def test_metrics_without_chosen_settings_fall_back_to_the_training_config(tmp_path):
    config = default_config("omniglot", "fomaml")
    path = save_checkpoint(tmp_path / "o.pt", config, get_params(build_model(config.model)))
    ckpt = load_checkpoint(path)
    assert ckpt.metrics == Metrics() and ckpt.metrics.headline is None
    assert (ckpt.inner_lr, ckpt.eval_steps) == (config.inner_lr, config.eval_steps)
    acc = Headline("accuracy", 0.9234, 0.0071, 3, 0.4, 600)
    assert acc.describe() == "92.3% ± 0.7"


# --- checkpoints as bytes: a download from the app, and an upload (untrusted input) --------------------------------

def _upload_error(data: bytes, **kw) -> str:
    from maml_core.checkpoints import checkpoint_from_bytes

    MARKER.unlink(missing_ok=True)
    with pytest.raises(CheckpointError) as e:
        checkpoint_from_bytes(data, "my_run.pt", **kw)
    assert not MARKER.exists(), "loading an upload ran code from it"
    message = str(e.value)
    assert "\n" not in message and "weights_only" not in message and message.startswith("my_run.pt")
    return message


def test_a_checkpoint_as_bytes_round_trips_and_passes_the_upload_checks(tmp_path):
    from maml_core.checkpoints import checkpoint_bytes, checkpoint_from_bytes

    path, config, _, params = _sinusoid(tmp_path)
    data = checkpoint_bytes(config, params, metrics=Metrics(inner_lr=0.02, eval_steps=4), info={"iteration": 7})
    ckpt = checkpoint_from_bytes(data, "my_run.pt", model=default_config().model)
    assert ckpt.info["iteration"] == 7 and ckpt.inner_lr == 0.02 and ckpt.eval_steps == 4
    assert all(torch.equal(ckpt.params[k], v) for k, v in params.items())
    assert ckpt.info["machine"]  # self-describing, as a file written by save_checkpoint


def test_uploads_are_refused_with_what_is_wrong_and_what_to_do(tmp_path):
    from maml_core.checkpoints import checkpoint_bytes

    path, config, _, params = _sinusoid(tmp_path)
    good = checkpoint_bytes(config, params)
    mlp = default_config().model
    assert "is 0.11 MB, more than the 0.01 MB" in _upload_error(good + bytes(100_000), max_bytes=10_000)
    assert "is a text file (it begins 'x,y')" in _upload_error(b"x,y\n1,2\n", model=mlp)
    assert "is empty" in _upload_error(b"", model=mlp)
    assert "not a PyTorch file" in _upload_error(b"\x89PNG\r\n\x1a\n" + bytes(50), model=mlp)
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "evil": Evil()}, evil)
    assert "holds Python objects" in _upload_error(evil.read_bytes(), model=mlp)
    # a network other than the page's: refused before any network the file describes is built
    conv = checkpoint_bytes(default_config("omniglot", iterations=1), get_params(build_model(default_config(
        "omniglot").model)))
    assert ("describes a conv network (5 outputs, 64 channels, tasknorm_i); this page's model is the mlp network "
            "(1 output, hidden 40-40)") in _upload_error(conv, model=mlp)
    raw = torch.load(path, weights_only=True)

    def variant(**changes) -> bytes:
        path = tmp_path / "variant.pt"
        torch.save({**raw, **changes}, path)
        return path.read_bytes()

    half = {k: v.half() for k, v in raw["params"].items()}
    assert "net.0.weight has dtype float16, the page's model needs float32" in _upload_error(
        variant(params=half), model=mlp)
    extra = {**raw["params"], "hidden.bomb": torch.zeros(3)}
    assert "an unexpected tensor hidden.bomb" in _upload_error(variant(params=extra), model=mlp)
    missing = {k: v for k, v in raw["params"].items() if k != "net.0.weight"}
    assert "net.0.weight is missing" in _upload_error(variant(params=missing), model=mlp)
    shaped = {**raw["params"], "net.0.weight": torch.zeros(7, 1)}
    assert "net.0.weight has shape (7, 1), the page's model needs (40, 1)" in _upload_error(
        variant(params=shaped), model=mlp)
    assert "not a tensor" in _upload_error(variant(params={**raw["params"], "net.0.weight": [1.0]}), model=mlp)
    assert "a PyTorch file but not a maml_core checkpoint" in _upload_error(variant(format="other"), model=mlp)


def test_an_upload_that_unpacks_to_more_than_the_limit_is_refused_before_it_is_read(tmp_path):
    """A checkpoint is a zip archive: one whose entries claim to unpack past the limit is refused from its
    directory alone (a small file could otherwise expand in memory)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data/0", bytes(5_000_000))  # 5 MB of zeros deflate to a few KB
    data = buf.getvalue()
    assert len(data) < 50_000
    assert "unpacks to 5.0 MB, more than the 1 MB" in _upload_error(data, max_bytes=1_000_000)

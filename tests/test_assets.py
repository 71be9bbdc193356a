"""The shipped checkpoints: each loads, describes itself, and still reproduces the headline metric
recorded in it on a fixed-seed small evaluation (a broken checkpoint, loader or preprocessing fails here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from maml_core import adaptation_curves, load_checkpoint, load_omniglot, split, task_sampler

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SHIPPED = [
    "sinusoid_maml.pt", "sinusoid_fomaml.pt", "sinusoid_reptile.pt", "sinusoid_pretrain.pt",
    "omniglot_5w1s_maml.pt", "omniglot_5w1s_fomaml.pt", "omniglot_5w1s_transfer.pt", "omniglot_20w1s_maml.pt",
]
SMALL_TASKS = 100


@pytest.fixture(scope="module")
def real_omniglot():
    data_dir = os.environ.get("MAML_DATA_DIR")
    if not data_dir or not Path(data_dir).is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI must set MAML_DATA_DIR to the Omniglot archives (../shared/omniglot)")
        pytest.skip("set MAML_DATA_DIR to the Omniglot archives to check the Omniglot checkpoints")
    return load_omniglot(data_dir)


@pytest.mark.parametrize("name", SHIPPED)
def test_checkpoint_is_self_describing(name):
    ckpt = load_checkpoint(ASSETS / name)
    assert (ASSETS / name).stat().st_size < 1_000_000, "keep shipped checkpoints small"
    assert ckpt.info["command"].startswith("python -m maml_core train")
    assert ckpt.info["training_seconds"] > 0 and ckpt.info["machine"]
    h = ckpt.metrics.headline
    assert h.metric in ("accuracy", "mse") and h.tasks >= 600 and h.split == "test"
    assert ckpt.eval_steps == h.steps and ckpt.inner_lr == pytest.approx(h.inner_lr)
    algo = name.split("_")[-1].removesuffix(".pt")
    assert ckpt.config.algo == algo
    for v in ckpt.params.values():
        assert torch.isfinite(v).all()


@pytest.mark.parametrize("name", SHIPPED)
def test_headline_metric_reproduces(name, request):
    ckpt = load_checkpoint(ASSETS / name)
    h = ckpt.metrics.headline
    data = None
    if ckpt.config.problem == "omniglot":
        data = split(request.getfixturevalue("real_omniglot"), ckpt.config.omniglot)["test"]
    sampler = task_sampler(ckpt.config, data, k_shot=h.k_shot)
    # Same seed as the recorded 600-task evaluation: these are its first SMALL_TASKS tasks.
    curves = adaptation_curves(ckpt.model, ckpt.params, sampler, tasks=SMALL_TASKS, steps=h.steps,
                               inner_lr=h.inner_lr, seed=h.seed)
    value, ci = curves.headline(h.steps)
    if h.metric == "accuracy":
        assert abs(value - h.value) <= max(2 * ci, 0.03), (value, h)
    else:
        assert abs(value - h.value) <= max(2 * ci, 0.25 * h.value), (value, h)

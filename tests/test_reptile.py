"""Reptile (Nichol, Achiam & Schulman 2018) as a training algorithm: config, one outer step against a plain loop,
a short run that learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from maml_core import ConfigError, adaptation_curves, default_config, meta_train, task_sampler
from maml_core.training import Trainer, reptile_step_size


def test_the_config_has_the_authors_inner_loop_and_refuses_what_reptile_cannot_do():
    c = default_config("sinusoid", "reptile")
    assert (c.inner_steps, c.inner_lr, c.outer_step, c.meta_batch) == (5, 0.02, 1.0, 25)
    assert default_config("sinusoid", "maml").inner_steps == 1  # the others keep the paper's values
    with pytest.raises(ConfigError, match="outer step"):
        default_config("sinusoid", "reptile", outer_step=0.0)
    with pytest.raises(ConfigError, match="at least one inner step"):
        default_config("sinusoid", "reptile", inner_steps=0)
    with pytest.raises(ConfigError, match="not available for omniglot"):
        default_config("omniglot", "reptile")


def test_the_outer_step_is_annealed_linearly_to_zero():
    c = default_config("sinusoid", "reptile", iterations=100, outer_step=0.5)
    assert reptile_step_size(c, 1) == 0.5
    assert reptile_step_size(c, 51) == pytest.approx(0.25)
    assert reptile_step_size(c, 100) == pytest.approx(0.005)


def test_one_reptile_step_equals_a_plain_loop_over_tasks():
    c = default_config("sinusoid", "reptile", iterations=10, meta_batch=3, inner_steps=4, inner_lr=0.03,
                       outer_step=0.7, seed=5)
    trainer = Trainer(c)
    theta = {k: v.detach().clone() for k, v in trainer.params.items()}
    batch = task_sampler(c, training=True).sample(3, torch.Generator().manual_seed(5))  # the trainer's first draw
    trainer.step()
    expected = {k: torch.zeros_like(v) for k, v in theta.items()}
    for i in range(3):
        x = torch.cat([batch.support_x[i], batch.query_x[i]])
        y = torch.cat([batch.support_y[i], batch.query_y[i]])
        p = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
        for _ in range(4):
            g = torch.autograd.grad(F.mse_loss(functional_call(trainer.model, p, (x,)), y), list(p.values()))
            p = {k: (v - 0.03 * gi).detach().requires_grad_(True) for (k, v), gi in zip(p.items(), g)}
        for k in theta:
            expected[k] += (p[k].detach() - theta[k]) / 3
    for k, v in theta.items():
        assert torch.allclose(trainer.params[k], v + 0.7 * expected[k], atol=1e-6), k


def test_a_short_reptile_run_learns_a_start_that_adapts():
    c = default_config("sinusoid", "reptile", iterations=300, seed=0)
    before = Trainer(c)
    sampler = task_sampler(c)
    start = adaptation_curves(before.model, {k: v.detach() for k, v in before.params.items()}, sampler, tasks=100,
                              steps=5, inner_lr=0.02, seed=7).query_loss[0][5]
    result = meta_train(c)
    after = adaptation_curves(result.model, result.params, sampler, tasks=100, steps=5, inner_lr=0.02,
                              seed=7).query_loss[0][5]
    assert after < 0.8 * start, (start, after)
    assert len(result.history) == 3 and all(row["meta_loss"] > 0 for row in result.history)


def test_the_cli_trains_reptile_and_records_it(tmp_path):
    from maml_core import load_checkpoint
    from maml_core.cli import main

    out = tmp_path / "r.pt"
    assert main(["train", "sinusoid", "--algo", "reptile", "--iterations", "5", "--meta-batch", "2",
                 "--outer-step", "0.5", "--eval-tasks", "5", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.algo == "reptile" and ckpt.config.outer_step == 0.5 and ckpt.config.inner_steps == 5
    assert "--algo reptile" in ckpt.info["command"]

"""Held-out evaluation: which tasks a seed gives, and adapting several draws of them in one call."""

from __future__ import annotations

import torch

from maml_core import ModelConfig, SinusoidTasks, build_model, get_params
from maml_core.algorithm import adapt_curves
from maml_core.evaluation import EVAL_SEED, _joined, task_curves


def test_draws_adapted_together_give_each_draws_own_curves_bit_for_bit():
    model = build_model(ModelConfig(), seed=0)
    params = get_params(model)
    sampler = SinusoidTasks()
    joined = task_curves(model, params, sampler, tasks=130, steps=3, inner_lr=0.01, chunk=50)
    g = torch.Generator().manual_seed(EVAL_SEED)
    alone = [adapt_curves(model, params, sampler.sample(n, g), steps=3, inner_lr=0.01) for n in (50, 50, 30)]
    assert set(joined) == {"support_loss", "query_loss"}
    for k, v in joined.items():
        assert v.shape == (130, 4)
        assert torch.equal(v, torch.cat([a[k] for a in alone])), k


def test_only_draws_within_the_budget_are_joined_and_in_their_order():
    g = torch.Generator().manual_seed(0)
    draws = [SinusoidTasks().sample(50, g) for _ in range(3)]  # 50 tasks x (10 + 10) points: 1,000 inputs each
    two = _joined(draws, 2000)
    assert [len(e.support_x) for e in two] == [100, 50]
    assert torch.equal(two[0].query_y, torch.cat([draws[0].query_y, draws[1].query_y]))
    assert torch.equal(two[0].phase, torch.cat([draws[0].phase, draws[1].phase]))
    assert [e is d for e, d in zip(_joined(draws, 999), draws)] == [True, True, True]  # each alone, as drawn

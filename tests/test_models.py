"""maml_core.models: pinned sizes, shapes, and predictions that never depend on the batch."""

from __future__ import annotations

import pytest
import torch

from maml_core import (
    ModelConfig,
    OmniglotConvNet,
    SinusoidMLP,
    adapt,
    build_model,
    count_params,
    default_config,
    get_params,
    predict,
)


def test_pinned_parameter_counts():
    # 1-40-40-1: (1*40 + 40) + (40*40 + 40) + (40*1 + 1) = 80 + 1640 + 41 = 1761
    assert count_params(SinusoidMLP()) == 1761
    # conv 1->64: 576 + 64, norm 128; three conv 64->64: 3 * (36864 + 64 + 128); head 256*N + N
    assert count_params(OmniglotConvNet(5)) == 113_221
    assert count_params(OmniglotConvNet(20)) == 113_221 + 15 * 257
    assert count_params(build_model(default_config("sinusoid").model)) == 1761
    assert count_params(build_model(default_config("omniglot", n_way=20).model)) == 117_076


def test_output_shapes():
    assert SinusoidMLP()(torch.zeros(7, 1)).shape == (7, 1)
    assert OmniglotConvNet(5)(torch.zeros(3, 1, 28, 28)).shape == (3, 5)
    assert OmniglotConvNet(20)(torch.zeros(1, 1, 28, 28)).shape == (1, 20)


def test_build_model_rejects_unknown_kind():
    with pytest.raises(ValueError, match="mlp"):
        build_model(ModelConfig(kind="transformer"))  # type: ignore[arg-type]


def test_get_params_is_a_detached_copy():
    model = SinusoidMLP()
    params = get_params(model)
    assert list(params) == [k for k, _ in model.named_parameters()]
    assert not any(v.requires_grad for v in params.values())
    params["net.0.weight"].add_(1.0)
    assert not torch.equal(params["net.0.weight"], model.net[0].weight)


def test_predict_uses_the_given_state_not_the_module_weights():
    torch.manual_seed(0)
    model = SinusoidMLP()
    x = torch.linspace(-5, 5, 11).reshape(-1, 1)
    zero = {k: torch.zeros_like(v) for k, v in get_params(model).items()}
    assert torch.equal(predict(model, zero, x), torch.zeros(11, 1))
    torch.testing.assert_close(predict(model, get_params(model), x), model(x))


@pytest.mark.parametrize("adapted", [False, True])
def test_omniglot_prediction_is_batch_independent(adapted):
    """One drawing's logits are the same alone or beside others (per-example normalisation)."""
    torch.manual_seed(0)
    model = OmniglotConvNet(5)
    params = get_params(model)
    if adapted:
        support_x = (torch.rand(5, 1, 28, 28) > 0.7).float()
        params = adapt(model, params, support_x, torch.arange(5), steps=3, inner_lr=0.05)[-1]
        assert not torch.equal(params["head.weight"], get_params(model)["head.weight"])
    x = torch.rand(9, 1, 28, 28)
    x[4] *= 10  # a very different neighbour must not change the others
    batched = predict(model, params, x)
    for i in range(9):
        alone = predict(model, params, x[i:i + 1])
        torch.testing.assert_close(alone, batched[i:i + 1], atol=1e-5, rtol=0)
    # and a batch-statistics network would fail the same check: guard that the check can fail
    bn = torch.nn.BatchNorm1d(5)
    assert not torch.allclose(bn(batched)[:1], bn(batched[:2])[:1], atol=1e-5)

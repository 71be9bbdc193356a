"""maml_core.models: pinned sizes, shapes, and predictions that never depend on the batch."""

from __future__ import annotations

import math

import pytest
import torch

from maml_core import (
    ModelConfig,
    OmniglotConvNet,
    OmniglotTasks,
    SinusoidMLP,
    SupportSetError,
    adapt,
    build_model,
    count_params,
    default_config,
    get_params,
    meta_loss_and_grad,
    predict,
)
from maml_core.models import Norm2d, call


def test_pinned_parameter_counts():
    # 1-40-40-1: (1*40 + 40) + (40*40 + 40) + (40*1 + 1) = 80 + 1640 + 41 = 1761
    assert count_params(SinusoidMLP()) == 1761
    # conv 1->64: 576 + 64, norm 128; three conv 64->64: 3 * (36864 + 64 + 128); head 256*N + N
    assert count_params(OmniglotConvNet(5, norm="layer")) == 113_221
    assert count_params(OmniglotConvNet(20, norm="layer")) == 113_221 + 15 * 257
    # TaskNorm-I adds a scale and an offset per normalisation layer (4 layers)
    assert count_params(OmniglotConvNet(5)) == 113_221 + 8
    assert count_params(build_model(default_config("sinusoid").model)) == 1761
    assert count_params(build_model(default_config("omniglot", n_way=20).model)) == 117_076 + 8


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


@pytest.mark.parametrize("hidden", [(40, 40), (7,), (5, 6, 4)])
def test_mlp_functional_forward_is_functional_call_bit_for_bit(hidden):
    # `call` runs the MLP's own pure forward: it must be the module's forward exactly, values, gradients and vmap
    from torch.func import functional_call, grad, vmap

    model = SinusoidMLP(hidden)
    params = {k: torch.randn_like(v) for k, v in get_params(model).items()}
    x = torch.randn(3, 11, 1)
    assert torch.equal(call(model, params, x[0]), functional_call(model, params, (x[0],)))
    assert torch.equal(vmap(lambda xi: call(model, params, xi))(x),
                       vmap(lambda xi: functional_call(model, params, (xi,)))(x))
    ours = grad(lambda p: call(model, p, x[0]).square().sum())(params)
    theirs = grad(lambda p: functional_call(model, p, (x[0],)).square().sum())(params)
    assert all(torch.equal(ours[k], theirs[k]) for k in params)
    params["net.0.bias"] = params["net.0.bias"] + 1.0  # the given weights, not the module's, decide the output
    assert not torch.equal(call(model, params, x[0]), model(x[0]))


def test_predict_uses_the_given_state_not_the_module_weights():
    torch.manual_seed(0)
    model = SinusoidMLP()
    x = torch.linspace(-5, 5, 11).reshape(-1, 1)
    zero = {k: torch.zeros_like(v) for k, v in get_params(model).items()}
    assert torch.equal(predict(model, zero, x), torch.zeros(11, 1))
    torch.testing.assert_close(predict(model, get_params(model), x), model(x))


INDEPENDENT = ["tasknorm_i", "metabn", "instance", "layer"]


def _support_and_queries():
    torch.manual_seed(0)
    support_x = (torch.rand(5, 1, 28, 28) > 0.7).float()
    x = torch.rand(9, 1, 28, 28)
    x[4] *= 10  # a very different neighbour must not change the others
    return support_x, x


@pytest.mark.parametrize("norm", INDEPENDENT)
@pytest.mark.parametrize("adapted", [False, True])
def test_prediction_is_batch_independent(norm, adapted):
    """One drawing's logits are the same alone or beside other queries, for every non-transductive norm."""
    support_x, x = _support_and_queries()
    model = build_model(ModelConfig(kind="conv", n_out=5, norm=norm, head="learned"))
    params = get_params(model)
    if adapted:
        params = adapt(model, params, support_x, torch.arange(5), steps=3, inner_lr=0.05)[-1]
        assert not torch.equal(params["head.weight"], get_params(model)["head.weight"])
    batched = predict(model, params, x, support_x=support_x)
    for i in range(9):
        alone = predict(model, params, x[i:i + 1], support_x=support_x)
        torch.testing.assert_close(alone, batched[i:i + 1], atol=1e-5, rtol=0)


def test_transductive_batch_norm_depends_on_the_batch():
    """The paper's batch norm fails the same check, so the check can fail."""
    support_x, x = _support_and_queries()
    model = build_model(ModelConfig(kind="conv", n_out=5, norm="transductive_bn", head="learned"))
    params = get_params(model)
    batched = predict(model, params, x)
    assert not torch.allclose(predict(model, params, x[:1]), batched[:1], atol=1e-3)


@pytest.mark.parametrize("norm", ["tasknorm_i", "metabn"])
def test_task_normalised_prediction_depends_on_the_support_set(norm):
    support_x, x = _support_and_queries()
    model = build_model(ModelConfig(kind="conv", n_out=5, norm=norm, head="learned"))
    params = get_params(model)
    other = torch.rand(5, 1, 28, 28)
    mine = predict(model, params, x, support_x=support_x)
    assert not torch.allclose(mine, predict(model, params, x, support_x=other))
    with pytest.raises(SupportSetError, match="support_x="):
        predict(model, params, x)


@pytest.mark.parametrize("norm", ["instance", "layer"])
def test_per_example_norms_ignore_the_support_set(norm):
    support_x, x = _support_and_queries()
    model = build_model(ModelConfig(kind="conv", n_out=5, norm=norm, head="learned"))
    params = get_params(model)
    torch.testing.assert_close(predict(model, params, x), predict(model, params, x, support_x=support_x))


def test_tasknorm_i_by_hand():
    """TaskNorm-I on a tiny tensor: 1 channel, a 2-example support set of 1x2 maps and one query.

    support rows [0, 2] and [4, 6]: mean 3, variance (9 + 1 + 1 + 9) / 4 = 5 (biased).
    query row [1, 3]: instance mean 2, instance variance 1.
    a = sigmoid(scale * 2 + offset) with scale = 0.5, offset = -1: sigmoid(0) = 1/2.
    mu = (3 + 2) / 2 = 2.5;  var = (5 + 0.5^2) / 2 + (1 + 0.5^2) / 2 = 2.625 + 0.625 = 3.25.
    query out = ([1, 3] - 2.5) / sqrt(3.25 + 1e-5) * weight + bias, with weight 2 and bias 1.
    """
    norm = Norm2d(1, "tasknorm_i")
    with torch.no_grad():
        norm.scale.fill_(0.5)
        norm.offset.fill_(-1.0)
        norm.weight.fill_(2.0)
        norm.bias.fill_(1.0)
    x = torch.tensor([[0.0, 2.0], [4.0, 6.0], [1.0, 3.0]]).reshape(3, 1, 1, 2)
    out = norm(x, n_context=2)[2].flatten()
    expected = (torch.tensor([1.0, 3.0]) - 2.5) / math.sqrt(3.25 + 1e-5) * 2 + 1
    torch.testing.assert_close(out, expected)


def test_a_meta_gradient_reaches_the_tasknorm_blend(omniglot_data):
    model = build_model(ModelConfig(kind="conv", n_out=5, norm="tasknorm_i", head="learned"))
    batch = OmniglotTasks(omniglot_data, 5, 1, 2).sample(4, torch.Generator().manual_seed(0))
    for first_order in (True, False):
        _, grads, _ = meta_loss_and_grad(model, get_params(model), batch, steps=1, inner_lr=0.4,
                                         first_order=first_order)
        for i in range(4):
            for k in ("scale", "offset"):
                g = grads[f"features.{i}.norm.{k}"]
                assert torch.isfinite(g) and g.abs() > 0, (first_order, i, k)


@pytest.mark.parametrize("head", ["zero", "shared"])
@pytest.mark.parametrize("norm", ["tasknorm_i", "layer"])
def test_step_zero_is_chance(head, norm, omniglot_data):
    """Before any inner step every class gets 1/N for every query (the zeroing trick or a shared head)."""
    model = build_model(ModelConfig(kind="conv", n_out=5, norm=norm, head=head))
    params = get_params(model)
    task = OmniglotTasks(omniglot_data, 5, 1, 3).sample(1, torch.Generator().manual_seed(0)).task(0)
    p = predict(model, params, task.query_x, support_x=task.support_x).softmax(-1)
    torch.testing.assert_close(p, torch.full_like(p, 0.2))
    learned = build_model(ModelConfig(kind="conv", n_out=5, norm=norm, head="learned"))
    q = predict(learned, get_params(learned), task.query_x, support_x=task.support_x).softmax(-1)
    assert (q - 0.2).abs().max() > 0.01  # the paper's head does favour some classes: the check can fail


@pytest.mark.parametrize("problem, over", [("sinusoid", {}), ("omniglot", {"head": "zero"}),
                                           ("omniglot", {"head": "shared"}), ("omniglot", {"head": "learned"}),
                                           ("omniglot", {"norm": "metabn"}), ("omniglot", {"norm": "layer"})])
def test_a_seeded_model_has_the_weights_of_a_seeded_global_rng_and_leaves_it_alone(problem, over):
    config = default_config(problem, **over).model
    torch.manual_seed(11)
    expected = get_params(build_model(config))
    state = torch.get_rng_state()
    seeded = get_params(build_model(config, seed=11))
    assert torch.equal(torch.get_rng_state(), state)
    assert list(seeded) == list(expected)
    assert all(torch.equal(seeded[k], expected[k]) for k in expected)


def test_seeded_refuses_a_layer_it_cannot_initialise():
    from maml_core.models import seeded

    with pytest.raises(TypeError, match="no initialisation rule for 1 .Bilinear."):
        seeded(lambda: torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Bilinear(2, 2, 2)), 0)

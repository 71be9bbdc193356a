"""maml_core.algorithm: hand-derived numbers, the vectorised path against a plain loop, and what
first-order MAML must (and must not) change."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maml_core import (
    LEARNED,
    Episode,
    OmniglotConvNet,
    OmniglotTasks,
    SinusoidMLP,
    SinusoidTasks,
    adapt,
    adapt_curves,
    get_params,
    meta_loss_and_grad,
    meta_loss_loop,
    predict,
)
from maml_core.algorithm import LR_PREFIX, head_names, initial_rates
from maml_core.config import SinusoidTaskConfig


class Scale(nn.Module):
    """f(x) = w * x with a single parameter w."""

    def __init__(self, w: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return self.w * x


def t(*values):
    """A (1, 1) float tensor per value, batched along a leading task dimension."""
    return torch.tensor(values, dtype=torch.float64).reshape(len(values), 1, 1)


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().double().requires_grad_() for k, v in model.named_parameters()}


# ---------------------------------------------------------------------------------------------
# 1. Numbers derived by hand
# ---------------------------------------------------------------------------------------------

# Model f(x) = w x, w = 0.5, alpha = 0.1, MSE on single points: L(w) = (w x - y)^2, dL/dw = 2 x (w x - y).
# Task 1: support (x, y) = (2, 3), query (1, 2).
#   inner gradient      2 * 2 * (0.5*2 - 3)   = -8
#   adapted weight   w' = 0.5 - 0.1 * (-8)    = 1.3
#   dw'/dw            = 1 - 2 * alpha * x_s^2 = 1 - 0.8 = 0.2
#   query loss          (1.3*1 - 2)^2         = 0.49
#   dL_q/dw'          = 2 * 1 * (1.3 - 2)     = -1.4
#   second-order meta-gradient  -1.4 * 0.2    = -0.28;  first-order (dw'/dw taken as 1): -1.4
# Task 2: support (1, 0), query (1, 0).
#   inner gradient      2 * 1 * (0.5 - 0) = 1;  w' = 0.5 - 0.1 = 0.4;  dw'/dw = 1 - 0.2 = 0.8
#   query loss          0.4^2 = 0.16;  dL_q/dw' = 2 * 0.4 = 0.8
#   second-order 0.8 * 0.8 = 0.64;  first-order 0.8
# The meta-loss is the mean over tasks: loss (0.49 + 0.16) / 2 = 0.325,
#   second-order gradient (-0.28 + 0.64) / 2 = 0.18, first-order (-1.4 + 0.8) / 2 = -0.3.
# Query losses before adaptation: (0.5 - 2)^2 = 2.25 and 0.5^2 = 0.25, mean 1.25.
SCALE_BATCH = Episode(t(2.0, 1.0), t(3.0, 0.0), t(1.0, 1.0), t(2.0, 0.0))


def test_one_inner_step_by_hand():
    model = Scale(0.5)
    p = params_of(model)
    states = adapt(model, p, SCALE_BATCH.support_x[0], SCALE_BATCH.support_y[0], steps=1, inner_lr=0.1)
    assert len(states) == 2 and states[0] is p
    assert states[1]["w"].item() == pytest.approx(1.3)
    assert predict(model, states[1], torch.tensor([[1.0]], dtype=torch.float64)).item() == pytest.approx(1.3)


@pytest.mark.parametrize("first_order, expected_grad", [(False, 0.18), (True, -0.3)])
def test_meta_gradient_by_hand(first_order, expected_grad):
    model = Scale(0.5)
    loss, grads, logged = meta_loss_and_grad(model, params_of(model), SCALE_BATCH, steps=1, inner_lr=0.1,
                                             first_order=first_order)
    assert loss.item() == pytest.approx(0.325)
    assert grads["w"].item() == pytest.approx(expected_grad)
    assert logged.shape == (2, 2)
    assert logged[0].tolist() == pytest.approx([1.25, 0.325])


def test_two_inner_steps_by_hand():
    # Task 1 again, a second step from w' = 1.3:
    #   inner gradient 2 * 2 * (1.3*2 - 3) = -1.6;  w'' = 1.3 + 0.16 = 1.46
    #   dw''/dw = (1 - 2 alpha x_s^2)^2 = 0.2^2 = 0.04
    #   query loss (1.46 - 2)^2 = 0.2916;  dL_q/dw'' = 2 * (1.46 - 2) = -1.08
    #   second-order -1.08 * 0.04 = -0.0432; first-order -1.08
    model = Scale(0.5)
    batch = Episode(t(2.0), t(3.0), t(1.0), t(2.0))
    states = adapt(model, params_of(model), batch.support_x[0], batch.support_y[0], steps=2, inner_lr=0.1)
    assert [s["w"].item() for s in states] == pytest.approx([0.5, 1.3, 1.46])
    for first_order, expected in ((False, -0.0432), (True, -1.08)):
        loss, grads, _ = meta_loss_and_grad(model, params_of(model), batch, steps=2, inner_lr=0.1,
                                            first_order=first_order)
        assert loss.item() == pytest.approx(0.2916)
        assert grads["w"].item() == pytest.approx(expected)


def test_linear_layer_by_hand():
    # f(x) = a x + b with a = 1, b = 0.5 (nn.Linear(1, 1)); alpha = 0.1; support (1, 0); query (2, 1).
    #   support residual r = 1*1 + 0.5 - 0 = 1.5;  dL/da = 2 r x = 3;  dL/db = 2 r = 3
    #   a' = 1 - 0.3 = 0.7;  b' = 0.5 - 0.3 = 0.2
    #   Jacobian of (a', b') w.r.t. (a, b):  da'/da = 1 - 2 alpha x^2 = 0.8   da'/db = -2 alpha x = -0.2
    #                                         db'/da = -2 alpha x = -0.2      db'/db = 1 - 2 alpha = 0.8
    #   query residual 0.7*2 + 0.2 - 1 = 0.6;  loss 0.36;  dL_q/da' = 2*0.6*2 = 2.4;  dL_q/db' = 2*0.6 = 1.2
    #   second-order: d/da = 2.4*0.8 + 1.2*(-0.2) = 1.68;  d/db = 2.4*(-0.2) + 1.2*0.8 = 0.48
    #   first-order:  (2.4, 1.2)
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.5)
    batch = Episode(t(1.0), t(0.0), t(2.0), t(1.0))
    states = adapt(model, params_of(model), batch.support_x[0], batch.support_y[0], steps=1, inner_lr=0.1)
    assert states[1]["weight"].item() == pytest.approx(0.7)
    assert states[1]["bias"].item() == pytest.approx(0.2)
    for first_order, (ga, gb) in ((False, (1.68, 0.48)), (True, (2.4, 1.2))):
        loss, grads, _ = meta_loss_and_grad(model, params_of(model), batch, steps=1, inner_lr=0.1,
                                            first_order=first_order)
        assert loss.item() == pytest.approx(0.36)
        assert grads["weight"].item() == pytest.approx(ga)
        assert grads["bias"].item() == pytest.approx(gb)


# ---------------------------------------------------------------------------------------------
# 2. The vectorised path equals the plain per-task loop
# ---------------------------------------------------------------------------------------------

def _sinusoid_case():
    torch.manual_seed(0)
    model = SinusoidMLP()
    batch = SinusoidTasks(SinusoidTaskConfig(k_shot=10, n_query=10)).sample(5, torch.Generator().manual_seed(1))
    return model, batch, 0.01


def _omniglot_case(omniglot_data):
    torch.manual_seed(0)
    model = OmniglotConvNet(5, norm="layer")
    batch = OmniglotTasks(omniglot_data, 5, 1, 1, rotations=True).sample(3, torch.Generator().manual_seed(2))
    return model, batch, 0.4


@pytest.mark.parametrize("problem, at_once", [("sinusoid", True), ("sinusoid", False), ("omniglot", None)])
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("first_order", [False, True])
def test_vmap_equals_loop(problem, at_once, steps, first_order, omniglot_data):
    model, batch, lr = _sinusoid_case() if problem == "sinusoid" else _omniglot_case(omniglot_data)
    params = {k: v.requires_grad_() for k, v in get_params(model).items()}
    loss, grads, logged = meta_loss_and_grad(model, params, batch, steps=steps, inner_lr=lr, first_order=first_order,
                                             tasks_at_once=at_once)
    ref = meta_loss_loop(model, params, batch, steps=steps, inner_lr=lr, first_order=first_order)
    ref_grads = dict(zip(params, torch.autograd.grad(ref, list(params.values()))))
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-5, atol=1e-6)
    assert logged[0, -1].item() == pytest.approx(ref.item(), rel=1e-5)
    for k in params:
        scale = ref_grads[k].abs().max().item()
        assert scale > 0, k  # every parameter gets a meta-gradient
        torch.testing.assert_close(grads[k], ref_grads[k], rtol=1e-4, atol=1e-5 * max(scale, 1.0), msg=k)


@pytest.mark.parametrize("steps", [0, 1, 3])
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("learned", [False, True])
@pytest.mark.parametrize("logging", ["every step", "last step", "step weights"])
def test_tasks_at_once_equals_vmap(steps, first_order, learned, logging):
    """The sinusoid MLP's default meta-gradient (every task's weights along one dimension, plain autograd) against
    the `grad(vmap(...))` form, for every option that changes the inner loop or the objective."""
    model, batch, lr = _sinusoid_case()
    params = get_params(model)
    if learned:
        params.update(initial_rates(params, 3, 0.02))
        params = {k: v + 0.01 * torch.arange(v.numel()).reshape(v.shape) if k.startswith(LR_PREFIX) else v
                  for k, v in params.items()}  # a different rate per step, so a wrong step index shows
    weights = torch.tensor([0.0] + [1.0 / max(steps, 1)] * steps) if logging == "step weights" else None
    kwargs = dict(steps=steps, inner_lr=LEARNED if learned else lr, first_order=first_order,
                  track_steps=logging == "every step", step_weights=weights)
    loss, grads, logged = meta_loss_and_grad(model, params, batch, tasks_at_once=True, **kwargs)
    ref_loss, ref_grads, ref_logged = meta_loss_and_grad(model, params, batch, tasks_at_once=False, **kwargs)
    assert meta_loss_and_grad(model, params, batch, **kwargs)[0].item() == loss.item()  # the default form
    assert grads.keys() == ref_grads.keys() and logged.shape == ref_logged.shape
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(logged, ref_logged, rtol=1e-6, atol=1e-7)
    for k in grads:
        torch.testing.assert_close(grads[k], ref_grads[k], rtol=1e-5, atol=1e-6, msg=k)
    assert any(ref_grads[k].abs().max() > 0 for k in ref_grads if k.startswith(LR_PREFIX)) == (learned and steps > 0)


@pytest.mark.parametrize("learned", [False, True])
def test_adapt_curves_tasks_at_once_equals_vmap(learned):
    """Test-time curves of the sinusoid MLP (every task's weights along one dimension, plain autograd, the default)
    against the vmap form: support and query losses at every step, fixed and learned per-step rates."""
    model, batch, lr = _sinusoid_case()
    params = get_params(model)
    if learned:
        params.update({k: v * torch.tensor([0.5, 1.0, 2.0]) for k, v in initial_rates(params, 3, 0.02).items()})
    kwargs = dict(steps=3, inner_lr=LEARNED if learned else lr)
    ours = adapt_curves(model, params, batch, **kwargs)
    forced = adapt_curves(model, params, batch, tasks_at_once=True, **kwargs)
    assert torch.equal(ours["query_loss"], forced["query_loss"])  # the default form
    ref = adapt_curves(model, params, batch, tasks_at_once=False, **kwargs)
    assert ours.keys() == ref.keys() == {"support_loss", "query_loss"}
    for k in ref:
        assert ours[k].shape == ref[k].shape == (batch.support_x.shape[0], 4)
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-5, atol=1e-6, msg=k)
    assert (ref["query_loss"][:, -1] < ref["query_loss"][:, 0]).float().mean() > 0.5  # it adapted
    with pytest.raises(ValueError, match="only="):
        adapt_curves(model, params, batch, tasks_at_once=True, only=head_names(model), **kwargs)
    for form in (True, False):
        with pytest.raises(ValueError, match="steps must be >= 0, got -1"):
            adapt_curves(model, params, batch, steps=-1, inner_lr=lr, tasks_at_once=form)


def test_tasks_at_once_refuses_what_it_cannot_do(omniglot_data):
    model, batch, _ = _omniglot_case(omniglot_data)
    with pytest.raises(ValueError, match="tasks_forward"):
        meta_loss_and_grad(model, get_params(model), batch, steps=1, inner_lr=0.4, tasks_at_once=True)
    assert meta_loss_and_grad(model, get_params(model), batch, steps=1, inner_lr=0.4)[0] > 0  # the default: vmap
    mlp, sine, _ = _sinusoid_case()
    classes = Episode(sine.support_x, sine.support_y.long(), sine.query_x, sine.query_y.long())
    with pytest.raises(ValueError, match="regression"):
        meta_loss_and_grad(mlp, get_params(mlp), classes, steps=1, inner_lr=0.01, tasks_at_once=True)
    with pytest.raises(ValueError, match="tasks_forward"):
        adapt_curves(model, get_params(model), batch, steps=1, inner_lr=0.4, tasks_at_once=True)
    with pytest.raises(ValueError, match="regression"):
        adapt_curves(mlp, get_params(mlp), classes, steps=1, inner_lr=0.01, tasks_at_once=True)


@pytest.mark.parametrize("norm", ["tasknorm_i", "metabn", "instance", "transductive_bn"])
def test_vmap_equals_loop_for_every_normalisation(norm, omniglot_data):
    """Second-order, two steps: the hardest case, for each normalisation (layer norm is covered above). In
    float64: instance norm's second-order gradients differ by 6e-5 (relative) between the two paths in float32,
    by 1e-13 in float64, so the paths compute the same thing."""
    torch.manual_seed(0)
    model = OmniglotConvNet(5, norm=norm).double()
    b = OmniglotTasks(omniglot_data, 5, 1, 2, rotations=True).sample(3, torch.Generator().manual_seed(2))
    batch = Episode(b.support_x.double(), b.support_y, b.query_x.double(), b.query_y, 5, 1, 2)
    params = {k: v.requires_grad_() for k, v in get_params(model).items()}
    loss, grads, _ = meta_loss_and_grad(model, params, batch, steps=2, inner_lr=0.4)
    ref = meta_loss_loop(model, params, batch, steps=2, inner_lr=0.4)
    ref_grads = dict(zip(params, torch.autograd.grad(ref, list(params.values()))))
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-5, atol=1e-6)
    for k in params:
        scale = ref_grads[k].abs().max().item()
        torch.testing.assert_close(grads[k], ref_grads[k], rtol=1e-4, atol=1e-5 * max(scale, 1.0), msg=k)


def test_logged_figures_per_step_match_the_loop(omniglot_data):
    """Row 0 of the logged figures after step s equals the loop's meta-loss with s steps; row 1 is the accuracy."""
    model, batch, lr = _omniglot_case(omniglot_data)
    params = {k: v.requires_grad_() for k, v in get_params(model).items()}
    _, _, logged = meta_loss_and_grad(model, params, batch, steps=2, inner_lr=lr)
    for s in range(3):
        assert logged[0, s].item() == pytest.approx(meta_loss_loop(model, params, batch, steps=s, inner_lr=lr).item(),
                                                    rel=1e-5)
    states = [adapt(model, params, batch.support_x[i], batch.support_y[i], steps=2, inner_lr=lr)[-1]
              for i in range(batch.support_x.shape[0])]
    acc = torch.stack([(predict(model, s, batch.query_x[i], support_x=batch.support_x[i]).argmax(-1)
                        == batch.query_y[i]).float().mean()
                       for i, s in enumerate(states)]).mean()
    assert logged[1, 2].item() == pytest.approx(acc.item())


# ---------------------------------------------------------------------------------------------
# 3. First-order against second-order
# ---------------------------------------------------------------------------------------------

def test_first_order_differs_for_a_nonlinear_model():
    model, batch, _ = _sinusoid_case()
    params = get_params(model)
    lr = 0.1  # a large step makes the second-order term big enough to see clearly
    l2, g2, _ = meta_loss_and_grad(model, params, batch, steps=1, inner_lr=lr, first_order=False)
    l1, g1, _ = meta_loss_and_grad(model, params, batch, steps=1, inner_lr=lr, first_order=True)
    assert l1.item() == pytest.approx(l2.item())  # the forward pass is the same
    rel = max(((g1[k] - g2[k]).norm() / g2[k].norm()).item() for k in params)
    assert rel > 0.01, "first-order and second-order meta-gradients should differ"


def test_first_order_equals_second_order_with_zero_steps():
    model, batch, _ = _sinusoid_case()
    params = get_params(model)
    _, g2, _ = meta_loss_and_grad(model, params, batch, steps=0, inner_lr=0.1, first_order=False)
    _, g1, _ = meta_loss_and_grad(model, params, batch, steps=0, inner_lr=0.1, first_order=True)
    for k in params:
        torch.testing.assert_close(g1[k], g2[k])


def test_second_order_adapt_is_differentiable_wrt_params():
    model, batch, _ = _sinusoid_case()
    params = {k: v.requires_grad_() for k, v in get_params(model).items()}
    x, y = batch.support_x[0], batch.support_y[0]
    states = adapt(model, params, x, y, steps=2, inner_lr=0.1, first_order=False)
    assert len(states) == 3
    assert all(v.requires_grad for v in states[-1].values())
    # d(adapted w)/d(other params) is non-zero only through the inner gradient: the graph is connected.
    w_adapted = states[1]["net.4.weight"]
    g = torch.autograd.grad(w_adapted.sum(), params["net.0.weight"], allow_unused=True)[0]
    assert g is not None and g.abs().max() > 0


def test_first_order_adapt_treats_inner_gradient_as_constant():
    model, batch, _ = _sinusoid_case()
    params = {k: v.requires_grad_() for k, v in get_params(model).items()}
    x, y = batch.support_x[0], batch.support_y[0]
    states = adapt(model, params, x, y, steps=2, inner_lr=0.1, first_order=True)
    w_adapted = states[-1]["net.4.weight"]
    assert not torch.equal(w_adapted, params["net.4.weight"])  # it did move
    # theta' = theta - alpha * const: d theta'/d theta is the identity, and other params contribute nothing.
    grads = torch.autograd.grad(w_adapted.sum(), list(params.values()), allow_unused=True, materialize_grads=True)
    for (k, p), g in zip(params.items(), grads):
        expected = torch.ones_like(p) if k == "net.4.weight" else torch.zeros_like(p)
        torch.testing.assert_close(g, expected, msg=k)


def test_adapt_rejects_negative_steps_and_returns_the_initial_state_for_zero():
    model, batch, _ = _sinusoid_case()
    params = get_params(model)
    with pytest.raises(ValueError, match="steps"):
        adapt(model, params, batch.support_x[0], batch.support_y[0], steps=-1, inner_lr=0.01)
    states = adapt(model, params, batch.support_x[0], batch.support_y[0], steps=0, inner_lr=0.01)
    assert len(states) == 1 and states[0] is params


def test_adapt_curves_match_adapt(omniglot_data):
    model, batch, _ = _omniglot_case(omniglot_data)
    params, lr = get_params(model), 0.01  # small: from a random initialisation a large step can overshoot
    curves = adapt_curves(model, params, batch, steps=3, inner_lr=lr)
    assert set(curves) == {"support_loss", "query_loss", "query_acc"}
    assert all(v.shape == (3, 4) for v in curves.values())
    ce = nn.functional.cross_entropy
    for i in range(3):
        task = batch.task(i)
        states = adapt(model, params, task.support_x, task.support_y, steps=3, inner_lr=lr)
        for s, state in enumerate(states):
            q = predict(model, state, task.query_x)
            assert curves["query_loss"][i, s].item() == pytest.approx(ce(q, task.query_y).item(), rel=1e-4, abs=1e-5)
            sl = ce(predict(model, state, task.support_x), task.support_y).item()
            assert curves["support_loss"][i, s].item() == pytest.approx(sl, rel=1e-4, abs=1e-5)
            assert curves["query_acc"][i, s].item() == (q.argmax(-1) == task.query_y).float().mean().item()
    # A support set of one drawing per class is learned: the support loss falls step by step.
    assert (curves["support_loss"].diff(dim=1) < 0).all()


def test_adapt_curves_regression_has_no_accuracy():
    model, batch, _ = _sinusoid_case()
    curves = adapt_curves(model, get_params(model), batch, steps=2, inner_lr=0.01)
    assert set(curves) == {"support_loss", "query_loss"}
    assert curves["query_loss"].shape == (5, 3)


# ---------------------------------------------------------------------------------------------
# Learned inner learning rates (MAML++ LSLR), by hand on the Scale model above
# ---------------------------------------------------------------------------------------------

def _with_rates(model: nn.Module, *rates: float) -> dict[str, torch.Tensor]:
    p = params_of(model)
    p[LR_PREFIX + "w"] = torch.tensor(rates, dtype=torch.float64, requires_grad=True)
    return p


@pytest.mark.parametrize("first_order, expected_w", [(False, 0.18), (True, -0.3)])
def test_learned_rate_gradient_by_hand(first_order, expected_w):
    # w' = w - r g with r = 0.1: the same adapted weights and meta-loss as alpha = 0.1 (SCALE_BATCH above), and
    # dL_q/dr = dL_q/dw' * dw'/dr = dL_q/dw' * (-g), whatever the order (g does not depend on r):
    #   task 1: -1.4 * 8 = -11.2;  task 2: 0.8 * (-1) = -0.8;  mean -6.0.
    model = Scale(0.5)
    loss, grads, _ = meta_loss_and_grad(model, _with_rates(model, 0.1), SCALE_BATCH, steps=1, inner_lr=LEARNED,
                                        first_order=first_order)
    assert loss.item() == pytest.approx(0.325)
    assert grads["w"].item() == pytest.approx(expected_w)
    assert grads[LR_PREFIX + "w"].tolist() == pytest.approx([-6.0])


def test_learned_rates_per_step_and_the_last_one_past_the_end():
    # Task 1 (support (2, 3)) with rates [0.1, 0.05] and three steps (the third reuses 0.05):
    #   w' = 0.5 + 0.1 * 8 = 1.3;  g = 4 (1.3*2 - 3) = -1.6, w'' = 1.3 + 0.05 * 1.6 = 1.38;
    #   g = 4 (1.38*2 - 3) = -0.96, w''' = 1.38 + 0.05 * 0.96 = 1.428
    model = Scale(0.5)
    states = adapt(model, _with_rates(model, 0.1, 0.05), SCALE_BATCH.support_x[0], SCALE_BATCH.support_y[0],
                   steps=3, inner_lr=LEARNED)
    assert [s["w"].item() for s in states] == pytest.approx([0.5, 1.3, 1.38, 1.428])
    assert all(set(s) == {"w"} for s in states)  # the adapted states carry no rates: `predict` takes them as is
    # a number instead of LEARNED ignores the stored rates (the app's "one alpha for every method")
    plain = adapt(model, _with_rates(model, 0.1, 0.05), SCALE_BATCH.support_x[0], SCALE_BATCH.support_y[0],
                  steps=2, inner_lr=0.1)
    assert [s["w"].item() for s in plain] == pytest.approx([0.5, 1.3, 1.46])


def test_learned_rates_equal_to_alpha_adapt_like_alpha(omniglot_data):
    model, batch, _ = _omniglot_case(omniglot_data)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    with_rates = {**params, **initial_rates(params, 2, 0.4)}
    a = adapt_curves(model, params, batch, steps=3, inner_lr=0.4)
    b = adapt_curves(model, with_rates, batch, steps=3, inner_lr=LEARNED)
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_learned_without_rates_says_what_to_do():
    model = Scale(0.5)
    with pytest.raises(ValueError, match="--learn-inner-lr"):
        adapt(model, params_of(model), SCALE_BATCH.support_x[0], SCALE_BATCH.support_y[0], steps=1,
              inner_lr=LEARNED)


def test_with_a_zero_head_one_inner_step_only_moves_the_head_so_only_its_rate_learns(omniglot_data):
    """Measured on the 5-way runs (docs/RESULTS.md): with the zeroing trick the first inner step changes only the
    head (a zero head passes no gradient to the body), so with one training step every body rate has a zero
    meta-gradient and stays at alpha; from the second step on, the body's rates learn too."""
    model, batch, _ = _omniglot_case(omniglot_data)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    params["head.weight"].zero_()
    params["head.bias"].zero_()
    for steps in (1, 2):
        p = {**params, **initial_rates(params, steps, 0.4)}
        _, grads, _ = meta_loss_and_grad(model, p, batch, steps=steps, inner_lr=LEARNED, first_order=True)
        body = [k for k in grads if k.startswith(LR_PREFIX + "features.")]
        assert grads[LR_PREFIX + "head.weight"].abs().sum() > 0
        if steps == 1:
            assert all(grads[k].abs().max() == 0 for k in body)
        else:
            assert all(grads[k][0].abs().max() == 0 for k in body)  # step 1 still moves only the head
            assert any(grads[k][1].abs().max() > 0 for k in body)


def test_predict_takes_weights_that_carry_learned_rates(omniglot_data):
    """A checkpoint trained with learned rates keeps them in its params: predicting with those (step 0) works and
    equals predicting with the weights alone."""
    model, batch, _ = _omniglot_case(omniglot_data)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    with_rates = {**params, **initial_rates(params, 2, 0.4)}
    task = batch.task(0)
    torch.testing.assert_close(predict(model, with_rates, task.query_x, support_x=task.support_x),
                               predict(model, params, task.query_x, support_x=task.support_x))


def test_anil_adapts_the_head_alone_and_leaves_the_body_unchanged():
    """ANIL (Raghu et al., ICLR 2020): `only=head_names(model)` steps the last layer; every other tensor is the
    start's, and the head's step equals the full step's head part when the body is frozen."""
    from maml_core import build_model, get_params, head_names
    from maml_core.config import ModelConfig

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="conv", n_out=3, channels=4, norm="instance", head="learned"))
    params = get_params(model)
    assert head_names(model) == ("head.weight", "head.bias")
    assert head_names(build_model(ModelConfig())) == ("net.4.weight", "net.4.bias")
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 0, 1, 2])
    anil = adapt(model, params, x, y, steps=3, inner_lr=0.3, only=head_names(model))
    full = adapt(model, params, x, y, steps=1, inner_lr=0.3)
    for k in params:
        if k.startswith("head."):
            assert not torch.equal(anil[-1][k], params[k]), k
            assert torch.allclose(anil[1][k], full[1][k], atol=1e-6), k  # one step: the same head gradient
        else:
            assert torch.equal(anil[-1][k], params[k]), k
    assert not torch.equal(full[1]["features.0.conv.weight"], params["features.0.conv.weight"])
    with pytest.raises(ValueError, match="does not have"):
        adapt(model, params, x, y, steps=1, inner_lr=0.3, only=("nope",))
    # the measuring paths take the same flag: their query losses are those of ANIL's states
    qx, qy = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 0])
    batch = Episode(x[None], y[None], qx[None], qy[None], 3, 2, 1)
    anil_curves = adapt_curves(model, params, batch, steps=3, inner_lr=0.3, only=head_names(model))
    full_curves = adapt_curves(model, params, batch, steps=3, inner_lr=0.3)
    expected = torch.stack([F.cross_entropy(predict(model, s, qx), qy) for s in anil])
    assert torch.allclose(anil_curves["query_loss"][0], expected, atol=1e-5)
    assert not torch.allclose(full_curves["query_loss"][0, 1:], anil_curves["query_loss"][0, 1:])


def test_divergence_is_one_engine_definition_the_views_use():
    from maml_core import DIVERGED_LOSS, diverged_at
    from ui import sinusoid_view as sv
    from ui.state_types import LOSS_CAP

    assert diverged_at(torch.tensor([3.0, 1.0, 0.5])) is None
    assert diverged_at(torch.tensor([3.0, DIVERGED_LOSS * 2, 1.0])) == 1
    assert diverged_at(torch.tensor([3.0, 2.0, float("nan"), float("inf")])) == 2
    assert diverged_at(torch.tensor([12.5, DIVERGED_LOSS])) is None  # a poor fit (zero prediction) is not divergence
    assert LOSS_CAP == DIVERGED_LOSS and not hasattr(sv, "DIVERGED")


@pytest.mark.parametrize("tasks_at_once", [False, True])
def test_adapt_starts_equals_each_start_adapted_alone(tasks_at_once):
    """Several initialisations at once (under one vmap, or as the tasks of `tasks_forward`), each with its own alpha,
    give what each gives on its own; without support points only state 0 is returned, with a support loss of nan."""
    from maml_core import ModelConfig, adapt_and_measure, adapt_starts, build_model, get_params

    model = build_model(ModelConfig(), seed=0)
    starts = [get_params(build_model(ModelConfig(), seed=s)) for s in (1, 2, 3)]
    g = torch.Generator().manual_seed(0)
    sx, grid = torch.rand(5, 1, generator=g) * 10 - 5, torch.linspace(-5, 5, 7).reshape(-1, 1)
    sy = torch.sin(sx)
    res = adapt_starts(model, starts, [0.01, 0.02, 0.5], sx, sy, grid, steps=3, tasks_at_once=tasks_at_once)
    assert res["eval_out"].shape == (3, 4, 7, 1) and res["support_loss"].shape == (3, 4)
    for i, (p, lr) in enumerate(zip(starts, [0.01, 0.02, 0.5])):
        alone = adapt_and_measure(model, p, sx, sy, grid, steps=3, inner_lr=lr, outputs=True)
        assert torch.allclose(res["eval_out"][i], alone["query_out"], atol=1e-6)
        assert torch.allclose(res["support_loss"][i], alone["support_loss"], atol=1e-6)
    empty = adapt_starts(model, starts, [0.01] * 3, sx[:0], sy[:0], grid, steps=3, tasks_at_once=tasks_at_once)
    assert empty["eval_out"].shape == (3, 1, 7, 1) and torch.isnan(empty["support_loss"]).all()

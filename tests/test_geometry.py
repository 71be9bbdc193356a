"""maml_core.geometry: planes, loss grids, projections, update directions, the meta-objective, layer changes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from maml_core import SinusoidTasks, adapt, adapt_and_measure, build_model, get_params, predict
from maml_core import geometry as G
from maml_core.algorithm import support_output
from maml_core.config import ModelConfig
from maml_core.omniglot import OmniglotTasks


def tiny_mlp(seed: int = 0) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind="mlp", hidden=(8, 8)))
    return model, get_params(model)


def sine_tasks(b: int = 4, k: int = 5, q: int = 7, seed: int = 0):
    return SinusoidTasks().sample(b, torch.Generator().manual_seed(seed), k_shot=k, n_query=q)


def test_flatten_round_trip_keeps_shapes_and_values():
    _, theta = tiny_mlp()
    back = G.unflatten(G.flatten(theta), theta)
    assert list(back) == list(theta)
    assert all(torch.equal(back[k], theta[k]) for k in theta)
    batched = G.unflatten(torch.stack([G.flatten(theta), 2 * G.flatten(theta)]), theta)
    assert torch.equal(batched["net.0.weight"][1], 2 * theta["net.0.weight"])


@pytest.mark.parametrize("kind", ["gradients", "adapted", "random"])
def test_every_plane_has_orthonormal_directions(kind):
    model, theta = tiny_mlp()
    tasks = sine_tasks()
    t1, t2 = tasks.task(0), tasks.task(1)
    if kind == "gradients":
        plane = G.gradient_plane(model, theta, t1, t2)
    elif kind == "adapted":
        phi = [adapt(model, theta, t.support_x, t.support_y, steps=3, inner_lr=0.05)[-1] for t in (t1, t2)]
        plane = G.plane_through(theta, *phi)
    else:
        plane, extent = G.random_plane(theta, seed=3)
        assert extent > 0
    assert plane.kind == kind
    assert float(plane.u.norm()) == pytest.approx(1.0, abs=1e-5)
    assert float(plane.v.norm()) == pytest.approx(1.0, abs=1e-5)
    assert abs(float(plane.u @ plane.v)) < 1e-5


def test_projecting_a_point_of_the_plane_recovers_its_coordinates_and_no_residual():
    model, theta = tiny_mlp()
    plane, _ = G.random_plane(theta, seed=1)
    p = plane.project(plane.point(0.7, -1.3))
    assert (p.a, p.b) == (pytest.approx(0.7, abs=1e-4), pytest.approx(-1.3, abs=1e-4))
    assert p.off == pytest.approx(0.0, abs=1e-4) and p.off_share == pytest.approx(0.0, abs=1e-4)
    # a point pushed off the plane along a third orthogonal direction: its distance off is that push
    w = torch.randn(plane.u.shape, generator=torch.Generator().manual_seed(0))
    w = w - (w @ plane.u) * plane.u - (w @ plane.v) * plane.v
    w = w / w.norm()
    off = G.unflatten(G.flatten(plane.point(0.7, -1.3)) + 0.5 * w, theta)
    q = plane.project(off)
    assert q.off == pytest.approx(0.5, abs=1e-4)
    assert q.off_share == pytest.approx(0.5 / (0.7 ** 2 + 1.3 ** 2 + 0.25) ** 0.5, abs=1e-4)


def test_the_gradient_plane_holds_each_tasks_first_step_and_the_adapted_plane_its_end():
    model, theta = tiny_mlp()
    tasks = sine_tasks()
    t1, t2 = tasks.task(0), tasks.task(1)
    s1 = adapt(model, theta, t1.support_x, t1.support_y, steps=5, inner_lr=0.05)
    s2 = adapt(model, theta, t2.support_x, t2.support_y, steps=5, inner_lr=0.05)
    grad_plane = G.gradient_plane(model, theta, t1, t2)
    assert grad_plane.project(s1[1]).off_share < 1e-4 and grad_plane.project(s2[1]).off_share < 1e-4
    assert grad_plane.project(s1[1]).a > 0  # u points the way task 1's first step goes
    end_plane = G.plane_through(theta, s1[-1], s2[-1])
    assert end_plane.project(s1[-1]).off_share < 1e-4 and end_plane.project(s2[-1]).off_share < 1e-4
    assert end_plane.project(s1[1]).off_share > 1e-3  # ... and not every state between (it is a slice)


def test_two_identical_directions_are_refused_with_a_message():
    _, theta = tiny_mlp()
    with pytest.raises(ValueError, match="cannot span a plane"):
        G.plane_through(theta, {k: v + 1 for k, v in theta.items()}, {k: v + 2 for k, v in theta.items()})


def test_filter_normalised_directions_match_each_filters_norm_and_leave_biases_alone():
    _, theta = tiny_mlp()
    d = G.filter_normalised_direction(theta, torch.Generator().manual_seed(0))
    for k, w in theta.items():
        if w.dim() == 1:
            assert torch.count_nonzero(d[k]) == 0, k
        else:
            assert torch.allclose(d[k].norm(dim=1), w.norm(dim=1), rtol=1e-5), k


def test_a_grid_value_equals_the_loss_evaluated_directly_at_that_point():
    model, theta = tiny_mlp()
    tasks = sine_tasks()
    plane, extent = G.random_plane(theta)
    a, b = torch.linspace(-extent, extent, 5), torch.linspace(-0.5 * extent, 0.5 * extent, 3)
    for which in ("support", "query"):
        grid = G.loss_grid(model, plane, tasks, a, b, which=which)
        assert grid.shape == (4, 3, 5)
        state = plane.point(float(a[3]), float(b[0]))
        t = tasks.task(2)
        x, y = (t.support_x, t.support_y) if which == "support" else (t.query_x, t.query_y)
        direct = F.mse_loss(predict(model, state, x), y)
        assert float(grid[2, 0, 3]) == pytest.approx(float(direct), rel=1e-4)
    assert torch.equal(G.loss_grid(model, plane, tasks, a, b, chunk=4), G.loss_grid(model, plane, tasks, a, b))


def test_an_omniglot_grid_uses_the_support_set_for_task_norm(omniglot_data):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="conv", n_out=3, channels=8, norm="tasknorm_i", head="learned"))
    theta = get_params(model)
    tasks = OmniglotTasks(omniglot_data, n_way=3, k_shot=1, n_query=2).sample(2, torch.Generator().manual_seed(0))
    plane, extent = G.random_plane(theta)
    a = torch.linspace(-extent, extent, 3)
    grid = G.loss_grid(model, plane, tasks, a, a, which="query")
    t = tasks.task(1)
    state = plane.point(float(a[0]), float(a[2]))
    direct = F.cross_entropy(predict(model, state, t.query_x, support_x=t.support_x), t.query_y)
    assert float(grid[1, 2, 0]) == pytest.approx(float(direct), rel=1e-4)


def test_the_second_order_term_is_the_hand_computed_hessian_vector_product():
    """One inner step: grad MAML = (I - alpha H_support(theta)) grad L_query(phi), grad FO-MAML = grad L_query(phi),
    so MAML's direction minus FO-MAML's is alpha H_support(theta) grad L_query(phi) (directions are descents)."""
    model, theta = tiny_mlp(seed=2)
    tasks = sine_tasks(b=1, k=4, q=6, seed=5)
    t, alpha = tasks.task(0), 0.1
    d = G.update_directions(model, theta, tasks, steps=1, inner_lr=alpha, reptile_steps=1)
    flat = G.flatten(theta)

    def support_loss(v):
        return F.mse_loss(support_output(model, G.unflatten(v, theta), t.support_x), t.support_y)

    def query_loss(v):
        return F.mse_loss(predict(model, G.unflatten(v, theta), t.query_x), t.query_y)

    hessian = torch.autograd.functional.hessian(support_loss, flat)
    g_support = torch.autograd.functional.jacobian(support_loss, flat)
    phi = flat - alpha * g_support
    g_query = torch.autograd.functional.jacobian(query_loss, phi)
    expected = alpha * hessian @ g_query
    assert torch.allclose(d.second_order, expected, atol=1e-5, rtol=1e-4)
    assert torch.allclose(d.vectors["fomaml"], -g_query, atol=1e-6)
    assert d.second_order_share() == pytest.approx(float(expected.norm() / d.vectors["maml"].norm()), rel=1e-4)


def test_maml_equals_fomaml_where_the_inner_loss_is_linear_and_differs_where_it_is_not():
    torch.manual_seed(0)
    linear = nn.Linear(1, 1)
    theta = get_params(linear)
    tasks = sine_tasks(b=3)
    linear_loss = lambda out, y: (out * y).mean()  # linear in the weights of a linear model: zero Hessian
    d = G.update_directions(linear, theta, tasks, steps=2, inner_lr=0.1, loss=linear_loss)
    assert torch.allclose(d.vectors["maml"], d.vectors["fomaml"], atol=1e-7)
    assert d.second_order_share() < 1e-6 and d.cosine("maml", "fomaml") == pytest.approx(1.0, abs=1e-6)
    model, theta = tiny_mlp()
    d = G.update_directions(model, theta, tasks, steps=2, inner_lr=0.1)
    assert d.second_order_share() > 1e-3 and d.cosine("maml", "fomaml") < 1 - 1e-4


def test_the_reptile_update_equals_a_plain_loop_and_pretraining_the_unadapted_gradient():
    model, theta = tiny_mlp()
    tasks = sine_tasks(b=3)
    d = G.update_directions(model, theta, tasks, steps=1, inner_lr=0.05, reptile_steps=4)
    total = torch.zeros_like(G.flatten(theta))
    for i in range(3):
        p = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
        for _ in range(4):
            loss = F.mse_loss(functional_call(model, p, tasks.support_x[i]), tasks.support_y[i])
            g = torch.autograd.grad(loss, list(p.values()))
            p = {k: (v - 0.05 * gi).detach().requires_grad_(True) for (k, v), gi in zip(p.items(), g)}
        total += G.flatten({k: v.detach() for k, v in p.items()}) - G.flatten(theta)
    assert torch.allclose(d.vectors["reptile"], total / 3, atol=1e-6)
    assert d.reptile_steps == 4
    p = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    q = sum(F.mse_loss(functional_call(model, p, tasks.query_x[i]), tasks.query_y[i])
            for i in range(3)) / 3
    g = torch.autograd.grad(q, list(p.values()))
    assert torch.allclose(d.vectors["pretrain"], -torch.cat([x.reshape(-1) for x in g]), atol=1e-6)
    assert set(d.vectors) == set(G.METHODS)


def test_the_meta_objective_at_m_steps_is_the_mean_query_loss_after_m_steps():
    model, theta = tiny_mlp()
    tasks = sine_tasks(b=3)
    other = {k: v + 0.1 for k, v in theta.items()}
    t = torch.tensor([0.0, 1.0, 0.5])
    points = G.line_points(theta, other, t)
    assert torch.allclose(G.flatten({k: v[1] for k, v in points.items()}), G.flatten(other))
    for m in (0, 1, 3):
        got = G.meta_objective(model, points, tasks, steps=m, inner_lr=0.05)
        start = {k: v[2] for k, v in points.items()}
        expected = torch.stack([adapt_and_measure(model, start, tasks.support_x[i], tasks.support_y[i],
                                                  tasks.query_x[i], tasks.query_y[i], steps=m, inner_lr=0.05,
                                                  all_steps=False)["query_loss"][0] for i in range(3)]).mean()
        assert float(got[2]) == pytest.approx(float(expected), rel=1e-5), m


def test_layer_changes_of_a_zero_head_are_absolute_and_relative_to_the_adapted_head():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="conv", n_out=3, channels=4, norm="instance", head="zero"))
    theta = get_params(model)
    x = torch.rand(3, 1, 28, 28)
    y = torch.tensor([0, 1, 2])
    states = adapt(model, theta, x, y, steps=2, inner_lr=0.5)
    c = G.layer_changes(states)
    h = c.names.index("head.weight")
    body = c.names.index("features.0.conv.weight")
    assert c.absolute.shape == (3, len(c.names)) and torch.all(c.absolute[0] == 0)
    assert torch.isnan(c.relative[1, h]) and c.absolute[1, h] > 0  # the zero head's relative change is undefined
    assert c.relative_to_adapted[1, h] == pytest.approx(1.0)  # from zero, all of the adapted head is change
    assert c.absolute[1, body] == 0  # the first step moves only the zero head (the body's gradient is zero)
    assert c.absolute[2, body] > 0 and torch.isfinite(c.relative[2, body])


def test_task_paths_are_each_tasks_adapt_states_and_losses():
    model, theta = tiny_mlp()
    tasks = sine_tasks(b=3)
    states, support, query = G.task_paths(model, theta, tasks, steps=2, inner_lr=0.05)
    assert len(states) == 3 and support.shape == (3, 3) and query.shape == (3, 3)
    for i in range(3):
        t = tasks.task(i)
        ref = adapt(model, theta, t.support_x, t.support_y, steps=2, inner_lr=0.05)
        assert torch.allclose(states[2]["net.0.weight"][i], ref[2]["net.0.weight"], atol=1e-6)
        assert float(query[i, 2]) == pytest.approx(float(F.mse_loss(predict(model, ref[2], t.query_x), t.query_y)),
                                                   rel=1e-5)

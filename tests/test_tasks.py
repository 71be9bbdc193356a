"""maml_core.tasks: the paper's sinusoid family, the episode object, confidence intervals."""

from __future__ import annotations

import math

import pytest
import torch

from maml_core import Episode, SinusoidTasks, make_sinusoid_episode, mean_ci95, sinusoid
from maml_core.config import SinusoidTaskConfig


def test_sinusoid_formula():
    # y = A sin(x - phi): A = 2, phi = pi/2, x = 0 -> 2 sin(-pi/2) = -2
    assert sinusoid(torch.tensor(0.0), 2.0, math.pi / 2).item() == pytest.approx(-2.0)
    assert sinusoid(torch.tensor(math.pi), 1.5, 0.0).item() == pytest.approx(0.0, abs=1e-6)


def test_sinusoid_tasks_shapes_ranges_and_targets():
    tasks = SinusoidTasks(SinusoidTaskConfig(k_shot=10, n_query=7))
    e = tasks.sample(500, torch.Generator().manual_seed(0))
    assert e.support_x.shape == e.support_y.shape == (500, 10, 1)
    assert e.query_x.shape == e.query_y.shape == (500, 7, 1)
    assert (e.n_way, e.k_shot, e.n_query) == (1, 10, 7)
    assert e.amplitude.shape == e.phase.shape == (500,)
    # paper: A ~ U[0.1, 5], phi ~ U[0, pi], x ~ U[-5, 5]
    assert 0.1 <= e.amplitude.min() and e.amplitude.max() <= 5.0
    assert 0.0 <= e.phase.min() and e.phase.max() <= math.pi
    assert e.amplitude.max() - e.amplitude.min() > 4.5  # really spread over the range
    for x in (e.support_x, e.query_x):
        assert -5.0 <= x.min() and x.max() <= 5.0
    a, p = e.amplitude[:, None, None], e.phase[:, None, None]
    torch.testing.assert_close(e.support_y, a * torch.sin(e.support_x - p))
    torch.testing.assert_close(e.query_y, a * torch.sin(e.query_x - p))
    assert not torch.equal(e.support_x[:, :7], e.query_x)  # independent points


def test_sinusoid_tasks_are_reproducible_with_a_generator():
    tasks = SinusoidTasks()
    a = tasks.sample(4, torch.Generator().manual_seed(3))
    b = tasks.sample(4, torch.Generator().manual_seed(3))
    c = tasks.sample(4, torch.Generator().manual_seed(4))
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y)
    assert not torch.equal(a.support_x, c.support_x)


@pytest.mark.parametrize("batch, k, q", [(25, 10, 10), (1, 1, 0), (3, 5, 50)])
def test_one_draw_gives_the_tasks_of_a_draw_for_each_quantity(batch, k, q):
    """The sampler draws amplitudes, phases and x values in one call; the tasks are bit for bit those of three draws
    in that order (the stream that seeds, shipped checkpoints and shared scenes rely on)."""
    c = SinusoidTaskConfig(k_shot=k, n_query=q)
    tasks = SinusoidTasks(c)
    for seed in (0, 7):
        g = torch.Generator().manual_seed(seed)
        amp = c.amplitude[0] + (c.amplitude[1] - c.amplitude[0]) * torch.rand(batch, generator=g)
        phase = c.phase[0] + (c.phase[1] - c.phase[0]) * torch.rand(batch, generator=g)
        x = c.x_range[0] + (c.x_range[1] - c.x_range[0]) * torch.rand(batch, k + q, 1, generator=g)
        y = amp[:, None, None] * torch.sin(x - phase[:, None, None])
        e = tasks.sample(batch, torch.Generator().manual_seed(seed))
        for got, want in [(e.amplitude, amp), (e.phase, phase), (e.support_x, x[:, :k]), (e.query_x, x[:, k:]),
                          (e.support_y, y[:, :k]), (e.query_y, y[:, k:])]:
            assert got.shape == want.shape and torch.equal(got, want)


def test_sample_overrides_and_joint_sample():
    tasks = SinusoidTasks()
    e = tasks.sample(3, k_shot=5, n_query=100)
    assert e.support_x.shape == (3, 5, 1) and e.query_x.shape == (3, 100, 1)
    x, y = tasks.sample_joint(25, 20, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (500, 1)


def test_make_sinusoid_episode():
    e = make_sinusoid_episode(3.0, 1.0, torch.tensor([0.0, 1.0, 2.0]), n_query=200)
    assert e.support_x.shape == (3, 1) and e.query_x.shape == (200, 1)
    assert e.query_x[0].item() == -5.0 and e.query_x[-1].item() == 5.0
    torch.testing.assert_close(e.support_y, 3.0 * torch.sin(e.support_x - 1.0))
    torch.testing.assert_close(e.query_y, 3.0 * torch.sin(e.query_x - 1.0))
    assert e.k_shot == 3 and e.amplitude.item() == 3.0


def test_episode_task_and_batched_round_trip():
    e = SinusoidTasks().sample(4, torch.Generator().manual_seed(0))
    one = e.task(2)
    assert one.support_x.shape == (10, 1) and one.amplitude.shape == ()
    assert torch.equal(one.support_x, e.support_x[2])
    back = one.batched()
    assert back.support_x.shape == (1, 10, 1) and back.phase.shape == (1,)
    assert torch.equal(back.query_y[0], e.query_y[2])
    assert back.classes is None


def test_mean_ci95():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])
    mean, ci = mean_ci95(values)
    # std (unbiased) of 1..4 = sqrt(5/3) = 1.29099; SEM = 1.29099 / 2 = 0.645497; CI = 1.96 * SEM = 1.265174
    assert mean.item() == pytest.approx(2.5)
    assert ci.item() == pytest.approx(1.265174, rel=1e-5)
    m1, c1 = mean_ci95(torch.tensor([7.0]))
    assert m1.item() == 7.0 and c1.item() == 0.0
    m2, c2 = mean_ci95(torch.ones(10, 3))
    assert m2.shape == c2.shape == (3,) and c2.abs().max() == 0


def test_episode_is_frozen():
    """Episodes are shared (a cached challenge's trials, the page's dataset episode, a training batch moved to the
    device): none may be changed in place, and `.to` another device, `.task` and `.batched` give new episodes that
    keep every field while the original stays as it was."""
    import dataclasses

    batch = SinusoidTasks(SinusoidTaskConfig(k_shot=3, n_query=2)).sample(4, torch.Generator().manual_seed(0))
    before = {f.name: getattr(batch, f.name) for f in dataclasses.fields(Episode)}
    snapshot = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in before.items()}
    for name in ("support_x", "query_y", "n_way", "amplitude"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(batch, name, None)

    same = batch.to("cpu")  # already there: the episode itself (it is frozen, so sharing it is safe), nothing copied
    assert same is batch and all(getattr(same, k) is v for k, v in before.items())
    moved = batch.to("meta")
    assert moved is not batch and {moved.support_x.device.type, moved.query_y.device.type} == {"meta"}
    assert (moved.n_way, moved.k_shot, moved.n_query) == (1, 3, 2) and moved.amplitude is batch.amplitude
    assert moved.support_y.dtype == batch.support_y.dtype  # what tells regression from classification

    task = batch.task(2)
    assert task.support_x.shape == (3, 1) and torch.equal(task.query_y, batch.query_y[2])
    assert float(task.amplitude) == float(batch.amplitude[2]) and float(task.phase) == float(batch.phase[2])
    again = task.batched()
    assert again.support_x.shape == (1, 3, 1) and torch.equal(again.support_y[0], batch.support_y[2])
    assert again.amplitude.shape == (1,)

    omniglot = Episode(torch.zeros(2, 6, 1, 28, 28), torch.arange(3).repeat_interleave(2).expand(2, 6),
                       torch.zeros(2, 3, 1, 28, 28), torch.arange(3).expand(2, 3), 3, 2, 1,
                       classes=torch.tensor([[7, 1, 4], [0, 2, 9]]))
    assert omniglot.task(1).classes.tolist() == [0, 2, 9] and omniglot.to("meta").classes is omniglot.classes

    for k, v in snapshot.items():  # the original episode is untouched by all of the above
        now = getattr(batch, k)
        assert now is before[k] and (torch.equal(now, v) if isinstance(v, torch.Tensor) else now == v), k

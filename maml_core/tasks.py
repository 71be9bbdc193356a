"""Task samplers. One typed episode object for both problems.

Shapes (a single task; a batch of tasks adds a leading B):
    sinusoid:  support_x (K, 1)            support_y (K, 1) float   query_x (Q, 1)          query_y (Q, 1)
    omniglot:  support_x (N*K, 1, 28, 28)  support_y (N*K,) int64   query_x (N*Q, 1, 28, 28) query_y (N*Q,)
Omniglot labels are 0..N-1 in a random order per episode; `classes` holds the dataset class of
each label (B, N) so a UI can show which character is which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .config import SinusoidTaskConfig


@dataclass(frozen=True)
class Episode:
    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    n_way: int = 1  # 1 for regression
    k_shot: int = 1
    n_query: int = 1
    # sinusoid: amplitude and phase per task (B,); omniglot: dataset class per label (B, N)
    amplitude: Tensor | None = None
    phase: Tensor | None = None
    classes: Tensor | None = None

    def to(self, device: torch.device | str) -> Episode:
        """The same episode with its inputs and labels on `device` (a no-op when they are there)."""
        if self.support_x.device == torch.device(device):  # every tensor of an episode is on one device
            return self
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Episode(move(self.support_x), move(self.support_y), move(self.query_x), move(self.query_y),
                       self.n_way, self.k_shot, self.n_query, self.amplitude, self.phase, self.classes)

    def task(self, i: int) -> Episode:
        """The i-th task of a batch, as an unbatched episode."""
        pick = lambda t: None if t is None else t[i]  # noqa: E731
        return Episode(self.support_x[i], self.support_y[i], self.query_x[i], self.query_y[i],
                       self.n_way, self.k_shot, self.n_query, pick(self.amplitude), pick(self.phase),
                       pick(self.classes))

    def batched(self) -> Episode:
        """This single task as a batch of one."""
        add = lambda t: None if t is None else t.unsqueeze(0)  # noqa: E731
        return Episode(add(self.support_x), add(self.support_y), add(self.query_x), add(self.query_y),
                       self.n_way, self.k_shot, self.n_query, add(self.amplitude), add(self.phase),
                       add(self.classes))


def sinusoid(x: Tensor, amplitude: Tensor | float, phase: Tensor | float) -> Tensor:
    """y = A * sin(x - phi), the paper's task family."""
    return amplitude * torch.sin(x - phase)


class SinusoidTasks:
    """Samples the paper's sinusoid tasks: A ~ U[0.1, 5], phi ~ U[0, pi], x ~ U[-5, 5]."""

    def __init__(self, config: SinusoidTaskConfig | None = None) -> None:
        self.config = config or SinusoidTaskConfig()
        self._affines: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    def sample(self, batch: int, generator: torch.Generator | None = None, *, k_shot: int | None = None,
               n_query: int | None = None) -> Episode:
        k, q = self.shots(k_shot, n_query)  # resolved once: this is every eager training iteration's path
        return tasks_from_draw(self.draw(batch, generator, k_shot=k, n_query=q), *self.affine(batch, k, q), batch, k, q)

    def from_draw(self, draw: Tensor, batch: int, *, k_shot: int | None = None, n_query: int | None = None) -> Episode:
        """The `batch` tasks a `draw` gives (`sample` is `from_draw(draw(...))`)."""
        k, q = self.shots(k_shot, n_query)
        return tasks_from_draw(draw, *self.affine(batch, k, q), batch, k, q)

    def shots(self, k_shot: int | None = None, n_query: int | None = None) -> tuple[int, int]:
        """K and Q: the given ones, or the configured ones."""
        c = self.config
        return (c.k_shot if k_shot is None else k_shot), (c.n_query if n_query is None else n_query)

    def draw(self, batch: int, generator: torch.Generator | None = None, *, k_shot: int | None = None,
             n_query: int | None = None) -> Tensor:
        """The U[0, 1) numbers that `sample` maps onto `batch` tasks (`tasks_from_draw`)."""
        # One draw for the amplitudes, phases and x values: the same numbers, in the same order, as a draw for each
        # (the generator fills a tensor element by element), in a third of the calls.
        k, q = self.shots(k_shot, n_query)
        return torch.rand(batch * (2 + k + q), generator=generator)

    def affine(self, batch: int, k_shot: int | None = None, n_query: int | None = None) -> tuple[Tensor, Tensor]:
        """Scale and offset that map a draw of `batch` tasks (`batch` amplitudes, `batch` phases, then every task's
        x values) onto their ranges (float32, as multiplying by the configured floats gives), kept per shape."""
        k, q = self.shots(k_shot, n_query)
        key = (batch, k + q)
        if key not in self._affines:
            c, sizes = self.config, (batch, batch, batch * (k + q))
            ranges = (c.amplitude, c.phase, c.x_range)
            self._affines[key] = tuple(torch.cat([torch.full((n,), v) for n, v in zip(sizes, values)])
                                       for values in ([hi - lo for lo, hi in ranges], [lo for lo, _ in ranges]))
        return self._affines[key]

    def sample_joint(self, batch: int, n_points: int,
                     generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Points from `batch` random tasks pooled together (x, y) each (batch * n_points, 1):
        the 'pretrained on all tasks' baseline regresses on these."""
        e = self.sample(batch, generator, k_shot=n_points, n_query=0)
        return e.support_x.reshape(-1, 1), e.support_y.reshape(-1, 1)


def tasks_from_draw(u: Tensor, scale: Tensor, offset: Tensor, batch: int, k_shot: int, n_query: int) -> Episode:
    """`batch` sinusoid tasks with K support and Q query points from U[0, 1) numbers (`SinusoidTasks.draw`) and the
    sampler's `affine` map: a pure function, so a compiled training step computes the tasks in its own graph."""
    amp, phase, x = (u * scale + offset).split((batch, batch, batch * (k_shot + n_query)))
    x = x.view(batch, k_shot + n_query, 1)
    y = sinusoid(x, amp.view(batch, 1, 1), phase.view(batch, 1, 1))
    (sx, qx), (sy, qy) = x.split((k_shot, n_query), 1), y.split((k_shot, n_query), 1)  # views, in fewer calls
    return Episode(sx, sy, qx, qy, 1, k_shot, n_query, amp, phase)


def make_sinusoid_episode(amplitude: float, phase: float, support_x: Tensor, n_query: int = 200,
                          x_range: tuple[float, float] = (-5.0, 5.0)) -> Episode:
    """A single task from given support x values, with an evenly spaced query grid (for plots)."""
    sx = support_x.reshape(-1, 1).float()
    qx = torch.linspace(x_range[0], x_range[1], n_query).reshape(-1, 1)
    return Episode(sx, sinusoid(sx, amplitude, phase), qx, sinusoid(qx, amplitude, phase), 1,
                   sx.shape[0], n_query, torch.tensor(amplitude), torch.tensor(phase))


def mean_ci95(values: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    """Mean and half-width of the 95% confidence interval (normal approximation, 1.96 * SEM)."""
    n = values.shape[dim]
    mean = values.mean(dim)
    if n < 2:
        return mean, torch.zeros_like(mean)
    return mean, 1.96 * values.std(dim) / math.sqrt(n)

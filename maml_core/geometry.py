"""Why a meta-learned start adapts: the geometry of parameter space around it, on the real networks.

Everything here is a pure function of a params dict (keyed like `named_parameters()`) and tasks:

- `Plane`: a 2-D slice through a point theta, spanned by two orthonormal directions (flattened over every
  tensor). Three constructors: `gradient_plane` (two tasks' inner gradients at theta, Gram-Schmidt: every
  task's first inner step lies in it exactly), `plane_through` (theta and two adapted states phi_1, phi_2,
  which it holds exactly), `random_plane` (filter-normalised random directions, Li, Xu, Taylor, Studer &
  Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018, and their `net_plotter.py`:
  each filter's direction scaled to that filter's norm, biases and other 1-D tensors left at zero).
  `Plane.project` gives a state's coordinates and its distance *off* the plane: a 2-D slice can mislead,
  and the share of a path it shows is part of the picture.
- `loss_grid`: every task's support or query loss over an R x R grid of the plane (one `vmap` over
  grid points and one over tasks).
- `update_directions`: from one theta on one batch of tasks, the MAML and FO-MAML meta-gradients, the
  Reptile update (theta - phi after k inner steps; Nichol, Achiam & Schulman, "On First-Order
  Meta-Learning Algorithms", 2018) and the joint-training (pretrained) gradient, with their norms,
  pairwise cosines and the second-order term (MAML - FO-MAML, the Hessian-vector part of eq. 2).
- `meta_objective`: the mean query loss after m inner steps, at many points at once (m = 0 is what
  pretraining minimises); `line_points` / `Plane.points` make the points.
- `layer_changes`: how far each parameter tensor moves at each inner step (Raghu, Raghu, Bengio &
  Vinyals, "Rapid Learning or Feature Reuse?", ICLR 2020), in absolute terms and relative to the start.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from .algorithm import LossFn, Params, adapt, default_loss, meta_loss_and_grad, network_params, predict, support_output
from .tasks import Episode

METHODS = ("maml", "fomaml", "reptile", "pretrain")  # the update directions `update_directions` returns


# --- flat vectors <-> params dicts ----------------------------------------------------------------------------

def flatten(params: Params) -> Tensor:
    """All tensors of `params` as one vector, in the dict's order."""
    return torch.cat([v.reshape(-1) for v in params.values()])


def unflatten(vector: Tensor, like: Params) -> Params:
    """The inverse of `flatten` for a dict shaped like `like`; a leading batch dimension is kept
    (vector (P, D) -> tensors (P, *shape))."""
    out, i = {}, 0
    lead = vector.shape[:-1]
    for k, v in like.items():
        n = v.numel()
        out[k] = vector[..., i:i + n].reshape((*lead, *v.shape))
        i += n
    return out


def _unit(v: Tensor, what: str, scale: Tensor | None = None) -> Tensor:
    n = v.norm()
    if not torch.isfinite(n) or n <= 1e-5 * (float(scale) if scale is not None else 0.0) or n == 0:
        raise ValueError(f"cannot span a plane: {what} is zero (pick other tasks or another construction)")
    return v / n


def _orthonormal(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Gram-Schmidt: u along a, v the part of b orthogonal to a."""
    u = _unit(a, "the first direction")
    v = _unit(b - (b @ u) * u, "the second direction, once its part along the first is removed,", b.norm())
    return u, v


# --- the plane ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Projection:
    """Where a state lies relative to a plane: coordinates (a, b), its distance off the plane, and that
    distance as a share of its distance from the plane's origin (0 = in the plane, 1 = orthogonal to it)."""

    a: float
    b: float
    off: float
    off_share: float


@dataclass(frozen=True)
class Plane:
    """theta + a u + b v for coordinates (a, b) in parameter-space units (u, v orthonormal, flat (D,))."""

    origin: Params
    u: Tensor
    v: Tensor
    kind: str  # "gradients", "adapted" or "random": which constructor made it

    def point(self, a: float, b: float) -> Params:
        """The params dict at coordinates (a, b)."""
        return unflatten(flatten(self.origin) + a * self.u + b * self.v, self.origin)

    def points(self, a: Tensor, b: Tensor) -> Params:
        """A batch of params dicts, one per pair (a[i], b[i]) (leading dimension P)."""
        flat = flatten(self.origin)[None] + a[:, None] * self.u[None] + b[:, None] * self.v[None]
        return unflatten(flat, self.origin)

    def project(self, state: Params) -> Projection:
        """The coordinates of `state` (its network tensors) and how far off the plane it lies."""
        d = flatten(network_params(state)) - flatten(self.origin)
        a, b = float(d @ self.u), float(d @ self.v)
        off = float((d - a * self.u - b * self.v).norm())
        total = float(d.norm())
        return Projection(a, b, off, off / total if total > 0 else 0.0)


    def project_path(self, states: list[Params]) -> PathProjection:
        """A path of states (adapt's list): each state's coordinates and distance off the plane, and how much of
        each step's displacement from the path's start lies off the plane (0: the plane shows all of it)."""
        o = flatten(self.origin)
        flat = torch.stack([flatten(network_params(s)) for s in states]) - o
        a, b = flat @ self.u, flat @ self.v
        off = (flat - a[:, None] * self.u - b[:, None] * self.v).norm(dim=1)
        moved = flat - flat[0]
        da, db = moved @ self.u, moved @ self.v
        total = moved.norm(dim=1)
        off_moved = (moved - da[:, None] * self.u - db[:, None] * self.v).norm(dim=1)
        share = torch.where(total > 0, off_moved / total.clamp_min(1e-30), torch.zeros_like(total))
        return PathProjection(torch.stack([a, b], 1), off, share)


@dataclass(frozen=True)
class PathProjection:
    """`Plane.project_path`: coords (S+1, 2), off (S+1,) each state's distance off the plane, off_share (S+1,)
    the share of the displacement from the path's start that lies off the plane."""

    coords: Tensor
    off: Tensor
    off_share: Tensor


def _support_grad(model: nn.Module, params: Params, task: Episode) -> Tensor:
    loss = default_loss(task.support_y)
    return flatten(grad(lambda p: loss(support_output(model, p, task.support_x), task.support_y))(params))


def gradient_plane(model: nn.Module, theta: Params, task_1: Episode, task_2: Episode) -> Plane:
    """The plane through theta along two tasks' negative support-loss gradients (each task's first inner step,
    theta - alpha g_i, lies in it for any alpha); u is task 1's direction."""
    theta = network_params(theta)
    u, v = _orthonormal(-_support_grad(model, theta, task_1), -_support_grad(model, theta, task_2))
    return Plane(theta, u, v, "gradients")


def plane_through(theta: Params, phi_1: Params, phi_2: Params) -> Plane:
    """The plane through theta, phi_1 and phi_2 (e.g. two tasks' adapted weights), holding all three exactly."""
    theta = network_params(theta)
    o = flatten(theta)
    u, v = _orthonormal(flatten(network_params(phi_1)) - o, flatten(network_params(phi_2)) - o)
    return Plane(theta, u, v, "adapted")


def filter_normalised_direction(theta: Params, generator: torch.Generator) -> Params:
    """A Gaussian direction with each filter (a row of a weight matrix, an output channel of a conv kernel)
    scaled to the norm of the same filter of theta; 1-D tensors (biases, norm scales) get zero
    (Li et al. 2018, `net_plotter.normalize_directions_for_weights` with ignore='biasbn')."""
    out = {}
    for k, w in theta.items():
        if w.dim() <= 1:
            out[k] = torch.zeros_like(w)
            continue
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        dims = tuple(range(1, w.dim()))
        scale = (torch.linalg.vector_norm(w, dim=dims, keepdim=True)
                 / torch.linalg.vector_norm(d, dim=dims, keepdim=True).clamp_min(1e-12))
        out[k] = d * scale
    return out


def random_plane(theta: Params, seed: int = 0) -> tuple[Plane, float]:
    """A plane through theta along two filter-normalised random directions (orthonormalised), and the length of
    the first of them: Li et al. plot a, b in [-1, 1] of that length, so it is the natural half-width."""
    theta = network_params(theta)
    g = torch.Generator().manual_seed(seed)
    d1, d2 = flatten(filter_normalised_direction(theta, g)), flatten(filter_normalised_direction(theta, g))
    u, v = _orthonormal(d1, d2)
    return Plane(theta, u, v, "random"), float(d1.norm())


# --- losses over the plane --------------------------------------------------------------------------------------

def _task_loss(model: nn.Module, state: Params, task: Episode, which: str) -> Tensor:
    loss = default_loss(task.support_y)
    if which == "support":
        return loss(support_output(model, state, task.support_x), task.support_y)
    return loss(predict(model, state, task.query_x, support_x=task.support_x), task.query_y)


def loss_grid(model: nn.Module, plane: Plane, tasks: Episode, a: Tensor, b: Tensor, *, which: str = "support",
              chunk: int | None = None) -> Tensor:
    """The loss of every task of the batch `tasks` at every grid point (a[j], b[i]): (B, len(b), len(a)),
    rows along b (the plane's v) as a contour plot takes them. `which` is "support" or "query"; an Omniglot
    network that normalises with its task's support set gets it for the query loss. `chunk` bounds how many
    grid points are evaluated at once (memory: a conv net's params times the chunk)."""
    if which not in ("support", "query"):
        raise ValueError(f"which must be 'support' or 'query', got {which!r}")
    bb, aa = torch.meshgrid(b, a, indexing="ij")
    points = plane.points(aa.reshape(-1), bb.reshape(-1))

    def per_point(state):
        return vmap(lambda sx, sy, qx, qy: _task_loss(model, state, Episode(sx, sy, qx, qy), which))(
            tasks.support_x, tasks.support_y, tasks.query_x, tasks.query_y)

    with torch.no_grad():
        values = vmap(per_point, chunk_size=chunk)(points)  # (R*R, B)
    return values.T.reshape(-1, len(b), len(a))


def task_paths(model: nn.Module, start: Params, tasks: Episode, *, steps: int, inner_lr: float,
               only: Collection[str] | None = None) -> tuple[list[Params], Tensor, Tensor]:
    """Every task's inner-step path from `start`, all tasks at once (one `vmap`): the states 0..S (each a params
    dict whose tensors have a leading task dimension T), and the support and query losses (T, S+1). `only` adapts
    just the named tensors (ANIL: `head_names(model)`)."""

    def per_task(sx, sy, qx, qy):
        task = Episode(sx, sy, qx, qy)
        states = adapt(model, start, sx, sy, steps=steps, inner_lr=inner_lr, first_order=True, only=only)
        return (states, torch.stack([_task_loss(model, s, task, "support") for s in states]),
                torch.stack([_task_loss(model, s, task, "query") for s in states]))

    with torch.no_grad():
        return vmap(per_task)(tasks.support_x, tasks.support_y, tasks.query_x, tasks.query_y)


# --- update directions from one theta ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Directions:
    """Where each method would move theta on one batch of tasks, as descent directions (flat (D,)):
    `maml` and `fomaml` are minus the meta-gradients, `reptile` is mean_i(phi_i - theta) after `reptile_steps`
    inner steps, `pretrain` is minus the gradient of the unadapted query loss (joint training)."""

    vectors: dict[str, Tensor]
    reptile_steps: int

    @property
    def second_order(self) -> Tensor:
        """What FO-MAML drops: MAML's direction minus FO-MAML's (the Hessian-vector terms of eq. 2)."""
        return self.vectors["maml"] - self.vectors["fomaml"]

    def second_order_share(self) -> float:
        """|MAML - FO-MAML| / |MAML|: how much of the MAML meta-gradient is the second-order term."""
        n = float(self.vectors["maml"].norm())
        return float(self.second_order.norm()) / n if n > 0 else 0.0

    def norm(self, method: str) -> float:
        return float(self.vectors[method].norm())

    def cosine(self, m1: str, m2: str) -> float:
        a, b = self.vectors[m1], self.vectors[m2]
        d = float(a.norm() * b.norm())
        return float(a @ b) / d if d > 0 else 0.0


def update_directions(model: nn.Module, theta: Params, tasks: Episode, *, steps: int, inner_lr: float,
                      reptile_steps: int = 5, loss: LossFn | None = None) -> Directions:
    """The four update directions from `theta` on the same batch of tasks (support_x (B, K, ...)): MAML and
    FO-MAML with `steps` inner steps of `inner_lr` (meta-gradient on the query sets), Reptile with
    `reptile_steps` inner SGD steps of `inner_lr` on the support sets (as Reptile adapts; it uses no query
    set), and joint training's gradient of the unadapted query loss. `loss` defaults to MSE / cross-entropy."""
    theta = network_params(theta)
    vectors = {}
    for name, first_order, m in (("maml", False, steps), ("fomaml", True, steps), ("pretrain", True, 0)):
        _, g, _ = meta_loss_and_grad(model, theta, tasks, steps=m, inner_lr=inner_lr, first_order=first_order,
                                     loss=loss, track_steps=False)
        vectors[name] = -flatten(g)

    def reptile_phi(sx, sy):
        return flatten(adapt(model, theta, sx, sy, steps=reptile_steps, inner_lr=inner_lr, first_order=True,
                             loss=loss)[-1])

    with torch.no_grad():
        phis = vmap(reptile_phi)(tasks.support_x, tasks.support_y)
    vectors["reptile"] = phis.mean(0) - flatten(theta)
    return Directions({k: vectors[k] for k in METHODS}, reptile_steps)


# --- the meta-objective as inner steps grow ---------------------------------------------------------------------

def line_points(start: Params, end: Params, t: Tensor) -> Params:
    """Points start + t (end - start) for each t (leading dimension len(t)); t = 0 is `start`, 1 is `end`."""
    s, e = flatten(network_params(start)), flatten(network_params(end))
    return unflatten(s[None] + t[:, None] * (e - s)[None], network_params(start))


def meta_objective(model: nn.Module, points: Params, tasks: Episode, *, steps: int, inner_lr: float,
                   chunk: int | None = None) -> Tensor:
    """The mean query loss over the tasks after `steps` inner steps of `inner_lr`, from each of a batch of starts
    `points` (leading dimension P): (P,). steps = 0 is the unadapted (pretraining) objective."""

    def at(start):
        def per_task(sx, sy, qx, qy):
            state = adapt(model, start, sx, sy, steps=steps, inner_lr=inner_lr, first_order=True)[-1]
            return _task_loss(model, state, Episode(sx, sy, qx, qy), "query")
        return vmap(per_task)(tasks.support_x, tasks.support_y, tasks.query_x, tasks.query_y).mean()

    with torch.no_grad():
        return vmap(at, chunk_size=chunk)(points)


# --- what adaptation changes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerChanges:
    """Per parameter tensor and inner step s = 0..S: |theta_s - theta_0| (`absolute`, (S+1, T)), the same over
    |theta_0| (`relative`: NaN where the start is exactly zero, as a zeroed head is) and over |theta_s|
    (`relative_to_adapted`: defined for a zero start from step 1 on). `names` are the tensors, in order."""

    names: tuple[str, ...]
    absolute: Tensor
    relative: Tensor
    relative_to_adapted: Tensor


def layer_changes(states: list[Params]) -> LayerChanges:
    """How far each tensor of `states` (adapt's list, the start first) has moved from the start at each step."""
    start = network_params(states[0])
    names = tuple(start)
    absolute = torch.tensor([[float((network_params(s)[k] - start[k]).norm()) for k in names] for s in states])
    start_norm = torch.tensor([float(start[k].norm()) for k in names])
    now_norm = torch.tensor([[float(network_params(s)[k].norm()) for k in names] for s in states])
    nan = torch.tensor(float("nan"))
    relative = torch.where(start_norm > 0, absolute / start_norm.clamp_min(1e-30), nan)
    to_adapted = torch.where(now_norm > 0, absolute / now_norm.clamp_min(1e-30), nan)
    return LayerChanges(names, absolute, relative, to_adapted)

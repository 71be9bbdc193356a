"""MAML and first-order MAML as pure functions of `(params, batch)`, with `torch.func`.

Inner update (paper eq. 1):   theta'_i = theta - alpha * grad_theta L_Ti(f_theta)          (support set)
Outer update (paper eq. 2):   theta   <- theta - beta * grad_theta sum_i L_Ti(f_theta'_i) (query set)
Second-order MAML differentiates through the inner gradient; FO-MAML treats it as a constant
(`first_order=True`), which is the only thing that flag changes.

Tasks are batched with one `vmap`; the meta-gradient is one `torch.func.grad` around it. Mixing
this with `.backward()` is the slow path (see ../shared/STYLE.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, grad_and_value, vmap

from .tasks import Episode

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def default_loss(y: Tensor) -> LossFn:
    """MSE for float targets (regression), cross-entropy for integer targets (classes)."""
    if y.dtype.is_floating_point:
        return F.mse_loss
    return F.cross_entropy


def predict(model: nn.Module, state: Params, x: Tensor) -> Tensor:
    """The model's output on `x` with the weights `state` (an entry of `adapt`'s list).

    Sinusoid: x (B, 1) -> (B, 1). Omniglot: x (B, 1, 28, 28) -> logits (B, N). Each example is
    processed independently (no batch statistics), so a prediction never depends on its batch.
    """
    return functional_call(model, state, (x,))


def inner_step(model: nn.Module, params: Params, x: Tensor, y: Tensor, inner_lr: float | Tensor,
               first_order: bool, loss: LossFn) -> Params:
    """One gradient step on the support loss (paper eq. 1)."""
    g = grad(lambda p: loss(functional_call(model, p, (x,)), y))(params)
    if first_order:
        g = {k: v.detach() for k, v in g.items()}
    return {k: params[k] - inner_lr * g[k] for k in params}


def adapt(model: nn.Module, params: Params, x: Tensor, y: Tensor, *, steps: int, inner_lr: float,
          first_order: bool = False, loss: LossFn | None = None) -> list[Params]:
    """Adapt `params` to a support set by `steps` gradient steps of size `inner_lr` (alpha).

    Returns `steps + 1` states, the initial one first; each is what `predict` takes. With
    `first_order=False` every state is differentiable with respect to `params` (second-order
    MAML); with `True` the inner gradients are constants (FO-MAML). `loss` defaults to MSE for
    float targets and cross-entropy for integer class targets.
    Shapes: x (K, 1) / y (K, 1) for sinusoid; x (N*K, 1, 28, 28) / y (N*K,) int for Omniglot.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    loss = loss or default_loss(y)
    states = [params]
    for _ in range(steps):
        params = inner_step(model, params, x, y, inner_lr, first_order, loss)
        states.append(params)
    return states


def _task_losses(model: nn.Module, params: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor,
                 steps: int, inner_lr: float, first_order: bool, loss: LossFn,
                 track_steps: bool) -> tuple[Tensor, Tensor]:
    """Query loss after adaptation (differentiable), and detached figures for logging: row 0 the
    query loss after each step 0..steps, row 1 the query accuracy (classification; else zeros).
    Without `track_steps` only the final step is reported."""
    states = adapt(model, params, sx, sy, steps=steps, inner_lr=inner_lr, first_order=first_order, loss=loss)
    classify = not qy.dtype.is_floating_point
    logged = states if track_steps else states[-1:]
    losses, accs = [], []
    final = None
    for i, s in enumerate(logged):
        out = functional_call(model, s, (qx,))
        value = loss(out, qy)
        if i == len(logged) - 1:
            final = value
        losses.append(value.detach())
        accs.append((out.argmax(-1) == qy).float().mean().detach() if classify else torch.zeros(()))
    return final, torch.stack([torch.stack(losses), torch.stack(accs)])


def meta_loss_and_grad(model: nn.Module, params: Params, batch: Episode, *, steps: int, inner_lr: float,
                       first_order: bool = False, loss: LossFn | None = None,
                       track_steps: bool = True) -> tuple[Tensor, Params, Tensor]:
    """Mean query loss over a batch of tasks after adaptation, its gradient w.r.t. `params` (the
    meta-gradient of paper eq. 2), and the logged figures (2, steps + 1): the mean query loss
    (row 0) and query accuracy (row 1, classification only) after each inner step.

    `batch` holds tasks along a leading dimension: support_x (B, N*K, ...), query_x (B, N*Q, ...).
    """
    loss = loss or default_loss(batch.support_y)

    def per_task(p, sx, sy, qx, qy):
        return _task_losses(model, p, sx, sy, qx, qy, steps, inner_lr, first_order, loss, track_steps)

    batched = vmap(per_task, in_dims=(None, 0, 0, 0, 0))

    def objective(p):
        final, logged = batched(p, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        return final.mean(), logged.mean(0)

    grads, (value, logged) = grad_and_value(objective, has_aux=True)(params)
    return value.detach(), grads, logged


def meta_loss_loop(model: nn.Module, params: Params, batch: Episode, *, steps: int, inner_lr: float,
                   first_order: bool = False, loss: LossFn | None = None) -> Tensor:
    """The same meta-loss as `meta_loss_and_grad`, as a plain Python loop over tasks with
    `torch.autograd.grad(create_graph=True)`: the reference the vectorised path is tested and
    benchmarked against. Differentiable w.r.t. `params` (leaves that require grad)."""
    loss = loss or default_loss(batch.support_y)
    total = 0.0
    for i in range(batch.support_x.shape[0]):
        p = params
        for _ in range(steps):
            inner = loss(functional_call(model, p, (batch.support_x[i],)), batch.support_y[i])
            g = torch.autograd.grad(inner, list(p.values()), create_graph=not first_order)
            p = {k: v - inner_lr * gi for (k, v), gi in zip(p.items(), g)}
        total = total + loss(functional_call(model, p, (batch.query_x[i],)), batch.query_y[i])
    return total / batch.support_x.shape[0]


def adapt_curves(model: nn.Module, params: Params, batch: Episode, *, steps: int, inner_lr: float,
                 loss: LossFn | None = None) -> dict[str, Tensor]:
    """Test-time adaptation of a batch of tasks, no meta-gradient.

    Returns per task and step 0..steps: `support_loss` (B, S+1), `query_loss` (B, S+1) and, for
    classification, `query_acc` (B, S+1). Steps are first-order (nothing is differentiated
    through them), which gives exactly the same adapted weights as second-order at test time.
    """
    loss = loss or default_loss(batch.support_y)
    classify = not batch.support_y.dtype.is_floating_point
    params = {k: v.detach() for k, v in params.items()}

    def per_task(sx, sy, qx, qy):
        states = adapt(model, params, sx, sy, steps=steps, inner_lr=inner_lr, first_order=True, loss=loss)
        out = {"support_loss": [], "query_loss": [], "query_acc": []}
        for s in states:
            out["support_loss"].append(loss(functional_call(model, s, (sx,)), sy))
            q = functional_call(model, s, (qx,))
            out["query_loss"].append(loss(q, qy))
            if classify:
                out["query_acc"].append((q.argmax(-1) == qy).float().mean())
        return {k: torch.stack(v) for k, v in out.items() if v}

    with torch.no_grad():
        return vmap(per_task)(batch.support_x, batch.support_y, batch.query_x, batch.query_y)

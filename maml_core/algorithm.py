"""MAML and first-order MAML as pure functions of `(params, batch)`, with `torch.func`.

Inner update (paper eq. 1):   theta'_i = theta - alpha * grad_theta L_Ti(f_theta)          (support set)
Outer update (paper eq. 2):   theta   <- theta - beta * grad_theta sum_i L_Ti(f_theta'_i) (query set)
Second-order MAML differentiates through the inner gradient; FO-MAML treats it as a constant
(`first_order=True`), which is the only thing that flag changes.

Tasks are batched with one `vmap`; the meta-gradient is one `torch.func.grad` around it. A network with
a `tasks_forward` (the sinusoid MLP) has its meta-gradient taken with every task's weights along a
leading dimension and plain `torch.autograd.grad` instead, where torch.func's wrapping of every
operation costs more than the arithmetic (benchmarks/bench_engine.py measures the forms).

Learned inner learning rates (MAML++'s "LSLR", Antoniou, Edwards & Storkey, ICLR 2019): a run with
`TrainConfig.learn_inner_lr` keeps one learning rate per parameter tensor and inner step beside the
weights, in the same params dict under `LR_PREFIX` (so the meta-gradient, Adam, checkpoints and resuming
treat them like any other meta-parameter), and adapts with `inner_lr=LEARNED`.

The network is called in two places only: `support_output` (the support set, which is its own
task context) and `predict` (anything else, given the support set when the network normalises
with task statistics; see `maml_core.models`). `adapt_and_measure` is the one primitive for
"adapt, then measure every state": training, evaluation and the app all use it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad_and_value, vmap

from .models import call
from .tasks import Episode

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
LR_PREFIX = "inner_lr:"  # params[LR_PREFIX + name]: the learned rates (S,) of parameter `name` at inner steps 1..S
LEARNED = "learned"  # inner_lr=LEARNED: adapt with the rates stored in params (a run trained with learn_inner_lr)
InnerLR = float | Tensor | str  # a number (alpha for every tensor and step), or LEARNED


def describe_lr(inner_lr: InnerLR) -> str:
    """An inner learning rate for people: '0.01', or 'learned (per layer and step)' for LSLR's rates."""
    if isinstance(inner_lr, str):
        return "learned (per layer and step)" if inner_lr == LEARNED else inner_lr
    return f"{float(inner_lr):g}"


def network_params(params: Params) -> Params:
    """The network's own weights: `params` without learned learning rates."""
    return {k: v for k, v in params.items() if not k.startswith(LR_PREFIX)}


def _weights(state: Params) -> Params:
    """What the network is called with: `state` itself, or without its learned rates (a checkpoint's params)."""
    return network_params(state) if any(k.startswith(LR_PREFIX) for k in state) else state


def learned_rates(params: Params) -> dict[str, Tensor]:
    """The learned inner learning rates stored in `params`, by parameter name (empty if there are none)."""
    return {k[len(LR_PREFIX):]: v for k, v in params.items() if k.startswith(LR_PREFIX)}


def initial_rates(params: Params, steps: int, inner_lr: float) -> Params:
    """LSLR's starting point (MAML++ code: `torch.ones(steps) * init_inner_loop_learning_rate`): every
    parameter tensor of `params` gets `steps` learning rates equal to `inner_lr`, keyed for a params dict."""
    return {LR_PREFIX + k: torch.full((max(steps, 1),), float(inner_lr), device=v.device)
            for k, v in network_params(params).items()}


def _rates_for(params: Params, inner_lr: InnerLR) -> dict[str, Tensor] | None:
    if not isinstance(inner_lr, str):
        return None
    if inner_lr != LEARNED:
        raise ValueError(f"inner_lr must be a number or {LEARNED!r}, got {inner_lr!r}")
    rates = learned_rates(params)
    if not rates:
        raise ValueError(f"inner_lr={LEARNED!r} needs learned rates in the weights (a run trained with "
                         "--learn-inner-lr); these have none: pass a number instead")
    return rates


def _rate(inner_lr: InnerLR, rates: dict[str, Tensor] | None, name: str, step: int) -> float | Tensor:
    """The learning rate of parameter `name` at 0-based inner step `step`: past the last learned step, the
    last learned rate (the app and evaluation may take more steps than training did)."""
    if rates is None:
        return inner_lr
    r = rates[name]
    return r[min(step, r.shape[0] - 1)]


class SupportSetError(ValueError):
    """A network that normalises with its task's support set was asked to predict without it."""


def default_loss(y: Tensor) -> LossFn:
    """MSE for float targets (regression), cross-entropy for integer targets (classes)."""
    if y.dtype.is_floating_point:
        return F.mse_loss
    return F.cross_entropy


def support_output(model: nn.Module, state: Params, support_x: Tensor) -> Tensor:
    """The output on the support set itself (its own task context; a transductive network uses
    the support batch's statistics, as the paper's does)."""
    return call(model, _weights(state), support_x)


def predict(model: nn.Module, state: Params, x: Tensor, *, support_x: Tensor | None = None) -> Tensor:
    """The model's output on `x` with the weights `state` (an entry of `adapt`'s list).

    Sinusoid: x (B, 1) -> (B, 1); `support_x` is ignored. Omniglot: x (B, 1, 28, 28) -> logits
    (B, N). A network that normalises with task statistics (TaskNorm-I, MetaBN) needs the task's
    `support_x` (the images the state was adapted on); each row of `x` then depends on the support
    set and on itself, never on the other rows. Instance and layer norm need nothing; the paper's
    transductive batch norm normalises `x` with its own batch statistics.
    """
    state = _weights(state)
    context = getattr(model, "context", "none")
    if context != "support":
        return call(model, state, x)
    if support_x is None:
        raise SupportSetError(
            f"this network normalises with its task's support set ({model.norm}): pass the images it was adapted "
            "on, predict(model, state, x, support_x=support_images)")
    n = support_x.shape[0]
    return call(model, state, torch.cat([support_x, x]), n_context=n)[n:]


def inner_step(model: nn.Module, params: Params, x: Tensor, y: Tensor, inner_lr: float | Tensor,
               first_order: bool, loss: LossFn, rates: dict[str, Tensor] | None = None,
               step: int = 0, only: Collection[str] | None = None) -> tuple[Params, Tensor]:
    """One gradient step on the support loss (paper eq. 1); also returns that loss before the step.
    With `rates` (learned, by parameter name) each tensor steps by its own rate at `step`. With `only`, just
    those tensors step (the rest are constants: ANIL adapts the head alone)."""
    if only is None:
        g, value = grad_and_value(lambda p: loss(support_output(model, p, x), y))(params)
    else:
        fixed = {k: v for k, v in params.items() if k not in only}
        g, value = grad_and_value(lambda p: loss(support_output(model, {**fixed, **p}, x), y))(
            {k: params[k] for k in only})
    if first_order:
        g = {k: v.detach() for k, v in g.items()}
    return {k: params[k] - _rate(inner_lr, rates, k, step) * g[k] if k in g else params[k] for k in params}, value


def _adapt(model, params, x, y, steps, inner_lr, first_order, loss, only=None) -> tuple[list[Params], list[Tensor]]:
    rates = _rates_for(params, inner_lr)
    params = _weights(params)  # the states carry no rates
    if only is not None and not set(only) <= set(params):
        raise ValueError(f"only= names tensors the network does not have: {sorted(set(only) - set(params))}")
    states, losses = [params], []
    for s in range(steps):
        params, value = inner_step(model, params, x, y, inner_lr, first_order, loss, rates, s, only)
        states.append(params)
        losses.append(value)
    return states, losses


def head_names(model: nn.Module) -> tuple[str, ...]:
    """The tensors of the network's last layer (its head): what ANIL adapts (Raghu, Raghu, Bengio & Vinyals,
    "Rapid Learning or Feature Reuse?", ICLR 2020)."""
    names = [k for k, _ in model.named_parameters()]
    last = names[-1].rpartition(".")[0]
    return tuple(k for k in names if k.rpartition(".")[0] == last)


def adapt(model: nn.Module, params: Params, x: Tensor, y: Tensor, *, steps: int, inner_lr: InnerLR,
          first_order: bool = False, loss: LossFn | None = None, only: Collection[str] | None = None) -> list[Params]:
    """Adapt `params` to a support set by `steps` gradient steps of size `inner_lr` (alpha; or LEARNED:
    the per-tensor, per-step rates stored in `params`, which the returned states do not carry).

    Returns `steps + 1` states, the initial one first; each is what `predict` takes (with
    `support_x=x` for a task-normalising network). With `first_order=False` every state is
    differentiable with respect to `params` (second-order MAML); with `True` the inner gradients
    are constants (FO-MAML). `loss` defaults to MSE for float targets and cross-entropy for
    integer class targets. `only` adapts just the named tensors (e.g. `head_names(model)`: ANIL).
    Shapes: x (K, 1) / y (K, 1) for sinusoid; x (N*K, 1, 28, 28) / y (N*K,) int for Omniglot.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    return _adapt(model, params, x, y, steps, inner_lr, first_order, loss or default_loss(y), only)[0]


def adapt_and_measure(model: nn.Module, params: Params, support_x: Tensor, support_y: Tensor, query_x: Tensor,
                      query_y: Tensor | None = None, *, steps: int, inner_lr: InnerLR,
                      first_order: bool = True, loss: LossFn | None = None, all_steps: bool = True,
                      support_loss: bool = True, outputs: bool = False,
                      queries_alone: bool = False, only: Collection[str] | None = None) -> dict[str, Tensor]:
    """Adapt to one task, then measure every state 0..S (or, with `all_steps=False`, the last).

    Returns, for the measured states (M = S + 1, or 1), a dict of tensors:
      support_loss (M,)        the loss on the support set (with `support_loss`)
      query_loss (M,)          with `query_y`
      query_acc (M,)           with integer `query_y` (classification)
      query_out (M, Q, ...)    the outputs on `query_x` (with `outputs`)
    Nothing is detached: with `first_order=False` the query losses are differentiable w.r.t.
    `params` (second-order MAML). It works under `vmap` over tasks. `queries_alone` predicts each
    query in a batch of its own (it changes nothing except for the transductive batch norm). `only` adapts just
    the named tensors (ANIL: `head_names(model)`).
    """
    loss = loss or default_loss(support_y)
    states, step_losses = _adapt(model, params, support_x, support_y, steps, inner_lr, first_order, loss, only)
    measured = states if all_steps else states[-1:]
    out: dict[str, list[Tensor]] = {}
    if support_loss:
        known = step_losses if all_steps else []
        out["support_loss"] = known + [loss(support_output(model, s, support_x), support_y)
                                       for s in measured[len(known):]]
    if queries_alone and getattr(model, "context", "none") == "batch":  # others never look at the other queries
        q = [torch.cat([predict(model, s, query_x[i:i + 1]) for i in range(query_x.shape[0])]) for s in measured]
    else:
        q = [predict(model, s, query_x, support_x=support_x) for s in measured]
    if outputs:
        out["query_out"] = q
    if query_y is not None:
        out["query_loss"] = [loss(o, query_y) for o in q]
        if not query_y.dtype.is_floating_point:
            out["query_acc"] = [(o.argmax(-1) == query_y).float().mean() for o in q]
    return {k: torch.stack(v) for k, v in out.items()}



def adapt_starts(model: nn.Module, starts: list[Params], inner_lrs: list[float] | str, support_x: Tensor,
                 support_y: Tensor, eval_x: Tensor, *, steps: int, tasks_at_once: bool | None = None,
                 ) -> dict[str, Tensor]:
    """Several initialisations (same network shape) adapted to one support set under one `vmap`, each with its own
    inner learning rate (or all with `LEARNED`), at test time (no meta-gradient): for every start and state 0..S,
      support_loss (M, S + 1)       the loss on the support set
      eval_out (M, S + 1, G, ...)   the outputs on `eval_x`
    Without support points nothing adapts: only state 0's outputs, and a support loss of nan.
    `model` only lends its structure: it is copied, so a module shared between threads is never swapped into.
    `tasks_at_once` (default: where the model has a `tasks_forward`, the targets are regression targets and the rates
    are numbers) runs the starts' weights along the leading dimension of `tasks_forward`'s, as `adapt_curves` does:
    equal up to float rounding, without torch.func."""
    learned = isinstance(inner_lrs, str)
    if tasks_at_once is None:
        tasks_at_once = hasattr(model, "tasks_forward") and support_y.dtype.is_floating_point and not learned
    if tasks_at_once:
        if learned:
            raise ValueError("tasks_at_once=True adapts with numeric rates; learned rates need the vmap form")
        return _adapt_starts_tasks(model, starts, list(inner_lrs), support_x, support_y, eval_x, steps)
    model = copy.deepcopy(model)  # (functional_call swaps the parameters of the module it is given)
    stacked = {k: torch.stack([p[k] for p in starts]) for k in starts[0]}
    lrs = torch.zeros(len(starts)) if learned else torch.tensor(list(inner_lrs), dtype=torch.float32)

    def one(params: Params, lr: Tensor) -> tuple[Tensor, Tensor]:
        if not len(support_x):
            return predict(model, params, eval_x)[None], torch.full((1,), float("nan"))
        m = adapt_and_measure(model, params, support_x, support_y, eval_x, steps=steps,
                              inner_lr=inner_lrs if learned else lr, outputs=True)
        return m["query_out"], m["support_loss"]

    with torch.no_grad():  # (torch.func.grad inside the adaptation still works)
        out, support = vmap(one)(stacked, lrs)
    return {"support_loss": support, "eval_out": out}


def _adapt_starts_tasks(model: nn.Module, starts: list[Params], inner_lrs: list[float], support_x: Tensor,
                        support_y: Tensor, eval_x: Tensor, steps: int) -> dict[str, Tensor]:
    """`adapt_starts(tasks_at_once=True)`: start i's weights are slice i of `tasks_forward`'s leading dimension,
    every slice adapted to the same support set with its own rate."""
    if not hasattr(model, "tasks_forward"):
        raise ValueError(f"tasks_at_once=True needs a model with tasks_forward; {type(model).__name__} has none")
    n = len(starts)
    w = {k: torch.stack([_weights(p)[k].detach() for p in starts]) for k in _weights(starts[0])}
    lrs = torch.tensor(inner_lrs, dtype=torch.float32)
    sx, sy = support_x.expand(n, *support_x.shape), support_y.expand(n, *support_y.shape)
    ex = eval_x.expand(n, *eval_x.shape)
    if not len(support_x):
        with torch.no_grad():
            return {"support_loss": torch.full((n, 1), float("nan")), "eval_out": model.tasks_forward(w, ex)[:, None]}
    support, outs = [], []
    rate = lambda k, s, v: lrs.view(n, *[1] * (v.ndim - 1))  # noqa: E731  (start i steps by its own rate)
    for state, loss in _tasks_adapted(model, w, sx, sy, steps, rate):
        support.append(loss)
        with torch.no_grad():
            outs.append(model.tasks_forward(state, ex))
    return {"support_loss": torch.stack(support, 1), "eval_out": torch.stack(outs, 1)}


def _tasks_adapted(model: nn.Module, w: Params, support_x: Tensor, support_y: Tensor, steps: int,
                   rate: Callable[[str, int, Tensor], float | Tensor]) -> Iterator[tuple[Params, Tensor]]:
    """Each state 0..steps of the weights `w` (a leading task dimension, `tasks_forward`'s) adapted at test time by
    plain autograd, with its support losses (T,), no graph kept; `rate(name, step, weight)` is the step size."""
    for s in range(steps + 1):
        with torch.enable_grad():
            w = {k: v.detach().requires_grad_(s < steps) for k, v in w.items()}
            loss = _task_mse(model.tasks_forward(w, support_x), support_y)
            g = torch.autograd.grad(loss.sum(), list(w.values())) if s < steps else None
        w = {k: v.detach() for k, v in w.items()}
        yield w, loss.detach()
        if g is not None:
            with torch.no_grad():
                w = {k: v - rate(k, s, v) * gk for (k, v), gk in zip(w.items(), g)}


def meta_loss_and_grad(model: nn.Module, params: Params, batch: Episode, *, steps: int, inner_lr: InnerLR,
                       first_order: bool = False, loss: LossFn | None = None, track_steps: bool = True,
                       step_weights: Tensor | None = None, tasks_at_once: bool | None = None,
                       ) -> tuple[Tensor, Params, Tensor]:
    """Mean query loss over a batch of tasks after adaptation, its gradient w.r.t. `params` (the
    meta-gradient of paper eq. 2), and the logged figures (2, steps + 1): the mean query loss
    (row 0) and query accuracy (row 1, classification only) after each inner step.

    `batch` holds tasks along a leading dimension: support_x (B, N*K, ...), query_x (B, N*Q, ...).
    Without `track_steps` only the final step is logged (one column). `step_weights` (steps + 1,)
    weighs the query loss after every step (MAML++'s multi-step loss); by default only the last counts.
    With `inner_lr=LEARNED` the gradient also holds the learned rates' (the same keys as `params`).

    `tasks_at_once` (default: where the model has a `tasks_forward` and the loss is MSE) runs every task's weights
    along a leading dimension with plain `torch.autograd.grad` instead of `grad(vmap(...))`: the same
    meta-gradient up to float rounding, faster where torch.func's wrapping of every operation costs more than the
    arithmetic (the sinusoid MLP; docs/SPEED.md), and what `torch.compile` traces there (`steps.MetaStep`). It is
    not for use inside a torch.func transform.
    """
    if tasks_at_once is None:
        tasks_at_once = hasattr(model, "tasks_forward") and loss in (None, F.mse_loss) and \
            batch.support_y.dtype.is_floating_point
    if tasks_at_once:
        return _meta_loss_and_grad_tasks(model, params, batch, steps=steps, inner_lr=inner_lr, first_order=first_order,
                                         track_steps=track_steps, step_weights=step_weights)
    loss = loss or default_loss(batch.support_y)
    classify = not batch.support_y.dtype.is_floating_point
    every = track_steps or step_weights is not None

    def per_task(p, sx, sy, qx, qy):
        m = adapt_and_measure(model, p, sx, sy, qx, qy, steps=steps, inner_lr=inner_lr, first_order=first_order,
                              loss=loss, all_steps=every, support_loss=False)
        ql = m["query_loss"]
        objective = ql[-1] if step_weights is None else (step_weights * ql).sum()
        logged = ql if track_steps else ql[-1:]
        acc = (m["query_acc"] if track_steps else m["query_acc"][-1:]) if classify else torch.zeros_like(logged)
        return objective, torch.stack([logged.detach(), acc.detach()])

    batched = vmap(per_task, in_dims=(None, 0, 0, 0, 0))

    def objective(p):
        final, logged = batched(p, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        return final.mean(), logged.mean(0)

    grads, (value, logged) = grad_and_value(objective, has_aux=True)(params)
    return value.detach(), grads, logged


def query_loss_at_start(model: nn.Module, params: Params, batch: Episode) -> Tensor:
    """The mean query MSE of a batch of regression tasks at the unadapted weights (what `meta_loss_and_grad` logs
    for step 0), without a graph."""
    with torch.no_grad():  # every task's points as one batch: 2-D products, the same numbers in fewer operations
        out = call(model, _weights(params), batch.query_x.flatten(0, 1)).view_as(batch.query_y)
        return _task_mse(out, batch.query_y).mean()


def _check_tasks_form(model: nn.Module, batch: Episode) -> None:
    if not hasattr(model, "tasks_forward"):
        raise ValueError(f"tasks_at_once=True needs a model with tasks_forward; {type(model).__name__} has none")
    if not batch.support_y.dtype.is_floating_point:
        raise ValueError("tasks_at_once=True is for regression (MSE); these targets are class labels")


def _task_mse(out: Tensor, y: Tensor) -> Tensor:
    """Each task's mean squared error: (T, B, ...) -> (T,)."""
    return F.mse_loss(out, y, reduction="none").mean(dim=tuple(range(1, out.ndim)))


def _meta_loss_and_grad_tasks(model: nn.Module, params: Params, batch: Episode, *, steps: int, inner_lr: InnerLR,
                              first_order: bool, track_steps: bool, step_weights: Tensor | None,
                              ) -> tuple[Tensor, Params, Tensor]:
    """`meta_loss_and_grad(tasks_at_once=True)`: the same inner and outer updates, every task's weights a slice of
    the leading dimension of `model.tasks_forward`'s. Summing the tasks' support losses gives each task's own
    gradient in its own slice; second order is `create_graph`, first order its absence."""
    _check_tasks_form(model, batch)
    n_tasks = batch.support_x.shape[0]
    with torch.enable_grad():
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        rates = _rates_for(leaves, inner_lr)
        w = {k: v.expand(n_tasks, *v.shape) for k, v in _weights(leaves).items()}
        states = [w]
        for s in range(steps):
            support = _task_mse(model.tasks_forward(w, batch.support_x), batch.support_y).sum()
            g = torch.autograd.grad(support, list(w.values()), create_graph=not first_order, retain_graph=True)
            w = {k: v - _rate(inner_lr, rates, k, s) * gk for (k, v), gk in zip(w.items(), g)}
            states.append(w)
        measured = states if track_steps or step_weights is not None else states[-1:]
        query = torch.stack([_task_mse(model.tasks_forward(m, batch.query_x), batch.query_y) for m in measured], 1)
        objective = query[:, -1] if step_weights is None else (query * step_weights).sum(1)
        value = objective.mean()
        grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True)
    logged = (query if track_steps else query[:, -1:]).detach().mean(0)
    grads = {k: torch.zeros_like(leaves[k]) if gk is None else gk for k, gk in zip(leaves, grads)}
    return value.detach(), grads, torch.stack([logged, torch.zeros_like(logged)])


def meta_loss_loop(model: nn.Module, params: Params, batch: Episode, *, steps: int, inner_lr: float,
                   first_order: bool = False, loss: LossFn | None = None) -> Tensor:
    """The same meta-loss as `meta_loss_and_grad`, as a plain Python loop over tasks with
    `torch.autograd.grad(create_graph=True)`: the reference the vectorised path is tested and
    benchmarked against. Differentiable w.r.t. `params` (leaves that require grad)."""
    loss = loss or default_loss(batch.support_y)
    total = 0.0
    for i in range(batch.support_x.shape[0]):
        p, sx = params, batch.support_x[i]
        for _ in range(steps):
            inner = loss(support_output(model, p, sx), batch.support_y[i])
            g = torch.autograd.grad(inner, list(p.values()), create_graph=not first_order)
            p = {k: v - inner_lr * gi for (k, v), gi in zip(p.items(), g)}
        total = total + loss(predict(model, p, batch.query_x[i], support_x=sx), batch.query_y[i])
    return total / batch.support_x.shape[0]


def adapt_curves(model: nn.Module, params: Params, batch: Episode, *, steps: int, inner_lr: InnerLR,
                 loss: LossFn | None = None, queries_alone: bool = False,
                 only: Collection[str] | None = None, tasks_at_once: bool | None = None) -> dict[str, Tensor]:
    """Test-time adaptation of a batch of tasks, no meta-gradient.

    Returns per task and step 0..steps: `support_loss` (B, S+1), `query_loss` (B, S+1) and, for
    classification, `query_acc` (B, S+1). Steps are first-order (nothing is differentiated
    through them), which gives exactly the same adapted weights as second-order at test time.
    Each query is predicted from the support set and itself only (never from the other queries),
    except with the paper's transductive batch norm, which normalises the whole query batch
    together unless `queries_alone`. `tasks_at_once` as in `meta_loss_and_grad` (by default where the model has a
    `tasks_forward`, the loss is MSE and every tensor adapts): equal up to float rounding, without torch.func.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    params = {k: v.detach() for k, v in params.items()}
    if tasks_at_once is None:
        tasks_at_once = hasattr(model, "tasks_forward") and loss in (None, F.mse_loss) and only is None and \
            batch.support_y.dtype.is_floating_point
    if tasks_at_once:
        if only is not None:
            raise ValueError("tasks_at_once=True adapts every tensor; only= needs the vmap form")
        return _adapt_curves_tasks(model, params, batch, steps, inner_lr)

    def per_task(sx, sy, qx, qy):
        return adapt_and_measure(model, params, sx, sy, qx, qy, steps=steps, inner_lr=inner_lr, loss=loss,
                                 queries_alone=queries_alone, only=only)

    with torch.no_grad():
        return vmap(per_task)(batch.support_x, batch.support_y, batch.query_x, batch.query_y)


def _adapt_curves_tasks(model: nn.Module, params: Params, batch: Episode, steps: int,
                        inner_lr: InnerLR) -> dict[str, Tensor]:
    """`adapt_curves(tasks_at_once=True)`: every task's weights along the leading dimension of `tasks_forward`'s."""
    _check_tasks_form(model, batch)
    rates = _rates_for(params, inner_lr)
    n_tasks = batch.support_x.shape[0]
    w = {k: v.expand(n_tasks, *v.shape) for k, v in _weights(params).items()}
    support, query = [], []
    for state, loss in _tasks_adapted(model, w, batch.support_x, batch.support_y, steps,
                                  lambda k, s, v: _rate(inner_lr, rates, k, s)):
        support.append(loss)
        with torch.no_grad():
            query.append(_task_mse(model.tasks_forward(state, batch.query_x), batch.query_y))
    return {"support_loss": torch.stack(support, 1), "query_loss": torch.stack(query, 1)}

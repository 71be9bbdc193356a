"""The paper's two networks, as plain `nn.Module`s. The algorithm calls them with given weights through `call`
(the MLP's own pure `functional_forward`, or `torch.func.functional_call`), so they never hold adapted weights.

Omniglot normalisation (`ModelConfig.norm`). The paper's batch norm normalises a query batch
with its own statistics (*transductive*): one query's prediction depends on the queries beside
it, and one drawing alone is classified almost at random (TaskNorm, Table 1: 21.6%). Our users
classify one drawing at a time, so the default normalises each layer with the *task's* support
set, blended with each example's own moments: TaskNorm-I (Bronskill, Gordon, Requeima, Nowozin &
Turner, "TaskNorm: Rethinking Batch Normalization for Meta-Learning", ICML 2020, eq. 5 and the
authors' `normalization_layers.py`, cambridge-mlg/cnaps). A query's output then depends on the
support set and on itself, never on other queries. The choices:

    tasknorm_i       mu = a mu_support + (1-a) mu_instance, a = sigmoid(scale * |support| + offset)
    metabn           the support set's moments only (TaskNorm's "MetaBN")
    instance         each example's own moments per channel (no task information)
    layer            each example's moments over all channels (GroupNorm(1, C); checkpoints before v2)
    transductive_bn  the moments of whatever batch is passed (the paper's; for comparison only)

The task-normalising layers are told which rows are the context: `forward(x, n_context)` treats
the first `n_context` rows of `x` as the support set (`None`: every row is). The algorithm's
`predict` appends the queries to the support set, so each layer sees the support activations of
the same weights; `maml_core.algorithm` is the only place that does this.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .config import NORMS, ModelConfig
from .heads import at_chance

Params = dict[str, Tensor]
EPS = 1e-5  # as batch norm


class SinusoidMLP(nn.Module):
    """1-40-40-1 ReLU regression network (paper section 5.1). Input (B, 1), output (B, 1)."""

    context: Literal["none"] = "none"  # never normalises with other examples

    def __init__(self, hidden: tuple[int, ...] = (40, 40)) -> None:
        super().__init__()
        sizes = (1, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)
        self._linears = tuple(f"net.{i}" for i, m in enumerate(self.net) if isinstance(m, nn.Linear))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def functional_forward(self, params: Params, x: Tensor) -> Tensor:
        """`forward` with the weights `params` (keyed like `named_parameters()`), as a pure function: the same
        operations as `functional_call(self, params, (x,))`, so bit-identical, without swapping `params` into the
        module (that swapping was about a fifth of an eager sinusoid meta-step). x (B, 1) -> (B, 1)."""
        *hidden, last = self._linears
        for name in hidden:  # nn.Linear then nn.ReLU, as `self.net` runs them
            x = torch.relu(F.linear(x, params[name + ".weight"], params[name + ".bias"]))
        return F.linear(x, params[last + ".weight"], params[last + ".bias"])

    def tasks_forward(self, params: Params, x: Tensor) -> Tensor:
        """`functional_forward` for T tasks at once, each with its own weights, without `vmap`: `params` hold a
        leading task dimension (T, out, in) / (T, out), x (T, B, 1) -> (T, B, 1). Batched matrix products, so equal
        to `vmap(functional_forward)` up to float rounding (about 1e-7), not bit for bit. Under `torch.compile` each
        product is a broadcast multiply and sum, which inductor turns into loops of its own, fused with what
        surrounds them (faster here than 25 calls of a BLAS routine for such small matrices: docs/SPEED.md)."""
        *hidden, last = self._linears
        if torch.compiler.is_compiling():
            for name in hidden:
                x = torch.relu(_products(x, params[name + ".weight"]) + params[name + ".bias"].unsqueeze(1))
            return _products(x, params[last + ".weight"]) + params[last + ".bias"].unsqueeze(1)
        for name in hidden:
            x = torch.relu(torch.baddbmm(params[name + ".bias"].unsqueeze(1), x,
                                         params[name + ".weight"].transpose(1, 2)))
        return torch.baddbmm(params[last + ".bias"].unsqueeze(1), x, params[last + ".weight"].transpose(1, 2))


def _products(x: Tensor, w: Tensor) -> Tensor:
    """x (T, B, in) times each task's w (T, out, in) transposed, -> (T, B, out), as a multiply and a sum."""
    return (x.unsqueeze(-2) * w.unsqueeze(1)).sum(-1)


def _blend(a: Tensor, mu_1: Tensor, var_1: Tensor, mu_2: Tensor, var_2: Tensor) -> tuple[Tensor, Tensor]:
    """Moments of the mixture a * P1 + (1 - a) * P2 (TaskNorm eq. 5)."""
    mu = a * mu_1 + (1 - a) * mu_2
    var = a * (var_1 + (mu_1 - mu) ** 2) + (1 - a) * (var_2 + (mu_2 - mu) ** 2)
    return mu, var


class Norm2d(nn.Module):
    """Per-channel normalisation with one of `NORMS` (see the module docstring), then batch norm's
    per-channel scale and shift. Input (B, C, H, W); `n_context` as in `OmniglotConvNet.forward`.
    Variances are biased (divide by the count), as batch norm normalises."""

    def __init__(self, channels: int, kind: str) -> None:
        super().__init__()
        if kind not in NORMS:
            raise ValueError(f"unknown normalisation {kind!r}: choose one of {', '.join(NORMS)}")
        self.kind = kind
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        if kind == "tasknorm_i":  # a = sigmoid(scale * |support| + offset); the authors initialise both to 0
            self.scale = nn.Parameter(torch.zeros(()))
            self.offset = nn.Parameter(torch.zeros(()))

    def reset_parameters(self) -> None:
        """The constructor's values: scale 1 and shift 0 (and TaskNorm-I's blend parameters 0)."""
        with torch.no_grad():
            self.weight.fill_(1.0)
            for p in (self.bias, getattr(self, "scale", None), getattr(self, "offset", None)):
                if p is not None:
                    p.zero_()

    def forward(self, x: Tensor, n_context: int | None = None) -> Tensor:
        if self.kind == "layer":
            return F.group_norm(x, 1, self.weight, self.bias, EPS)
        if self.kind == "instance":
            return F.group_norm(x, x.shape[1], self.weight, self.bias, EPS)
        if self.kind == "transductive_bn":
            var, mu = torch.var_mean(x, (0, 2, 3), keepdim=True, correction=0)
        else:
            ctx = x if n_context is None else x[:n_context]  # (S, C, H, W) the support set's activations
            var, mu = torch.var_mean(ctx, (0, 2, 3), keepdim=True, correction=0)
            if self.kind == "tasknorm_i":
                a = torch.sigmoid(self.scale * ctx.shape[0] + self.offset)
                var_i, mu_i = torch.var_mean(x, (2, 3), keepdim=True, correction=0)
                mu, var = _blend(a, mu, var, mu_i, var_i)
        y = (x - mu) * torch.rsqrt(var + EPS)
        return y * self.weight[:, None, None] + self.bias[:, None, None]


class ConvBlock(nn.Module):
    """3x3 conv (stride 2 downsamples by 2), normalisation, ReLU."""

    def __init__(self, c_in: int, c_out: int, norm: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.norm = Norm2d(c_out, norm)

    def forward(self, x: Tensor, n_context: int | None = None) -> Tensor:
        return torch.relu(self.norm(self.conv(x), n_context))


class OmniglotConvNet(nn.Module):
    """4 x [3x3 conv 64, norm, ReLU, stride-2 downsampling] + linear head (paper section 5.2).

    Input (B, 1, 28, 28) with ink = 1 and paper = 0; output logits (B, n_way).
    Spatial sizes: 28 -> 14 -> 7 -> 4 -> 2, so the head sees 64 * 2 * 2 = 256 features.
    `forward(x, n_context)`: the first `n_context` rows of `x` are the task's support set, whose
    moments the task-normalising layers use for every row (`None`: all rows are the support set).
    `context` says what a prediction needs: "support" (tasknorm_i, metabn), "batch"
    (transductive_bn: the batch itself) or "none" (instance, layer).
    """

    def __init__(self, n_way: int = 5, channels: int = 64, norm: str = "tasknorm_i") -> None:
        super().__init__()
        self.norm = norm
        self.context = {"tasknorm_i": "support", "metabn": "support", "transductive_bn": "batch"}.get(norm, "none")
        self.features = nn.ModuleList([ConvBlock(1, channels, norm), ConvBlock(channels, channels, norm),
                                       ConvBlock(channels, channels, norm), ConvBlock(channels, channels, norm)])
        self.head = nn.Linear(channels * 2 * 2, n_way)

    def embed(self, x: Tensor, n_context: int | None = None) -> Tensor:
        """The 256 features the head reads, (B, 256)."""
        for block in self.features:
            x = block(x, n_context)
        return x.flatten(1)

    def forward(self, x: Tensor, n_context: int | None = None) -> Tensor:
        return self.head(self.embed(x, n_context))


M = TypeVar("M", bound=nn.Module)


def seeded(make: Callable[[], M], seed: int) -> M:
    """`make()` with the weights that `torch.manual_seed(seed); make()` gives (PyTorch's default initialisation of
    each layer, in the order the constructor builds them), drawn from a generator of this call's own: torch's
    global RNG is neither read nor changed, so seeding is safe from any thread. The network is built on the meta
    device (no memory, no draws) and then initialised; a layer kind without a rule here is refused."""
    with torch.device("meta"):
        model = make()
    # to_empty()'s empty_like(preserve_format) on meta tensors imports sympy, which nothing else eager needs
    model = model._apply(lambda t: torch.empty_like(t, device="cpu", memory_format=torch.contiguous_format))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):  # as their reset_parameters(), from `g`
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
                if m.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                    nn.init.uniform_(m.bias, -bound, bound, generator=g)
            elif isinstance(m, Norm2d):
                m.reset_parameters()
            elif any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
                raise TypeError(f"seeded() has no initialisation rule for {name or 'the model'} "
                                f"({type(m).__name__}): add one to maml_core.models.seeded")
    return model


def build_model(config: ModelConfig, seed: int | None = None) -> nn.Module:
    """The network a `ModelConfig` describes, freshly initialised (PyTorch defaults; the head as
    `config.head` says: zero, or one shared row, for a start at chance). With `seed`, the weights are
    those `torch.manual_seed(seed)` then `build_model(config)` gives, without touching the global RNG
    (see `seeded`); without it, they are drawn from the global RNG, as any `nn.Module`'s."""
    if config.kind == "mlp":
        return SinusoidMLP(tuple(config.hidden)) if seed is None else seeded(
            lambda: SinusoidMLP(tuple(config.hidden)), seed)
    if config.kind == "conv":
        make = lambda: OmniglotConvNet(config.n_out, config.channels, config.norm)  # noqa: E731
        model = make() if seed is None else seeded(make, seed)
        at_chance(dict(model.head.named_parameters(prefix="head")), config.head, row="first")
        return model
    raise ValueError(f"unknown model kind {config.kind!r}: use 'mlp' or 'conv'")


def call(model: nn.Module, params: Params, x: Tensor, **kwargs: object) -> Tensor:
    """`model(x, **kwargs)` with the weights `params` instead of its own: the model's `functional_forward` where it
    has one (a pure function of the weights), else `torch.func.functional_call`. The one place the engine runs a
    network with given weights."""
    pure = getattr(model, "functional_forward", None)
    if pure is not None:
        return pure(params, x, **kwargs)
    return functional_call(model, params, (x,), kwargs)


def get_params(model: nn.Module) -> Params:
    """A detached copy of the model's parameters, keyed like `named_parameters()`."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

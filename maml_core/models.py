"""The paper's two networks, as plain `nn.Module`s (the algorithm calls them through
`torch.func.functional_call`, so they never hold adapted weights).

Omniglot normalisation: the paper uses batch norm with the statistics of the current batch, so
one query's prediction depends on the other queries beside it. Our users classify one drawing at
a time, so we normalise each example on its own: `GroupNorm(1, C)` (layer norm over C x H x W
with a per-channel scale and shift, like batch norm's). It works under `vmap`, is identical at
train and test time, and makes per-query and batched evaluation give the same numbers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import ModelConfig

Params = dict[str, Tensor]


class SinusoidMLP(nn.Module):
    """1-40-40-1 ReLU regression network (paper section 5.1). Input (B, 1), output (B, 1)."""

    def __init__(self, hidden: tuple[int, ...] = (40, 40)) -> None:
        super().__init__()
        sizes = (1, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvBlock(nn.Module):
    """3x3 conv (stride 2 downsamples by 2), per-example norm, ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(1, c_out)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.norm(self.conv(x)))


class OmniglotConvNet(nn.Module):
    """4 x [3x3 conv 64, norm, ReLU, stride-2 downsampling] + linear head (paper section 5.2).

    Input (B, 1, 28, 28) with ink = 1 and paper = 0; output logits (B, n_way).
    Spatial sizes: 28 -> 14 -> 7 -> 4 -> 2, so the head sees 64 * 2 * 2 = 256 features.
    """

    def __init__(self, n_way: int = 5, channels: int = 64) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBlock(1, channels), ConvBlock(channels, channels),
            ConvBlock(channels, channels), ConvBlock(channels, channels),
        )
        self.head = nn.Linear(channels * 2 * 2, n_way)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))


def build_model(config: ModelConfig) -> nn.Module:
    """The network a `ModelConfig` describes, freshly initialised (PyTorch defaults)."""
    if config.kind == "mlp":
        return SinusoidMLP(tuple(config.hidden))
    if config.kind == "conv":
        return OmniglotConvNet(config.n_out, config.channels)
    raise ValueError(f"unknown model kind {config.kind!r}: use 'mlp' or 'conv'")


def get_params(model: nn.Module) -> Params:
    """A detached copy of the model's parameters, keyed like `named_parameters()`."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

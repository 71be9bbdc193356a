"""The N-way classifier head, in one place: every way the engine sets, keeps, reshapes or replaces it.

A head is the pair `head.weight` (N, features) and `head.bias` (N,) of the conv network. Its modes
(`ModelConfig.head`): "zero", the zeroing trick (Kao, Chao & Lee, "MAML is a noisy contrastive learner in
classification", ICLR 2022: zero at the start and after every outer step, so every task starts at exactly 1/N);
"shared", UNICORN-MAML's single row copied to every class (Ye & Chao, "How to train your MAML to excel in few-shot
classification", ICLR 2022); "learned", the paper's free head.
"""

from __future__ import annotations

import torch
from torch import Tensor

Params = dict[str, Tensor]
NAMES = ("head.weight", "head.bias")


def at_chance(params: Params, mode: str, row: str = "mean") -> None:
    """In place: a start at chance for `mode` ("zero": all zero; "shared": every row the same, the rows' mean,
    or with `row="first"` the first row, as a fresh network gets it). "learned" changes nothing."""
    with torch.no_grad():
        for k in NAMES:
            if mode == "zero":
                params[k].zero_()
            elif mode == "shared":
                one = params[k][:1].clone() if row == "first" else params[k].mean(0, keepdim=True)
                params[k].copy_(one.expand_as(params[k]))


def shared_gradient(grads: Params, mode: str) -> None:
    """In place, for "shared": UNICORN-MAML meta-learns one row w, copied to all N classes, so w's gradient is the sum
    of the N rows' gradients; every row gets that sum, which keeps the rows equal under Adam (it acts element-wise)."""
    if mode == "shared":
        for k in NAMES:
            grads[k] = grads[k].sum(0, keepdim=True).expand_as(grads[k]).contiguous()


def fresh_zero(params: Params, n_way: int) -> Params:
    """The trained features with a new, zero N-way head (the transfer baseline's test-time network: fine-tuning on
    the support set learns it). New tensors; `params` is not modified."""
    out = {k: v.detach().clone() for k, v in params.items() if k not in NAMES}
    w = params["head.weight"]
    out["head.weight"] = torch.zeros(n_way, w.shape[1], dtype=w.dtype, device=w.device)
    out["head.bias"] = torch.zeros(n_way, dtype=w.dtype, device=w.device)
    return out


def fit(params: Params, n_way: int) -> Params:
    """An N-way network from a checkpoint with some other number of outputs, the same features either way.

    Fewer ways: the head's first N outputs (softmax over a subset of logits is the classifier restricted to those
    classes; the first inner step trains exactly these N rows). More ways: possible only when every row of the
    head is the same (the zeroing trick's zero head, or UNICORN-MAML's shared row), because then the start does
    not depend on which class is which: the head is that row repeated N times. New tensors: the checkpoint is never
    modified. Raises `ValueError` with what to do otherwise.
    """
    w, b = params["head.weight"], params["head.bias"]
    width = w.shape[0]
    out = dict(params)
    if 1 <= n_way <= width:
        out["head.weight"], out["head.bias"] = w[:n_way], b[:n_way]
        return out
    if n_way > width and bool((w == w[:1]).all()) and bool((b == b[:1]).all()):
        out["head.weight"], out["head.bias"] = w[:1].repeat(n_way, 1), b[:1].repeat(n_way)
        return out
    raise ValueError(f"this network's head learned {width} classes, so it cannot classify {n_way} ways; choose at "
                     f"most {width} ways")

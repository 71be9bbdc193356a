"""maml_core.adam: the same weights as torch.optim.Adam(fused=True), and the same state-dict layout."""

from __future__ import annotations

import pytest
import torch

from maml_core.adam import Adam

SHAPES = {"w1": (40, 1), "b1": (40,), "w2": (1, 40), "lr.0": ()}


def _pair(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ours = {k: torch.randn(s, generator=g) for k, s in SHAPES.items()}
    theirs = {k: v.clone().requires_grad_() for k, v in ours.items()}
    return ours, theirs


def _steps(ours, theirs, opt, ref, n, g):
    for t in range(n):
        grads = {k: torch.randn(s, generator=g) * 10 ** (t % 5 - 2) for k, s in SHAPES.items()}
        lr = 1e-3 * (1 + t % 3)  # a schedule: the rate changes between steps
        opt.lr = lr
        for group in ref.param_groups:
            group["lr"] = lr
        opt.step(grads)
        for k, p in theirs.items():
            p.grad = grads[k]
        ref.step()
        ref.zero_grad(set_to_none=True)


def test_adam_gives_torch_optims_fused_adam_weights_bit_for_bit():
    ours, theirs = _pair()
    opt, ref = Adam(ours, lr=1e-3), torch.optim.Adam(theirs.values(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(1)
    _steps(ours, theirs, opt, ref, 200, g)
    for k in SHAPES:
        assert torch.equal(ours[k], theirs[k].detach()), k
    assert not torch.equal(ours["w1"], _pair()[0]["w1"])  # it moved


def test_adam_state_dicts_resume_in_either_direction():
    ours, theirs = _pair()
    opt, ref = Adam(ours, lr=1e-3), torch.optim.Adam(theirs.values(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(2)
    _steps(ours, theirs, opt, ref, 30, g)
    # Ours continues from torch's state (a training state written before this class), and torch from ours.
    ours2 = {k: v.detach().clone() for k, v in theirs.items()}
    opt2 = Adam(ours2, lr=99.0)
    opt2.load_state_dict(ref.state_dict())
    theirs2 = {k: v.clone().requires_grad_() for k, v in ours.items()}
    ref2 = torch.optim.Adam(theirs2.values(), lr=99.0, fused=True)
    ref2.load_state_dict(opt.state_dict())
    assert opt2.lr == ref2.param_groups[0]["lr"] == opt.lr
    _steps(ours2, theirs2, opt2, ref2, 30, torch.Generator().manual_seed(3))
    _steps(ours, theirs, opt, ref, 30, torch.Generator().manual_seed(3))
    for k in SHAPES:
        assert torch.equal(ours2[k], ours[k]) and torch.equal(theirs2[k].detach(), ours[k]), k


def test_adam_refuses_a_state_for_other_weights():
    ours, theirs = _pair()
    opt = Adam(ours, lr=1e-3)
    with pytest.raises(ValueError, match="none for w2"):
        opt.step({k: torch.ones(s) for k, s in SHAPES.items() if k != "w2"})
    ref = torch.optim.Adam(theirs.values(), lr=1e-3, fused=True)
    for skip in ((), ("w2",)):  # torch's Adam leaves a weight without a gradient, and its step count, alone
        for k, p in theirs.items():
            p.grad = None if k in skip else torch.ones_like(p)
        ref.step()
    with pytest.raises(ValueError, match=r"stepped different numbers of times \(1, 2\)"):
        Adam({k: v.clone() for k, v in ours.items()}, lr=1e-3).load_state_dict(ref.state_dict())
    fresh = Adam({k: v.clone() for k, v in ours.items()}, lr=1e-3)
    fresh.load_state_dict(torch.optim.Adam(theirs.values(), lr=2e-3, fused=True).state_dict())  # before any step
    assert fresh.count is None and fresh.lr == 2e-3
    opt.step({k: torch.ones(s) for k, s in SHAPES.items()})
    fewer = Adam({k: v for k, v in list(ours.items())[:2]}, lr=1e-3)
    with pytest.raises(ValueError, match="for 4 weights"):
        fewer.load_state_dict(opt.state_dict())
    reshaped = Adam({k: (torch.zeros(3) if k == "w1" else v) for k, v in ours.items()}, lr=1e-3)
    with pytest.raises(ValueError, match=r"shape \(40, 1\) for a weight of shape \(3,\)"):
        reshaped.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="0 or more"):
        Adam(ours, lr=float("nan"))

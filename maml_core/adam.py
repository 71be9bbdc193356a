"""Adam (Kingma & Ba, ICLR 2015) for a params dict: PyTorch's fused Adam kernel, called as
`torch.optim.Adam(fused=True)` calls it, so the weights match it bit for bit, without `torch.optim.Optimizer`,
whose first use imports `torch._dynamo` (most of a short CLI run's start-up). Its state dict has
`torch.optim.Adam`'s layout, so training states written by either resume with the other."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

Params = dict[str, Tensor]


class Adam:
    """Adam over `params` (updated in place by `step`); `lr` may change between steps (a schedule). Every step updates
    every weight, so one step count serves them all."""

    def __init__(self, params: Params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if not lr >= 0.0:
            raise ValueError(f"Adam's learning rate must be 0 or more, not {lr}")
        self.params, self.lr, self.betas, self.eps = params, float(lr), betas, eps
        # Created at the first step, as torch.optim.Adam does: the step count (a float32 tensor), and m, v per weight.
        self.count: Tensor | None = None
        self.moments: dict[str, tuple[Tensor, Tensor]] = {}

    def step(self, grads: Params) -> None:
        """One Adam update of every weight, with its gradient in `grads`."""
        if missing := [k for k in self.params if grads.get(k) is None]:
            raise ValueError(f"Adam.step needs a gradient for every weight; none for {', '.join(missing)}")
        if self.count is None:
            first = next(iter(self.params.values()))
            self.count = torch.tensor(0.0, dtype=torch.float32, device=first.device)
            self.moments = {k: (torch.zeros_like(p), torch.zeros_like(p)) for k, p in self.params.items()}
        ms, vs = (list(t) for t in zip(*self.moments.values()))
        with torch.no_grad():
            self.count.add_(1)
            torch._fused_adam_(list(self.params.values()), [grads[k] for k in self.params], ms, vs, [],
                               [self.count] * len(ms), amsgrad=False, lr=self.lr, beta1=self.betas[0],
                               beta2=self.betas[1], weight_decay=0.0, eps=self.eps, maximize=False)

    def state_dict(self) -> dict[str, Any]:
        """The state as `torch.optim.Adam(list(params.values()), fused=True).state_dict()` lays it out."""
        state = {i: {"step": self.count.clone(), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
                 for i, (m, v) in enumerate(self.moments.values())}
        group = {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": 0.0, "amsgrad": False,
                 "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": True,
                 "decoupled_weight_decay": False, "params": list(range(len(self.params)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore a state written by `state_dict` or by `torch.optim.Adam` over the same weights in the same order."""
        groups = saved.get("param_groups") or [{}]
        order = [i for g in groups for i in g.get("params", [])]
        if len(groups) != 1 or len(order) != len(self.params):
            raise ValueError(f"the saved optimiser state is for {len(order)} weights in {len(groups)} groups; "
                             f"this run has {len(self.params)} weights in one")
        group, names, state = groups[0], list(self.params), saved["state"]
        self.lr, self.betas, self.eps = float(group["lr"]), tuple(group["betas"]), float(group["eps"])
        if not state:  # saved before the first step
            self.count, self.moments = None, {}
            return
        if len(state) != len(names):
            raise ValueError(f"the saved optimiser state has moments for {len(state)} of {len(names)} weights")
        counts = {float(s["step"]) for s in state.values()}
        if len(counts) != 1:
            raise ValueError(f"the saved optimiser state's weights were stepped different numbers of times "
                             f"({', '.join(str(int(c)) for c in sorted(counts))}); this Adam steps them together")
        first = self.params[names[0]]
        self.count = torch.tensor(counts.pop(), dtype=torch.float32, device=first.device)
        self.moments = {}
        for i, s in state.items():
            name = names[order.index(int(i))]
            p = self.params[name]
            if s["exp_avg"].shape != p.shape:
                raise ValueError(f"the saved optimiser state has shape {tuple(s['exp_avg'].shape)} for a weight of "
                                 f"shape {tuple(p.shape)}")
            self.moments[name] = (s["exp_avg"].to(p).clone(), s["exp_avg_sq"].to(p).clone())
        self.moments = {k: self.moments[k] for k in names}  # in the weights' order, as step() pairs them

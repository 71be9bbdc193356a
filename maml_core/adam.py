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
    """Adam over `params` (updated in place by `step`); `lr` may change between steps (a schedule)."""

    def __init__(self, params: Params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if not lr >= 0.0:
            raise ValueError(f"Adam's learning rate must be 0 or more, not {lr}")
        self.params, self.lr, self.betas, self.eps = params, float(lr), betas, eps
        # Created at the first step, as torch.optim.Adam does: (step count as a float32 tensor, m, v) per weight.
        self.state: dict[str, tuple[Tensor, Tensor, Tensor]] = {}

    def step(self, grads: Params) -> None:
        """One Adam update of every weight that has a gradient in `grads`."""
        names = [k for k in self.params if grads.get(k) is not None]
        if not names:
            return
        for k in names:
            if k not in self.state:
                p = self.params[k]
                self.state[k] = (torch.tensor(0.0, dtype=torch.float32, device=p.device),
                                 torch.zeros_like(p), torch.zeros_like(p))
        steps, ms, vs = (list(t) for t in zip(*(self.state[k] for k in names)))
        with torch.no_grad():
            torch._foreach_add_(steps, 1)
            torch._fused_adam_([self.params[k] for k in names], [grads[k] for k in names], ms, vs, [], steps,
                               amsgrad=False, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
                               weight_decay=0.0, eps=self.eps, maximize=False)

    def state_dict(self) -> dict[str, Any]:
        """The state as `torch.optim.Adam(list(params.values()), fused=True).state_dict()` lays it out."""
        index = {k: i for i, k in enumerate(self.params)}
        state = {index[k]: {"step": s.clone(), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
                 for k, (s, m, v) in self.state.items()}
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
        group = groups[0]
        self.lr, self.betas, self.eps = float(group["lr"]), tuple(group["betas"]), float(group["eps"])
        names = list(self.params)
        self.state = {}
        for i, s in saved["state"].items():
            p = self.params[names[order.index(int(i))]]
            if s["exp_avg"].shape != p.shape:
                raise ValueError(f"the saved optimiser state has shape {tuple(s['exp_avg'].shape)} for a weight of "
                                 f"shape {tuple(p.shape)}")
            step = torch.as_tensor(s["step"], dtype=torch.float32).to(p.device)
            self.state[names[order.index(int(i))]] = (step.clone(), s["exp_avg"].to(p).clone(),
                                                      s["exp_avg_sq"].to(p).clone())

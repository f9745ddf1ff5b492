"""LaProp (Ziyin et al. 2020) with debiased betas, as the paper trained with (docs/theory.md §3).

Per step k (1-based), with β̃ = 1 − (1 − β)/(1 − β^k):

    ν ← β̃₂ ν + (1 − β̃₂) g²
    m ← β̃₁ m + (1 − β̃₁) g / (√ν + ε)
    θ ← θ − lr · (m + wd · θ)

Debiasing the betas (rather than the moments) makes the first step's ν equal
g² and m equal g/(|g| + ε), so no separate bias correction is needed.
"""

from __future__ import annotations

import torch


class LaProp(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            beta1, beta2 = group["betas"]
            ms, nus, grads = [], [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                ms.append(state["exp_avg"])
                nus.append(state["exp_avg_sq"])
                grads.append(p.grad)
            k = float(self.state[params[0]]["step"])
            b1 = 1.0 - (1.0 - beta1) / (1.0 - beta1 ** k)
            b2 = 1.0 - (1.0 - beta2) / (1.0 - beta2 ** k)
            torch._foreach_mul_(nus, b2)
            torch._foreach_addcmul_(nus, grads, grads, value=1.0 - b2)
            denom = torch._foreach_sqrt(nus)
            torch._foreach_add_(denom, group["eps"])
            torch._foreach_mul_(ms, b1)
            torch._foreach_addcdiv_(ms, grads, denom, value=1.0 - b1)
            if group["weight_decay"]:
                torch._foreach_add_(params, params, alpha=-group["lr"] * group["weight_decay"])
            torch._foreach_add_(params, ms, alpha=-group["lr"])
        return loss

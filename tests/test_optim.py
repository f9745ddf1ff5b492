"""Optimizers and the WSD schedule, checked against the update rules written out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from difflaws.builtins.optimizers import AdamWConfig, LaPropConfig
from difflaws.model.records import ParamRecord
from difflaws.optim.groups import param_groups
from difflaws.optim.schedule import apply_lr, wsd_multiplier
from difflaws.errors import UserError


def test_wsd_warmup_constant_cooldown():
    total, warm = 100, 10
    assert [wsd_multiplier(k, total, warm, 0.0) for k in (0, 4, 9, 10, 99)] == \
        [0.1, 0.5, 1.0, 1.0, 1.0]
    # 20% cooldown: steps 80..99, j = 1..20, factor 1 - sqrt(j/20)
    assert wsd_multiplier(79, total, warm, 0.2) == 1.0
    assert wsd_multiplier(80, total, warm, 0.2) == pytest.approx(1 - math.sqrt(1 / 20))
    assert wsd_multiplier(84, total, warm, 0.2) == pytest.approx(1 - math.sqrt(5 / 20))
    assert wsd_multiplier(99, total, warm, 0.2) == 0.0
    assert wsd_multiplier(0, total, 0, 0.0) == 1.0


def model_and_records():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    records = []
    for name, p in model.named_parameters():
        if p.ndim == 2:
            records.append(ParamRecord(name, "hidden", None, lr_mult=0.25, wd_mult=4.0, eps=1e-9))
        else:
            records.append(ParamRecord(name, "bias", None, lr_mult=0.02))
    return model, records


def test_groups_and_schedule_keep_lr_mult():
    model, records = model_and_records()
    groups = param_groups(model.named_parameters(), records, weight_decay=0.1, eps=1e-8)
    by = {g["group"]: g for g in groups}
    assert len(by["hidden"]["params"]) == 2 and len(by["bias"]["params"]) == 2
    assert by["hidden"]["weight_decay"] == pytest.approx(0.4) and by["bias"]["weight_decay"] == 0
    assert (by["hidden"]["eps"], by["bias"]["eps"]) == (1e-9, 1e-8)
    opt = AdamWConfig(lr=0.5).build(model.named_parameters(), records)
    for mult in (0.1, 1.0, 0.3):  # repeated scheduling never compounds
        apply_lr(opt, 0.5, mult)
        lrs = {g["group"]: g["lr"] for g in opt.param_groups}
        assert lrs == pytest.approx({"hidden": 0.5 * mult * 0.25, "bias": 0.5 * mult * 0.02})
    with pytest.raises(UserError, match="no record"):
        param_groups(model.named_parameters(), records[:1], 0.0, 1e-8)


def laprop_by_hand(theta, grads, lr, b1, b2, eps, wd):
    """Scalar LaProp from docs/theory.md §3, debiased betas, in plain floats."""
    m = nu = 0.0
    for k, g in enumerate(grads, start=1):
        bb1 = 1 - (1 - b1) / (1 - b1 ** k)
        bb2 = 1 - (1 - b2) / (1 - b2 ** k)
        nu = bb2 * nu + (1 - bb2) * g * g
        m = bb1 * m + (1 - bb1) * g / (math.sqrt(nu) + eps)
        theta = theta - lr * (m + wd * theta)
    return theta


def test_laprop_matches_the_written_update_rule():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.tensor([0.7, -1.3, 2.0], dtype=torch.float64))
    grads = torch.randn(6, 3, dtype=torch.float64)
    opt = LaPropConfig(lr=0.01, betas=[0.9, 0.98], eps=1e-8, weight_decay=0.1).build(
        [("w", p)], [ParamRecord("w", "hidden", None, lr_mult=1.0, wd_mult=1.0)])
    apply_lr(opt, 0.01, 1.0)
    start = p.detach().clone()
    for g in grads:
        p.grad = g.clone()
        opt.step()
    for i in range(3):
        expect = laprop_by_hand(float(start[i]), grads[:, i].tolist(), 0.01, 0.9, 0.98, 1e-8, 0.1)
        assert float(p.detach()[i]) == pytest.approx(expect, rel=1e-12)


def test_laprop_first_step_is_a_sign_step():
    # k = 1: both debiased betas are 0, so m = g/(|g| + eps) and the step is lr·sign(g)
    p = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    opt = LaPropConfig(lr=0.1).build([("w", p)], [ParamRecord("w", "hidden", None)])
    apply_lr(opt, 0.1, 1.0)
    p.grad = torch.tensor([3.0, -1e-3])
    opt.step()
    assert p.tolist() == pytest.approx([0.9, 1.1], rel=1e-5)


def test_bad_betas_name_the_field():
    from difflaws.errors import FieldError

    with pytest.raises(FieldError, match="betas"):
        LaPropConfig(betas=[0.9, 1.0])

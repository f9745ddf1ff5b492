"""Card sizes, and the fewest cards of a size that hold a run."""

from __future__ import annotations

import re

from difflaws.plan.memory import Footprint, MemoryEstimate, gib, min_devices
from difflaws.errors import UserError

DEFAULT_CARDS = ("80GB", "141GB")  # H100/A100 80 GB and H200 141 GB
UNITS = {"": 1, "B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12,
         "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "TIB": 2 ** 40}


def parse_bytes(text: str) -> int:
    """``"80GB"`` → 80·10⁹, ``"80GiB"`` → 80·2³⁰ (vendors' GB are decimal)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in UNITS or float(match.group(1)) <= 0:
        raise UserError(f"--gpu-mem {text!r}: write a size such as 80GB, 141GB or 96GiB")
    return int(float(match.group(1)) * UNITS[unit])


def card_plans(fp: Footprint, batch_size: int, cards=DEFAULT_CARDS, micro_batch: int = 1,
               precision: str = "bf16") -> dict[str, MemoryEstimate | None]:
    """Per card size: FSDP2 with activation checkpointing on the fewest cards that fit."""
    return {card: min_devices(fp, parse_bytes(card), batch_size, micro_batch=micro_batch,
                              strategy="fsdp2", activation_checkpointing=True,
                              precision=precision)
            for card in cards}


def describe_cards(plans: dict) -> list[str]:
    lines = []
    for card, est in plans.items():
        if est is None:
            lines.append(f"  {card:>7}: does not fit on any number of cards at micro-batch 1")
        else:
            lines.append(f"  {card:>7}: {est.setup.world_size} GPU(s), "
                         f"{gib(est.total)} per device "
                         f"(fsdp2 + activation checkpointing, micro-batch {est.setup.micro_batch})")
    return lines


def cards_json(plans: dict) -> dict:
    return {card: (None if est is None else {"min_gpus": est.setup.world_size, **est.as_dict()})
            for card, est in plans.items()}

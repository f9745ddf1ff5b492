"""Prompt-prefix lengths: floor(f·(T − 1)) + 1 tokens with CDF(f) = (1 − cos πf)/2."""

from __future__ import annotations

import math

import pytest
import torch

import difflaws.noise as noise
from noise_helpers import MASK, V, clean_tokens

ROWS = 40_000
MISS_PROBABILITY = 1e-6  # the chance that a correct implementation fails the band below
# Dvoretzky–Kiefer–Wolfowitz: P(sup |F_n − F| > ε) ≤ 2·exp(−2nε²), also for discrete F
DKW_BAND = math.sqrt(math.log(2 / MISS_PROBABILITY) / (2 * ROWS))


def prefix_lengths(seq_len: int, prompt_fraction: float, seed: int) -> torch.Tensor:
    proc = noise.build("masked", V, MASK, prompt_fraction=prompt_fraction,
                       per_token_fraction=0.0)
    g = torch.Generator().manual_seed(seed)
    return proc.noise_batch(clean_tokens((ROWS, seq_len), g), g).prefix_len


@pytest.mark.parametrize("seq_len", [3, 8, 33])
def test_lengths_follow_the_closed_form_cdf(seq_len):
    # L ≤ l  ⇔  floor(f·(T − 1)) ≤ l − 1  ⇔  f < l/(T − 1), so P(L ≤ l) = (1 − cos(π·l/(T − 1)))/2
    # for l = 1 … T − 1; the same formula gives 0 at l = 0 and 1 at T − 1
    lengths = prefix_lengths(seq_len, 1.0, seed=seq_len)
    levels = torch.arange(0, seq_len, dtype=torch.float64)
    exact = (1 - torch.cos(torch.pi * levels / (seq_len - 1))) / 2
    empirical = (lengths[None, :] <= levels[:, None]).double().mean(1)
    assert (empirical - exact).abs().max().item() < DKW_BAND


@pytest.mark.parametrize("seq_len", [2, 8, 33])
def test_a_chosen_row_keeps_at_least_one_token_and_never_the_whole_row(seq_len):
    # prompt_fraction 1: every row is chosen.  The longest prefix, T − 1, has probability
    # (1 + cos(π(T − 2)/(T − 1)))/2 ≥ 0.0024 for T ≤ 33, so 40 000 rows miss it with
    # probability < e^-96
    lengths = prefix_lengths(seq_len, 1.0, seed=100 + seq_len)
    assert lengths.min().item() == 1 and lengths.max().item() == seq_len - 1


def test_the_prompt_fraction_of_rows_get_a_prefix():
    # every chosen row has a prefix of 1 token or more (the test above), so the rows with
    # one are the chosen ones: Binomial(ROWS, 0.2), within 5 s.d.
    lengths = prefix_lengths(8, 0.2, seed=7)
    assert abs((lengths > 0).sum().item() - 0.2 * ROWS) < 5 * math.sqrt(ROWS * 0.2 * 0.8)


def test_a_one_token_row_gets_no_prefix():
    assert (prefix_lengths(1, 1.0, seed=1) == 0).all()

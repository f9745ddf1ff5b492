"""Autoregressive generation: one token per forward pass, with a KV cache.

The prompt (or, without one, a single EOS: the context every packed training
document follows) is fed once; each further pass feeds only the token just
drawn, so keys and values of earlier positions are computed once.  A backbone
without a cache (no ``new_cache``) is run over the whole prefix each step:
the same tokens, quadratically slower.
"""

from __future__ import annotations

import torch

from difflaws.noise import categorical
from difflaws.sampling.prompt import prompt_length
from difflaws.sampling.truncation import Truncation


class NextTokenSampler:
    def __init__(self, truncation: Truncation):
        self.truncation = truncation

    def sample(self, denoiser, process, batch_size: int, seq_len: int, steps: int = 0,
               prompt=None, generator=None, device=None) -> torch.Tensor:
        """``seq_len`` tokens per row: ``prompt`` and its continuation, or, unprompted,
        ``seq_len`` tokens that follow an EOS (which is not returned).

        ``process`` is the next-token objective: its ``mask_id`` is never drawn and its
        ``eos_id`` starts an unprompted row."""
        banned = (process.mask_id,)
        if not prompt_length(prompt, seq_len):  # an empty prompt is no prompt: start after EOS
            prompt = None
        start = 1 if prompt is None else 0
        total = seq_len + start
        out = torch.empty((batch_size, total), dtype=torch.long, device=device)
        if prompt is None:
            out[:, 0] = process.eos_id
        else:
            out[:, : prompt.shape[1]] = prompt.to(device=device, dtype=torch.long)
        cache = denoiser.new_cache(total) if hasattr(denoiser, "new_cache") else None
        done = start or prompt.shape[1]  # positions already known: the EOS, or the prompt
        fed = 0  # positions the cache holds
        with torch.no_grad():
            while done < total:
                if cache is not None:
                    logits = denoiser(out[:, fed:done], None, cache=cache)[:, -1]
                    fed = done
                else:
                    logits = denoiser(out[:, :done], None)[:, -1]
                probs = self.truncation.probabilities(logits, banned)
                out[:, done] = categorical.draw(probs, generator)
                done += 1
        return out[:, start:]

"""Block (semi-autoregressive) generation: denoise ``block_length`` tokens at a time.

The free positions after the prompt are split into blocks of ``block_length``
tokens (the last may be shorter); each is denoised with the full ``steps`` steps
while the prompt and the finished blocks before it serve as clean context at
λ_max, and positions after it do not exist yet (docs/theory.md §2.6).  The
model therefore sees [context, block]: the block's tokens attend to everything,
the context is what the model reads them against.

**With a KV cache** (``kv_cache = true`` and a denoiser with ``new_cache``) the
prompt and each finished block are fed through the backbone once; every step of
the next block then runs only the block's positions, attending to the cached
keys and values (``KVCache.peek``).  A sequence may then be longer than the
training context: only the backbone's own limit (``max_context``) applies.

**Without one** each step runs the whole [context, block] with the prompt-prefix
mask of docs/theory.md §2.4 (``prefix_len`` = the context's length): clean
context tokens attend only to the context, block tokens to everything.

**Where the cached path is exact.**  In a full pass with that mask every context
token attends to the whole context, bidirectionally; a cached chunk's keys were
computed when the chunk was fed and saw only the chunks before it and itself.
The two agree exactly when the context was fed as one chunk: the first block
after a prompt, or the second block without one; in these cases a seed gives
the same tokens with and without the cache.  From the next block on the cache
is an approximation: the keys of the prompt and of block j never see blocks
j+1, j+2, … (block-causal context instead of bidirectional context).  Against a
full pass *without* the prefix mask, where the context also attends to the
noisy block, the cache is exact only with an empty context (the first block of
an unprompted sequence).  Each finished block costs one extra forward over its
own tokens; the last block is never fed.

``block_length = 0`` is one block over the whole length, the prompt held fixed
in place inside it (``difflaws.sampling.prompt``) as the samplers always did.
"""

from __future__ import annotations

import torch

from difflaws.sampling.prompt import Prompt
from difflaws.sampling.skipping import Skipping


class Context:
    """The clean tokens before the block being denoised, and how the model reads them."""

    def __init__(self, denoiser, process, batch_size: int, capacity: int, device=None,
                 use_cache: bool = False):
        self.denoiser, self.clean = denoiser, process.log_snr_max
        self.tokens = torch.empty(batch_size, 0, dtype=torch.long, device=device)
        self.cache = denoiser.new_cache(capacity) \
            if use_cache and capacity and hasattr(denoiser, "new_cache") else None

    @property
    def length(self) -> int:
        return int(self.tokens.shape[1])

    def _clean_log_snr(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.full(tokens.shape, self.clean, dtype=torch.float32, device=tokens.device)

    def append(self, tokens: torch.Tensor, feed: bool = True) -> None:
        """``tokens`` [B, n] join the context; ``feed``: through the cache (if any) now."""
        if feed and self.cache is not None:
            self.denoiser(tokens, self._clean_log_snr(tokens), cache=self.cache)
        self.tokens = torch.cat([self.tokens, tokens], dim=1)

    def query(self, z: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] for the block ``z`` [B, T] at ``log_snr`` [B, T], given the context."""
        n = self.length
        if n == 0:
            return self.denoiser(z, log_snr)
        if self.cache is not None:
            return self.denoiser(z, log_snr, cache=self.cache.peek())
        tokens = torch.cat([self.tokens, z], dim=1)
        lam = torch.cat([self._clean_log_snr(self.tokens), log_snr.to(torch.float32)], dim=1)
        prefix = torch.full((z.shape[0],), n, dtype=torch.long, device=z.device)
        return self.denoiser(tokens, lam, prefix_len=prefix)[:, n:]


def whole_sequence(denoiser, process, batch_size: int, skip: bool = True) -> Skipping:
    """The model view of ``block_length = 0``: no context, every call over the whole row."""
    return Skipping(Context(denoiser, process, batch_size, 0), skip)


def generate(sampler, denoiser, process, batch_size: int, seq_len: int, steps: int,
             prompt=None, generator=None, device=None) -> torch.Tensor:
    """Run ``sampler.denoise`` block by block (or once) and return tokens [B, seq_len]."""
    options = sampler.options
    fixed = Prompt(prompt, batch_size, seq_len, device)  # also refuses a prompt that does not fit
    if not options.block_length:
        model = whole_sequence(denoiser, process, batch_size, options.skip_unchanged)
        return sampler.denoise(model, process, fixed, steps, generator, device)
    context = Context(denoiser, process, batch_size, seq_len, device, options.kv_cache)
    if prompt is not None:
        context.append(prompt.to(device=device, dtype=torch.long), feed=fixed.length < seq_len)
    for start in range(fixed.length, seq_len, options.block_length):
        end = min(start + options.block_length, seq_len)
        block = Prompt(None, batch_size, end - start, device)
        tokens = sampler.denoise(Skipping(context, options.skip_unchanged), process, block,
                                 steps, generator, device)
        context.append(tokens, feed=end < seq_len)
    return context.tokens

"""A mask/Zipf hybrid noise process, defined by its mixing distribution π_λ alone.

    π_λ = s_λ·ζ + (1 − s_λ)·δ_mask,    s_λ = σ(λ + shift),
    ζ(v) ∝ (rank(v) + 1)^−a over the non-mask tokens, rank = position in id order.

Why this π.  Uniform noise replaces a token by any other with equal chance,
so most corruptions are implausible and easy to spot; masks are easy to spot
by construction.  Real corruptions (typos, swaps) favour frequent tokens.  BPE
vocabularies are learnt in frequency order, so a token's id is roughly its
frequency rank and Zipf's law over ids is a data-free stand-in for the unigram
prior.  Like the built-in ``hybrid`` kind, the noise is mostly masks at low
SNR (the sampler starts from masks) and mostly substitutions near the data;
``exponent = 0`` recovers ``hybrid`` with ``scale = 1`` exactly.

Only ``mixing`` is implemented: the base class derives the marginal,
corruption, the ELBO weight (∂_λπ by forward-mode autograd), the loss and the
reverse step from it.  That generic path holds dense [..., V] tensors, fine
for byte-level or small vocabularies; a process for 100k-token vocabularies
would override ``elbo_weight``/``divergence`` with closed forms as
``difflaws.noise.MaskUniformProcess`` does.
"""

from __future__ import annotations

import torch

from difflaws.noise import NoiseProcess


class ZipfProcess(NoiseProcess):
    def __init__(self, vocab_size: int, mask_id: int, exponent: float, shift: float, **options):
        super().__init__(vocab_size, mask_id, **options)
        self.exponent, self.shift = float(exponent), float(shift)
        ranks = torch.arange(vocab_size - 1, dtype=torch.float64)
        zipf = (ranks + 1.0) ** -self.exponent
        # insert a zero at the mask id: ζ never produces the mask, the (1 − s) share does
        zipf = torch.cat([zipf[:mask_id], zipf.new_zeros(1), zipf[mask_id:]])
        self.zipf = zipf / zipf.sum()
        self.mask = torch.nn.functional.one_hot(torch.tensor(mask_id), vocab_size).double()

    def mixing(self, log_snr: torch.Tensor) -> torch.Tensor:
        # a product of a [...] share and constant [V] rows: depends on its own λ only, has no
        # in-place writes, so torch.func.jvp differentiates it as the base class needs
        s = torch.sigmoid(log_snr + self.shift)[..., None]
        zipf = self.zipf.to(dtype=log_snr.dtype, device=log_snr.device)
        mask = self.mask.to(dtype=log_snr.dtype, device=log_snr.device)
        return s * zipf + (1 - s) * mask

"""The model as a sampler sees it: its calls counted, and whether it reads λ declared.

A sampler receives the backbone module itself and cannot tell from it whether its
logits depend on the log-SNR λ (``BackboneConfig.reads_log_snr()`` knows; the
module does not).  A denoiser says so with an attribute ``reads_log_snr = False``;
without one a sampler assumes it reads λ, which is always safe.  Step skipping
(docs/theory.md §2.6) is exact only for a denoiser that ignores λ, so samplers
reuse logits only when it says so.

:class:`CountedDenoiser` wraps a module with that declaration and counts its
forward passes (the number of function evaluations, NFE), forwarding every other
attribute (``new_cache`` above all) to the module.
"""

from __future__ import annotations


class CountedDenoiser:
    def __init__(self, module, reads_log_snr: bool = True):
        self.module = module
        self.reads_log_snr = reads_log_snr
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.module(*args, **kwargs)

    def __getattr__(self, name):
        # only reached for names not set in __init__: the module's own capabilities
        if name == "module":
            raise AttributeError(name)
        return getattr(self.module, name)


def reads_log_snr(denoiser) -> bool:
    """Whether ``denoiser``'s logits may depend on λ: True unless it declares otherwise."""
    return bool(getattr(denoiser, "reads_log_snr", True))

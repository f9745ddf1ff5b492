"""Attention kernels as kinds: ``sdpa``, ``xformers`` and ``auto``.

Built with ``build(device=..., softcap=...)``, each returns a kernel function
(see ``difflaws.model.kernels``).  Nothing here imports torch or xformers at
module import time.
"""

from __future__ import annotations

import functools
import importlib.util
import logging

import attrs

from difflaws import hookimpl
from difflaws.errors import UserError
from difflaws.interfaces import AttentionConfig

log = logging.getLogger(__name__)


def _is_cuda(device) -> bool:
    return str(device).startswith("cuda")


@functools.cache
def xformers_importable() -> bool:
    if importlib.util.find_spec("xformers") is None:
        return False
    try:
        from xformers.ops import fmha  # noqa: F401
    except Exception:  # a broken or mismatched build counts as absent
        return False
    return True


@attrs.frozen(kw_only=True)
class SdpaConfig(AttentionConfig):
    """PyTorch scaled_dot_product_attention (CPU and GPU); explicit scores when soft-capping."""

    def build(self, device=None, softcap: float = 0.0, **context):
        from difflaws.model.kernels.sdpa import sdpa_attention

        return sdpa_attention


@attrs.frozen(kw_only=True)
class XformersConfig(AttentionConfig):
    """xformers memory_efficient_attention with block-diagonal masks for packed documents (CUDA only)."""

    def supports_softcap(self) -> bool:
        return False

    def build(self, device=None, softcap: float = 0.0, **context):
        if str(device) == "meta":  # sizing and planning only: nothing will run
            from difflaws.model.kernels.xformers import xformers_attention

            return xformers_attention
        if softcap > 0:
            raise UserError("xformers cannot soft-cap attention logits; set backbone.attn_softcap = 0 "
                            "or use backbone.attention = 'sdpa'")
        if not _is_cuda(device):
            raise UserError(f"xformers needs a CUDA device, but the model is built on {device or 'cpu'}; "
                            "use backbone.attention = 'sdpa' (or 'auto')")
        if not xformers_importable():
            raise UserError("xformers is not installed or does not load; "
                            "pip install 'difflaws[xformers]', or use backbone.attention = 'sdpa'")
        from difflaws.model.kernels.xformers import xformers_attention

        return xformers_attention


@attrs.frozen(kw_only=True)
class AutoAttentionConfig(AttentionConfig):
    """xformers when it loads, the device is CUDA and logits are not soft-capped; otherwise sdpa."""

    def build(self, device=None, softcap: float = 0.0, **context):
        if _is_cuda(device) and softcap <= 0 and xformers_importable():
            log.info("attention: auto chose xformers (CUDA device, xformers loads)")
            return XformersConfig().build(device=device, softcap=softcap)
        reason = ("device is not CUDA" if not _is_cuda(device) else
                  "logits are soft-capped" if softcap > 0 else "xformers does not load")
        log.info("attention: auto chose sdpa (%s)", reason)
        return SdpaConfig().build(device=device, softcap=softcap)


@hookimpl
def difflaws_register_kinds(register):
    register("attention", "sdpa", SdpaConfig)
    register("attention", "xformers", XformersConfig)
    register("attention", "auto", AutoAttentionConfig, default=True)

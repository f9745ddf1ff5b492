"""Attention kernels used inside a backbone.

An attention kind subclasses :class:`AttentionConfig`.  ``build(device=,
softcap=)`` receives the device the model is built on (a ``torch.device``;
``meta`` when only sizing) and the backbone's logit soft-cap (0: none), and
returns a kernel function::

    kernel(q, k, v, mask, scale=..., softcap=..., sink_k=None, sink_v=None) -> out

with q, k, v and out of shape [B, H, T, head_dim], ``mask`` a
``difflaws.model.masks.AttentionMask`` (packed documents, clean prefix) and
``sink_k``/``sink_v`` [H, head_dim] or None.  Raise ``difflaws.errors.UserError``
when the kernel cannot run on that device.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class AttentionConfig(ComponentConfig):
    """Attention kernel used inside a backbone."""

    category: ClassVar[str] = "attention"

    def build(self, device=None, softcap: float = 0.0, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")

    def supports_softcap(self) -> bool:
        """Whether the kernel can soft-cap attention logits; checked when a spec loads."""
        return True

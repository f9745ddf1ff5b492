"""Noise processes: the forward corruption q_λ(z|x) in log-SNR form.

A noise kind subclasses :class:`NoiseConfig` and implements
:meth:`NoiseConfig.make_process`.  The process it returns subclasses
``difflaws.noise.NoiseProcess`` and supplies only its mixing distribution
π_λ through ``mixing(log_snr)``:

* ``log_snr`` is a float tensor of any shape ``[...]`` (float32 or float64);
* the result is a tensor ``[..., V]`` of probabilities, in ``log_snr``'s dtype
  and device, that sum to 1 over the last axis and put no mass on tokens the
  process never produces;
* π_λ(v) must depend on the λ of its own entry only and be differentiable
  with ``torch.func.jvp``: ∂_λπ_λ, and with it the ELBO weight, comes from
  one forward-mode pass.  Use torch operations only (no ``.item()``, no
  in-place writes to the input).

Everything else (the marginal, corruption, the ELBO weight, the KL+IS loss,
the training batch and the ancestral reverse step) follows from π_λ.  A
process with structure may override pieces with closed forms for speed;
``difflaws.noise.MaskUniformProcess`` is an example.

π_λ must also be *admissible* (docs/theory.md §2.7): π_λ(z) − ∂_λπ_λ(z) ≥ 0
for every token z and every λ in [log_snr_min, log_snr_max], i.e. π_λ(z) grows
no faster than e^λ.  Otherwise the forward chain has negative rates, the ELBO
weight w_λ is negative somewhere and the "NELBO" is not a bound.  ``build``
checks this numerically once (``difflaws.noise.admissible.check``) unless the
kind proves it in closed form (:meth:`NoiseConfig.proves_admissible`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import attrs
from attrs.validators import and_, ge, in_, le

from difflaws.errors import FieldError
from difflaws.interfaces.component import ComponentConfig, default_of, key
from difflaws.interfaces.schedule import ScheduleConfig

WEIGHTINGS = ("paper", "elbo")
_fraction = and_(ge(0.0), le(1.0))


@attrs.frozen(kw_only=True)
class NoiseConfig(ComponentConfig):
    """Noise process: the forward corruption q_λ(z|x), defined by its mixing distribution π_λ.

    The fields here are shared by every noise kind; a kind adds its own.
    ``weighting``: "paper" trains on clip(w, 0, 1e3), the ELBO reweighted by
    the proposal p(λ); "elbo" trains on w/p(λ), the unbiased NELBO.  The
    NELBO is reported either way.

    ``build(vocab_size, mask_id, **context)`` calls :meth:`make_process` with
    the shared options; implement that, not ``build``.
    """

    category: ClassVar[str] = "noise"

    log_snr_min: float = key(-9.0, doc="lowest log-SNR λ trained and sampled (finite)")
    log_snr_max: float = key(9.0,
                             doc="highest log-SNR λ trained and sampled (finite, > log_snr_min)")
    schedule: ScheduleConfig = key(default_of("schedule"),
                                   doc="the proposal over λ ([noise.schedule] table)")
    weighting: str = key("paper", validator=in_(WEIGHTINGS),
                         doc="training weight: clipped ELBO weight (paper) or unbiased "
                             "w/p(λ) (elbo)")
    per_token_fraction: float = key(0.2, validator=_fraction,
                                    doc="fraction of rows that draw one λ per token, not per "
                                        "sequence")
    prompt_fraction: float = key(0.0, validator=_fraction,
                                 doc="fraction of rows that keep a clean prefix (prompt "
                                     "conditioning)")
    stratified: bool = key(True, doc="stratify the batch's λ draws over the proposal's quantiles")

    def __attrs_post_init__(self) -> None:
        for name in ("log_snr_min", "log_snr_max"):
            if not math.isfinite(getattr(self, name)):
                raise FieldError(name, "must be finite (the ELBO weight grows like e^|λ|)")
        if not self.log_snr_min < self.log_snr_max:
            raise FieldError("log_snr_max", f"must exceed log_snr_min ({self.log_snr_min}); "
                                            f"got {self.log_snr_max}")

    # -- what a noise kind implements -------------------------------------
    def make_process(self, vocab_size: int, mask_id: int, **options):
        """Return a ``difflaws.noise.NoiseProcess`` subclass instance.

        ``options`` are the shared keyword arguments every ``NoiseProcess``
        constructor takes (:meth:`process_options`); pass them on unchanged.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement make_process()")

    # -- optional capabilities --------------------------------------------
    def proves_admissible(self) -> bool:
        """Whether this config has proved, in closed form, that its process is admissible.

        A process is admissible when π_λ(z) − ∂_λπ_λ(z) ≥ 0 for every token z and λ in
        [log_snr_min, log_snr_max] (docs/theory.md §2.7): the forward chain then has
        non-negative rates and the NELBO is a bound.  By default (False) :meth:`build`
        checks this numerically once, on a λ grid over all tokens
        (``difflaws.noise.admissible.check``), and raises ``UserError`` where it fails.
        Return True only if ``__attrs_post_init__`` already refuses every inadmissible
        setting (raising ``FieldError`` naming the constraint), as the built-in kinds do;
        the check, which costs about 0.1 s for a dense 131k-token π, is then skipped.
        """
        return False

    def parameters(self) -> dict:
        """The kind's own settings that distinguish one run from another, as plain scalars.

        Runs are grouped and labelled by these (``fit --by noise``, the
        results DB).  The default is every field this kind adds to the shared
        ones, so override only to leave some out.
        """
        shared = {f.name for f in attrs.fields(NoiseConfig)}
        return {f.name: getattr(self, f.name) for f in attrs.fields(type(self))
                if f.name not in shared and isinstance(getattr(self, f.name), (int, float, str, bool))}

    def label(self, kind: str) -> str:
        """A short run label such as ``hybrid(shift=2, scale=1)``, from :meth:`parameters`."""
        params = self.parameters()
        if not params:
            return kind
        inner = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in params.items())
        return f"{kind}({inner})"

    # -- the shared part ---------------------------------------------------
    def process_options(self) -> dict:
        """Keyword arguments every ``NoiseProcess`` constructor takes."""
        return dict(schedule=self.schedule.build(), log_snr_min=self.log_snr_min,
                    log_snr_max=self.log_snr_max, weighting=self.weighting,
                    per_token_fraction=self.per_token_fraction,
                    prompt_fraction=self.prompt_fraction, stratified=self.stratified)

    def build(self, vocab_size: int, mask_id: int, **context):
        process = self.make_process(vocab_size, mask_id, **self.process_options())
        if not self.proves_admissible():
            from difflaws.noise.admissible import check
            from difflaws.noise.process import NoiseProcess

            # only processes defined by π_λ can be checked (a stand-in may define none)
            if (isinstance(process, NoiseProcess)
                    and type(process).mixing is not NoiseProcess.mixing):
                check(process, name=self._kind_label())
        return process

    def _kind_label(self) -> str:
        try:
            from difflaws.plugins import default_host

            return f"{self.label(default_host().registry.kind_of(self).name)!r}"
        except Exception:  # a config built by hand, or under another host
            return type(self).__qualname__

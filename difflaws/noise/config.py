"""The config fields every noise kind shares, and how they become a process."""

from __future__ import annotations

import math

import attrs
from attrs.validators import and_, ge, le

from difflaws.components import Slot, default_kind
from difflaws.spec.errors import FieldError

WEIGHTINGS = ("paper", "elbo")
_fraction = and_(ge(0.0), le(1.0))


@attrs.frozen(kw_only=True)
class NoiseConfig:
    """Base of every noise kind's config (subclass it and implement ``make_process``).

    ``weighting``: "paper" trains on clip(w, 0, 1e3), the ELBO reweighted by the
    proposal p(λ) (math.md §2.5); "elbo" trains on w/p(λ), the unbiased NELBO.
    The NELBO is reported either way.
    """

    log_snr_min: float = -9.0
    log_snr_max: float = 9.0
    schedule: Slot["schedule"] = default_kind("schedule", "linear")
    weighting: str = attrs.field(default="paper")
    per_token_fraction: float = attrs.field(default=0.2, validator=_fraction)
    prompt_fraction: float = attrs.field(default=0.0, validator=_fraction)
    stratified: bool = True

    def __attrs_post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise FieldError("weighting", f"must be one of {', '.join(map(repr, WEIGHTINGS))}, "
                                          f"got {self.weighting!r}")
        for name in ("log_snr_min", "log_snr_max"):
            if not math.isfinite(getattr(self, name)):
                raise FieldError(name, "must be finite (the ELBO weight grows like e^|λ|)")
        if not self.log_snr_min < self.log_snr_max:
            raise FieldError("log_snr_max", f"must exceed log_snr_min ({self.log_snr_min}); "
                                            f"got {self.log_snr_max}")

    def process_options(self) -> dict:
        """Keyword arguments every ``NoiseProcess`` constructor takes."""
        return dict(schedule=self.schedule.build(), log_snr_min=self.log_snr_min,
                    log_snr_max=self.log_snr_max, weighting=self.weighting,
                    per_token_fraction=self.per_token_fraction,
                    prompt_fraction=self.prompt_fraction, stratified=self.stratified)

    def make_process(self, vocab_size: int, mask_id: int, **options):
        raise NotImplementedError

    def build(self, vocab_size: int, mask_id: int, **context):
        return self.make_process(vocab_size, mask_id, **self.process_options())

"""Noise kinds and schedules are chosen in TOML alone."""

from __future__ import annotations

import attrs
import pytest

from difflaws.builtins.noise import HybridNoiseConfig
from difflaws.noise.schedule import CosineSchedule, LinearSchedule
from difflaws.interfaces import NoiseConfig, SamplerConfig, default_of
from difflaws.plugins import PluginHost
from difflaws.errors import SpecError
from difflaws.spec.load import load_spec


@attrs.frozen(kw_only=True)
class _NoiseOnlySpec:
    noise: NoiseConfig
    sampler: SamplerConfig = default_of("sampler")


def _load(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return load_spec(path, host=PluginHost(entry_points=False), cls=_NoiseOnlySpec)


def test_schedule_swaps_in_one_line(tmp_path):
    base = '[noise]\nkind = "hybrid"\nshift = 2.0\n'
    plain = _load(tmp_path, base)
    swapped = _load(tmp_path, base + '\n[noise.schedule]\nkind = "cosine"\n')
    assert isinstance(plain.noise, HybridNoiseConfig) and plain.noise.shift == 2.0
    assert isinstance(plain.noise.build(vocab_size=10, mask_id=9).schedule, LinearSchedule)
    process = swapped.noise.build(vocab_size=10, mask_id=9)
    assert isinstance(process.schedule, CosineSchedule)
    assert process.log_snr_min == -9.0 and process.log_snr_max == 9.0


def test_sampler_kinds_resolve(tmp_path):
    for kind in ("ancestral", "adaptive", "self-correction"):
        spec = _load(tmp_path, f'[noise]\nkind = "masked"\n[sampler]\nkind = "{kind}"\n')
        assert callable(spec.sampler.build().sample)


def test_spec_errors_name_the_key(tmp_path):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, '[noise]\nkind = "hybrid"\nprompt_fraction = 2.0\n[noise.schedule]\nkind = "cosin"\n')
    text = str(info.value)
    assert "noise.schedule.kind" in text and "did you mean 'cosine'" in text

"""The transformer's behaviour: bidirectional (unless built causal, tests/test_autoregressive.py),
document- and prefix-masked, λ-blind by default."""


import pytest
import torch

from difflaws.interfaces import interface_for
from difflaws.model.norm import RMSNorm
from difflaws.model.rope import apply_rope, rope_angles
from difflaws.plugins import PluginHost

HOST = PluginHost(entry_points=False)
V = 50


def make(seed=0, **table):
    """A tiny model with a non-zero head (standard init) so logits carry information."""
    table = {"shape": "L2-D64-H4", "attention": "sdpa", **table}
    cfg = HOST.converter.structure({"kind": "transformer", **table}, interface_for("backbone"))
    param = HOST.converter.structure({"kind": "standard"}, interface_for("parameterization")).build()
    torch.manual_seed(seed)
    model = cfg.build(vocab_size=V, seq_len=32, parameterization=param)
    model.init_weights(torch.Generator().manual_seed(seed))
    return model.eval()


def tokens(batch=2, seq=12, seed=1):
    return torch.randint(0, V, (batch, seq), generator=torch.Generator().manual_seed(seed))


VARIANTS = [{"attn_softcap": 0.0}, {"attn_softcap": 30.0}, {"attention_sink": False},
            {"conditioning": "adaln"}]


@pytest.mark.parametrize("table", VARIANTS)
def test_later_token_changes_earlier_outputs(table):
    model = make(**table)
    if model.log_snr_embed is not None:  # open adaLN's zero gates so blocks contribute
        for block in model.blocks:
            torch.nn.init.normal_(block.modulation.proj.weight, std=0.05)
    x = tokens()
    lam = torch.zeros(x.shape)
    y = x.clone()
    y[:, -1] = (y[:, -1] + 1) % V
    with torch.no_grad():
        a, b = model(x, lam), model(y, lam)
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-4


def test_packed_documents_equal_separate_runs():
    model = make()
    x = tokens(batch=1, seq=12)
    doc_ids = torch.tensor([[0] * 5 + [1] * 7])
    lam = torch.zeros(1, 12)
    with torch.no_grad():
        packed = model(x, lam, doc_ids=doc_ids)
        first = model(x[:, :5], lam[:, :5])
        second = model(x[:, 5:], lam[:, 5:])  # RoPE is relative: the offset must not matter
    torch.testing.assert_close(packed[:, :5], first, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(packed[:, 5:], second, atol=2e-5, rtol=1e-4)
    with torch.no_grad():
        unmasked = model(x, lam)
    assert (unmasked[:, :5] - first).abs().max() > 1e-4  # the mask did something


def test_clean_prefix_sees_only_itself_and_noisy_tokens_see_it():
    model = make()
    x = tokens(batch=2, seq=10)
    prefix_len = torch.tensor([4, 0])
    lam = torch.zeros(2, 10)
    y = x.clone()
    y[:, 8] = (y[:, 8] + 1) % V  # a noisy token
    with torch.no_grad():
        a = model(x, lam, prefix_len=prefix_len)
        b = model(y, lam, prefix_len=prefix_len)
        alone = model(x[:1, :4], lam[:1, :4])
    torch.testing.assert_close(a[0, :4], alone[0], atol=2e-5, rtol=1e-4)
    assert torch.equal(a[0, :4], b[0, :4])
    assert (a[1, :4] - b[1, :4]).abs().max() > 1e-4  # no prefix in row 1: everything sees it
    z = x.clone()
    z[0, 1] = (z[0, 1] + 1) % V  # a prefix token changes the noisy ones
    with torch.no_grad():
        c = model(z, lam, prefix_len=prefix_len)
    assert (a[0, 6] - c[0, 6]).abs().max() > 1e-4


def test_log_snr_is_ignored_by_default_and_used_by_adaln():
    x = tokens()
    plain = make()
    with torch.no_grad():
        assert torch.equal(plain(x, torch.zeros(x.shape)), plain(x, torch.full(x.shape, 5.0)))
    adaln = make(conditioning="adaln")
    with torch.no_grad():  # adaLN-Zero: at init every block is the identity, whatever λ is
        torch.testing.assert_close(adaln(x, torch.zeros(x.shape)), adaln(x, torch.full(x.shape, 5.0)))
        for block in adaln.blocks:
            torch.nn.init.normal_(block.modulation.proj.weight, std=0.05)
        assert (adaln(x, torch.zeros(x.shape)) - adaln(x, torch.full(x.shape, 5.0))).abs().max() > 1e-4


def test_rmsnorm_formula_with_one_plus_gain():
    norm = RMSNorm(8, eps=1e-6)
    with torch.no_grad():
        norm.gain.copy_(torch.linspace(-0.5, 0.5, 8))
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    expected = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6) * (1 + torch.linspace(-0.5, 0.5, 8))
    torch.testing.assert_close(norm(x), expected)


def test_rope_scores_depend_only_on_relative_position():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)
    cos, sin = rope_angles(20, 16, 1e4, "cpu")

    def score(m, n):
        qm = apply_rope(q.expand(1, 1, 20, 16), cos, sin)[0, 0, m]
        kn = apply_rope(k.expand(1, 1, 20, 16), cos, sin)[0, 0, n]
        return float(qm @ kn)

    assert score(7, 3) == pytest.approx(score(15, 11), abs=1e-5)
    assert score(7, 3) != pytest.approx(score(7, 1), abs=1e-2)
    assert score(0, 0) == pytest.approx(float(q @ k), abs=1e-5)  # position 0 is unrotated


def test_max_seq_len():
    from difflaws.errors import UserError

    cfg = HOST.converter.structure({"kind": "transformer", "shape": "L1-D64", "max_seq_len": 8},
                                   interface_for("backbone"))
    with pytest.raises(UserError, match="backbone.max_seq_len"):
        cfg.build(vocab_size=V, seq_len=16)
    model = cfg.build(vocab_size=V, seq_len=8)
    assert model.max_seq_len == 8
    with pytest.raises(ValueError, match="max_seq_len"):
        model(tokens(1, 9), torch.zeros(1, 9))


def test_bf16_autocast_forward_and_backward():
    model = make().train()
    x = tokens()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x, torch.zeros(x.shape))
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()
    logits.float().square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_records_cover_every_parameter_and_init_is_reproducible():
    a, b = make(seed=3), make(seed=3)
    names = [r.name for r in a.param_records()]
    assert sorted(names) == sorted(n for n, _ in a.named_parameters())
    torch.manual_seed(99)  # make() seeds the global RNG too: only the generator may decide the draw
    b.init_weights(torch.Generator().manual_seed(3))
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q)

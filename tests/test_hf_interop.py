"""`difflaws import-hf` and `difflaws export --format hf`: the GIDD authors' checkpoint format.

Checkpoints are built here, tiny and seeded, with the authors' parameter names
(docs/hf-interop.md).  The logits of an imported run are compared with a plain
float64 forward pass written below from the authors' architecture as that page
documents it (not from difflaws's model), and an exported run is read back
through the same reference.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from difflaws import cli, engine
from difflaws.checkpoint import io
from difflaws.plugins import default_host
from difflaws.train.restore import load_trained

from conftest import run_cli

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|padding|>", "<|mask|>"]
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "ran", "to", "and", "big", "red",
         "one", "two", "fish", "blue", "is", "was", "it", "in", "of", "up", "down", "far"]
VOCAB = 64  # the model's vocabulary: the tokenizer's 29 tokens, padded

RELEASED = dict(  # the released checkpoints' conventions, shrunk (docs/hf-interop.md)
    vocab_size=VOCAB, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
    num_attention_heads=4, head_dim=16, is_causal=False, attn_soft_cap=30.0,
    max_position_embeddings=32, resid_scale=4.0, rms_norm_eps=1e-6, use_qk_norm=True,
    init_scale=0.4 / 64 ** 0.5, emb_init_scale=0.1, head_init_scale=0.0, weight_scaling=1.0,
    head_scaling=512.0 / 64, bos_token_id=0, eos_token_id=1, rope_theta=10000.0,
    rope_scaling=None, attention_bias=True, mlp_bias=True, tie_word_embeddings=False,
    attn_performer="eager", noise_type=1000.0, min_log_snr=-9.0, max_log_snr=9.0,
    model_type="gidd", architectures=["GiddForDiffusionLM"], torch_dtype="bfloat16",
    transformers_version="4.57.0")


# -- building a checkpoint in the authors' format ------------------------------------------
def write_tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS + ["[UNK]"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS)
    tok.save(str(path))


def authors_tensors(cfg: dict, seed: int, dtype) -> dict:
    """Random tensors under the authors' names; gains and sinks nonzero so each is tested."""
    gen = torch.Generator().manual_seed(seed)
    d, inner, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]

    def rand(*shape, std=1.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * std).to(dtype)

    out = {"model.embed_tokens.weight": rand(vocab, d), "model.norm.weight": rand(d, std=0.3),
           "lm_head.weight": rand(vocab, d, std=d ** -0.5)}
    scale = 1.0 if cfg["weight_scaling"] != 1.0 else d ** -0.5  # unit-size activations
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for name in ("q", "k", "v", "o"):
            out[f"{p}self_attn.{name}_proj.weight"] = rand(d, d, std=scale)
        out[f"{p}self_attn.q_norm.weight"] = rand(d, std=0.3)
        out[f"{p}self_attn.k_norm.weight"] = rand(d, std=0.3)
        out[f"{p}attn_layernorm.weight"] = rand(d, std=0.3)
        out[f"{p}mlp_layernorm.weight"] = rand(d, std=0.3)
        out[f"{p}mlp.up_proj.weight"] = rand(inner, d, std=scale)
        out[f"{p}mlp.down_proj.weight"] = rand(d, inner, std=scale)
        if cfg["mlp_bias"]:
            out[f"{p}mlp.up_proj.bias"] = rand(inner, std=0.1)
            out[f"{p}mlp.down_proj.bias"] = rand(d, std=0.1)
        if cfg["attention_bias"]:
            out[f"{p}self_attn.k_bias"] = rand(heads, d // heads)
            out[f"{p}self_attn.v_bias"] = rand(heads, d // heads)
    return out


def write_checkpoint(folder, seed=0, dtype=torch.bfloat16, tokenizer=True, **changes):
    cfg = {**RELEASED, **changes}
    cfg = {k: v for k, v in cfg.items() if v is not ...}  # `...`: leave the key out
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    full = {**RELEASED, **{k: v for k, v in changes.items() if v is not ...}}
    weights = authors_tensors(full, seed, dtype)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    if tokenizer:
        write_tokenizer(folder / "tokenizer.json")
    return cfg, weights


# -- the authors' forward pass, float64, from docs/hf-interop.md ---------------------------
def reference_logits(cfg: dict, w: dict, tokens: torch.Tensor) -> torch.Tensor:
    w = {k: v.to(torch.float64) for k, v in w.items()}
    d, depth, heads = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    hd, eps, cap = d // heads, cfg["rms_norm_eps"], cfg["attn_soft_cap"]
    resid = cfg["resid_scale"] / depth

    def scale_of(value, fan_in, fan_out):
        return {"fan_in": fan_in ** -0.5, "fan_out": fan_out ** -0.5}.get(value, value)

    def linear(x, name, fan_in, fan_out):
        y = (x @ w[name + ".weight"].T) * scale_of(cfg["weight_scaling"], fan_in, fan_out)
        return y + w[name + ".bias"] if name + ".bias" in w else y

    def norm(x, name):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1 + w[name])

    batch, seq = tokens.shape
    inv = cfg["rope_theta"] ** -(torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.outer(torch.arange(seq, dtype=torch.float64), inv)[None, :, None, :]
    cos, sin = angles.cos(), angles.sin()

    def rope(x):  # NeoX: rotate the first half of each head against the second
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)

    h = w["model.embed_tokens.weight"][tokens]
    for i in range(depth):
        p = f"model.layers.{i}."
        x = norm(h, p + "attn_layernorm.weight")
        q = norm(linear(x, p + "self_attn.q_proj", d, d), p + "self_attn.q_norm.weight")
        k = norm(linear(x, p + "self_attn.k_proj", d, d), p + "self_attn.k_norm.weight")
        v = linear(x, p + "self_attn.v_proj", d, d)
        q, k, v = (t.reshape(batch, seq, heads, hd) for t in (q, k, v))
        q, k = rope(q), rope(k)
        if cfg["attention_bias"]:  # the sink slot: unrotated, seen by every query
            k = torch.cat([w[p + "self_attn.k_bias"].expand(batch, 1, heads, hd), k], dim=1)
            v = torch.cat([w[p + "self_attn.v_bias"].expand(batch, 1, heads, hd), v], dim=1)
        scores = torch.einsum("bqhd,bkhd->bhqk", q * hd ** -0.5, k)
        probs = torch.softmax(cap * torch.tanh(scores / cap), dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", probs, v).reshape(batch, seq, d)
        h = h + resid * linear(out, p + "self_attn.o_proj", d, d)
        x = norm(h, p + "mlp_layernorm.weight")
        up = torch.relu(linear(x, p + "mlp.up_proj", d, cfg["intermediate_size"])) ** 2
        h = h + resid * linear(up, p + "mlp.down_proj", cfg["intermediate_size"], d)
    h = norm(h, "model.norm.weight")
    if cfg["tie_word_embeddings"]:
        return h @ w["model.embed_tokens.weight"].T
    return (h @ w["lm_head.weight"].T) * scale_of(cfg["head_scaling"], d, cfg["vocab_size"])


def assert_close(got: torch.Tensor, want: torch.Tensor, rel: float = 1e-5) -> None:
    err = float((got.double() - want).abs().max() / want.abs().max())
    assert err < rel, f"max error {err:.2e} of the largest logit"


def tokens(seed=1, batch=2, seq=12):
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


def imported_logits(run_dir, x):
    run = load_trained(run_dir, "cpu")
    with torch.no_grad():
        return run, run.model(x, torch.zeros(x.shape))


def import_hf(*args, capsys=None):
    code = cli.main(["import-hf", *map(str, args)])
    return code, capsys.readouterr() if capsys is not None else None


# -- import --------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, noise", [
    ({}, "uniform"),  # the released 3B/10B conventions
    (dict(noise_type=-1000.0, torch_dtype="float32"), "masked"),
    # the authors' class defaults: fan-in weight scale, no biases, no sink, tied head, hybrid
    (dict(weight_scaling="fan_in", head_scaling=1.0, resid_scale=3.0, mlp_bias=False,
          attention_bias=False, tie_word_embeddings=True, noise_type=0.5, init_scale=0.4,
          torch_dtype="float32"), "hybrid"),
    # scales CompleteP cannot store (a fractional resid_scale, head_scaling·d not an integer)
    (dict(resid_scale=2.5, head_scaling=0.3, weight_scaling="fan_out", noise_type=2.0,
          torch_dtype="float32"), "hybrid"),
], ids=["released", "masked-fp32", "class-defaults", "standard-scales"])
def test_imported_run_computes_the_authors_logits(tmp_path, capsys, changes, noise):
    dtype = getattr(torch, changes.get("torch_dtype", "bfloat16"))
    cfg, weights = write_checkpoint(tmp_path / "ckpt", seed=3, dtype=dtype, **changes)
    code, out = import_hf(tmp_path / "ckpt", "--out", tmp_path / "run", capsys=capsys)
    assert code == 0, out.err
    x = tokens()
    run, logits = imported_logits(tmp_path / "run", x)
    assert_close(logits, reference_logits(cfg, weights, x))
    assert default_host().registry.kind_of(run.spec.noise).name == noise
    assert run.step == 0 and run.tokenizer.mask_id == 3 and run.tokenizer.vocab_size == VOCAB
    if noise == "hybrid":
        assert run.spec.noise.shift == cfg["noise_type"] and run.spec.noise.scale == 1.0
    record = json.loads((tmp_path / "run" / "provenance.json").read_text())["imported_from"]
    assert record["config"] == cfg and record["format"] == "gidd-hf"
    assert set(record["weights_sha256"]) == {"model.safetensors"}


def test_noise_flag_is_needed_without_noise_type_and_must_agree_with_it(tmp_path, capsys):
    write_checkpoint(tmp_path / "bare", noise_type=...)
    code, out = import_hf(tmp_path / "bare", "--out", tmp_path / "r0", capsys=capsys)
    assert code == 2 and "noise_type" in out.err and "--noise" in out.err
    assert not (tmp_path / "r0").exists()  # nothing half-written
    code, out = import_hf(tmp_path / "bare", "--out", tmp_path / "r1", "--noise", "hybrid",
                          "--noise-option", "shift=1.5", capsys=capsys)
    assert code == 0, out.err
    assert engine.load_run(tmp_path / "r1").noise.shift == 1.5
    # a noise kind whose π_λ is no σ(λ + b) mixture has no place in the format
    code, out = import_hf(tmp_path / "bare", "--out", tmp_path / "r2", "--noise", "gidd",
                          capsys=capsys)
    assert code == 2 and "σ(λ + b)" in out.err
    write_checkpoint(tmp_path / "unif")  # noise_type 1000: uniform
    code, out = import_hf(tmp_path / "unif", "--out", tmp_path / "r3", "--noise", "masked",
                          capsys=capsys)
    assert code == 2 and "contradicts" in out.err and "noise_type" in out.err


# -- export --------------------------------------------------------------------------------
def test_import_then_export_gives_back_the_same_files(tmp_path, capsys):
    cfg, weights = write_checkpoint(tmp_path / "ckpt", seed=5)
    assert import_hf(tmp_path / "ckpt", "--out", tmp_path / "run")[0] == 0
    code = cli.main(["export", str(tmp_path / "run"), "--format", "hf", "--out",
                     str(tmp_path / "back")])
    assert code == 0, capsys.readouterr().err
    back = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert sorted(back) == sorted(weights)
    for name, tensor in weights.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor), name
    assert json.loads((tmp_path / "back" / "config.json").read_text()) == cfg
    assert (tmp_path / "back" / "tokenizer.json").read_bytes() == \
        (tmp_path / "ckpt" / "tokenizer.json").read_bytes()


NATIVE = """
name = "native"
{noise}
[backbone]
kind = "transformer"
width = 64
depth = 3
head_dim = 32
mlp_ratio = 2
rope_theta = 500.0
{backbone}
[parameterization]
kind = "{param}"
[tokenizer]
kind = "hf"
path = "{tokenizer}"
vocab_size = {vocab}
[objective]
kind = "{objective}"
[train]
seq_len = 16
steps = 1
device = "cpu"
"""
HYBRID = '[noise]\nkind = "hybrid"\nshift = -1.25'


def native_run(tmp_path, noise=HYBRID, param="completep", backbone="attn_softcap = 20.0",
               objective="diffusion", seed=7):
    """A run directory with a checkpoint of random (nonzero) weights, made without training."""
    write_tokenizer(tmp_path / "tok.json")
    path = tmp_path / "native.toml"
    path.write_text(NATIVE.format(noise=noise, param=param, tokenizer=tmp_path / "tok.json",
                                  vocab=VOCAB, backbone=backbone, objective=objective))
    host = default_host()
    spec = engine.load(path, host=host)
    run_dir = engine.open_run_dir(spec, str(tmp_path / "ws" / "native"), host=host)
    model = spec.backbone.build(vocab_size=VOCAB, parameterization=spec.parameterization.build())
    gen = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=gen) * (0.3 if v.ndim == 1 else v.shape[-1] ** -0.5)
             for k, v in model.state_dict().items()}
    io.save(run_dir, 1, state, {"step": 1}, keep=1)
    return run_dir


@pytest.mark.parametrize("param", ["completep", "standard"])
def test_exported_native_run_computes_the_same_logits_in_the_authors_architecture(
        tmp_path, capsys, param):
    run_dir = native_run(tmp_path, param=param)
    code = cli.main(["export", str(run_dir), "--format", "hf", "--out", str(tmp_path / "hf")])
    assert code == 0, capsys.readouterr().err
    cfg = json.loads((tmp_path / "hf" / "config.json").read_text())
    weights = load_file(str(tmp_path / "hf" / "model.safetensors"))
    x = tokens(seq=16)
    _, ours = imported_logits(run_dir, x)
    assert_close(ours, reference_logits(cfg, weights, x))
    assert cfg["weight_scaling"] == 1.0 and cfg["noise_type"] == -1.25
    assert cfg["resid_scale"] == (4.0 if param == "completep" else 3.0)  # 1 · L
    assert cfg["head_scaling"] == (512 / 64 if param == "completep" else 1.0)
    assert cfg["max_position_embeddings"] == 16 and cfg["eos_token_id"] == 1
    # and the export imports back to the same network
    assert import_hf(tmp_path / "hf", "--out", tmp_path / "again")[0] == 0
    _, again = imported_logits(tmp_path / "again", x)
    assert torch.equal(again, ours)


@pytest.mark.parametrize("noise, backbone, objective, message", [
    (HYBRID, 'conditioning = "adaln"', "diffusion", "adaLN"),
    ("", "", "autoregressive", "causally"),
    (HYBRID, 'attn_softcap = 0.0\n[backbone.attention]\nkind = "sdpa"', "diffusion",
     "soft-caps"),
    ('[noise]\nkind = "hybrid"\nscale = 0.5', "", "diffusion", "σ(λ + b)"),
], ids=["adaln", "causal", "no-softcap", "hybrid-scale"])
def test_export_refuses_what_the_format_cannot_hold(tmp_path, capsys, noise, backbone,
                                                     objective, message):
    run_dir = native_run(tmp_path, noise=noise, backbone=backbone, objective=objective)
    code = cli.main(["export", str(run_dir), "--format", "hf", "--out", str(tmp_path / "hf")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "hf").exists()


# -- the imported run with the other commands ----------------------------------------------
def test_sample_and_eval_run_on_an_imported_checkpoint(tmp_path, capsys):
    write_checkpoint(tmp_path / "ckpt", seed=2, noise_type=-1000.0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"{i}.txt").write_text(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(40)))
    code, out = import_hf(tmp_path / "ckpt", "--out", tmp_path / "run", "--set", "data.kind=text",
                          "--set", f'data.paths=["{corpus}/*.txt"]', "--set",
                          "data.val_fraction=0.5", "--set", "train.batch_size=2", capsys=capsys)
    assert code == 0, out.err
    assert cli.main(["sample", str(tmp_path / "run"), "--steps", "3", "--n", "2", "--length",
                     "10", "--prompt", "the cat", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample ") == 2 and "(step 0)" in out
    assert all(block.split("---\n", 1)[1].startswith("the cat")
               for block in out.split("--- sample ")[1:])
    assert cli.main(["eval", str(tmp_path / "run"), "--samples", "2", "--batches", "1",
                     "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 0 and math.isfinite(result["nelbo"]) and result["nelbo"] > 0
    # weights without a training state: run refuses to resume them, cleanly
    assert cli.main(["run", str(tmp_path / "run" / "spec.toml"), "--out", str(tmp_path / "run"),
                     "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "without a training state" in err and "Traceback" not in err


# -- bad inputs ----------------------------------------------------------------------------
def refused(capsys, *args):
    code, out = import_hf(*args, capsys=capsys)
    assert code == 2, out.err
    assert "Traceback" not in out.err
    return out.err


def test_a_folder_without_config_json_is_refused(tmp_path, capsys):
    write_checkpoint(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "config.json").unlink()
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run")
    assert "config.json: not found" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("changes, key", [
    (dict(use_qk_norm=False), "use_qk_norm"),
    (dict(rope_scaling={"type": "linear", "factor": 2.0}), "rope_scaling"),
    (dict(is_causal=True), "is_causal"),
    (dict(intermediate_size=100), "intermediate_size"),
    (dict(attn_performer="paged"), "attn_performer"),
    (dict(weight_scaling="fan_sideways"), "weight_scaling"),
    (dict(sliding_window=128), "sliding_window"),
    (dict(model_type="llama"), "model_type"),
])
def test_config_values_difflaws_cannot_honour_are_refused_by_key(tmp_path, capsys, changes, key):
    write_checkpoint(tmp_path / "ckpt", **changes)
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run")
    assert f"{key} = " in err or repr(key) in err
    assert not (tmp_path / "run").exists()


def test_tensors_that_do_not_fit_the_config_are_refused_by_name(tmp_path, capsys):
    _, weights = write_checkpoint(tmp_path / "ckpt")
    weights["model.layers.1.mlp.up_proj.weight"] = torch.zeros(128, 64, dtype=torch.bfloat16)
    save_file(weights, str(tmp_path / "ckpt" / "model.safetensors"))
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run")
    assert "model.layers.1.mlp.up_proj.weight" in err and "[128, 64]" in err and "[256, 64]" in err
    del weights["model.layers.1.mlp.up_proj.weight"]
    save_file(weights, str(tmp_path / "ckpt" / "model.safetensors"))
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run")
    assert "'model.layers.1.mlp.up_proj.weight' is missing" in err


def test_a_folder_without_tokenizer_needs_one_given(tmp_path, capsys):
    write_checkpoint(tmp_path / "ckpt", tokenizer=False)
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run")
    assert "tokenizer.json" in err and "--tokenizer" in err
    write_tokenizer(tmp_path / "elsewhere.json")
    code, out = import_hf(tmp_path / "ckpt", "--out", tmp_path / "run", "--tokenizer",
                          tmp_path / "elsewhere.json", capsys=capsys)
    assert code == 0, out.err
    assert (tmp_path / "run" / "hf" / "tokenizer.json").read_bytes() == \
        (tmp_path / "elsewhere.json").read_bytes()


def test_a_hub_name_fails_clearly_offline(tmp_path):
    proc = run_cli("import-hf", "dvruette/gidd-mask-3b", "--out", tmp_path / "run",
                   env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "dvruette/gidd-mask-3b" in proc.stderr
    if importlib.util.find_spec("huggingface_hub") is None:
        assert "pip install 'difflaws[hf]'" in proc.stderr
    else:
        assert "HF_HUB_OFFLINE is set" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_hub_name_without_huggingface_hub_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    err = refused(capsys, "dvruette/gidd-mask-3b", "--out", tmp_path / "run")
    assert "pip install 'difflaws[hf]'" in err


def test_out_must_be_new_or_empty(tmp_path, capsys):
    write_checkpoint(tmp_path / "ckpt")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run")
    assert "not an empty directory" in err
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"
    # the export keeps the same rule, with its own fix
    code = cli.main(["export", str(native_run(tmp_path)), "--format", "hf", "--out",
                     str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "not an empty directory" in err and "whole checkpoint folder" in err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["notes.txt"]


def test_set_may_not_change_the_checkpoints_architecture(tmp_path, capsys):
    write_checkpoint(tmp_path / "ckpt")
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run", "--set",
                  "backbone.rope_theta=500.0")
    assert "rope_theta" in err and "drop the overrides" in err
    err = refused(capsys, tmp_path / "ckpt", "--out", tmp_path / "run", "--set",
                  "parameterization.base_depth=2")
    assert "resid_scale" in err and not (tmp_path / "run").exists()


def test_sharded_weights_with_an_index_import_like_one_file(tmp_path, capsys):
    cfg, weights = write_checkpoint(tmp_path / "ckpt", seed=4)
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    names = sorted(weights)
    shards = {"model-00001-of-00002.safetensors": names[::2],
              "model-00002-of-00002.safetensors": names[1::2]}
    for file, part in shards.items():
        save_file({n: weights[n] for n in part}, str(tmp_path / "ckpt" / file))
    index = {"metadata": {}, "weight_map": {n: f for f, part in shards.items() for n in part}}
    (tmp_path / "ckpt" / "model.safetensors.index.json").write_text(json.dumps(index))
    code, out = import_hf(tmp_path / "ckpt", "--out", tmp_path / "run", capsys=capsys)
    assert code == 0, out.err
    x = tokens(seed=9)
    _, logits = imported_logits(tmp_path / "run", x)
    assert_close(logits, reference_logits(cfg, weights, x))
    record = json.loads((tmp_path / "run" / "provenance.json").read_text())["imported_from"]
    assert sorted(record["weights_sha256"]) == sorted(shards)


def test_a_hub_repository_is_fetched_and_its_commit_recorded(tmp_path, capsys, monkeypatch):
    """The hub itself is out of reach here: a stand-in for huggingface_hub serves a folder
    laid out like its cache (snapshots/<commit>) and records what it was asked for."""
    import types

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "cache" / "snapshots" / commit
    write_checkpoint(snapshot, noise_type=-1000.0)
    asked = {}

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        asked.update(repo=repo_id, revision=revision, patterns=allow_patterns)
        return str(snapshot)

    monkeypatch.setitem(sys.modules, "huggingface_hub",
                        types.SimpleNamespace(snapshot_download=snapshot_download))
    code, out = import_hf("dvruette/gidd-mask-3b", "--revision", "main", "--out",
                          tmp_path / "run", capsys=capsys)
    assert code == 0, out.err
    assert asked["repo"] == "dvruette/gidd-mask-3b" and asked["revision"] == "main"
    assert "config.json" in asked["patterns"] and "*.safetensors" in asked["patterns"]
    record = json.loads((tmp_path / "run" / "provenance.json").read_text())["imported_from"]
    assert record["hub_repo"] == "dvruette/gidd-mask-3b" and record["commit"] == commit
    assert default_host().registry.kind_of(engine.load_run(tmp_path / "run").noise).name == \
        "masked"

"""`difflaws plan`, `difflaws run --dry-run` and the can't-fit refusal, as a user runs them."""

import json
from pathlib import Path

import pytest

from difflaws.cli import main
from difflaws.engine import load

REPO = Path(__file__).resolve().parents[1]
TEN_B = REPO / "specs" / "uniform_10b.toml"


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_uniform_1e22_is_the_papers_10b_run(capsys):
    """Acceptance (issue 6): 1e22 FLOPs with the uniform laws ≈ gidd-unif-10b (docs/theory.md §6.5)."""
    code, out, err = cli(capsys, "plan", "--compute", "1e22", "--noise", "uniform", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["shape"] == "L34-D4608-H36"
    assert plan["flops_per_token_M"] == pytest.approx(5.58e10, rel=0.01)
    assert plan["non_embedding_params"] == pytest.approx(8.666e9, rel=0.001)
    assert plan["tokens"] == pytest.approx(1.82e11, rel=0.02)
    assert plan["batch_size_tokens"] == plan["batch_size"] * 2048
    assert 1.0 < plan["lr"] < 3.0
    assert plan["predicted_nelbo"] == pytest.approx(2.223, abs=0.002)
    assert plan["predicted_nelbo_annealed"] == pytest.approx(plan["predicted_nelbo"] / 1.0245)
    assert set(plan["min_gpus"]) == {"80GB", "141GB"}
    assert plan["min_gpus"]["141GB"]["min_gpus"] <= plan["min_gpus"]["80GB"]["min_gpus"]
    assert "extrapolation" in err


def test_plan_text_and_emitted_spec_runs_dry(capsys, tmp_path, monkeypatch):
    target = tmp_path / "planned.toml"
    code, out, err = cli(capsys, "plan", "--compute", "1e21", "--noise", "masked",
                         "--emit-spec", target, "--gpu-mem", "24GB")
    assert code == 0
    assert "L18-D3072-H24" in out and "24GB:" in out and "annealed" in out
    spec = load(target)
    assert spec.backbone.shape == "L18-D3072-H24"
    assert spec.train.seq_len == 2048 and spec.tokenizer.vocab_size == 131072
    assert spec.train.steps * spec.train.batch_size * 2048 == pytest.approx(7.28e10, rel=0.02)
    # the dry run plans from figures alone: building the model would be a bug
    from difflaws.builtins.backbones import TransformerConfig

    monkeypatch.setattr(TransformerConfig, "build", lambda *a, **k: pytest.fail("built"))
    code, out, _ = cli(capsys, "run", target, "--dry-run")
    assert code == 0 and "fewest GPUs" in out


def test_dry_run_of_the_10b_spec(capsys):
    code, out, _ = cli(capsys, "run", TEN_B, "--dry-run", "--json")
    assert code == 0
    plan = json.loads(out[out.index("{\n"):])
    assert plan["figures"]["total_params"] == pytest.approx(9.87e9, rel=0.001)
    memory = plan["memory"]  # as the spec says: FSDP2 with checkpointing, here on one process
    assert (memory["strategy"], memory["world_size"]) == ("fsdp2", 1)
    assert memory["activation_checkpointing"] and memory["micro_batch"] == 1
    assert memory["params_bytes"] == plan["figures"]["total_params"] * 4
    cards = plan["min_gpus"]
    assert cards["80GB"]["min_gpus"] >= 2 and 3072 % cards["80GB"]["min_gpus"] == 0
    assert cards["141GB"]["min_gpus"] <= cards["80GB"]["min_gpus"]
    assert cards["80GB"]["total_bytes"] <= 0.9 * 80e9


def test_run_refuses_a_model_the_device_cannot_hold(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFLAWS_DEVICE_MEMORY", "80GB")
    out_dir = tmp_path / "run"
    code, _, err = cli(capsys, "run", TEN_B, "--out", out_dir)
    assert code == 2
    assert "cannot hold the model" in err and "80GB" in err
    assert "torchrun --nproc_per_node=" in err and "GiB" in err
    assert not out_dir.exists()  # refused before anything was created


@pytest.mark.parametrize("args, message", [
    (["--compute", "-3"], "--compute"),
    (["--compute", "1e20", "--noise", "plaid"], "no laws for it"),
    (["--compute", "1e20", "--laws", "nowhere.json"], "neither a built-in law set"),
    (["--compute", "1e20", "--gpu-mem", "lots"], "--gpu-mem"),
])
def test_plan_bad_input(capsys, args, message):
    code, _, err = cli(capsys, "plan", *args)
    assert code == 2 and message in err and "Traceback" not in err

"""The four example plugin packages in plugins/, driven through their entry points as a user would.

Each package is "installed" by laying out its ``.dist-info`` (name, version
and entry point read from its own pyproject.toml) next to its source folder
on PYTHONPATH, and the CLI runs in a subprocess with only that plugin loaded.
The packages' own component tests live in plugins/<package>/tests.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

from conftest import REPO, make_dist, run_cli

PLUGINS = REPO / "plugins"
TINY = REPO / "tests" / "specs" / "tiny_markov.toml"
PACKAGES = ("noise", "fitter", "parameterization", "backbone")


def install(root, *packages) -> dict:
    """The environment under which ``packages`` (e.g. "noise") are installed and loaded."""
    folders, names = [], []
    for package in packages:
        folder = PLUGINS / f"difflaws-example-{package}"
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        ((name, target),) = project["entry-points"]["difflaws"].items()
        make_dist(root / "site", project["name"], project["version"], {}, {name: target})
        folders.append(str(folder))
        names.append(name)
    return {"PYTHONPATH": os.pathsep.join([str(root / "site"), *folders]),
            "DIFFLAWS_LOAD_PLUGINS": ",".join(names)}


def ok(out):
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def json_after_toml(stdout: str) -> dict:
    """``run --dry-run --json`` prints the resolved spec, then the plan as JSON."""
    return json.loads(stdout[stdout.index("{\n"):])


# -- every package -----------------------------------------------------------

def test_all_four_are_discovered_and_import_without_torch(tmp_path):
    env = install(tmp_path, *PACKAGES)
    records = {r["name"]: r for r in json.loads(ok(run_cli("plugins", "--json", env=env)).stdout)}
    kinds = {name: r["kinds"] for name, r in records.items() if not r["builtin"]}
    assert kinds == {"example-noise": ["noise:zipf"], "example-fitter": ["fitter:kaplan"],
                     "example-parameterization": ["parameterization:mup"],
                     "example-backbone": ["backbone:convmixer"]}
    assert all(records[n]["version"] == "0.1.0" and records[n]["error"] is None for n in kinds)
    # what `difflaws kinds` and `validate` import must stay light
    modules = ", ".join(f"difflaws_example_{p}.plugin" for p in PACKAGES)
    probe = (f"import sys, {modules}; "
             "print([m for m in ('torch', 'numpy', 'scipy', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert ok(out).stdout.strip() == "[]"


# -- noise -------------------------------------------------------------------

def zipf_spec(tmp_path, noise: str):
    spec = tmp_path / "zipf.toml"
    spec.write_text(f'base = "{TINY.as_posix()}"\nname = "zipf"\n'
                    'required_plugins = ["difflaws-example-noise>=0.1"]\n'
                    f'[noise]\nkind = "zipf"\n{noise}\n'
                    '[train]\nsteps = 20\nbatch_size = 8\nseq_len = 32\nlog_every = 5\n'
                    'eval_every = 20\neval_batches = 1\ncheckpoint_every = 20\n')
    return spec


@pytest.mark.slow
def test_zipf_noise_trains_and_samples(tmp_path):
    env = install(tmp_path, "noise")
    spec = zipf_spec(tmp_path, "exponent = 1.2\nshift = 0.5")
    run = tmp_path / "run"
    ok(run_cli("run", spec, "--out", run, "--quiet", env=env))
    assert 'kind = "zipf"' in (run / "spec.toml").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 20
    assert math.isfinite(summary["val_nelbo"]) and summary["val_nelbo"] > 0
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["plugins"]["example-noise"]["version"] == "0.1.0"
    out = ok(run_cli("sample", run, "--n", "1", "--steps", "4", env=env))
    assert "sample 1/1" in out.stdout


def test_bad_zipf_key_is_reported_by_path(tmp_path):
    env = install(tmp_path, "noise")
    out = run_cli("validate", zipf_spec(tmp_path, "exponent = -1.0"), env=env)
    assert out.returncode == 2 and "noise.exponent" in out.stderr and "Traceback" not in out.stderr


# -- fitter ------------------------------------------------------------------

TRUE = {"N_c": 1e10, "D_c": 1e11, "alpha_N": 0.2, "alpha_D": 0.25}
SIGMA = 0.01  # std of the multiplicative noise on the synthetic losses (in log-loss)


def kaplan_log_loss(theta, N, D):
    """ln L for θ = (ln N_c, ln D_c, α_N, α_D), written out again here (not imported)."""
    ln_nc, ln_dc, alpha_n, alpha_d = theta
    return alpha_d * np.log(np.exp((ln_nc - np.log(N)) * alpha_n / alpha_d) + np.exp(ln_dc) / D)


def theta_of(p):
    return np.array([math.log(p["N_c"]), math.log(p["D_c"]), p["alpha_N"], p["alpha_D"]])


def synthetic_points():
    N, D = np.meshgrid(np.geomspace(1e7, 1e9, 6), np.geomspace(1e9, 1e11, 6))
    N, D = N.ravel(), D.ravel()
    noise = np.random.default_rng(0).normal(0.0, SIGMA, N.size)
    return N, D, np.exp(kaplan_log_loss(theta_of(TRUE), N, D) + noise)


def expected_standard_errors(N, D):
    """Least squares on log-loss with iid N(0, σ²) residuals: cov(θ̂) ≈ σ²(JᵀJ)⁻¹, with J the
    Jacobian of ln L at the true θ (central differences)."""
    theta, h = theta_of(TRUE), 1e-6
    J = np.column_stack([(kaplan_log_loss(theta + h * e, N, D)
                          - kaplan_log_loss(theta - h * e, N, D)) / (2 * h)
                         for e in np.eye(4)])
    return np.sqrt(np.diag(SIGMA ** 2 * np.linalg.inv(J.T @ J)))


@pytest.fixture(scope="module")
def kaplan_fit(tmp_path_factory):
    """`difflaws fit CSV --law kaplan --json --plot`: the CSV, the environment, the output."""
    root = tmp_path_factory.mktemp("kaplan")
    N, D, L = synthetic_points()
    points = root / "points.csv"
    with open(points, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["params", "tokens", "loss"])
        writer.writerows(zip(N, D, L))
    env = install(root, "fitter")
    out = ok(run_cli("fit", points, "--law", "kaplan", "--json", "--plot", root / "kaplan.png",
                     env=env))
    (root / "fit.json").write_text(out.stdout)
    return root, env, json.loads(out.stdout)


@pytest.mark.slow
def test_kaplan_fit_recovers_the_law_and_draws_it(kaplan_fit):
    root, _, result = kaplan_fit
    N, D, _ = synthetic_points()
    se = expected_standard_errors(N, D)
    error = theta_of(result["params"]) - theta_of(TRUE)
    assert np.all(np.abs(error) < 5 * se), (error, se)  # 5σ each: a right fitter fails ~2 seeds in 10⁶
    reported = np.array(list(result["diagnostics"]["se"].values()))
    assert np.all((reported > se / 2) & (reported < 2 * se)), (reported, se)  # honest intervals
    assert result["diagnostics"]["interior"] and result["options"]["convention"] == "6P"
    for path in (root / "kaplan.png", root / "kaplan.pdf"):
        assert path.stat().st_size > 5_000


@pytest.mark.slow
def test_plan_reads_the_kaplan_frontier(kaplan_fit):
    root, env, result = kaplan_fit
    compute = 1e21
    plan = json.loads(ok(run_cli("plan", "--compute", compute, "--laws", root / "fit.json",
                                 "--noise", "all", "--json", env=env)).stdout)
    # N*(C): minimise the fitted L(N, C/6N) numerically, independently of the closed form
    fitted = theta_of(result["params"])

    def log_loss_at(log_n):  # every N with C = 6·N·D
        return kaplan_log_loss(fitted, math.exp(log_n), compute / (6 * math.exp(log_n)))

    best = minimize_scalar(log_loss_at, bracket=(15, 30), tol=1e-12)
    n_star = math.exp(best.x)
    assert plan["flop_convention"] == "6P" and plan["n_star_unit"] == "non_embedding_params"
    assert plan["n_star"] == pytest.approx(n_star, rel=1e-5)
    assert plan["d_star"] == pytest.approx(compute / (6 * n_star), rel=1e-5)
    assert plan["predicted_nelbo"] == pytest.approx(math.exp(best.fun), rel=1e-7)


# -- backbone -----------------------------------------------------------------

CONVMIXER = dict(width=32, depth=2, kernel_size=5)


def convmixer_spec(tmp_path):
    spec = tmp_path / "convmixer.toml"
    spec.write_text('name = "convmixer"\nseed = 0\n'
                    'required_plugins = ["difflaws-example-backbone>=0.1"]\n'
                    '[noise]\nkind = "masked"\n'
                    '[backbone]\nkind = "convmixer"\n'
                    + "".join(f"{k} = {v}\n" for k, v in CONVMIXER.items())
                    + '[optimizer]\nkind = "laprop"\n'
                    '[data]\nkind = "markov"\nn_symbols = 8\ntrain_tokens = 20000\n'
                    'val_tokens = 2000\n'
                    '[train]\nsteps = 16\nbatch_size = 8\nseq_len = 32\nwarmup_steps = 1\n'
                    'log_every = 4\neval_every = 4\neval_batches = 1\ncheckpoint_every = 16\n')
    return spec


@pytest.fixture(scope="module")
def built_counts():
    """Parameter counts of a real convmixer, built in this process for the spec's tokenizer."""
    from difflaws.plugins import PluginHost
    from difflaws_example_backbone.plugin import ConvMixerConfig

    host = PluginHost(entry_points=False)
    vocab = host.structure("tokenizer", "bytes").vocab_size  # the spec's default tokenizer
    model = ConvMixerConfig(**CONVMIXER).build(
        vocab_size=vocab, parameterization=host.default_config("parameterization").build())
    total = sum(p.numel() for p in model.parameters())
    return {"total_params": total,
            "non_embedding_params": total - model.embed.weight.numel() - model.head.weight.numel()}


def test_convmixer_figures_in_validate_and_dry_run(tmp_path, built_counts):
    env, spec = install(tmp_path, "backbone"), convmixer_spec(tmp_path)
    validated = json.loads(ok(run_cli("validate", spec, "--json", env=env)).stdout)
    assert validated["spec"]["backbone"]["kind"] == "convmixer"
    planned = json_after_toml(ok(run_cli("run", spec, "--dry-run", "--json", env=env)).stdout)
    for figures in (validated, planned["figures"]):
        for key, count in built_counts.items():
            assert figures[key] == count, key
        assert figures["flops_per_token_6P"] == 6 * built_counts["non_embedding_params"]
    assert planned["memory"]["params_bytes"] == 4 * built_counts["total_params"]


@pytest.mark.slow
def test_convmixer_trains_and_its_run_is_fitted(tmp_path, built_counts):
    env, spec = install(tmp_path, "backbone"), convmixer_spec(tmp_path)
    run = tmp_path / "run"
    ok(run_cli("run", spec, "--out", run, "--quiet", env=env))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 16 and math.isfinite(summary["val_nelbo"])
    assert summary["non_embedding_params"] == built_counts["non_embedding_params"]
    # fit reads the run's own figures: the curves law's budgets are M·tokens at its points
    fit = json.loads(ok(run_cli("fit", run, "--law", "curves", "--json", env=env)).stdout)
    budgets = fit["diagnostics"]["budgets"]
    tokens = [r["tokens"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
              if r.get("val_nelbo") is not None and r.get("tokens")]
    assert budgets[0] == pytest.approx(summary["flops_per_token_M"] * min(tokens))
    assert budgets[-1] == pytest.approx(summary["flops_per_token_M"] * max(tokens))
    from difflaws.fit import load_points

    assert set(load_points(run)["params"]) == {built_counts["non_embedding_params"]}


# -- parameterization and backbone together ----------------------------------------

# `difflaws coordcheck` shows its LR in the figure's title only; this runs the same CLI entry
# point with the plot function wrapped so the title is printed as well.
SHOW_TITLE = """
import sys
import difflaws.model.coordcheck as coordcheck
draw = coordcheck.plot
def plot(rows, path, title=""):
    print("title:", title)
    return draw(rows, path, title=title)
coordcheck.plot = plot
from difflaws.cli import main
sys.exit(main(sys.argv[1:]))
"""


def coordcheck(tmp_path, spec, env, *extra):
    script = tmp_path / "coordcheck_showing_title.py"
    script.write_text(SHOW_TITLE)
    out_dir = tmp_path / "cc"
    out = subprocess.run([sys.executable, str(script), "coordcheck", str(spec), "--widths", "32,64",
                          "--depths", "2,4", "--steps", "2", "--seq-len", "16", "--out",
                          str(out_dir), *extra], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=600)
    ok(out)
    return out, list(csv.DictReader(open(out_dir / "coordcheck.csv")))


@pytest.mark.slow
def test_mup_coordchecks_the_convmixer_at_its_own_lr(tmp_path):
    """One coordcheck covers two plugins: the plugin parameterization sets the LR and the
    multipliers of the plugin backbone, whose own probes are measured."""
    env = install(tmp_path, "parameterization", "backbone")
    out, rows = coordcheck(tmp_path, convmixer_spec(tmp_path), env,
                           "--set", "parameterization.kind=mup")
    assert "title: mup, lr 0.005" in out.stdout  # MuPConfig.coordcheck_defaults()
    assert list(dict.fromkeys(r["layer"] for r in rows)) == \
        ["embedding", "mixer", "mlp", "residual", "logits"]
    assert {(r["sweep"], int(r["width"]), int(r["depth"])) for r in rows} == \
        {("width", 32, 2), ("width", 64, 2), ("depth", 32, 2), ("depth", 32, 4)}
    assert len(rows) == 4 * 3 * 5  # 4 shapes, steps 0..2, 5 probed layer types

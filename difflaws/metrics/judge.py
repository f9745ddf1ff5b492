"""What ``--judge`` names: a difflaws run directory, else a Hugging Face causal LM."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from difflaws.errors import UserError
from difflaws.rundir import SPEC_FILE


def open_judge(name: str, source_tokenizer, device, batch_size: int,
               max_length: int | None = None, host=None):
    """A judge with ``rows(sample)``, ``scorer`` and ``settings``; a UserError naming
    ``--judge`` when ``name`` is neither a run directory nor a loadable causal LM."""
    if (Path(name) / SPEC_FILE).is_file():
        from difflaws.metrics.judge_run import RunJudge

        return RunJudge(name, source_tokenizer, str(device), batch_size, host=host)
    if importlib.util.find_spec("transformers") is None:
        raise UserError(f"--judge {name}: not a difflaws run directory (no {SPEC_FILE}), and "
                        "transformers is not installed to load it as a Hugging Face causal LM; "
                        "pass an autoregressive run directory, or `pip install 'difflaws[judge]'`")
    from difflaws.metrics.judge_hf import HFJudge

    try:
        return HFJudge(name, source_tokenizer, device, batch_size, max_length)
    except UserError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... by case
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--judge {name}: not a difflaws run directory (no {SPEC_FILE}), and "
                        f"transformers cannot load it as a causal LM ({reason}); pass an "
                        "autoregressive run directory, or a model name or directory that "
                        "AutoModelForCausalLM loads") from None

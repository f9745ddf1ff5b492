"""The core knows no variant: outside the built-in plugins, no code names a built-in kind.

Every kind a built-in plugin registers is looked for as a string literal (docstrings
aside) in every module of ``difflaws/`` except ``builtins/`` and the plugin scaffold.
The only modules allowed one are a kind's own implementation, which names itself
(a fitter's result label, a data source's name), and the paper's published law
tables, whose noise-type labels happen to coincide with noise kinds.
"""

from __future__ import annotations

import ast
from pathlib import Path

from difflaws.plugins import PluginHost

PACKAGE = Path(__file__).resolve().parents[1] / "difflaws"
SKIPPED = ("builtins", "scaffold")
# kinds too generic to look for: they are ordinary words in the code ("auto" devices, "lr"...)
GENERIC = {"auto", "local", "lines", "csv", "bytes", "text", "tokens", "hf", "lr", "linear",
           "standard", "paper"}
OWN_NAME = {  # module → the kinds it implements, and so may name
    "data/markov.py": {"markov"}, "data/stdlib.py": {"stdlib"}, "data/facts.py": {"facts"},
    "fit/chinchilla.py": {"chinchilla"}, "fit/curves.py": {"curves"},
    "fit/hyperlaws.py": {"batchsize"}, "fit/isoflop.py": {"isoflop", "curves"},
    "fit/powerlaw.py": {"powerlaw"}, "sweep/cluster.py": {"submitit"},
    "tokenizers/bpe.py": {"bpe"}, "tokenizers/tiktoken.py": {"tiktoken"},
    "plan/paper_laws.py": {"masked", "uniform", "paper-raw", "paper-6P", "paper-6P-raw"},
    # the authors' Hugging Face model_type, which happens to be a noise kind's name too
    "hf/gidd_config.py": {"gidd"},
}


def _literals(source: str):
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_core_module_names_a_built_in_kind():
    kinds = {k.name for k in PluginHost(entry_points=False).registry.kinds()} - GENERIC
    assert {"masked", "completep", "transformer", "chinchilla"} <= kinds  # the scan has teeth
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.split("/")[0] in SKIPPED:
            continue
        allowed = OWN_NAME.get(rel, set())
        found += [f"{rel}:{line}: {value!r}" for line, value in _literals(path.read_text())
                  if value in kinds and value not in allowed]
    assert not found, "core code names built-in kinds (move the behaviour behind an " \
                      "interface in difflaws/interfaces):\n" + "\n".join(found)

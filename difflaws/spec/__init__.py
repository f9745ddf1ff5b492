"""Specs: TOML files structured into frozen attrs configs."""

from difflaws.errors import Problem, SpecError, UserError
from difflaws.spec.load import load_spec, resolved_toml

__all__ = ["Problem", "SpecError", "UserError", "load_spec", "resolved_toml"]

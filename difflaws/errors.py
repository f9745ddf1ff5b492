"""One error that lists every problem in a spec, each with file and path."""

from __future__ import annotations

import attrs


@attrs.frozen
class Problem:
    path: str  # TOML key path such as "noise.shift"; "" for the file itself
    message: str
    source: str = ""  # the file (or --set) that set the value

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        key = f"{self.path}: " if self.path else ""
        return f"{where}{key}{self.message}"


class UserError(Exception):
    """Bad user input.  The CLI prints the message and exits 2, without a traceback."""


class SpecError(UserError):
    """Every problem found in a spec, each with its file and key path."""

    def __init__(self, problems, fix: str = ""):
        if isinstance(problems, (str, Problem)):
            problems = [problems]
        self.problems = [p if isinstance(p, Problem) else Problem("", str(p)) for p in problems]
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = "invalid spec" if n == 1 else f"invalid spec: {n} problems"
        lines = [head] + [f"  - {p}" for p in self.problems]
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class FieldError(ValueError):
    """Raised by config validators to blame one field with a message."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)

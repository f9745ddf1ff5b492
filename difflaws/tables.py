"""Tables of strings as aligned text or as Markdown.

``difflaws runs`` and the comparison tables of ``fit --by`` print through these, so
their columns line up, and their cells escape, the same way.  A table is a list of
rows of cells, the header row first; ``right`` says per column whether it is
right-aligned, so that figures line up on their last digit.
"""

from __future__ import annotations


def aligned(rows: list[list[str]], right: list[bool], indent: str = "") -> str:
    """Each column as wide as its widest cell, columns parted by two spaces."""
    widths = [max(len(row[j]) for row in rows) for j in range(len(right))]

    def line(cells):
        return indent + "  ".join(c.rjust(w) if r else c.ljust(w)
                                  for c, w, r in zip(cells, widths, right)).rstrip()

    return "\n".join(line(row) for row in rows)


def markdown(rows: list[list[str]], right: list[bool]) -> str:
    """A pipe table whose rule row carries each column's alignment; a ``|`` in a cell is
    escaped, so it cannot split the cell."""
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])

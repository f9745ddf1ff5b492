"""The Python entry points behind ``difflaws fit``."""

from __future__ import annotations

from difflaws.fit.table import PointTable, load_points
from difflaws.errors import Problem, SpecError, UserError


def fitter_kind(law: str, host):
    """The registered ``fitter`` kind called ``law``; an unknown name is a UserError."""
    from difflaws.registry import UnknownKindError

    try:
        return host.registry.get("fitter", law)
    except UnknownKindError as exc:
        raise UserError(str(exc)) from None


def fitter_config(law: str, host=None, **options):
    """Structure ``options`` into the law's config, with spec-style errors."""
    from difflaws.plugins import default_host
    from difflaws.spec.converter import flatten

    host = host or default_host()
    kind = fitter_kind(law, host)
    try:
        config = host.converter.structure(options, kind.config)
    except Exception as exc:
        problems = [_problem(p, m) for p, m in flatten(exc, kind.config)]
        raise SpecError(problems, fix="see `difflaws kinds fitter` for the laws and "
                                      "their options") from None
    return config


def build_fitter(law: str, host=None, **options):
    """The law's fitter, configured with ``options``."""
    return fitter_config(law, host, **options).build()


def plot(law: str, results: dict, path, host=None, **options) -> list:
    """Draw ``{group: FitResult}`` with the law's own figure; returns the files written."""
    return fitter_config(law, host, **options).figure(results, path)


def _problem(path: str, message: str) -> Problem:
    return Problem(f"fitter.{path}" if path else "fitter", message)


def fit(law: str, source, *, columns: dict | None = None, host=None, **options):
    """Fit one law to a CSV path, run/sweep directory, results DB or PointTable."""
    return build_fitter(law, host, **options).fit(_points(source, columns))


def fit_by(law: str, source, by: str, *, columns: dict | None = None, host=None, **options):
    """Fit ``law`` separately per value of column ``by`` (e.g. ``noise``)."""
    fitter = build_fitter(law, host, **options)
    return {value: fitter.fit(sub) for value, sub in _points(source, columns).groups(by)}


def _points(source, columns):
    # a PointTable is fitted as given: no derived columns, no value checks
    return source if isinstance(source, PointTable) else load_points(source, columns)

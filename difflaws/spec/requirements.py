"""``required_plugins = ["name>=version"]``: checked before structuring."""

from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement

from difflaws.errors import Problem, SpecError


def check_required_plugins(raw, host) -> None:
    wanted = raw.data.get("required_plugins", [])
    fix = "install the plugin (pip install NAME) or drop the requirement"
    if not isinstance(wanted, list):
        what = {str: "a string", dict: "a table"}.get(type(wanted), type(wanted).__name__)
        raise SpecError(Problem("required_plugins", f"expected a list of requirements, got {what}",
                                raw.origin("required_plugins")),
                        fix='write it as a list: required_plugins = ["difflaws-foo>=1.2"]')
    known = host.distributions()
    problems = []
    for i, text in enumerate(wanted):
        path = f"required_plugins.{i}"
        if not isinstance(text, str):
            problems.append(Problem(path, f"expected a requirement string such as "
                                          f"\"difflaws-foo>=1.2\", got {type(text).__name__}",
                                    raw.origin(path)))
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(Problem(path, f"not a requirement: {exc}", raw.origin(path)))
            continue
        record = known.get(req.name.lower().replace("_", "-"))
        if record is None:
            problems.append(Problem(path, f"plugin {req.name!r} is not installed",
                                    raw.origin(path)))
        elif not record.ok:
            problems.append(Problem(path, f"plugin {req.name!r} failed to load: {record.error}",
                                    raw.origin(path)))
        elif req.specifier and record.version and record.version not in req.specifier:
            problems.append(Problem(path, f"plugin {req.name!r} is {record.version}, "
                                          f"spec needs {req.specifier}", raw.origin(path)))
    if problems:
        raise SpecError(problems, fix=fix)

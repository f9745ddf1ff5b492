"""cattrs wiring: registry dispatch on ``kind`` and error flattening."""

from __future__ import annotations

import re
import typing

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from difflaws.components import is_slot
from difflaws.registry import Registry, UnknownKindError, did_you_mean
from difflaws.spec.errors import FieldError


class MissingKindError(KeyError):
    def __init__(self, category: str, available: list[str]):
        super().__init__(category)
        self.message = f"missing 'kind' (one of: {', '.join(available) or 'none registered'})"


class NotATableError(TypeError):
    pass


def make_converter(registry: Registry) -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def structure_slot(data, slot):
        category = slot.category
        if isinstance(data, str):  # shorthand: `attention = "sdpa"` is `[...attention] kind = "sdpa"`
            data = {"kind": data}
        if not isinstance(data, dict):
            raise NotATableError(f"expected a table with a 'kind' key, got {type(data).__name__}")
        if "kind" not in data:
            raise MissingKindError(category, registry.names(category))
        rest = {k: v for k, v in data.items() if k != "kind"}
        kind = registry.get(category, str(data["kind"]))
        return conv.structure(rest, kind.config)

    def unstructure_slot(obj):
        return {"kind": registry.kind_of(obj).name, **conv.unstructure(obj, type(obj))}

    conv.register_structure_hook_func(is_slot, structure_slot)
    # Slot-typed fields are unstructured through their runtime type, so the
    # kind must be re-attached whatever the declared type says.
    conv.register_unstructure_hook_func(is_slot, lambda obj: unstructure_slot(obj))
    _strict_scalars(conv)
    return conv


def _strict_scalars(conv: cattrs.Converter) -> None:
    """TOML has real types: refuse silent coercions such as "ten" -> int or 1.5 -> 1."""

    def strict(expected: type, accept: tuple):
        def hook(value, _):
            if isinstance(value, bool) and expected is not bool:
                raise TypeError(f"expected {expected.__name__}, got a boolean")
            if not isinstance(value, accept):
                raise TypeError(f"expected {expected.__name__}, got {type(value).__name__} {value!r}")
            return expected(value)

        return hook

    conv.register_structure_hook(int, strict(int, (int,)))
    conv.register_structure_hook(float, strict(float, (int, float)))
    conv.register_structure_hook(str, strict(str, (str,)))
    conv.register_structure_hook(bool, strict(bool, (bool,)))


def field_names(cls) -> list[str]:
    return [a.name for a in attrs.fields(cls)] if attrs.has(cls) else []


def flatten(exc: BaseException, cls, path: tuple = ()) -> list[tuple[str, str]]:
    """Turn a cattrs exception tree into ``(toml.path, message)`` pairs."""
    out: list[tuple[str, str]] = []
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        for sub in exc.exceptions:
            notes = getattr(sub, "__notes__", [])
            step, sub_cls = (), None
            for note in notes:
                if isinstance(note, AttributeValidationNote):
                    step = (note.name,)
                    sub_cls = note.type
                elif isinstance(note, IterableValidationNote):
                    step = (str(note.index),)
                    sub_cls = note.type
            out += flatten(sub, sub_cls, path + step)
        return out
    dotted = ".".join(path)
    if isinstance(exc, ForbiddenExtraKeysError):
        known = field_names(exc.cl)
        for key in sorted(exc.extra_fields):
            hint = did_you_mean(key, known) or (f" (known: {', '.join(known)})" if known else "")
            out.append((_join(dotted, key), f"unknown key{hint}"))
    elif isinstance(exc, MissingKindError):
        out.append((_join(dotted, "kind"), exc.message))
    elif isinstance(exc, UnknownKindError):
        out.append((_join(dotted, "kind"), str(exc)))
    elif isinstance(exc, FieldError):
        out.append((_join(dotted, exc.field), str(exc)))
    elif isinstance(exc, KeyError):
        out.append((dotted, "required key is missing"))
    elif isinstance(exc, ValueError) and (m := re.match(r"'(\w+)' (.*)", _message(exc), re.S)):
        out.append((_join(dotted, m.group(1)), m.group(2)))
    else:
        out.append((dotted, _plain(exc, cls)))
    return out


def _message(exc: BaseException) -> str:
    # attrs validators such as in_() raise ValueError(message, attribute, ...): keep the message
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, str) else str(exc)


def _plain(exc: BaseException, cls) -> str:
    text = str(exc)
    if isinstance(exc, TypeError) and "missing" in text and "required" in text:
        return f"required key is missing ({text.split('missing')[-1].strip()})"
    if cls is not None and not text.startswith("expected"):
        return f"{text} (expected {_type_name(cls)})"
    return text


def _type_name(tp) -> str:
    if is_slot(tp):
        return f"a [{tp.category}] table"
    origin = typing.get_origin(tp)
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a else b

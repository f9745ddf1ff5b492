"""cattrs wiring: registry dispatch on ``kind`` and error flattening."""

from __future__ import annotations

import math
import re
import typing

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn
from cattrs.cols import (homogenous_tuple_structure_factory, is_any_set, is_mapping,
                         is_sequence, list_structure_factory, mapping_structure_factory)
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from difflaws.interfaces import is_interface
from difflaws.registry import Registry, UnknownKindError, did_you_mean
from difflaws.errors import FieldError
from difflaws.spec.types import INT_MAX, INT_MIN, ExtendedFloat


class MissingKindError(KeyError):
    def __init__(self, category: str, available: list[str]):
        super().__init__(category)
        self.message = f"missing 'kind' (one of: {', '.join(available) or 'none registered'})"


class NotATableError(TypeError):
    pass


def make_converter(registry: Registry) -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def structure_slot(data, interface):
        category = interface.category
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

    conv.register_structure_hook_func(is_interface, structure_slot)
    # Interface-typed fields are unstructured through their runtime type, so
    # the kind must be re-attached whatever the declared type says.
    conv.register_unstructure_hook_func(is_interface, lambda obj: unstructure_slot(obj))
    _strict_scalars(conv)
    _strict_collections(conv)
    return conv


def _strict_scalars(conv: cattrs.Converter) -> None:
    """TOML has real types: refuse silent coercions such as "ten" -> int or 1.5 -> 1,
    integers beyond TOML's 64-bit range, and nan/±inf where a field did not opt in to them
    (``ExtendedFloat``)."""

    def check_type(value, expected: str, accept: tuple, is_bool: bool = False):
        if isinstance(value, bool) and not is_bool:
            raise TypeError(f"expected {expected}, got a boolean")
        if not isinstance(value, accept):
            raise TypeError(f"expected {expected}, got {_what(value)}")

    def check_range(value):
        if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"expected an integer in TOML's 64-bit range (-2**63 to 2**63-1), "
                             f"got {_short(value)}")

    def structure_int(value, _):
        check_type(value, "int", (int,))
        check_range(value)
        return int(value)

    def structure_float(value, _):
        check_type(value, "float", (int, float))
        check_range(value)
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        return value

    def structure_extended_float(value, _):
        check_type(value, "float (or ±inf)", (int, float))
        check_range(value)
        value = float(value)
        if math.isnan(value):
            raise ValueError("expected a number or ±inf, got nan")
        return value

    def structure_str(value, _):
        check_type(value, "str", (str,))
        return value

    def structure_bool(value, _):
        check_type(value, "bool", (bool,), is_bool=True)
        return value

    _strict_tables(conv)
    conv.register_structure_hook(int, structure_int)
    conv.register_structure_hook(float, structure_float)
    conv.register_structure_hook(ExtendedFloat, structure_extended_float)
    conv.register_unstructure_hook(ExtendedFloat, lambda value: value)
    conv.register_structure_hook(str, structure_str)
    conv.register_structure_hook(bool, structure_bool)


def _strict_tables(conv: cattrs.Converter) -> None:
    """A config class takes a TOML table only (cattrs would report "'list' object has no
    attribute 'keys'")."""

    def applies(cl) -> bool:
        return isinstance(cl, type) and attrs.has(cl) and not is_interface(cl)

    def factory(cl):
        if any(isinstance(a.type, str) for a in attrs.fields(cl)):  # PEP 563 annotations
            attrs.resolve_types(cl)
        inner = make_dict_structure_fn(cl, conv,
                                       _cattrs_forbid_extra_keys=conv.forbid_extra_keys,
                                       _cattrs_detailed_validation=conv.detailed_validation)

        def hook(value, tp):
            if not isinstance(value, dict):
                many = " (one [table], not an array of [[tables]])" \
                    if isinstance(value, list) else ""
                raise TypeError(f"expected a table, got {_what(value)}{many}")
            return inner(value, tp)

        return hook

    conv.register_structure_hook_factory(applies, factory)


def _strict_collections(conv: cattrs.Converter) -> None:
    """A list-typed field takes a TOML array only: cattrs would split a string into its
    characters and a table into its keys."""

    def wrap(inner, what: str):
        def hook(value, tp):
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"expected {what}, got {_what(value)}"
                                + (" (write it in brackets: [...])"
                                   if isinstance(value, (str, int, float)) else ""))
            return inner(value, tp)

        return hook

    def sequence_factory(tp):
        args = typing.get_args(tp)
        origin = typing.get_origin(tp) or tp
        if origin is tuple and args and args[-1] is not Ellipsis:  # tuple[int, str]
            return wrap(conv._structure_tuple, f"a list of {len(args)}")
        if origin is tuple:
            return wrap(homogenous_tuple_structure_factory(tp, conv), "a list")
        return wrap(list_structure_factory(tp, conv), "a list")

    def set_factory(tp):
        return wrap(conv._structure_set, "a list")

    def is_tuple(tp):
        return (typing.get_origin(tp) or tp) is tuple

    conv.register_structure_hook_factory(lambda tp: is_sequence(tp) or is_tuple(tp),
                                         sequence_factory)
    conv.register_structure_hook_factory(is_any_set, set_factory)

    def mapping_factory(tp):
        inner = mapping_structure_factory(tp, conv)

        def hook(value, cl):
            if not isinstance(value, dict):
                raise TypeError(f"expected a table, got {_what(value)}")
            return inner(value, cl)

        return hook

    conv.register_structure_hook_factory(is_mapping, mapping_factory)


def _what(value) -> str:
    """How a wrong value is named in a message: its TOML type (and itself, if short)."""
    if isinstance(value, str):
        return f"a string {_short(value)}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    name = {int: "an integer", float: "a float"}.get(type(value), type(value).__name__)
    return f"{name} {_short(value)}"


def _short(value, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (huge integers by their size)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


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
            hint = did_you_mean(key, known) or (f" (known: {', '.join(known)})" if known
                                                else " (this table takes no keys)")
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
    elif isinstance(exc, ValueError) and (m := re.match(r"Length of '(\w+)' (.*)", _message(exc),
                                                        re.S)):  # attrs' min_len / max_len
        out.append((_join(dotted, m.group(1)), f"its length {m.group(2)}"))
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
    if is_interface(tp):
        return f"a [{tp.category}] table"
    origin = typing.get_origin(tp)
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a else b

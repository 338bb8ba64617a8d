"""Typed dataclass configs: built from plain dicts, every value checked in one pass before any compute.

A field's valid values are declared once, where the field is declared:
- a `Literal[...]` type for a choice (`prompt_style: Literal["auto", "plain", "chat"]`);
- `num(default, ge=, gt=, le=, lt=)` for a number: its bounds; floats must also be finite (NaN and
  infinity are never a meaningful learning rate, weight or probability);
- `text(default, check=)` for a string that must satisfy a check (a regex that compiles, a device name).

`from_dict` rejects unknown keys (suggesting the closest), wrong types and out-of-range values with
one line naming the key, what it expects and what it got. Method configs use the same helpers, so
`method_args.*` are checked the same way.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal


class ConfigError(ValueError):
    """A bad configuration value or key; raised before any compute is spent."""


def did_you_mean(name: str, choices, prefix: str = "") -> str:
    """"; did you mean 'x'?" for the closest of `choices` (prefixed), or "" when none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


@dataclass(frozen=True)
class Bounds:
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    note: str = ""  # what a special value means, e.g. "0 = no cap"
    inf_ok: bool = False  # +inf is a meaningful value (e.g. a privacy budget of infinity: no privacy)

    def ok(self, v: float) -> bool:
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))

    def describe(self, integer: bool) -> str:
        kind = "an integer" if integer else ("a number (or .inf)" if self.inf_ok else "a finite number")
        lo = f"[{self.ge:g}" if self.ge is not None else (f"({self.gt:g}" if self.gt is not None else None)
        hi = f"{self.le:g}]" if self.le is not None else (f"{self.lt:g})" if self.lt is not None else None)
        if lo and hi:
            out = f"{kind} in {lo}, {hi}"
        elif lo:
            out = f"{kind} {'>=' if lo[0] == '[' else '>'} {lo[1:]}"
        elif hi:
            out = f"{kind} {'<=' if hi[-1] == ']' else '<'} {hi[:-1]}"
        else:
            out = kind
        return out + (f" ({self.note})" if self.note else "")


def num(default, *, ge=None, gt=None, le=None, lt=None, note: str = "", inf_ok: bool = False, identity=None):
    """A numeric field with its valid range (inf_ok: +inf allowed as well); identity: see ID_RULES."""
    meta = {"bounds": Bounds(ge, gt, le, lt, note, inf_ok)}
    return field(default=default, metadata={**meta, "identity": identity} if identity else meta)


def text(default: str = "", *, check: Callable[[str], str | None], identity=None):
    """A string field with a check returning None (valid) or what was expected; identity: see ID_RULES."""
    meta = {"check": check}
    return field(default=default, metadata={**meta, "identity": identity} if identity else meta)


# What a field contributes to a run's identity (the run id; the leaderboard's setting), declared on the
# field as metadata["identity"] and applied by harness/config.py identity(). Without one, the field is
# part of the identity. The rules:
#   "ignored"                   never part of it (where results are written, how processes share work)
#   "neutral_at_default"        left out at its default: a key added after runs were published whose
#                               default changes no number, so the published runs keep their ids
#   ("moot_when", key, value)   left out while `key` (dotted, from the section holding the field; a
#                               missing key reads as `value`) equals `value`: the field then has no effect
ID_RULES = ("ignored", "neutral_at_default", "moot_when")


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check (and gently coerce: int -> float, '5e-4' -> float) a value against a type annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _type_ok(value, arg)
            if ok:
                return True, v
        return False, value
    if origin is Literal:
        return value in typing.get_args(tp) and not isinstance(value, bool), value
    if tp is type(None):
        return value is None, value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-4" (no dot) and "nan" as strings
            try:
                return True, float(value)
            except ValueError:
                pass
        return False, value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp in (str, bool, dict, list):
        return isinstance(value, tp), value
    if origin in (dict, list):
        if not isinstance(value, origin):
            return False, value
        args = typing.get_args(tp)
        if origin is list and args and not all(_type_ok(x, args[0])[0] for x in value):
            return False, value
        return True, value
    return True, value


def type_name(tp: Any) -> str:
    if _is_literal(tp):
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def check_value(f: dataclasses.Field, tp: Any, value: Any, path: str) -> None:
    """The range / check of one field's (already type-checked) value."""
    if value is None:
        return  # Optional fields: None means "the default of whatever fills it in later"
    bounds: Bounds | None = f.metadata.get("bounds")
    if bounds is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        integer = isinstance(value, int)
        finite = integer or math.isfinite(value) or (bounds.inf_ok and value == math.inf)
        if not finite or not bounds.ok(value):
            raise ConfigError(f"config key '{path}': expected {bounds.describe(integer)}, got {value!r}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{path}': expected a finite number, got {value!r}")
    check = f.metadata.get("check")
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"config key '{path}': expected {problem}, got {value!r}")


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass `cls` from a dict: unknown keys, wrong types and out-of-range values fail with
    one line. Nested dataclass fields are built recursively."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, include_extras=False)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            hint = did_you_mean(key, fields, f"{where}." if where else "")
            raise ConfigError(f"unknown config key '{path}'{hint} (valid: {', '.join(fields)})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, path)
            continue
        ok, coerced = _type_ok(value, tp)
        if not ok:
            raise ConfigError(f"config key '{path}': expected {type_name(tp)}, got {value!r}")
        check_value(fields[key], tp, coerced, path)
        kwargs[key] = coerced
    return cls(**kwargs)


def validate(obj: Any, where: str = "") -> None:
    """Check every field of a dataclass tree (types, ranges, checks): the same rules as from_dict, for
    values filled in after loading (e.g. a method's default learning rate)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        path = f"{where}.{f.name}" if where else f.name
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, path)
            continue
        ok, _ = _type_ok(value, hints[f.name])
        if not ok:
            raise ConfigError(f"config key '{path}': expected {type_name(hints[f.name])}, got {value!r}")
        check_value(f, hints[f.name], value, path)


def walk_fields(cls: type, where: str = ""):
    """(dotted path, field, type) of every leaf field of a dataclass tree: for tests and docs."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            yield from walk_fields(hints[f.name], path)
        else:
            yield path, f, hints[f.name]

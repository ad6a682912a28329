"""Typed configs: one frozen dataclass per system, named presets, and ``--field value`` overrides.

A system's config is a frozen dataclass whose fields carry attribute docstrings (a string literal on the
line after the field); those docstrings are its ``--help``::

    @dataclass(frozen=True)
    class DynaConfig:
        planning_steps: int = 10
        \"\"\"Simulated updates from the model per real step.\"\"\"

    PRESETS = {"debug": DynaConfig(planning_steps=2), "cartpole": DynaConfig()}

    cfg = apply_overrides(resolve_preset(PRESETS, "debug"), ["--planning-steps", "5"])

Supported field types: int, float, str, bool, Path, ``Literal[...]``, ``tuple[X, ...]`` and fixed
``tuple[X, Y]`` (comma separated), and ``X | None`` (written ``none``).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union

from dreamlab.errors import DreamlabError, unknown_choice

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "ConfigError",
    "apply_overrides",
    "config_from_dict",
    "config_help",
    "config_to_dict",
    "field_docs",
    "resolve_preset",
]

C = TypeVar("C", bound="DataclassInstance")

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class ConfigError(DreamlabError):
    """A bad config option, value, preset name or config file entry."""


# ----------------------------------------------------------------------------- docstrings


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass's fields (base classes first), read with ``ast``.

    A field's docstring is the string literal on the line after it. Classes whose source is not
    available (defined in a REPL) have none.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        tree = ast.parse(source)
        node = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
        if node is None:
            continue
        for stmt, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(following.value.value)
    return docs


# ----------------------------------------------------------------------------- types


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field[Any], Any]]:
    """Init fields of a dataclass with their resolved annotations (strings under future annotations)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.init}


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _is_bool(tp: Any) -> bool:
    inner = _optional_inner(tp)
    return tp is bool or inner is bool


def _type_name(tp: Any) -> str:
    """How a type reads in help and errors: ``int``, ``{a,b}``, ``int,...``, ``float|none``."""
    inner = _optional_inner(tp)
    if inner is not None:
        return f"{_type_name(inner)}|none"
    if typing.get_origin(tp) is Literal:
        return "{" + ",".join(str(c) for c in typing.get_args(tp)) + "}"
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"{_type_name(args[0])},..."
        return ",".join(_type_name(a) for a in args)
    return {Path: "path"}.get(tp, getattr(tp, "__name__", str(tp)))


def _metavar(tp: Any) -> str:
    """A type as help shows it: ``INT``, ``FLOAT|NONE``, ``INT,...``; Literal choices keep their case."""
    if typing.get_origin(tp) is Literal:
        return _type_name(tp)
    inner = _optional_inner(tp)
    if inner is not None:
        return f"{_metavar(inner)}|NONE"
    return _type_name(tp).upper()


def _expects(tp: Any) -> str:
    """The expected-value phrase of an error: ``an int``, ``one of: a, b``."""
    inner = _optional_inner(tp)
    if inner is not None:
        return f"{_expects(inner)} or none"
    if typing.get_origin(tp) is Literal:
        return "one of: " + ", ".join(str(c) for c in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"comma-separated {_type_name(args[0])}s"
        return f"{len(args)} comma-separated values ({','.join(_type_name(a) for a in args)})"
    return {
        int: "an int",
        float: "a float",
        bool: "true or false",
        str: "a string",
        Path: "a path",
    }.get(tp, _type_name(tp))


class _BadValue(Exception):
    """A value does not fit its type; the caller words the error for its own context."""


def _parse(text: str, tp: Any) -> Any:
    """Parse command-line text as type ``tp``; raises _BadValue."""
    inner = _optional_inner(tp)
    if inner is not None:
        return None if text.strip().lower() == "none" else _parse(text, inner)
    origin = typing.get_origin(tp)
    if origin is Literal:
        for choice in typing.get_args(tp):
            if str(choice) == text or (
                isinstance(choice, bool) and text.lower() == str(choice).lower()
            ):
                return choice
        raise _BadValue
    if origin is tuple:
        args = typing.get_args(tp)
        parts = [p.strip() for p in text.split(",")] if text.strip() else []
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse(p, args[0]) for p in parts)
        if len(parts) != len(args):
            raise _BadValue
        return tuple(_parse(p, a) for p, a in zip(parts, args, strict=True))
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise _BadValue
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise _BadValue from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise _BadValue from None
    if tp is str:
        return text
    if tp is Path:
        return Path(text)
    raise TypeError(f"config fields of type {_type_name(tp)} cannot be parsed from text")


def _coerce(value: Any, tp: Any) -> Any:
    """Check a JSON value against type ``tp`` (lists become tuples, ints become floats); raises _BadValue."""
    inner = _optional_inner(tp)
    if inner is not None:
        return None if value is None else _coerce(value, inner)
    origin = typing.get_origin(tp)
    if origin is Literal:
        for choice in typing.get_args(tp):
            if value == choice and type(value) is type(choice):
                return choice
        raise _BadValue
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _BadValue
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if len(value) != len(args):
            raise _BadValue
        return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _BadValue
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _BadValue
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _BadValue
    if tp is str:
        if isinstance(value, str):
            return value
        raise _BadValue
    if tp is Path:
        if isinstance(value, str):
            return Path(value)
        raise _BadValue
    raise TypeError(f"config fields of type {_type_name(tp)} cannot be read from JSON")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _show(value: Any) -> str:
    """A value as it would be typed on the command line."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(_show(v) for v in value) if value else "empty"
    return str(value)


# ----------------------------------------------------------------------------- overrides


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def apply_overrides(cfg: C, argv: list[str]) -> C:
    """Return ``cfg`` with ``--field value`` / ``--field=value`` overrides applied (``dataclasses.replace``).

    Names take dashes or underscores; booleans are ``--flag``, ``--no-flag`` or ``--flag true|false``;
    ``X | None`` fields take ``none``. Errors are one-line :class:`ConfigError`.
    """
    fields = _fields(type(cfg))
    by_option = {_option(name): name for name in fields}
    changes: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if not token.startswith("--") or token == "--":
            raise ConfigError(f"unexpected argument '{token}'; options look like --name value")
        key, has_inline, inline = token.partition("=")
        option = key.replace("_", "-")
        negated = False
        if (
            option not in by_option
            and option.startswith("--no-")
            and "--" + option[5:] in by_option
        ):
            negated = _is_bool(fields[by_option["--" + option[5:]]][1])
            if negated:
                option = "--" + option[5:]
        if option not in by_option:
            raise ConfigError(str(unknown_choice("option", key, by_option)))
        name = by_option[option]
        tp = fields[name][1]
        if negated:
            if has_inline:
                raise ConfigError(f"{key} takes no value, got '{inline}'")
            changes[name] = False
            continue
        if has_inline:
            text = inline
        elif i < len(argv) and not argv[i].startswith("--"):
            text = argv[i]
            i += 1
        elif _is_bool(tp):
            changes[name] = True  # a bare --flag switches it on
            continue
        else:
            raise ConfigError(f"{option} expects a value ({_expects(tp)})")
        try:
            changes[name] = _parse(text, tp)
        except _BadValue:
            raise ConfigError(f"{option} expects {_expects(tp)}, got '{text}'") from None
        except TypeError as exc:
            raise ConfigError(f"{option}: {exc}") from None
    return dataclasses.replace(cfg, **changes)


def resolve_preset(presets: dict[str, C], name: str) -> C:
    """The preset called ``name``; an unknown name gets an error listing the presets."""
    if name not in presets:
        raise ConfigError(str(unknown_choice("preset", name, presets)))
    return presets[name]


# ----------------------------------------------------------------------------- dicts and help


def config_to_dict(cfg: DataclassInstance) -> dict[str, Any]:
    """A config as a JSON-able dict (tuples become lists, paths strings)."""
    return {f.name: _jsonable(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def config_from_dict(cls: type[C], d: dict[str, Any]) -> C:
    """Rebuild a config from :func:`config_to_dict`'s output; missing keys take their defaults."""
    fields = _fields(cls)
    values: dict[str, Any] = {}
    for key, value in d.items():
        if key not in fields:
            raise ConfigError(str(unknown_choice(f"{cls.__name__} key", key, fields)))
        tp = fields[key][1]
        try:
            values[key] = _coerce(value, tp)
        except _BadValue:
            raise ConfigError(
                f"{cls.__name__} key '{key}' expects {_expects(tp)}, got {value!r}"
            ) from None
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"cannot build {cls.__name__}: {exc}") from None


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def config_help(cls: type, presets: dict[str, Any] | None = None) -> str:
    """Help text: one line per field ``--field-name TYPE (default X)  docstring``, then the presets."""
    docs = field_docs(cls)
    rows = []
    for name, (field, tp) in _fields(cls).items():
        if _is_bool(tp):
            head = f"{_option(name)} / --no-{name.replace('_', '-')}"
        else:
            head = f"{_option(name)} {_metavar(tp)}"
        default = _default(field)
        head += " (required)" if default is dataclasses.MISSING else f" (default {_show(default)})"
        # Only the docstring's first line: the listing stays one line per field.
        doc = docs.get(name, "").splitlines()
        rows.append((head, doc[0] if doc else ""))
    width = max((len(h) for h, _ in rows), default=0)
    lines = [f"{head.ljust(width)}  {doc}".rstrip() for head, doc in rows]
    if presets:
        lines.append(f"presets: {', '.join(presets)}")
    return "\n".join(lines)

"""One base for the project's configs: plain dataclasses that write themselves to JSON, load back with every value
checked against its annotation, take dotted ``KEY=VALUE`` overrides and document themselves.

Written here rather than taken from pydantic, cattrs, msgspec or tyro: the configs stay plain dataclasses (their
``__post_init__`` checks and derived settings unchanged), the project wants the attribute docstrings as help text and
errors naming a bad key's dotted path, which none of those gives as it is, and it adds no dependency.

Usage::

    @dataclass
    class EncoderConfig(Config):
        channels: tuple[int, ...] = (32, 64)
        \"\"\"Feature channels per scale.\"\"\"

    cfg = EncoderConfig.from_json({"channels": [16, 32]})   # lists -> tuples; unknown keys and wrong types refused
    cfg.to_json()                                           # {"channels": [16, 32]}
    apply_overrides(cfg, ["channels=[8,16]"])               # a new config
    field_docs(EncoderConfig)["channels"]                   # "Feature channels per scale."
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import json
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import PurePath
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

C = TypeVar("C", bound="Config")

DERIVED = "derived"
"""Field metadata key marking a setting the others decide when it is None (see :class:`Config`)."""
RANGE = "range"
"""Field metadata key: ``(lo, hi)``, the inclusive bounds of a number setting (None: no bound on that side). Declare it
with :func:`bounded`; :func:`check_ranges` enforces it and the command line shows it."""


def bounded(default: Any, lo: float | None = None, hi: float | None = None) -> Any:
    """A dataclass field with ``default`` whose value must lie in ``[lo, hi]`` (the class's ``__post_init__`` calls
    :func:`check_ranges`): ``resolution: int = bounded(256, 8, 2048)``."""
    return dataclasses.field(default=default, metadata={RANGE: (lo, hi)})


def range_text(lo: float | None, hi: float | None) -> str:
    """``"from 8 to 2048"``, ``"at least 0"``, ``"at most 8"``."""
    if lo is not None and hi is not None:
        return f"from {lo:,} to {hi:,}"
    return f"at least {lo:,}" if lo is not None else f"at most {hi:,}"


def check_ranges(cfg: Any) -> None:
    """ValueError naming the first setting of dataclass ``cfg`` outside its declared range (:func:`bounded`), with
    the range; None values are not checked."""
    for f in dataclasses.fields(cfg):
        lo, hi = f.metadata.get(RANGE, (None, None))
        value = getattr(cfg, f.name)
        if value is None or (lo is None and hi is None):
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{f.name} must be {range_text(lo, hi)}, got {value:,}")


class Config:
    """Base of the project's ``@dataclass`` configs: ``to_json``, ``from_json`` and ``with_overrides`` from the
    field annotations.

    Supported field types: nested configs, ``X | None``, ``tuple[T, ...]`` and fixed-length tuples (JSON lists),
    ``list[T]``, ``dict`` / ``dict[str, T]``, ``Path`` (a string in JSON), ``Literal[...]``, ``bool``, ``int``,
    ``float`` (an int is accepted) and ``str``. A subclass that holds a config whose class JSON alone cannot tell
    (a union of several configs) resolves it in its own ``from_json`` and calls this one with the instance.

    A setting that the others decide when it is None (its class's ``__post_init__`` fills it in, and JSON records
    the value) is declared ``field(default=None, metadata={DERIVED: True})``: an override of another setting of its
    section drops it, so it follows the new settings instead of contradicting them.
    """

    def to_json(self) -> dict:
        """A JSON-ready dict: tuples as lists, nested configs as dicts, paths as strings, None kept."""
        return {f.name: _dump(getattr(self, f.name), f.name) for f in _init_fields(type(self))}

    @classmethod
    def from_json(cls: type[C], data: Mapping, *, path: str = "") -> C:
        """The config ``data`` describes (missing keys take their defaults).

        Raises ValueError naming the dotted path (``path`` prefixes it) of an unknown key or of a value of the wrong
        type, and the path of the section whose own checks (``__post_init__``) refused it.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"setting {path or cls.__name__!r}: expected a section (a JSON object), got "
                             f"{_describe(data)}")
        _refuse_unknown(cls, data, path)
        hints = _hints(cls)
        kwargs = {name: _convert(hints[name], value, _join(path, name)) for name, value in data.items()}
        for f in _init_fields(cls):
            if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"missing setting {_join(path, f.name)!r}")
        try:
            return cls(**kwargs)
        except ValueError as exc:
            if not path:
                raise
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def check_partial(cls, data: Mapping, *, path: str = "") -> None:
        """Checks a partial section of this config (some of its keys, nested sections partial too), such as changes
        to merge onto another config: ValueError for an unknown key or a value of the wrong type, naming its path.
        The class's own checks are left to the merged whole."""
        if not isinstance(data, Mapping):
            raise ValueError(f"setting {path or cls.__name__!r}: expected a section (a JSON object), got "
                             f"{_describe(data)}")
        _refuse_unknown(cls, data, path)
        hints = _hints(cls)
        for name, value in data.items():
            section = _config_class_in(hints[name])
            if section is not None and isinstance(value, Mapping):
                section.check_partial(value, path=_join(path, name))
            else:
                _convert(hints[name], value, _join(path, name))

    def with_overrides(self: C, overrides: Iterable[str]) -> C:
        """A new config with ``["steps=50", "model.encoder.channels=[16,32]"]`` applied in order.

        Values are parsed as JSON when they parse (numbers, lists, ``true``, ``null``, objects), else kept as
        strings. A key must name a setting (ValueError otherwise); a key inside a section that is None (an optional
        nested config) first gives the section its defaults; keys inside a ``dict`` setting are free.
        """
        data = self.to_json()
        for item in overrides:
            key, value = parse_override(item)
            _set_dotted(self, data, key, value)
        return type(self).from_json(data)


def apply_overrides(cfg: C, overrides: Iterable[str]) -> C:
    """``cfg.with_overrides(overrides)``: ``["steps=50", "data.count=8"]`` -> a new config."""
    return cfg.with_overrides(overrides)


def parse_override(item: str) -> tuple[str, Any]:
    """``"model.channels=[16,32]"`` -> ``("model.channels", [16, 32])`` (the value as JSON when it parses, else the
    string)."""
    if "=" not in item:
        raise ValueError(f"override {item!r} is not KEY=VALUE")
    key, raw = item.split("=", 1)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring written under it in the class body (base classes' included; a subclass's own
    docstring wins), dedented; fields without one are left out. Read from the source with ``ast``, once per class."""
    return dict(_field_docs(cls))


@cache
def _field_docs(cls: type) -> dict[str, str]:
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # defined where no source is kept (an interactive session)
            continue
        body = next((node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)), None)
        if body is None:
            continue
        for node, after in zip(body.body, body.body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


@dataclasses.dataclass(frozen=True)
class ConfigField:
    """One setting of a config class, as a command line or a form shows it."""

    name: str
    """The field's name."""
    type: Any
    """Its annotation, resolved (e.g. ``tuple[int, ...]``, ``PointTransformerConfig | None``)."""
    default: Any
    """Its default value (``dataclasses.MISSING`` when it has none; a factory's value otherwise)."""
    doc: str
    """Its docstring ("" without one)."""
    range: tuple[float | None, float | None] = (None, None)
    """Inclusive bounds of a number setting (:func:`bounded`); None: unbounded on that side."""


def config_fields(cls: type) -> list[ConfigField]:
    """The settings of config class ``cls`` in declaration order, with their types, defaults, docstrings and
    ranges."""
    hints, docs, out = _hints(cls), field_docs(cls), []
    for f in _init_fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(ConfigField(f.name, hints[f.name], default, docs.get(f.name, ""), f.metadata.get(RANGE, (None, None))))
    return out


# ------------------------------------------------------------------------------------------- internals


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _init_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _refuse_unknown(cls: type, data: Mapping, path: str) -> None:
    names = [f.name for f in _init_fields(cls)]
    unknown = [str(k) for k in data if k not in names]
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], names, n=1)
    hint = f" (did you mean {_join(path, close[0])!r}?)" if close and len(unknown) == 1 else ""
    listed = ", ".join(repr(_join(path, k)) for k in unknown)
    raise ValueError(f"unknown setting{'s' if len(unknown) > 1 else ''} {listed}{hint}")


def _type_error(path: str, tp: Any, value: Any) -> ValueError:
    return ValueError(f"setting {path!r}: expected {_type_name(tp)}, got {_describe(value)}")


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _config_class_in(tp: Any) -> type[Config] | None:
    """The one concrete config class ``tp`` names (``X`` or ``X | None``), else None."""
    options = [a for a in get_args(tp) if a is not type(None)] if _is_union(tp) else [tp]
    found = [a for a in options if isinstance(a, type) and issubclass(a, Config) and a is not Config]
    return found[0] if len(found) == 1 else None


def _is_mapping_type(tp: Any) -> bool:
    options = [a for a in get_args(tp) if a is not type(None)] if _is_union(tp) else [tp]
    return any(a is dict or get_origin(a) is dict for a in options)


def _convert(tp: Any, value: Any, path: str) -> Any:
    """``value`` (JSON, or already of the right type) as an instance of annotation ``tp``."""
    if tp is Any or tp is object:
        return value
    origin, args = get_origin(tp), get_args(tp)
    if _is_union(tp):
        if value is None:
            if type(None) in args:
                return None
            raise _type_error(path, tp, value)
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, value, path)
            except ValueError as exc:
                errors.append(exc)
        if len(options) == 1:
            raise errors[0]  # its own message says more (an unknown key deep inside a section)
        raise _type_error(path, tp, value)
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"setting {path!r}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if value is None:
        raise _type_error(path, tp, value)
    if isinstance(tp, type) and issubclass(tp, Config):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping) and tp is not Config:
            return tp.from_json(value, path=path)
        raise _type_error(path, tp, value)
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise _type_error(path, tp, value)
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"setting {path!r}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise _type_error(path, tp, value)
        return [_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise _type_error(path, tp, value)
        if not args:
            return dict(value)
        return {_convert(args[0], k, path): _convert(args[1], v, _join(path, str(k))) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _type_error(path, tp, value)
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, tp, value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(path, tp, value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _type_error(path, tp, value)
        return value
    if isinstance(tp, type) and issubclass(tp, PurePath):
        if not isinstance(value, (str, PurePath)):
            raise _type_error(path, tp, value)
        return tp(value)
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise _type_error(path, tp, value)
        return value
    return value  # an annotation this module does not interpret (a Callable, a TypeVar): taken as given


def _dump(value: Any, path: str) -> Any:
    if isinstance(value, Config):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_dump(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _dump(v, _join(path, str(k))) for k, v in value.items()}
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"setting {path!r}: {type(value).__name__} has no JSON form")


def _set_dotted(cfg: Config, data: dict, key: str, value: Any) -> None:
    """Sets ``key`` (``"a.b.c"``) in ``data``, the JSON of ``cfg``, checking each step against the config classes."""
    parts = key.split(".")
    node: dict = data
    obj: Any = cfg
    owner: type | None = type(cfg)  # the config class of ``node``; None inside a free-form dict
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if owner is None:
            if last:
                node[part] = value
                return
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ValueError(f"override {key!r}: {'.'.join(parts[:i + 1])!r} is not a section")
            node, obj = node[part], None
            continue
        names = [f.name for f in _init_fields(owner)]
        if part not in names:
            close = difflib.get_close_matches(part, names, n=1)
            raise ValueError(f"override {key!r}: no such setting"
                             + (f" (did you mean {'.'.join([*parts[:i], close[0]])!r}?)" if close else ""))
        if last:
            for f in _init_fields(owner):
                if f.metadata.get(DERIVED) and f.name != part:
                    node.pop(f.name, None)  # decided afresh by the changed section
            node[part] = value
            return
        tp = _hints(owner)[part]
        child = getattr(obj, part, None) if obj is not None else None
        section = type(child) if isinstance(child, Config) else _config_class_in(tp)
        free = section is None and _is_mapping_type(tp)
        if node.get(part) is None and (section is not None or free):
            node[part] = section().to_json() if section is not None else {}
        if not isinstance(node.get(part), dict) or (section is None and not free):
            raise ValueError(f"override {key!r}: {'.'.join(parts[:i + 1])!r} is not a section")
        node, obj, owner = node[part], child, section


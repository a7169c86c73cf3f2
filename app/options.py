"""Command-line options generated from config dataclasses: one source of truth for names, defaults and help.

A command declares which fields of a config it exposes; each becomes a ``typer`` option whose default is the
field's default and whose help is the field's docstring (:func:`nir_core.config.config_fields`). The command
receives the config built from the given values (a value the config's own checks refuse is a usage error)::

    @app.command()
    @config_options(PipelineConfig, "resolution", "method", param="pipeline")
    def extract(..., pipeline: PipelineConfig): ...
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import typer

from nir_core.config import config_fields, range_text


@dataclasses.dataclass(frozen=True)
class Rename:
    """A field shown under another option name, with optional aliases (``Rename("finetune_steps")``)."""

    name: str
    """The option's parameter name (``finetune_steps`` -> ``--finetune-steps``)."""
    aliases: tuple[str, ...] = ()
    """Further spellings accepted, e.g. ``("--quantizer",)``."""


def help_text(doc: str) -> str:
    """A field docstring as command-line help: reStructuredText roles and literals dropped, one line."""
    # :role:`~a.b.C` shows as C (the tilde's meaning in Sphinx), :role:`a.b.C` as a.b.C.
    text = re.sub(r":\w+:`(~?)([^`]+)`", lambda m: m[2].rsplit(".", 1)[-1] if m[1] else m[2], doc)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return " ".join(text.split())


def _cli_type(tp: Any) -> type:
    """The type typer parses for a field of annotation ``tp`` (``X | None`` -> ``X``; a union with ``str`` -> str)."""
    if get_origin(tp) in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return _cli_type(options[0])
        if str in options:
            return str
        raise TypeError(f"no command-line form for {tp}")
    if get_origin(tp) is typing.Literal:
        return str
    if tp in (bool, int, float, str) or (isinstance(tp, type) and issubclass(tp, Path)):
        return tp
    raise TypeError(f"no command-line form for {tp}")


def _annotations(command: Callable, skip: str) -> dict[str, Any]:
    """The command's annotations, resolved, but for ``skip`` (its config parameter, whose class the command module
    imports lazily, so its name cannot be resolved here)."""
    namespace = command.__globals__
    return {name: eval(ann, namespace) if isinstance(ann, str) else ann  # what typing.get_type_hints does
            for name, ann in command.__annotations__.items() if name != skip}


def config_options(cls: type, *names: str, param: str = "cfg", rename: dict[str, Rename] | None = None,
                   hidden: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator: adds an option per field ``names`` of config class ``cls`` to a typer command and passes the
    config those options describe as the keyword argument ``param`` (which the command declares last).

    ``rename``: field -> :class:`Rename` (another option name, aliases); ``hidden``: fields left out of ``--help``.
    """
    rename = rename or {}
    fields = {f.name: f for f in config_fields(cls)}
    unknown = [n for n in names if n not in fields]
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}")

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)
        kept = [p for p in signature.parameters.values() if p.name != param]
        added, option_of = [], {}
        for name in names:
            f = fields[name]
            spec = rename.get(name, Rename(name))
            cli_type = _cli_type(f.type)
            flag = "--" + spec.name.replace("_", "-")
            decls = [f"{flag}/--no-{flag[2:]}"] if cli_type is bool else [flag, *spec.aliases]
            # The config checks the range (one message for the CLI and every other caller); the help states it.
            shown = help_text(f.doc) + (f" Allowed: {range_text(*f.range)}." if f.range != (None, None) else "")
            option = typer.Option(f.default, *decls, help=shown, hidden=name in hidden,
                                  show_default=f.default is not None)
            annotation = cli_type | None if f.default is None else cli_type
            added.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                           annotation=annotation))
            option_of[spec.name] = name

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            values = {option_of[k]: kwargs.pop(k) for k in list(kwargs) if k in option_of}
            try:
                kwargs[param] = cls(**values)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
            return command(*args, **kwargs)

        positional = [p for p in kept if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        keyword = [p for p in kept if p.kind is inspect.Parameter.KEYWORD_ONLY]
        wrapper.__signature__ = signature.replace(parameters=[*positional, *keyword, *added])
        wrapper.__annotations__ = {**_annotations(command, skip=param), **{p.name: p.annotation for p in added}}
        return wrapper

    return decorate

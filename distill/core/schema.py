"""YAML loading and pydantic validation that speak the user's language.

Every config in the project (teacher.yaml, student.yaml, augment.yaml, bench.yaml) is a pydantic
model with ``extra="forbid"``. :func:`validate` turns pydantic's errors into one line that names
the file, the key path, what is allowed and the bad value, e.g.::

    student.yaml: stages.0.objectives.attn.weight: expected a number >= 0, got "high"
    student.yaml: stages.0.lr_rate: unknown key; did you mean 'lr'?
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import json
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, Tag, ValidationError
from pydantic_core import PydanticCustomError

from distill.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a ConfigError for a missing file, bad syntax or a non-mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as e:
        line = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
        raise ConfigError(f"{path}: {line}invalid YAML: {e.problem}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8"
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if data is None:
        raise ConfigError(f"{path}: file is empty, expected a mapping of keys to values")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------------------------------------
# Constrained number types whose error states the constraint for any bad input ("high", -1, True).


# Integers beyond int32 overflow torch and tokenizers (seeds, sizes, lengths); no config needs them.
INT_MAX = 2**31 - 1


def _number(low: float | None, high: float | None, *, integer: bool, strict_low: bool = False) -> Any:
    kind = "an integer" if integer else "a number"

    def show(x: float) -> str:
        return str(int(x)) if integer else f"{x:g}"

    if low is not None and high is not None:
        expected = f"expected {kind} in [{show(low)}, {show(high)}]"
    elif low is not None:
        expected = f"expected {kind} {'>' if strict_low else '>='} {show(low)}"
    else:
        expected = f"expected {kind}"

    def check(value: Any) -> Any:
        if isinstance(value, str) and not integer:
            # YAML 1.1 reads `5e-5` (no dot) as a string; accept it as the number it obviously is.
            with contextlib.suppress(ValueError):
                value = float(value)
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            raise PydanticCustomError("number", expected)
        if not math.isfinite(value):  # .nan / .inf (or "nan", "1e999") would poison training silently
            raise PydanticCustomError("number", expected.replace(" a number", " a finite number"))
        if low is not None and (value <= low if strict_low else value < low):
            raise PydanticCustomError("number", expected)
        if high is not None and value > high:
            raise PydanticCustomError("number", expected)
        if integer and high is None and value > INT_MAX:
            raise PydanticCustomError("number", f"{expected}, at most {INT_MAX}")
        return value

    return BeforeValidator(check)


def encoding_problem(encoding: str) -> str | None:
    """Why files in ``encoding`` cannot be read line by line, or None when they can."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        return "expected a Python codec name such as utf-8, latin-1 or cp1252"
    # Lines are split on the byte b"\n" before decoding, which only works for ASCII-compatible codecs.
    if not "a\n".encode(encoding).endswith(b"a\n"):
        return "expected an ASCII-compatible codec (utf-16/32 files: convert them to utf-8)"
    return None


def _codec(value: Any) -> Any:
    problem = encoding_problem(value) if isinstance(value, str) else None
    if problem:
        raise PydanticCustomError("encoding", problem)
    return value


def _non_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("non_empty", "expected a non-empty string")
    return value


Probability = Annotated[float, _number(0.0, 1.0, integer=False)]
NonNegFloat = Annotated[float, _number(0.0, None, integer=False)]
PositiveFloat = Annotated[float, _number(0.0, None, integer=False, strict_low=True)]
NonNegInt = Annotated[int, _number(0, None, integer=True)]
PositiveInt = Annotated[int, _number(1, None, integer=True)]
Seed = Annotated[int, _number(0, 2**32 - 1, integer=True)]  # the range numpy and torch both accept
NonEmptyStr = Annotated[str, BeforeValidator(_non_empty)]
Encoding = Annotated[str, BeforeValidator(_codec)]  # a codec name that reads our files line by line


# ---------------------------------------------------------------------------------------------
# Error formatting.


def _show(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def did_you_mean(name: str, allowed: list[str]) -> str | None:
    """The allowed name closest to ``name`` (spelling, or a shared prefix such as lr_rate -> lr)."""
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return close[0]
    prefixed = [a for a in allowed if name.startswith(a) or a.startswith(name)]
    return max(prefixed, key=len) if prefixed else None


def _step(annotation: Any, key: str | int) -> Any:
    """The annotation reached from ``annotation`` by one step ``key`` of an error location."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _step(typing.get_args(annotation)[0], key)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _step(arg, key)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(key) if isinstance(key, str) else None
        return field.annotation if field else None
    if origin in (list, tuple) and isinstance(key, int):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


def _tagged(annotation: Any, key: str | int) -> Any:
    """The member that tag ``key`` selects when ``annotation`` is a discriminated union (whose error
    locations carry the tag, e.g. ``architecture.tinybert.num_layers``), else None."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    for member in typing.get_args(annotation):
        if typing.get_origin(member) is Annotated and any(
            isinstance(m, Tag) and m.tag == key for m in typing.get_args(member)[1:]
        ):
            return typing.get_args(member)[0]
    return None


def _walk(model: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], Any]:
    """``loc`` as the user's key path (union tags dropped) and the annotation it reaches (None: unknown)."""
    annotation: Any = model
    keys: list[str | int] = []
    for key in loc:
        member = _tagged(annotation, key) if annotation is not None else None
        if member is not None:
            annotation = member
            continue
        keys.append(key)
        annotation = _step(annotation, key) if annotation is not None else None
    return tuple(keys), annotation


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    _, annotation = _walk(model, loc)
    if annotation is None:
        return None
    while typing.get_origin(annotation) in (Annotated, typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        annotation = args[0] if args else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _message(err: dict[str, Any], model: type[BaseModel]) -> str:
    kind = err["type"]
    loc = tuple(k for k in err["loc"] if not (isinstance(k, str) and k.startswith("function-")))
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        close = did_you_mean(str(loc[-1]), allowed)
        hint = f"did you mean {close!r}?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"unknown key; {hint}"
    if kind == "missing":
        return "missing required key"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"expected one of {expected.replace(' or ', ', ')}, got {_show(err['input'])}"
    if kind in ("number", "value_error", "assertion_error") or kind.startswith("custom"):
        text = err["msg"].removeprefix("Value error, ")
        return f"{text}, got {_show(err['input'])}" if "got" not in text else text
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys to values, got {_show(err['input'])}"
    if kind == "list_type":
        return f"expected a list, got {_show(err['input'])}"
    if kind in ("string_type",):
        return f"expected a string, got {_show(err['input'])}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_show(err['input'])}"
    return f"{err['msg'][0].lower()}{err['msg'][1:]}, got {_show(err['input'])}"


def format_errors(err: ValidationError, model: type[BaseModel], source: str, prefix: tuple = ()) -> str:
    """One line for all errors of ``err``: ``source: key.path: message; key.path: message``."""
    parts = []
    seen = set()
    for e in err.errors():
        loc, _ = _walk(
            model, tuple(k for k in e["loc"] if not (isinstance(k, str) and k.startswith("function-")))
        )
        # A union reports each member's failure; the first per location is the useful one.
        key = ".".join(str(k) for k in (*prefix, *loc))
        if key in seen:
            continue
        seen.add(key)
        # A check of the whole file (a model validator) names its keys in its own message.
        parts.append(f"{key}: {_message(e, model)}" if key else e["msg"].removeprefix("Value error, "))
    return f"{source}: " + "; ".join(parts)


def validate(model: type[M], data: Any, source: str, prefix: tuple = ()) -> M:
    """Validate ``data`` against ``model``; a ConfigError in the user's terms if it does not fit.

    ``source`` names the file (``student.yaml``); ``prefix`` is the key path of ``data`` inside it
    when validating a sub-tree, so messages still show the full path.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_errors(e, model, source, prefix)) from None

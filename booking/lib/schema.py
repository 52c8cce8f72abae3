"""Typed request models and settings: the part of pydantic v2 this app used, in plain Python.

pydantic and its compiled core add 4.0 MiB of RSS to the app (bench/import_costs.py) for a dozen
small models. This module keeps pydantic's contract where the app depends on it: lax conversion
(``"5"`` is an int, ``"yes"`` a bool, ``"2025-08-10T00:00:00"`` a date), every error of a body
collected at once, and pydantic's error ``type``, ``loc`` (aliases, list indexes as ints),
``msg``, ``input`` and ``ctx``, which ``booking/api/errors.py`` turns into the API's texts.
Only the detail after the comma in date and UUID parsing messages is worded differently.

Fields are read once per class in ``__init_subclass__``: each becomes one validator closure.
Supported field types: str, int, float, bool, date, PlainDate, uuid.UUID, Path, SecretStr,
Literal[...], X | None, list[X], nested models, and Annotated[X, BeforeValidator(f) |
AfterValidator(f)]. ``check_for`` gives the same checks for values outside a model (URL values).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    NewType,
    NoReturn,
    Self,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

Check = Callable[[Any], Any]
_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
_MESSAGES = {  # pydantic's texts; {0} is the first ctx value
    "missing": "Field required",
    "extra_forbidden": "Extra inputs are not permitted",
    "json_invalid": "Invalid JSON: {0}",
    "model_type": "Input should be a valid dictionary or instance of {0}",
    "value_error": "Value error, {0}",
    "list_type": "Input should be a valid list",
    "literal_error": "Input should be {0}",
    "string_type": "Input should be a valid string",
    "string_too_short": "String should have at least {0} character{s}",
    "string_too_long": "String should have at most {0} character{s}",
    "int_type": "Input should be a valid integer",
    "int_parsing": "Input should be a valid integer, unable to parse string as an integer",
    "int_from_float": "Input should be a valid integer, got a number with a fractional part",
    "int_parsing_size": "Unable to parse input string as an integer, exceeded maximum size",
    "finite_number": "Input should be a finite number",
    "float_type": "Input should be a valid number",
    "float_parsing": "Input should be a valid number, unable to parse string as a number",
    "bool_type": "Input should be a valid boolean",
    "bool_parsing": "Input should be a valid boolean, unable to interpret input",
    "greater_than": "Input should be greater than {0}",
    "greater_than_equal": "Input should be greater than or equal to {0}",
    "less_than": "Input should be less than {0}",
    "less_than_equal": "Input should be less than or equal to {0}",
    "date_type": "Input should be a valid date",
    "date_from_datetime_parsing": "Input should be a valid date or datetime, {0}",
    "date_from_datetime_inexact": "Datetimes provided to dates should have zero time - e.g. be exact dates",
    "uuid_type": "UUID input should be a string, bytes or UUID object",
    "uuid_parsing": "Input should be a valid UUID, {0}",
    "path_type": "Input is not a valid path for <class 'pathlib.Path'>",
}


class ValidationError(ValueError):
    """All errors of one input, each a dict shaped like pydantic's (type, loc, msg, input, ctx)."""

    def __init__(self, errors: list[dict[str, Any]], title: str = "") -> None:
        super().__init__(errors)
        self._errors = errors
        self.title = title

    def errors(self) -> list[dict[str, Any]]:
        return [dict(error) for error in self._errors]

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} validation error(s) for {self.title}"]
        for e in self._errors:
            where = ".".join(str(part) for part in e["loc"]) or "(model)"
            lines.append(f"{where}\n  {e['msg']} [type={e['type']}]")
        return "\n".join(lines)


def _error(kind: str, value: Any, loc: tuple[Any, ...] = (), **ctx: Any) -> dict[str, Any]:
    plural = "" if 1 in ctx.values() else "s"
    # Whole floats read like pydantic's (Rust's) messages: "greater than 0", not "0.0".
    shown = [int(v) if type(v) is float and v.is_integer() else v for v in ctx.values()]
    msg = _MESSAGES[kind].format(*shown, s=plural)
    error: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg}
    error["input"] = value
    if ctx:
        error["ctx"] = ctx
    return error


def _fail(kind: str, value: Any, **ctx: Any) -> NoReturn:
    raise ValidationError([_error(kind, value, **ctx)])


def _within(exc: ValidationError, key: str | int) -> list[dict[str, Any]]:
    """The errors of a nested value, located under ``key``."""
    for error in exc._errors:
        error["loc"] = (key, *error["loc"])
    return exc._errors


class SecretStr:
    """A string that never shows in logs, reprs or ``booking config`` output."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value: str) -> None:
        self._secret_value = secret_value

    def get_secret_value(self) -> str:
        return self._secret_value

    def __str__(self) -> str:
        return "**********" if self._secret_value else ""

    def __repr__(self) -> str:
        return f"SecretStr('{self}')"

    def __len__(self) -> int:
        return len(self._secret_value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._secret_value == self._secret_value

    def __hash__(self) -> int:
        return hash(self._secret_value)


@dataclass(frozen=True, slots=True)
class BeforeValidator:
    """Runs on the raw input; a ValueError becomes a ``value_error`` of the field."""

    func: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class AfterValidator:
    """Runs on the converted value; a ValueError becomes a ``value_error`` of the field."""

    func: Callable[[Any], Any]


@dataclass(slots=True)
class FieldInfo:
    default: Any
    default_factory: Callable[[], Any] | None = None
    alias: str | None = None
    description: str | None = None
    limits: dict[str, int | float] = dataclasses.field(default_factory=dict)
    name: str = ""
    check: Check = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is None


def Field(  # named like the pydantic function it replaces
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    alias: str | None = None,
    description: str | None = None,
    **limits: int | float,
) -> Any:
    """A field's default and constraints: min_length/max_length (str), ge/gt/le/lt (numbers)."""
    return FieldInfo(default, default_factory, alias, description, _known(limits))


def check_for(hint: Any, **limits: int | float) -> Check:
    """The check of a field typed ``hint`` with ``Field(**limits)``, for a value on its own (a
    path or query value): it returns the converted value or raises ValidationError, whose
    ``loc``s start at the value (``()`` for a scalar); the caller puts its own place first."""
    return _compile(hint, _known(limits))


def _known(limits: dict[str, int | float]) -> dict[str, int | float]:
    unknown = set(limits) - set(_BOUNDS)
    if unknown:
        raise TypeError(f"unknown field constraints {sorted(unknown)}")
    return limits


def to_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass_transform(kw_only_default=True, field_specifiers=(Field,))
class Model:
    """Subclass with annotated fields; class options: ``camel=True`` (camelCase aliases, field
    names accepted too), ``extra="forbid"`` (unknown keys are errors; default: ignored),
    ``frozen=True``. Override ``model_check`` for rules across fields."""

    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    _camel: ClassVar[bool] = False
    _forbid: ClassVar[bool] = False
    _frozen: ClassVar[bool] = False
    _keys: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(
        cls,
        *,
        camel: bool | None = None,
        frozen: bool | None = None,
        extra: Literal["ignore", "forbid"] | None = None,
    ) -> None:
        super().__init_subclass__()
        cls._camel = cls._camel if camel is None else camel
        cls._frozen = cls._frozen if frozen is None else frozen
        cls._forbid = cls._forbid if extra is None else extra == "forbid"
        cls.__hash__ = cls._frozen_hash if cls._frozen else None  # type: ignore[assignment]
        fields = {}
        for name, hint in get_type_hints(cls, include_extras=True).items():
            if name.startswith("_") or get_origin(hint) is ClassVar:
                continue
            spec = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), _MISSING)
            spec = spec if isinstance(spec, FieldInfo) else FieldInfo(spec)
            # A copy per field: one spec (``Field(max_length=1000)``) may serve several.
            alias = spec.alias or (to_camel(name) if cls._camel else None)
            check = _compile(hint, spec.limits)
            fields[name] = dataclasses.replace(spec, name=name, alias=alias, check=check)
        cls.model_fields = fields
        cls._keys = frozenset(fields) | {f.alias for f in fields.values() if f.alias}

    def __init__(self, /, **data: Any) -> None:
        self._fill(data)

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, Mapping):
            error = _error("model_type", obj, class_name=cls.__name__)
            raise ValidationError([error], cls.__name__)
        self = cls.__new__(cls)
        self._fill(obj)
        return self

    @classmethod
    def model_validate_json(cls, data: str | bytes | bytearray) -> Self:
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
            error = _error("json_invalid", data, error=str(exc))
            raise ValidationError([error], cls.__name__) from None
        return cls.model_validate(obj)

    def _fill(self, data: Mapping[str, Any]) -> None:
        values, errors = {}, []
        for field in self.model_fields.values():
            key = field.alias if field.alias and field.alias in data else field.name
            if key in data:
                try:
                    values[field.name] = field.check(data[key])
                except ValidationError as exc:
                    errors += _within(exc, key)
            elif field.required:
                errors.append(_error("missing", data, (field.alias or field.name,)))
            else:
                factory = field.default_factory
                values[field.name] = field.default if factory is None else factory()
        if self._forbid:
            extra = [key for key in data if key not in self._keys]
            errors += [_error("extra_forbidden", data[key], (key,)) for key in extra]
        if errors:
            raise ValidationError(errors, type(self).__name__)
        self.__dict__.update(values)
        try:
            self.model_check()
        except ValueError as exc:
            error = _error("value_error", data, error=exc)
            raise ValidationError([error], type(self).__name__) from None

    def model_check(self) -> None:
        """Rules across fields, run when every field is valid; raise ValueError to refuse."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A shallow copy with some fields replaced, like pydantic without validation."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__, **(update or {}))
        return copy

    def model_dump(self) -> dict[str, Any]:
        return {name: _dump(getattr(self, name)) for name in self.model_fields}

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"{type(self).__name__} is frozen; use model_copy(update=...)")
        super().__setattr__(name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def _frozen_hash(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.model_fields)
        return f"{type(self).__name__}({shown})"


def _dump(value: Any) -> Any:
    if isinstance(value, Model):
        return value.model_dump()
    return [_dump(item) for item in value] if isinstance(value, list) else value


# --- compiling a type into a validator --------------------------------------------------------


def _compile(hint: Any, limits: dict[str, int | float]) -> Check:
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        check = _compile(args[0], limits)
        for marker in hint.__metadata__:
            check = _hooked(marker, check)
        return check
    if origin in (Union, types.UnionType):
        if len(args) != 2 or type(None) not in args:
            raise TypeError(f"only X | None unions are supported, not {hint!r}")
        inner = _compile(next(a for a in args if a is not type(None)), limits)
        return lambda value: None if value is None else inner(value)
    if origin is Literal:
        return _literal(args)
    if origin is list:
        return _list(_compile(args[0], {}))
    if isinstance(hint, type) and issubclass(hint, Model):
        return hint.model_validate
    if hint not in _SCALARS:
        raise TypeError(f"unsupported field type {hint!r}")
    return _limited(_SCALARS[hint], limits) if limits else _SCALARS[hint]


def _hooked(marker: object, check: Check) -> Check:
    if not isinstance(marker, BeforeValidator | AfterValidator):
        raise TypeError(f"unsupported Annotated marker {marker!r}")
    before, func = isinstance(marker, BeforeValidator), marker.func

    def run(value: Any) -> Any:
        try:
            return check(func(value)) if before else func(check(value))
        except ValidationError:
            raise
        except ValueError as exc:
            _fail("value_error", value, error=exc)

    return run


_BOUNDS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "min_length": ("string_too_short", lambda v, b: len(v) >= b),
    "max_length": ("string_too_long", lambda v, b: len(v) <= b),
    "le": ("less_than_equal", lambda v, b: v <= b),
    "lt": ("less_than", lambda v, b: v < b),
    "ge": ("greater_than_equal", lambda v, b: v >= b),
    "gt": ("greater_than", lambda v, b: v > b),
}


def _limited(check: Check, limits: dict[str, int | float]) -> Check:
    # pydantic's order: a NaN fails ``le`` before ``gt``.
    tests = [(name, limits[name], *_BOUNDS[name]) for name in _BOUNDS if name in limits]

    def run(value: Any) -> Any:
        converted = check(value)
        for name, bound, kind, holds in tests:
            if not holds(converted, bound):
                _fail(kind, value, **{name: float(bound) if type(converted) is float else bound})
        return converted

    return run


def _literal(allowed: tuple[Any, ...]) -> Check:
    shown = [repr(value) for value in allowed]
    expected = " or ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)

    def run(value: Any) -> Any:
        for option in allowed:
            if type(value) is type(option) and value == option:
                return option
        _fail("literal_error", value, expected=expected)

    return run


def _list(item: Check) -> Check:
    def run(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            _fail("list_type", value)
        items, errors = [], []
        for index, element in enumerate(value):
            try:
                items.append(item(element))
            except ValidationError as exc:
                errors += _within(exc, index)
        if errors:
            raise ValidationError(errors)
        return items

    return run


# --- scalars, converted like pydantic's lax mode ----------------------------------------------

_INT_TEXT = re.compile(r"[+-]?\d+(?:_\d+)*(?:\.0+)?", re.ASCII)
_TRUE, _FALSE = {"1", "on", "t", "true", "y", "yes"}, {"0", "off", "f", "false", "n", "no"}


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    _fail("string_type", value)


def _int(value: Any) -> int:
    if isinstance(value, int):
        return int(value)  # True is 1, as in pydantic's lax mode
    if isinstance(value, float):
        if not math.isfinite(value):
            _fail("finite_number", value)
        if not value.is_integer():
            _fail("int_from_float", value)
        if abs(value) < 2**63:
            return int(value)
    elif isinstance(value, str):
        if not _INT_TEXT.fullmatch(text := value.strip()):
            _fail("int_parsing", value)
        if len(text) <= 4300:  # Python's limit for int("...")
            return int(text.split(".")[0])
    else:
        _fail("int_type", value)
    _fail("int_parsing_size", value)


def _float(value: Any) -> float:
    try:
        if isinstance(value, int | float | str):
            return float(value)
    except ValueError:
        _fail("float_parsing", value)
    except OverflowError:
        pass
    _fail("float_type", value)


def _bool(value: Any) -> bool:
    if isinstance(value, int | float) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    if (
        isinstance(value, str)
        or isinstance(value, int | float)
        and abs(value) < 2**63
        and value % 1 == 0
    ):
        _fail("bool_parsing", value)
    _fail("bool_type", value)


# The shapes pydantic accepts; datetime.fromisoformat alone would also take week dates and more.
_ISO = re.compile(
    r"\d{4}-\d\d-\d\d([Tt _]\d\d:\d\d(:\d\d([.,]\d{1,6})?)?([Zz]|[+-]\d\d(:?\d\d)?)?)?", re.ASCII
)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?", re.ASCII)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        if value.time() != time():
            _fail("date_from_datetime_inexact", value)
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return _date_from_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _date_from_timestamp(value, value)
    _fail("date_type", value)


# A date written YYYY-MM-DD and nothing else, as booking/http.py reads dates in URLs: pydantic's
# lax date also takes a date-time at midnight and Unix time ("20300101" is seconds).
PlainDate = NewType("PlainDate", date)
_DAY = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)


def _plain_date(value: Any) -> date:
    if isinstance(value, str) and not _DAY.fullmatch(value):
        _fail("date_from_datetime_parsing", value, error="expected YYYY-MM-DD")
    return _date(value)


def _date_from_text(text: str) -> date:
    """ISO dates, date-times at midnight, and numbers (Unix time), like pydantic's parser."""
    if _NUMBER.fullmatch(text):
        return _date_from_timestamp(float(text), text)
    problem = "input is too short" if len(text) < 10 else "invalid date or datetime format"
    if _ISO.fullmatch(text):
        try:
            found = datetime.fromisoformat(f"{text[:10]}T{text[11:]}" if text[10:] else text)
        except ValueError as exc:  # e.g. "day is out of range for month"
            problem = str(exc)
        else:
            if found.time() != time():
                _fail("date_from_datetime_inexact", text)
            return found.date()
    _fail("date_from_datetime_parsing", text, error=problem)


def _date_from_timestamp(number: float, original: Any) -> date:
    seconds = number / 1000 if abs(number) > 2e10 else number  # pydantic: larger means ms
    if not -62_135_596_800 <= seconds < 253_402_300_800:  # years 1 to 9999 (and not NaN)
        problem = "dates after 9999 are not supported as unix timestamps"
        _fail("date_from_datetime_parsing", original, error=problem)
    if seconds % 86400:
        _fail("date_from_datetime_inexact", original)
    return date(1970, 1, 1) + timedelta(days=seconds // 86400)


_UUID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        _fail("uuid_type", value)
    text = value.removeprefix("urn:uuid:")  # one wrapper at most: not "urn:uuid:{...}"
    text = text[1:-1] if text == value and text[:1] == "{" and text[-1:] == "}" else text
    if _UUID.fullmatch(text) and (text == value or "-" in text):
        return uuid.UUID(text)
    bad = next((i for i, c in enumerate(text) if c not in "0123456789abcdefABCDEF-"), None)
    problem = f"invalid length: found {len(text)}"
    if bad is not None:
        problem = f"invalid character: found `{text[bad]}` at {bad}"
    _fail("uuid_parsing", value, error=problem)


def _path(value: Any) -> Path:
    if isinstance(value, str | os.PathLike):
        return Path(value)
    _fail("path_type", value)


def _secret(value: Any) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(_str(value))


_SCALARS: dict[Any, Check] = {
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    date: _date,
    PlainDate: _plain_date,
    uuid.UUID: _uuid,
    Path: _path,
    SecretStr: _secret,
}

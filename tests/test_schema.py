"""booking.lib.schema: pydantic's lax conversions and error shapes, pinned.

``booking/api/errors.py`` turns the errors' ``type`` and ``loc`` into the API's texts, and config
errors show ``msg``: the expected values below are what pydantic 2 returned for the same input.
While pydantic is installed (a FastAPI dependency), a second set of tests compares directly.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from booking.lib.schema import (
    AfterValidator,
    BeforeValidator,
    Field,
    Model,
    PlainDate,
    SecretStr,
    ValidationError,
    check_for,
    to_camel,
)

U = "12345678-1234-5678-1234-567812345678"
INEXACT = "Datetimes provided to dates should have zero time - e.g. be exact dates"


def one_field(tp: Any, **field: Any) -> Any:
    """A model with one field ``x`` (built with type(): annotations here are strings)."""
    return type("One", (Model,), {"__annotations__": {"x": tp}, "x": Field(**field)})


def outcome(model: type[Model], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return exc.errors()


def error_of(tp: Any, value: Any, **field: Any) -> tuple[str, str, dict[str, Any] | None]:
    errors = outcome(one_field(tp, **field), {"x": value})
    assert isinstance(errors, list) and len(errors) == 1, errors
    (error,) = errors
    assert error["loc"] == ("x",) and error["input"] is value
    return error["type"], error["msg"], error.get("ctx")


@pytest.mark.parametrize(
    ("tp", "value", "expected"),
    [
        (int, "5", 5),
        (int, " +5 ", 5),
        (int, "1_000", 1000),
        (int, "5.00", 5),
        (int, 2.0, 2),
        (int, True, 1),
        (int, 10**30, 10**30),
        (float, "1e3", 1000.0),
        (float, " 2 ", 2.0),
        (float, 1, 1.0),
        (bool, "yes", True),
        (bool, "OFF", False),
        (bool, 1, True),
        (bool, 0.0, False),
        (date, "2025-08-10", date(2025, 8, 10)),
        (date, "2025-08-10T00:00:00", date(2025, 8, 10)),
        (date, "2025-08-10 00:00", date(2025, 8, 10)),
        (date, "2025-08-10T00:00:00+02:00", date(2025, 8, 10)),
        (date, 86400, date(1970, 1, 2)),
        (date, "+86400", date(1970, 1, 2)),
        (date, datetime(2025, 1, 1, tzinfo=UTC), date(2025, 1, 1)),
        (uuid.UUID, U.replace("-", ""), uuid.UUID(U)),
        (uuid.UUID, "{" + U + "}", uuid.UUID(U)),
        (uuid.UUID, "urn:uuid:" + U, uuid.UUID(U)),
        (Path, "x/y", Path("x/y")),
        (str | None, None, None),
        (list[int], ("1", 2), [1, 2]),
        (Literal["a", "b"], "b", "b"),
    ],
)
def test_it_converts_like_pydantic_lax_mode(tp, value, expected):
    result = one_field(tp).model_validate({"x": value}).x
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("tp", "value", "field", "expected"),
    [
        (str, 1, {}, ("string_type", "Input should be a valid string", None)),
        (str, "x" * 6, {"max_length": 5}, ("string_too_long", "String should have at most 5 characters", {"max_length": 5})),
        (str, "", {"min_length": 1}, ("string_too_short", "String should have at least 1 character", {"min_length": 1})),
        (int, "zwei", {}, ("int_parsing", "Input should be a valid integer, unable to parse string as an integer", None)),
        (int, "5.5", {}, ("int_parsing", "Input should be a valid integer, unable to parse string as an integer", None)),
        (int, 1.5, {}, ("int_from_float", "Input should be a valid integer, got a number with a fractional part", None)),
        (int, None, {}, ("int_type", "Input should be a valid integer", None)),
        (int, math.inf, {}, ("finite_number", "Input should be a finite number", None)),
        (int, 0, {"ge": 1}, ("greater_than_equal", "Input should be greater than or equal to 1", {"ge": 1})),
        (int, 70000, {"le": 65535}, ("less_than_equal", "Input should be less than or equal to 65535", {"le": 65535})),
        (int, 3, {"lt": 3}, ("less_than", "Input should be less than 3", {"lt": 3})),
        (float, 0, {"gt": 0}, ("greater_than", "Input should be greater than 0", {"gt": 0})),
        (float, math.nan, {"gt": 0, "le": 300}, ("less_than_equal", "Input should be less than or equal to 300", {"le": 300})),
        (float, "x", {}, ("float_parsing", "Input should be a valid number, unable to parse string as a number", None)),
        (float, None, {}, ("float_type", "Input should be a valid number", None)),
        (bool, "", {}, ("bool_parsing", "Input should be a valid boolean, unable to interpret input", None)),
        (bool, 2, {}, ("bool_parsing", "Input should be a valid boolean, unable to interpret input", None)),
        (bool, 0.5, {}, ("bool_type", "Input should be a valid boolean", None)),
        # Parsing errors: pydantic's type and prefix; the detail after the comma is ours.
        (date, "2025-02-30", {}, ("date_from_datetime_parsing", "Input should be a valid date or datetime, day is out of range for month", {"error": "day is out of range for month"})),
        (date, "2025-13-01", {}, ("date_from_datetime_parsing", "Input should be a valid date or datetime, month must be in 1..12", {"error": "month must be in 1..12"})),
        (date, "2025-8-10", {}, ("date_from_datetime_parsing", "Input should be a valid date or datetime, input is too short", {"error": "input is too short"})),
        (date, "2025-08-10x", {}, ("date_from_datetime_parsing", "Input should be a valid date or datetime, invalid date or datetime format", {"error": "invalid date or datetime format"})),
        (date, "2025-08-10T10:00:00", {}, ("date_from_datetime_inexact", INEXACT, None)),
        (date, 20300101, {}, ("date_from_datetime_inexact", INEXACT, None)),
        (date, "20250810", {}, ("date_from_datetime_inexact", INEXACT, None)),
        (date, True, {}, ("date_type", "Input should be a valid date", None)),
        (uuid.UUID, "zimmer-1", {}, ("uuid_parsing", "Input should be a valid UUID, invalid character: found `z` at 0", {"error": "invalid character: found `z` at 0"})),
        (uuid.UUID, "", {}, ("uuid_parsing", "Input should be a valid UUID, invalid length: found 0", {"error": "invalid length: found 0"})),
        (uuid.UUID, "urn:uuid:{" + U + "}", {}, ("uuid_parsing", "Input should be a valid UUID, invalid character: found `{` at 0", {"error": "invalid character: found `{` at 0"})),
        (uuid.UUID, 5, {}, ("uuid_type", "UUID input should be a string, bytes or UUID object", None)),
        (Literal["a", "b", "c"], "d", {}, ("literal_error", "Input should be 'a', 'b' or 'c'", {"expected": "'a', 'b' or 'c'"})),
        (Literal["a"], 1, {}, ("literal_error", "Input should be 'a'", {"expected": "'a'"})),
        (list[int], {"a": 1}, {}, ("list_type", "Input should be a valid list", None)),
        (Path, 1, {}, ("path_type", "Input is not a valid path for <class 'pathlib.Path'>", None)),
        (SecretStr, 1, {}, ("string_type", "Input should be a valid string", None)),
        (str | None, "xy", {"max_length": 1}, ("string_too_long", "String should have at most 1 character", {"max_length": 1})),
    ],
)  # fmt: skip
def test_it_reports_errors_like_pydantic(tp, value, field, expected):
    assert error_of(tp, value, **field) == expected


# --- models -----------------------------------------------------------------------------------


def _date_only(value: Any) -> Any:
    if isinstance(value, str) and "T" in value:
        return datetime.fromisoformat(value).date()
    return value


class ItemIn(Model, camel=True):
    place_id: uuid.UUID
    person_count: int


class StayIn(Model, camel=True):
    start_date: Annotated[date, BeforeValidator(_date_only)]
    notes: str | None = Field(default=None, max_length=5)
    items: list[ItemIn] = Field(default_factory=list)


def test_it_collects_every_error_with_alias_locs_and_list_indexes():
    data = {"startDate": "2025-01-01T10:xx", "notes": 42, "items": [{"person_count": "z"}, 5]}
    errors = outcome(StayIn, data)
    error_text = "Invalid isoformat string: '2025-01-01T10:xx'"
    assert [{k: v for k, v in e.items() if k != "ctx"} for e in errors] == [
        {"type": "value_error", "loc": ("startDate",), "msg": f"Value error, {error_text}", "input": "2025-01-01T10:xx"},
        {"type": "string_type", "loc": ("notes",), "msg": "Input should be a valid string", "input": 42},
        {"type": "missing", "loc": ("items", 0, "placeId"), "msg": "Field required", "input": {"person_count": "z"}},
        {"type": "int_parsing", "loc": ("items", 0, "person_count"), "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "z"},
        {"type": "model_type", "loc": ("items", 1), "msg": "Input should be a valid dictionary or instance of ItemIn", "input": 5},
    ]  # fmt: skip
    assert str(errors[0]["ctx"]["error"]) == error_text
    assert errors[4]["ctx"] == {"class_name": "ItemIn"}


def test_it_reports_missing_fields_under_their_alias_with_the_whole_input():
    assert outcome(StayIn, {"extra": 1}) == [
        {"type": "missing", "loc": ("startDate",), "msg": "Field required", "input": {"extra": 1}}
    ]


def test_it_prefers_the_alias_when_name_and_alias_are_both_given():
    stay = StayIn.model_validate({"start_date": "x", "startDate": "2025-01-02"})
    assert stay.start_date == date(2025, 1, 2)
    assert outcome(StayIn, {"start_date": "2025-01-02", "startDate": "x"})[0]["loc"] == (
        "startDate",
    )


def test_it_builds_from_names_aliases_instances_and_defaults():
    item = ItemIn(place_id=uuid.UUID(U), person_count=2)
    stay = StayIn(start_date=date(2025, 1, 1), items=[item, {"placeId": U, "personCount": "3"}])
    assert stay.items == [item, ItemIn(placeId=U, personCount=3)]
    assert stay.notes is None
    assert StayIn(start_date=date(2025, 1, 1)).items == []
    assert StayIn(start_date=date(2025, 1, 1)).items is not StayIn(startDate="2025-01-01").items
    assert ItemIn.model_validate(item) is item
    assert repr(item) == f"ItemIn(place_id=UUID('{U}'), person_count=2)"
    with pytest.raises(TypeError):
        ItemIn(U, 2)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize("data", [[], None, "x", 5])
def test_it_refuses_a_body_that_is_not_an_object(data):
    with pytest.raises(ValidationError) as caught:
        StayIn.model_validate(data)
    assert caught.value.errors() == [
        {
            "type": "model_type",
            "loc": (),
            "msg": "Input should be a valid dictionary or instance of StayIn",
            "input": data,
            "ctx": {"class_name": "StayIn"},
        }
    ]
    assert caught.value.title == "StayIn"


def test_it_reads_json_and_reports_invalid_json():
    assert StayIn.model_validate_json(b'{"startDate": "2025-08-10"}').start_date == date(
        2025, 8, 10
    )
    for raw in (b'{"startDate": ', b"", b"\xff", b"[" * 100_000):
        with pytest.raises(ValidationError) as caught:
            StayIn.model_validate_json(raw)
        (error,) = caught.value.errors()
        assert (error["type"], error["loc"], error["input"]) == ("json_invalid", (), raw)
        assert error["msg"] == f"Invalid JSON: {error['ctx']['error']}"
    with pytest.raises(ValidationError) as caught:
        StayIn.model_validate_json("[]")
    assert caught.value.errors()[0]["type"] == "model_type"


def _upper(value: str) -> str:
    if value == "bad":
        raise ValueError("not this one")
    return value.upper()


class Strict(Model, extra="forbid", frozen=True):
    name: Annotated[str, AfterValidator(_upper)] = Field(default="a", description="A name.")
    limit: int = Field(default=5, ge=1)

    def model_check(self) -> None:
        if self.name == "B" and self.limit == 2:
            raise ValueError("B needs another limit")


class ValueErrorWith:
    """Equal to a ValueError with this text (pydantic puts the exception itself into ctx)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return type(other) is ValueError and str(other) == self.text


def test_it_forbids_unknown_keys_after_the_field_errors_when_asked():
    assert outcome(Strict, {"other": 1, "limit": "0", "name": "bad"}) == [
        {
            "type": "value_error",
            "loc": ("name",),
            "msg": "Value error, not this one",
            "input": "bad",
            "ctx": {"error": ValueErrorWith("not this one")},
        },
        {
            "type": "greater_than_equal",
            "loc": ("limit",),
            "msg": "Input should be greater than or equal to 1",
            "input": "0",
            "ctx": {"ge": 1},
        },
        {"type": "extra_forbidden", "loc": ("other",), "msg": "Extra inputs are not permitted", "input": 1},
    ]  # fmt: skip
    assert StayIn.model_validate({"startDate": "2025-01-01", "other": 1}).notes is None


def test_it_checks_across_fields_only_when_every_field_is_valid():
    assert Strict(name="b", limit=3).name == "B"
    assert outcome(Strict, {"name": "b", "limit": 2}) == [
        {
            "type": "value_error",
            "loc": (),
            "msg": "Value error, B needs another limit",
            "input": {"name": "b", "limit": 2},
            "ctx": {"error": ValueErrorWith("B needs another limit")},
        }
    ]
    assert [e["type"] for e in outcome(Strict, {"name": "b", "limit": "x"})] == ["int_parsing"]


def test_frozen_models_refuse_changes_but_copy_dump_and_hash():
    strict = Strict(limit=3)
    with pytest.raises(AttributeError):
        strict.limit = 4  # type: ignore[misc]
    changed = strict.model_copy(update={"limit": 4})
    assert (changed.limit, strict.limit) == (4, 3)
    assert strict.model_dump() == {"name": "a", "limit": 3}  # defaults are not validated
    assert hash(strict) == hash(Strict(limit=3)) and strict == Strict(limit=3) != changed
    assert Strict.model_fields["name"].default == "a"
    assert Strict.model_fields["name"].description == "A name."
    with pytest.raises(TypeError):
        hash(ItemIn(place_id=uuid.UUID(U), person_count=1))


def test_it_dumps_nested_models():
    stay = StayIn(start_date=date(2025, 1, 1), items=[{"placeId": U, "personCount": 1}])
    assert stay.model_dump() == {
        "start_date": date(2025, 1, 1),
        "notes": None,
        "items": [{"place_id": uuid.UUID(U), "person_count": 1}],
    }


def test_errors_are_copies():
    with pytest.raises(ValidationError) as caught:
        ItemIn.model_validate({})
    caught.value.errors()[0]["type"] = "changed"
    assert caught.value.errors()[0]["type"] == "missing"
    assert "2 validation error(s) for ItemIn" in str(caught.value)


def test_secret_str_hides_its_value():
    secret = SecretStr("hunter2")
    assert (str(secret), repr(secret)) == ("**********", "SecretStr('**********')")
    assert (str(SecretStr("")), repr(SecretStr(""))) == ("", "SecretStr('')")
    assert secret.get_secret_value() == "hunter2" and len(secret) == 7 and not SecretStr("")
    assert secret == SecretStr("hunter2") != SecretStr("other")
    assert one_field(SecretStr).model_validate({"x": "s"}).x == SecretStr("s")


@pytest.mark.parametrize(
    ("name", "camel"),
    [
        ("sleeping_accommodation_id", "sleepingAccommodationId"),
        ("use_tls", "useTls"),
        ("name", "name"),
    ],
)
def test_to_camel(name, camel):
    assert to_camel(name) == camel


def test_it_refuses_unsupported_definitions_when_the_class_is_made():
    with pytest.raises(TypeError, match="unsupported field type"):
        one_field(dict)
    with pytest.raises(TypeError, match="X | None"):
        one_field(int | str)
    with pytest.raises(TypeError, match="unknown field constraints"):
        Field(max_digits=3)


def test_check_for_checks_a_value_on_its_own_as_a_field_would():
    check = check_for(int, ge=1)
    assert check(" 7 ") == 7
    with pytest.raises(ValidationError) as caught:
        check("0")
    assert [(e["type"], e["loc"], e["ctx"]) for e in caught.value.errors()] == [
        ("greater_than_equal", (), {"ge": 1})
    ]
    with pytest.raises(TypeError, match="unknown field constraints"):
        check_for(int, max_digits=3)


# pydantic's lax date reads the first two as Unix time (seconds) and takes the next two.
@pytest.mark.parametrize(
    "text", ["0", "20300101", "2030-01-01T00:00:00", "2030-01-01 00:00", "2030-02-30"]
)
def test_a_plain_date_is_written_yyyy_mm_dd_only(text):
    check = check_for(PlainDate)
    assert check("2030-01-02") == date(2030, 1, 2)
    with pytest.raises(ValidationError) as caught:
        check(text)
    assert [e["type"] for e in caught.value.errors()] == ["date_from_datetime_parsing"]


# --- the same inputs through pydantic, while it is installed ----------------------------------

VALUES: list[Any] = [
    None, True, False, 0, 1, 2, -1, 1.0, 1.5, 2.0, 0.5, math.inf, math.nan, 10**30, 2.0**70,
    "", " ", "0", "1", "5", " 5 ", "+5", "5.0", "5.", "5.5", "1_000", "1__0", "0x10", "abc", "1e3",
    "inf", "true", "TRUE", "yes", "No", "off", "t", "2", "x" * 6, "2025-08-10", "2025-02-30",
    "2025-13-01", "2025-01-00", "2025-8-10", "20250810", "2025-08-10T00:00:00",
    "2025-08-10T10:00:00", "2025-08-10 00:00", "2025-08-10T00:00:00Z", "2025-08-10T00",
    "2025-08-10x", "86400", "-1", "1.5", 86400, 20300101, 1700000000000, -86400, U,
    U.replace("-", ""), "{" + U + "}", "urn:uuid:" + U, "{" + U.replace("-", "") + "}",
    "urn:uuid:{" + U + "}",
    "zimmer-1", "development", "prod", [], [1], {}, {"a": 1}, (1,), date(2025, 1, 1),
    datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 3, tzinfo=UTC), uuid.UUID(U),
]  # fmt: skip
TYPES: list[tuple[Any, dict[str, Any]]] = [
    (str, {}), (int, {}), (float, {}), (bool, {}), (date, {}), (uuid.UUID, {}), (Path, {}),
    (SecretStr, {}), (Literal["development", "production"], {}), (int | None, {}),
    (list[int], {}), (str, {"max_length": 5}), (str, {"min_length": 2}),
    (int, {"ge": 1, "le": 65535}), (float, {"gt": 0, "le": 300}), (int, {"lt": 3, "gt": 0}),
]  # fmt: skip
# The wording after the comma comes from Rust crates; the type and loc are what counts.
DETAIL_ONLY = {"uuid_parsing", "date_from_datetime_parsing"}


def _summary(errors: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["type"], e["loc"])
        if e["type"] in DETAIL_ONLY
        else (e["type"], e["loc"], e["msg"], {k: str(v) for k, v in e.get("ctx", {}).items()})
        for e in errors
    ]


def _same(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, float) and math.isnan(mine):
        return isinstance(theirs, float) and math.isnan(theirs)
    if isinstance(mine, SecretStr):
        return mine.get_secret_value() == theirs.get_secret_value()
    return bool(mine == theirs) and type(mine) is type(theirs)


@pytest.mark.parametrize(("tp", "field"), TYPES, ids=[f"{t}-{f}" for t, f in TYPES])
def test_it_matches_pydantic_on_every_value(tp, field):
    pydantic = pytest.importorskip("pydantic")
    theirs_tp = pydantic.SecretStr if tp is SecretStr else tp
    theirs_model = pydantic.create_model("One", x=(theirs_tp, pydantic.Field(**field)))
    mine_model = one_field(tp, **field)
    for value in VALUES:
        try:
            theirs = theirs_model.model_validate({"x": value}).x
        except pydantic.ValidationError as exc:
            theirs_errors = _summary(exc.errors(include_url=False))
            assert _summary(outcome(mine_model, {"x": value})) == theirs_errors, value
        else:
            assert _same(mine_model.model_validate({"x": value}).x, theirs), value


def test_it_matches_pydantic_on_models():
    pydantic = pytest.importorskip("pydantic")
    from pydantic.alias_generators import to_camel as their_camel

    camel = pydantic.ConfigDict(alias_generator=their_camel, populate_by_name=True)

    # The same names as ours: pydantic's messages name the class.
    their_item = pydantic.create_model(
        "ItemIn", __config__=camel, place_id=(uuid.UUID, ...), person_count=(int, ...)
    )
    their_stay = pydantic.create_model(
        "StayIn",
        __config__=camel,
        start_date=(Annotated[date, pydantic.BeforeValidator(_date_only)], ...),
        notes=(str | None, pydantic.Field(None, max_length=5)),
        items=(list[their_item], pydantic.Field(default_factory=list)),  # type: ignore[valid-type]
    )
    inputs: list[Any] = [
        {},
        [],
        {"startDate": "2025-01-01", "items": [{"placeId": U, "personCount": 1}]},
        {"startDate": "2025-01-01T00:00:00", "notes": "x" * 6, "items": {"a": 1}},
        {"start_date": "x", "notes": 5, "items": [{"person_count": "z"}, 5, {"placeId": "1"}]},
        {
            "startDate": "2025-01-01",
            "start_date": "x",
            "items": [{"placeId": U, "personCount": 1.5}],
        },
        {"startDate": "2025-02-30T00:00:00"},
    ]
    for data in inputs:
        try:
            theirs = their_stay.model_validate(data).model_dump()
        except pydantic.ValidationError as exc:
            assert _summary(outcome(StayIn, data)) == _summary(exc.errors(include_url=False))
        else:
            assert StayIn.model_validate(data).model_dump() == theirs

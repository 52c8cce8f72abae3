"""Contract tests for ``/api/sleeping-accommodations`` (reference §2.5, §3.7, DECISIONS 1)."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import auth_headers, make_place

BASE = "/api/sleeping-accommodations"
DTO_KEYS = {"id", "name", "type", "maxCapacity", "isActive", "createdAt", "changedAt"}
NAME_REQUIRED = "The Name field is required."
NAME_LENGTH = (
    "The field Name must be a string with a minimum length of 1 and a maximum length of 100."
)
CAPACITY_RANGE = "The field MaxCapacity must be between 1 and 100."


def place_body(name: str = "Dachzimmer", kind: int = 0, capacity: int = 3, **extra: object):
    return {"name": name, "type": kind, "maxCapacity": capacity, **extra}


def is_problem(response, status: int) -> bool:
    body = response.json()
    return (
        response.status_code == status
        and response.headers["content-type"].startswith("application/problem+json")
        and body["status"] == status
        and isinstance(body["message"], str)
    )


# --- reading -------------------------------------------------------------------------------


def test_it_lists_active_places_by_name_for_members(client, ctx, bob):
    make_place(ctx, "Zelt", capacity=2, kind=1)
    make_place(ctx, "Alte Scheune", active=False)
    make_place(ctx, "Gästezimmer", capacity=3)
    for query in ("", "?includeInactive=false"):
        response = client.get(BASE + query, headers=auth_headers(ctx, bob))
        assert response.status_code == 200
        assert [p["name"] for p in response.json()] == ["Gästezimmer", "Zelt"]


def test_it_returns_the_place_dto(client, ctx, bob):
    tent = make_place(ctx, "Zelt", capacity=2, kind=1)
    body = client.get(BASE, headers=auth_headers(ctx, bob)).json()
    assert len(body) == 1
    assert set(body[0]) == DTO_KEYS
    assert body[0]["id"] == str(tent.id)
    assert (body[0]["type"], body[0]["maxCapacity"], body[0]["isActive"]) == (1, 2, True)
    assert body[0]["changedAt"] is None
    assert not body[0]["createdAt"].endswith("Z")


def test_it_forbids_members_to_list_inactive_places(client, ctx, bob):
    make_place(ctx, "Alte Scheune", active=False)
    response = client.get(BASE + "?includeInactive=true", headers=auth_headers(ctx, bob))
    assert is_problem(response, 403)


def test_it_lists_inactive_places_for_admins_on_request(client, ctx, alice):
    make_place(ctx, "Zelt")
    make_place(ctx, "Alte Scheune", active=False)
    headers = auth_headers(ctx, alice)
    everything = client.get(BASE + "?includeInactive=true", headers=headers).json()
    assert [(p["name"], p["isActive"]) for p in everything] == [
        ("Alte Scheune", False),
        ("Zelt", True),
    ]
    assert [p["name"] for p in client.get(BASE, headers=headers).json()] == ["Zelt"]


def test_it_gets_an_active_place_for_members(client, ctx, bob, room):
    response = client.get(f"{BASE}/{room.id}", headers=auth_headers(ctx, bob))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DTO_KEYS
    assert (body["id"], body["name"], body["maxCapacity"], body["type"]) == (
        str(room.id),
        "Zimmer 1",
        4,
        0,
    )


def test_it_hides_an_inactive_place_from_members(client, ctx, bob):
    barn = make_place(ctx, "Alte Scheune", active=False)
    response = client.get(f"{BASE}/{barn.id}", headers=auth_headers(ctx, bob))
    assert is_problem(response, 404)


def test_it_shows_an_inactive_place_to_admins(client, ctx, alice):
    barn = make_place(ctx, "Alte Scheune", active=False)
    response = client.get(f"{BASE}/{barn.id}", headers=auth_headers(ctx, alice))
    assert response.status_code == 200
    assert response.json()["isActive"] is False


@pytest.mark.parametrize("place_id", ["3f1b7a52-8c1e-4d7a-9b0e-5a2f6c9d8e71", "not-a-guid", "123"])
def test_it_answers_404_json_for_unknown_or_malformed_ids(client, ctx, alice, place_id):
    response = client.get(f"{BASE}/{place_id}", headers=auth_headers(ctx, alice))
    assert is_problem(response, 404)


def test_it_refuses_anonymous_reads(client, room):
    assert is_problem(client.get(BASE), 401)
    assert is_problem(client.get(f"{BASE}/{room.id}"), 401)


# --- creating ------------------------------------------------------------------------------


def test_it_creates_a_place_with_location(client, ctx, alice):
    headers = auth_headers(ctx, alice)
    response = client.post(BASE, json=place_body("Wohnmobil", kind=2, capacity=4), headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == DTO_KEYS
    assert (body["name"], body["type"], body["maxCapacity"], body["isActive"]) == (
        "Wohnmobil",
        2,
        4,
        True,
    )
    assert body["changedAt"] is None and body["createdAt"]
    uuid.UUID(body["id"])
    assert response.headers["location"] == f"http://testserver{BASE}/{body['id']}"
    fetched = client.get(response.headers["location"], headers=headers)
    assert fetched.json() == body


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_it_accepts_every_known_type(client, ctx, alice, kind):
    response = client.post(BASE, json=place_body(kind=kind), headers=auth_headers(ctx, alice))
    assert response.status_code == 201
    assert response.json()["type"] == kind


def test_it_defaults_the_type_to_room(client, ctx, alice):
    body = {"name": "Kammer", "maxCapacity": 1}
    response = client.post(BASE, json=body, headers=auth_headers(ctx, alice))
    assert response.status_code == 201
    assert response.json()["type"] == 0


@pytest.mark.parametrize(("name", "capacity"), [("x" * 100, 1), ("  Kammer  ", 100)])
def test_it_accepts_the_boundaries(client, ctx, alice, name, capacity):
    response = client.post(
        BASE, json=place_body(name, capacity=capacity), headers=auth_headers(ctx, alice)
    )
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["maxCapacity"]) == (name.strip(), capacity)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param(place_body(""), {"Name": [NAME_REQUIRED]}, id="empty-name"),
        pytest.param(place_body("   "), {"Name": [NAME_REQUIRED]}, id="blank-name"),
        pytest.param(place_body("x" * 101), {"Name": [NAME_LENGTH]}, id="long-name"),
        pytest.param(place_body(capacity=0), {"MaxCapacity": [CAPACITY_RANGE]}, id="capacity-0"),
        pytest.param(place_body(capacity=101), {"MaxCapacity": [CAPACITY_RANGE]}, id="cap-101"),
        pytest.param(
            place_body(capacity=-1), {"MaxCapacity": [CAPACITY_RANGE]}, id="capacity-negative"
        ),
    ],
)
def test_it_validates_a_new_place(client, ctx, alice, body, errors):
    response = client.post(BASE, json=body, headers=auth_headers(ctx, alice))
    assert is_problem(response, 400)
    problem = response.json()
    assert problem["errors"] == errors
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["message"] == next(iter(errors.values()))[0]
    admin_list = client.get(BASE + "?includeInactive=true", headers=auth_headers(ctx, alice))
    assert admin_list.json() == []


def test_it_refuses_an_unknown_type(client, ctx, alice):
    response = client.post(BASE, json=place_body(kind=7), headers=auth_headers(ctx, alice))
    assert is_problem(response, 400)
    assert set(response.json()["errors"]) == {"Type"}


def test_it_reports_every_invalid_field_at_once(client, ctx, alice):
    body = place_body(" ", kind=7, capacity=0)
    response = client.post(BASE, json=body, headers=auth_headers(ctx, alice))
    assert is_problem(response, 400)
    assert set(response.json()["errors"]) == {"Name", "Type", "MaxCapacity"}


@pytest.mark.parametrize("missing", ["name", "maxCapacity"])
def test_it_requires_name_and_capacity(client, ctx, alice, missing):
    body = place_body()
    del body[missing]
    response = client.post(BASE, json=body, headers=auth_headers(ctx, alice))
    assert is_problem(response, 400)
    key = missing[:1].upper() + missing[1:]
    assert response.json()["errors"] == {key: [f"The {key} field is required."]}


def test_it_forbids_members_to_create(client, ctx, bob):
    response = client.post(BASE, json=place_body(), headers=auth_headers(ctx, bob))
    assert is_problem(response, 403)
    assert client.get(BASE, headers=auth_headers(ctx, bob)).json() == []


# --- updating ------------------------------------------------------------------------------


def test_it_updates_a_place(client, ctx, alice, room):
    body = place_body("Großes Zimmer", kind=3, capacity=6, isActive=True)
    response = client.put(f"{BASE}/{room.id}", json=body, headers=auth_headers(ctx, alice))
    assert response.status_code == 200
    dto = response.json()
    assert set(dto) == DTO_KEYS
    assert (dto["id"], dto["name"], dto["type"], dto["maxCapacity"], dto["isActive"]) == (
        str(room.id),
        "Großes Zimmer",
        3,
        6,
        True,
    )
    assert dto["changedAt"] is not None
    fetched = client.get(f"{BASE}/{room.id}", headers=auth_headers(ctx, alice)).json()
    assert fetched == dto


def test_it_deactivates_and_reactivates_through_put(client, ctx, alice, bob, room):
    admin = auth_headers(ctx, alice)
    member = auth_headers(ctx, bob)
    off = client.put(
        f"{BASE}/{room.id}", json=place_body("Zimmer 1", capacity=4, isActive=False), headers=admin
    )
    assert (off.status_code, off.json()["isActive"]) == (200, False)
    assert client.get(BASE, headers=member).json() == []

    on = client.put(
        f"{BASE}/{room.id}", json=place_body("Zimmer 1", capacity=4, isActive=True), headers=admin
    )
    assert (on.status_code, on.json()["isActive"]) == (200, True)
    assert [p["id"] for p in client.get(BASE, headers=member).json()] == [str(room.id)]


def test_it_validates_an_update(client, ctx, alice, room):
    response = client.put(
        f"{BASE}/{room.id}", json=place_body(capacity=101), headers=auth_headers(ctx, alice)
    )
    assert is_problem(response, 400)
    assert response.json()["errors"] == {"MaxCapacity": [CAPACITY_RANGE]}
    fetched = client.get(f"{BASE}/{room.id}", headers=auth_headers(ctx, alice)).json()
    assert fetched["maxCapacity"] == 4


@pytest.mark.parametrize("place_id", ["3f1b7a52-8c1e-4d7a-9b0e-5a2f6c9d8e71", "not-a-guid"])
def test_it_answers_404_when_updating_an_unknown_place(client, ctx, alice, place_id):
    response = client.put(f"{BASE}/{place_id}", json=place_body(), headers=auth_headers(ctx, alice))
    assert is_problem(response, 404)


def test_it_forbids_members_to_update(client, ctx, bob, room):
    response = client.put(
        f"{BASE}/{room.id}", json=place_body("Meins", isActive=True), headers=auth_headers(ctx, bob)
    )
    assert is_problem(response, 403)
    assert (
        client.get(f"{BASE}/{room.id}", headers=auth_headers(ctx, bob)).json()["name"] == "Zimmer 1"
    )


# --- deleting (deactivation) ---------------------------------------------------------------


def test_it_deletes_by_deactivating_idempotently(client, ctx, alice, bob, room):
    admin = auth_headers(ctx, alice)
    first = client.delete(f"{BASE}/{room.id}", headers=admin)
    assert (first.status_code, first.content) == (204, b"")
    second = client.delete(f"{BASE}/{room.id}", headers=admin)
    assert second.status_code == 204
    assert client.get(f"{BASE}/{room.id}", headers=admin).json()["isActive"] is False
    assert client.get(BASE, headers=auth_headers(ctx, bob)).json() == []


@pytest.mark.parametrize("place_id", ["3f1b7a52-8c1e-4d7a-9b0e-5a2f6c9d8e71", "not-a-guid"])
def test_it_answers_404_when_deleting_an_unknown_place(client, ctx, alice, place_id):
    response = client.delete(f"{BASE}/{place_id}", headers=auth_headers(ctx, alice))
    assert is_problem(response, 404)


def test_it_forbids_members_to_delete(client, ctx, bob, room):
    response = client.delete(f"{BASE}/{room.id}", headers=auth_headers(ctx, bob))
    assert is_problem(response, 403)
    assert client.get(f"{BASE}/{room.id}", headers=auth_headers(ctx, bob)).status_code == 200


def test_it_refuses_anonymous_changes(client, room):
    assert is_problem(client.post(BASE, json=place_body()), 401)
    assert is_problem(client.put(f"{BASE}/{room.id}", json=place_body()), 401)
    assert is_problem(client.delete(f"{BASE}/{room.id}"), 401)

from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from booking.lib import jwt

KEY = b"k" * 32


def claims(**extra):
    return {**jwt.user_claims(7, "a@b.de", "A B", "Member", 5), **extra}


def test_it_round_trips_and_matches_pyjwt():
    token = jwt.encode(claims(), KEY)
    decoded = jwt.decode(token, KEY)
    assert jwt.user_id_from(decoded) == 7
    assert (
        pyjwt.decode(token, KEY, algorithms=["HS256"], audience="BookingApp", issuer="BookingApi")
        == decoded
    )
    foreign = pyjwt.encode(claims(), KEY, algorithm="HS256")
    assert jwt.decode(foreign, KEY) == decoded


@pytest.mark.parametrize(
    "token_factory",
    [
        lambda: jwt.encode(claims(), b"x" * 32),
        lambda: jwt.encode(claims(exp=int(time.time()) - 1), KEY),
        lambda: jwt.encode(claims(aud="Other"), KEY),
        lambda: jwt.encode(claims(iss="Other"), KEY),
        lambda: pyjwt.encode(claims(), KEY, algorithm="HS512"),
        lambda: pyjwt.encode(claims(), None, algorithm="none"),
        lambda: "not.a.token",
        lambda: "a.b",
        lambda: jwt.encode(claims(), KEY)[:-2],
    ],
)
def test_it_rejects_bad_tokens(token_factory):
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(token_factory(), KEY)

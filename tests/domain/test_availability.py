from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from booking.domain.availability import Stay, peak_persons

D = date(2027, 3, 1)


def stay(first: int, nights: int, persons: int) -> Stay:
    return Stay(
        uuid.uuid4(), D + timedelta(days=first), D + timedelta(days=first + nights), persons
    )


@pytest.mark.parametrize(
    ("stays", "start", "nights", "peak"),
    [
        ([], 0, 3, 0),
        ([stay(0, 3, 2)], 0, 3, 2),
        # two stays on different nights of the range do not add up
        ([stay(0, 2, 3), stay(2, 2, 3)], 0, 4, 3),
        # overlapping on one night do
        ([stay(0, 2, 3), stay(1, 2, 1)], 0, 4, 4),
        # the departure day is free for the next arrival
        ([stay(0, 2, 4)], 2, 2, 0),
        # a stay that starts before and ends after the range counts on every night
        ([stay(-5, 20, 1), stay(3, 1, 2)], 0, 5, 3),
        # a stay that ends the night before the range does not count
        ([stay(-3, 3, 5)], 0, 1, 0),
    ],
)
def test_it_counts_the_busiest_night(stays, start, nights, peak):
    first = D + timedelta(days=start)
    assert peak_persons(stays, first, first + timedelta(days=nights)) == peak

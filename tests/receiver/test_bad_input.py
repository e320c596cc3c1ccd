"""Hostile or broken input gets a 4xx that says what is wrong, on every database engine, never a 5xx."""

from __future__ import annotations

import pytest

from tests.receiver.conftest import message
from tests.receiver.test_ingest import stored


@pytest.mark.parametrize("occurred_at", [
    "2026-02-30T00:00:00Z",  # no such day
    "2026-01-01T99:99:99Z",  # no such time
    "0000-01-01T00:00:00Z",  # no year 0
    "0001-01-01T00:00:00Z",  # before 1970: MariaDB's DATETIME cannot store it either
    "2016-12-31T23:59:60Z",  # a leap second Python's datetime cannot hold
    "2026-01-01T00:00:00Z\n",  # a trailing newline slips past a Python `$`
])
def test_impossible_occurred_at_is_422_naming_the_field(receiver, database_url, occurred_at):
    response = receiver.post(message(occurred_at=occurred_at))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.json["errors"]) == ["occurred_at"]
    assert stored(database_url) == {}


def test_impossible_occurred_at_in_a_batch_names_the_event(receiver):
    response = receiver.post({"events": [message(1), message(2, occurred_at="2026-02-30T00:00:00Z")]},
                             webhook_id="batch")
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["events.1.occurred_at"]

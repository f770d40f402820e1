"""The small helpers the bus exports for every layer: ``one_line``, ``utc_now``, the root
error, and short ids."""

from __future__ import annotations

from datetime import UTC

import pytest

from agent_relay.bus import BusClosedError, RelayError, new_short_id, one_line, utc_now


def test_one_line_collapses_whitespace_and_cuts_at_the_limit() -> None:
    assert one_line("  a\n\tb   c \n") == "a b c"
    assert one_line("abcdef", 4) == "abc…"
    assert one_line("abcd", 4) == "abcd"
    assert one_line("") == ""
    with pytest.raises(ValueError, match="limit"):
        one_line("a", 0)


def test_one_line_of_an_exception_keeps_its_message_or_names_its_type() -> None:
    assert one_line(ValueError("bad\n  thing")) == "bad thing"
    assert one_line(ValueError("\n first \nsecond"), first_line=True) == "first"
    assert one_line(ValueError("  ")) == "ValueError"
    assert one_line(ValueError(), blank="no message") == "no message"


def test_utc_now_is_aware_and_in_utc() -> None:
    assert utc_now().tzinfo is UTC


def test_short_ids_sort_in_creation_order_and_carry_their_prefix() -> None:
    ids = [new_short_id("t") for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    assert all(len(i) == 20 and i[0] == "t" and int(i[1:], 32) >= 0 for i in ids)


def test_every_bus_error_is_a_relay_error() -> None:
    with pytest.raises(RelayError):
        raise BusClosedError("closed")

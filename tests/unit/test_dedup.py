"""De-duplication digests and claim outcomes (gridtwin.ingest.dedup)."""

from __future__ import annotations

from gridtwin.ingest.dedup import (
    APPLIED_MARK,
    DIGEST_BYTES,
    PENDING_MARK,
    Outcome,
    classify,
    dedup_key,
    inputs_key,
    reading_digest,
)
from tests.readings import make_reading


def test_digest_is_small_equal_for_copies_and_differs_on_any_change():
    r = make_reading("m-1", t=1_700_000_000.25)
    copy = type(r)()
    copy.CopyFrom(r)
    assert len(reading_digest(r)) == DIGEST_BYTES
    assert reading_digest(copy) == reading_digest(r)
    copy.current.b += 0.001
    assert reading_digest(copy) != reading_digest(r)


def test_key_is_hash_tagged_by_meter_and_keeps_nanos():
    r = make_reading("feeder-7/m:3", t=1_700_000_000.5)
    assert dedup_key("gt:", r) == "gt:dd:{feeder-7/m:3}:1700000000.500000000"


def test_outcomes_of_a_claim():
    d, other = b"a" * DIGEST_BYTES, b"b" * DIGEST_BYTES
    assert classify(d, None) is Outcome.FRESH
    assert classify(d, d) is Outcome.DUPLICATE
    assert classify(d, PENDING_MARK + d) is Outcome.IN_FLIGHT
    assert classify(d, other) is Outcome.CONFLICT
    assert classify(d, PENDING_MARK + other) is Outcome.CONFLICT
    # In the rolling state but never assessed: the retry is assessed, not answered duplicate.
    assert classify(d, APPLIED_MARK + d) is Outcome.APPLIED
    assert classify(d, APPLIED_MARK + other) is Outcome.CONFLICT


def test_inputs_key_shares_the_digest_slot():
    r = make_reading("feeder-7/m:3", t=1_700_000_000.5)
    assert inputs_key("gt:", r) == "gt:di:{feeder-7/m:3}:1700000000.500000000"


def test_whole_second_keys_are_short_and_distinct_from_sub_second_ones():
    whole, half = make_reading("m", t=1_700_000_000.0), make_reading("m", t=1_700_000_000.5)
    assert dedup_key("p:", whole) == "p:dd:{m}:1700000000"
    assert dedup_key("p:", half) != dedup_key("p:", whole)

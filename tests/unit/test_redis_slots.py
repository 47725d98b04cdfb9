"""Hash-slot grouping: every key of one meter lands in one slot, whatever else the key says."""

from __future__ import annotations

from gridtwin.core.redis_client import group_by_slot, meter_tag, slot_of


def test_keys_of_one_meter_share_a_slot() -> None:
    tag = meter_tag("feeder-7:M012")
    keys = [f"gt:meter:{tag}:window", f"gt:lf:{tag}:acc", f"gt:dd:{tag}:1700000000"]
    assert len({slot_of(k) for k in keys}) == 1


def test_group_by_slot_partitions_the_indices() -> None:
    keys = [f"p:meter:{meter_tag(f'M{i:03d}')}:tw2" for i in range(200)]
    groups = group_by_slot(keys)
    flat = sorted(i for g in groups.values() for i in g)
    assert flat == list(range(200))
    assert len(groups) > 1  # 200 distinct meters do not all hash to one slot
    for slot, idx in groups.items():
        assert all(slot_of(keys[i]) == slot for i in idx)
        assert idx == sorted(idx)  # order inside a group follows the batch


def test_slot_matches_redis_crc16() -> None:
    # Redis Cluster specification: HASH_SLOT("123456789") = CRC16 0x31C3 mod 16384 = 12739.
    assert slot_of("123456789") == 12739
    assert slot_of(b"{user1000}.following") == slot_of("{user1000}.followers")

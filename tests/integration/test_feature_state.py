"""FeatureState against the real Redis at REDIS_URL (default redis://127.0.0.1:6379/0).

Every test uses a unique key prefix and deletes its keys afterwards.
"""

import asyncio
import math
import os
import uuid

import numpy as np
import pandas as pd
import pytest
import redis.asyncio as aioredis

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.nominal import infer_nominal_voltage_v
from gridtwin.features.schema import FEATURE_NAMES, HISTORY_DEPTH
from gridtwin.features.state import FeatureState
from gridtwin.physics.harmonics import thd_pct_from_magnitudes
from gridtwin.v1 import reading_pb2

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _client() -> aioredis.Redis:
    return aioredis.Redis.from_url(REDIS_URL)  # own connection pool per client


async def _cleanup(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i : i + 500])


def _prefix() -> str:
    return f"test:gridtwin:{uuid.uuid4().hex}:"


def _reading(
    meter: str, t_ns: int, seed: int, vn: float | None = 120.0, fn: float | None = 60.0
) -> reading_pb2.Reading:
    rng = np.random.default_rng(seed)
    base_v = vn if vn is not None else 230.0
    base_f = fn if fn is not None else 50.0
    r = reading_pb2.Reading(meter_id=meter, frequency=base_f + rng.normal(0, 0.05))
    r.timestamp.seconds, r.timestamp.nanos = divmod(t_ns, 10**9)
    r.voltage.a, r.voltage.b, r.voltage.c = base_v * rng.normal(1.0, 0.03, 3)
    r.current.a, r.current.b, r.current.c = np.abs(rng.normal(10, 3, 3))
    r.active_power.a, r.active_power.b, r.active_power.c = rng.normal(800, 600, 3)
    r.reactive_power.a, r.reactive_power.b, r.reactive_power.c = rng.normal(100, 300, 3)
    if vn is not None:
        r.nominal_voltage = vn
    if fn is not None:
        r.nominal_frequency = fn
    if seed % 3 == 0:
        r.ambient_temperature = 25.0 + seed % 7
    if seed % 4 == 0:
        r.harmonics.voltage_a.extend([base_v, 0.0, 0.03 * base_v, 0.0, 0.02 * base_v])
    return r


def _to_frame(readings: list[reading_pb2.Reading]) -> pd.DataFrame:
    rows = []
    for r in readings:
        row = {
            "meter_id": r.meter_id,
            "timestamp": pd.Timestamp(r.timestamp.seconds * 10**9 + r.timestamp.nanos, tz="UTC"),
            "frequency": r.frequency,
            "nominal_voltage": r.nominal_voltage if r.HasField("nominal_voltage") else np.nan,
            "nominal_frequency": (r.nominal_frequency if r.HasField("nominal_frequency") else np.nan),
            "ambient_temperature": (r.ambient_temperature if r.HasField("ambient_temperature") else np.nan),
        }
        for name in ("voltage", "current", "active_power", "reactive_power"):
            pv = getattr(r, name)
            row.update({f"{name}_a": pv.a, f"{name}_b": pv.b, f"{name}_c": pv.c})
        thd = (
            float(thd_pct_from_magnitudes(np.asarray(r.harmonics.voltage_a)))
            if len(r.harmonics.voltage_a)
            else np.nan
        )
        row.update(thd_voltage_a_pct=thd, thd_voltage_b_pct=np.nan, thd_voltage_c_pct=np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def _stream(n_per_meter: int = 14) -> list[reading_pb2.Reading]:
    """Interleaved readings of three meters (120 V/60 Hz, 230 V/50 Hz, no nominal given) with
    irregular spacing, in time order."""
    out, seed = [], 0
    t0 = 1_717_000_000 * 10**9
    for k in range(n_per_meter):
        for meter, vn, fn in (("us-1", 120.0, 60.0), ("eu-1", 230.0, 50.0), ("anon", None, None)):
            seed += 1
            t = t0 + k * 1_000_000_000 + (seed * 37_000_123) % 900_000_000
            r = _reading(meter, t, seed, vn, fn)
            if meter == "eu-1" and k < 2:  # states its nominal V only from its 3rd reading on
                r.ClearField("nominal_voltage")
            out.append(r)
    return out


@pytest.mark.asyncio
async def test_batch_and_stream_paths_identical() -> None:
    readings = _stream()
    df = _to_frame(readings)
    expected = features_from_dataframe(df)
    expected = expected[list(FEATURE_NAMES)].loc[df.index].to_numpy()
    client, prefix = _client(), _prefix()
    try:
        one = FeatureState(client, prefix + "one:")
        by_one = np.vstack([await one.update_and_compute([r]) for r in readings])
        batched = FeatureState(client, prefix + "batch:")
        parts, i = [], 0
        for size in (1, 7, 2, 11, 5, 100):  # batches mix meters and repeat a meter
            parts.append(await batched.update_and_compute(readings[i : i + size]))
            i += size
        by_batch = np.vstack(parts)
        assert by_one.shape == expected.shape == (len(readings), len(FEATURE_NAMES))
        assert np.allclose(by_one, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
        assert np.allclose(by_batch, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
        nom = await one.nominal_for(["anon", "us-1", "never-seen"])
        first_anon = next(r for r in readings if r.meter_id == "anon")
        guess = infer_nominal_voltage_v(
            (first_anon.voltage.a + first_anon.voltage.b + first_anon.voltage.c) / 3
        )
        assert nom["anon"].nominal_voltage_v == guess and nom["anon"].voltage_inferred
        assert nom["anon"].nominal_frequency_hz == 50.0 and nom["anon"].frequency_inferred
        eu = (await one.nominal_for(["eu-1"]))["eu-1"]
        assert eu.nominal_voltage_v == 230.0 and not eu.voltage_inferred
        inferred_col = list(FEATURE_NAMES).index("nominal_inferred")
        eu_rows = [i for i, r in enumerate(readings) if r.meter_id == "eu-1"]
        assert list(by_one[eu_rows[:3], inferred_col]) == [1.0, 1.0, 0.0]
        assert nom["us-1"].nominal_frequency_hz == 60.0 and not nom["us-1"].frequency_inferred
        assert nom["us-1"].readings == 14 and nom["never-seen"] is None
        ttl = await client.pttl(one.window_key("us-1"))
        assert 0 < ttl <= one.ttl_s * 1000
        assert len(await one.window("us-1")) == HISTORY_DEPTH
    finally:
        await _cleanup(client, prefix)
        await client.aclose()


@pytest.mark.asyncio
async def test_restart_continues_from_stored_window() -> None:
    readings = _stream()
    df = _to_frame(readings)
    expected = features_from_dataframe(df)[list(FEATURE_NAMES)].loc[df.index].to_numpy()
    prefix = _prefix()
    first = _client()
    try:
        state = FeatureState(first, prefix)
        a = await state.update_and_compute(readings[:20])
    finally:
        await first.aclose()
    second = _client()  # a new process would start exactly like this
    try:
        state = FeatureState(second, prefix)
        b = await state.update_and_compute(readings[20:])
        got = np.vstack([a, b])
        assert np.allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    finally:
        await _cleanup(second, prefix)
        await second.aclose()


@pytest.mark.asyncio
async def test_two_replicas_never_lose_a_reading() -> None:
    prefix = _prefix()
    c1, c2 = _client(), _client()
    r1, r2 = FeatureState(c1, prefix), FeatureState(c2, prefix)
    n_tasks, per_task = 40, 6
    t0 = 1_700_000_000 * 10**9
    try:

        async def worker(task: int) -> list[tuple[float, float]]:
            state = r1 if task % 2 else r2
            out = []
            for j in range(0, per_task, 2):  # batches of two readings of the same meter
                batch = [
                    _reading("hammer", t0 + (task * per_task + j + k) * 10**6, task * 100 + j + k)
                    for k in range(2)
                ]
                cur, hist, _ = await state.update(batch)
                for row in range(2):
                    out.append((cur.timestamp_s[row], hist.records[row, 0, 0]))
                await asyncio.sleep(0)
            return out

        pairs = [p for res in await asyncio.gather(*(worker(t) for t in range(n_tasks))) for p in res]
        n = n_tasks * per_task
        stamps = {t for t, _ in pairs}
        assert len(pairs) == len(stamps) == n
        # Each reading saw exactly the reading appended just before it: predecessors are
        # distinct, exactly one reading saw an empty window, and the chain from the newest
        # stored reading walks back through all n readings (none lost, none duplicated).
        preds = [p for _, p in pairs if not math.isnan(p)]
        assert len(preds) == n - 1 and len(set(preds)) == n - 1 and set(preds) <= stamps
        pred_of = dict(pairs)
        window = await r1.window("hammer")
        assert len(window) == HISTORY_DEPTH
        chain = [window[0, 0]]
        while not math.isnan(pred_of[chain[-1]]):
            chain.append(pred_of[chain[-1]])
        assert len(chain) == len(set(chain)) == n
        assert list(window[:, 0]) == chain[:HISTORY_DEPTH]  # the stored window is the tail
        assert (await r2.nominal_for(["hammer"]))["hammer"].readings == n
    finally:
        await _cleanup(c1, prefix)
        await c1.aclose()
        await c2.aclose()


def _long_stream() -> list[reading_pb2.Reading]:
    """Two meters over ~5 h at an irregular ~1-min cadence with a 20-h gap in one: the 10-min and
    2-h windows and the baseline become supported, restart after the gap, and the 3-s window
    stays NaN (a 1-min cadence cannot support it)."""
    out = []
    t0 = 1_700_000_000 * 10**9
    for meter, vn in (("long-eu", 230.0), ("long-us", 120.0), ("long-shift", 220.0)):
        t = t0
        for k in range(300):
            t += int((60 + (k * 7919) % 23 - 11) * 1e9)
            if meter == "long-us" and k == 150:
                t += 20 * 3600 * 10**9
            # long-shift: nominal inferred (230 or 240 V) for 100 readings, then stated as 220 V
            given = None if meter == "long-shift" and k < 100 else vn
            out.append(_reading(meter, t, 1000 + k, given, 50.0 if vn != 120.0 else 60.0))
    out.sort(key=lambda r: (r.timestamp.seconds, r.meter_id))
    return out


@pytest.mark.asyncio
async def test_time_windows_same_in_redis_and_dataframe_paths() -> None:
    from gridtwin.features.core import window_inputs
    from gridtwin.features.frame import arrays_from_dataframe
    from gridtwin.features.timewindows import STATE_LEN, advance, chain_states, empty_states

    readings = _long_stream()
    df = _to_frame(readings)
    expected = features_from_dataframe(df)[list(FEATURE_NAMES)].loc[df.index].to_numpy()
    client, prefix = _client(), _prefix()
    try:
        state = FeatureState(client, prefix)
        got = np.vstack(
            [await state.update_and_compute(readings[i : i + 37]) for i in range(0, len(readings), 37)]
        )
        assert np.allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
        ix = {n: i for i, n in enumerate(FEATURE_NAMES)}
        assert np.isnan(got[:, ix["win3s_voltage_mean_pu_mean"]]).all()  # 1-min cadence: no 3-s window
        assert np.isfinite(got[-50:, ix["win10min_voltage_mean_pu_std"]]).all()
        us = np.array([r.meter_id == "long-us" for r in readings])
        after_gap = np.flatnonzero(us)[150]
        assert got[after_gap, ix["win10min_effective_readings"]] == 1.0  # the gap restarted the window
        assert got[after_gap, ix["win2h_effective_readings"]] < 1.01  # e^-10 of the old weight left
        assert np.isnan(got[after_gap, ix["voltage_a_baseline_z"]])  # baseline stale after 20 h
        assert np.isfinite(got[after_gap - 1, ix["voltage_a_baseline_z"]])
        shift = np.flatnonzero(np.array([r.meter_id == "long-shift" for r in readings]))
        assert (
            got[shift[99], ix["nominal_inferred"]] == 1.0 and got[shift[99], ix["nominal_voltage_v"]] != 220.0
        )
        assert got[shift[100], ix["nominal_voltage_v"]] == 220.0
        assert np.isfinite(got[shift[99], ix["voltage_a_baseline_z"]])
        assert np.isnan(got[shift[100], ix["voltage_a_baseline_z"]])  # another U_n: the state restarts
        assert got[shift[100], ix["win2h_effective_readings"]] == 1.0
        # The state Redis stores equals the Python recurrence's state after the last reading.
        d = df[df["meter_id"] == "long-eu"].sort_values("timestamp")
        cur = arrays_from_dataframe(d)
        y, vph = window_inputs(cur)
        vn = cur.nominal_voltage_v
        before = chain_states(empty_states(1), np.zeros(len(d), np.intp), cur.timestamp_s, y, vph, vn)
        final = advance(before[-1:], cur.timestamp_s[-1:], y[-1:], vph[-1:], vn[-1:])[0]
        stored = np.frombuffer(await client.get(state.state_key("long-eu")), dtype="<f8")
        assert stored.shape == (STATE_LEN,)
        assert np.allclose(stored, final, rtol=1e-12, atol=0)
    finally:
        await _cleanup(client, prefix)
        await client.aclose()


@pytest.mark.asyncio
async def test_state_of_another_layout_is_ignored() -> None:
    """Migration: a state written by another layout (or garbage) restarts the meter's windows
    instead of being misread; the schema-1 window list and profile stay valid."""
    readings = [r for r in _stream() if r.meter_id == "us-1"]
    client, prefix = _client(), _prefix()
    try:
        fresh = FeatureState(client, prefix + "fresh:")
        want = np.vstack([await fresh.update_and_compute([r]) for r in readings])
        old = FeatureState(client, prefix + "old:")
        from gridtwin.features.timewindows import STATE_LEN

        await client.set(old.state_key("us-1"), np.full(STATE_LEN, 7.0).tobytes())  # layout "7"
        await client.set(old.state_key("us-1") + "x", b"unrelated")
        got = np.vstack([await old.update_and_compute([r]) for r in readings])
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    finally:
        await _cleanup(client, prefix)
        await client.aclose()


@pytest.mark.asyncio
async def test_keys_of_the_untagged_layout_are_ignored_and_left_to_expire() -> None:
    """Migration to hash-tagged keys: a meter's window, profile and state stored under the old
    names (`meter:<id>:…`, no braces) are not read (the meter starts as new), not changed, and
    nothing fails on them."""
    readings = [r for r in _stream() if r.meter_id == "eu-1"]
    client, prefix = _client(), _prefix()
    try:
        fresh = FeatureState(client, prefix + "fresh:")
        want = np.vstack([await fresh.update_and_compute([r]) for r in readings])
        migrated = FeatureState(client, prefix + "old:")
        old = {
            f"{prefix}old:meter:eu-1:window": np.full((3, 10), 5.0).tobytes(),
            f"{prefix}old:meter:eu-1:tw2": b"\x00" * 64,
        }
        for key, value in old.items():
            await client.set(key, value, ex=600)
        await client.hset(f"{prefix}old:meter:eu-1:profile", mapping={"nominal_voltage": "400.0"})
        got = np.vstack([await migrated.update_and_compute([r]) for r in readings])
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
        assert (await migrated.nominal_for(["eu-1"]))["eu-1"].nominal_voltage_v == 230.0
        for key, value in old.items():
            assert await client.get(key) == value
        assert migrated.window_key("eu-1") == f"{prefix}old:meter:{{eu-1}}:window"
    finally:
        await _cleanup(client, prefix)
        await client.aclose()


@pytest.mark.asyncio
async def test_marks_are_written_with_the_state_in_one_step() -> None:
    """A reading's mark (ingest's de-duplication digest) is set by the same script call that
    appends it, with the marks' TTL; a batch without marks writes none."""
    from gridtwin.features.state import Marks

    readings = _stream(4)
    client, prefix = _client(), _prefix()
    try:
        state = FeatureState(client, prefix)
        keys = [f"{prefix}dd:{{{r.meter_id}}}:{r.timestamp.seconds}.{r.timestamp.nanos}" for r in readings]
        values = [bytes([i]) * 16 for i in range(len(readings))]
        await state.update_and_compute(readings[:6], Marks(keys[:6], values[:6], ttl_s=120))
        await state.update_and_compute(readings[6:])
        assert [await client.get(k) for k in keys[:6]] == values[:6]
        assert all(0 < t <= 120_000 for t in [await client.pttl(k) for k in keys[:6]])
        assert sum([await client.exists(k) for k in keys[6:]]) == 0
        with pytest.raises(ValueError, match="marks"):
            await state.update(readings[:2], Marks(keys[:1], values[:1], ttl_s=120))
        with pytest.raises(ValueError, match="braces"):
            FeatureState(client, "p{x}:")
    finally:
        await _cleanup(client, prefix)
        await client.aclose()

"""Per-transformer stress and ageing state integrated from readings, kept in Redis.

The fleet model is trained on transformer-days (daily load factor, hot spot, ageing,
overload hours, 30-day stress counts). A 1-min reading has none of that history, so each
reading of a rated meter updates, atomically in one Lua script (several replicas may serve
the same meter):

* the IEC 60076-7 thermal state (Δθo, Δθh; exact exponential update, same constants as
  `_maintenance.thermal`), hot spot θh = θa + Δθo + Δθh and ageing V·Δt (Δt capped at 1 h),
* the current UTC day's accumulators (readings, ΣK, max K, Σθa, max θh, ageing h, overload h
  with K > 1.3 — the simulator's stress definition), rolled into "yesterday" at midnight,
* exponentially decayed sums with a 30-day time constant of through-fault and overvoltage
  readings, overload hours and ageing hours (steady state equals a 30-day rolling sum).

Key: the equipment_failure model's state store, `<prefix>equipment_failure:{meter}` (a hash that
expires after 40 days without readings). One script call updates every reading of a batch (one
call per hash slot on a Redis Cluster), in batch order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridtwin.serving.state import MeterState

FIELDS = ("hs", "n", "sk", "mk", "sa", "mh", "age", "ol", "e_tf", "e_ov", "e_ol", "e_age", "hist_days")

# One reading's update of one meter's hash (`key`, `argv` = ts, K, ambient, through-fault, overvoltage).
_UPDATE = """
local s = redis.call('HMGET', key, 'ts','do','dh','day','d_n','d_sk','d_mk','d_sa','d_mh','d_age','d_ol',
  'y_n','y_sk','y_mk','y_sa','y_mh','y_age','y_ol','e_tf','e_ov','e_ol','e_age','first')
local ts = tonumber(argv[1]); local k = tonumber(argv[2]); local amb = tonumber(argv[3])
local tf = tonumber(argv[4]); local ov = tonumber(argv[5])
local do_ss = 55.0 * ((1 + 5 * k * k) / 6) ^ 0.8
local dh_ss = 23.0 * k ^ 1.6
local pts = tonumber(s[1])
local dO, dH, dt = do_ss, dh_ss, 0
if pts ~= nil then
  dt = ts - pts
  if dt < 0 then dt = 0 end
  local dtm = math.min(dt, 86400) / 60
  dO = do_ss + (tonumber(s[2]) - do_ss) * math.exp(-dtm / 180)
  dH = dh_ss + (tonumber(s[3]) - dh_ss) * math.exp(-dtm / 4)
end
local hs = amb + dO + dH
local V = 2 ^ ((hs - 98) / 6)
local dth = math.min(dt, 3600) / 3600
local day = math.floor(ts / 86400)
local d = {}
for i = 5, 11 do d[i] = tonumber(s[i]) or 0 end
local y = {}
for i = 12, 18 do y[i] = tonumber(s[i]) or 0 end
if tonumber(s[4]) ~= nil and tonumber(s[4]) < day then
  for i = 5, 11 do y[i + 7] = d[i]; d[i] = 0 end
end
d[5] = d[5] + 1; d[6] = d[6] + k; d[7] = math.max(d[7], k); d[8] = d[8] + amb
d[9] = math.max(d[9], hs); d[10] = d[10] + V * dth
local olh = 0
if k > 1.3 then olh = dth end
d[11] = d[11] + olh
local decay = math.exp(-dt / (30 * 86400))
local e_tf = (tonumber(s[19]) or 0) * decay + tf
local e_ov = (tonumber(s[20]) or 0) * decay + ov
local e_ol = (tonumber(s[21]) or 0) * decay + olh
local e_age = (tonumber(s[22]) or 0) * decay + V * dth
local first = tonumber(s[23]) or ts
if pts == nil or ts >= pts then
  redis.call('HSET', key, 'ts', ts, 'do', dO, 'dh', dH, 'day', day, 'first', first)
end
redis.call('HSET', key, 'd_n', d[5], 'd_sk', d[6], 'd_mk', d[7], 'd_sa', d[8], 'd_mh', d[9], 'd_age', d[10],
  'd_ol', d[11], 'y_n', y[12], 'y_sk', y[13], 'y_mk', y[14], 'y_sa', y[15], 'y_mh', y[16], 'y_age', y[17],
  'y_ol', y[18], 'e_tf', e_tf, 'e_ov', e_ov, 'e_ol', e_ol, 'e_age', e_age)
redis.call('EXPIRE', key, 3456000)
local use = {d[5], d[6], d[7], d[8], d[9], d[10], d[11]}
if y[12] > 0 then use = {y[12], y[13], y[14], y[15], y[16], y[17], y[18]} end
return {tostring(hs), tostring(use[1]), tostring(use[2]), tostring(use[3]), tostring(use[4]), tostring(use[5]),
  tostring(use[6]), tostring(use[7]), tostring(e_tf), tostring(e_ov), tostring(e_ol), tostring(e_age),
  tostring((ts - first) / 86400)}
"""
# The batch script: KEYS[i] with ARGV[5i-4..5i], one reply row per key, applied in order.
LUA = (
    "local function update(key, argv)\n"
    + _UPDATE
    + """end
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = update(key, {ARGV[5*i-4], ARGV[5*i-3], ARGV[5*i-2], ARGV[5*i-1], ARGV[5*i]})
end
return out
"""
)


async def update_states(
    state: MeterState,
    meter_ids: Sequence[str],
    ts: np.ndarray,
    k: np.ndarray,
    ambient: np.ndarray,
    through_fault: np.ndarray,
    overvoltage: np.ndarray,
) -> np.ndarray:
    """Apply each reading (in batch order) to its meter's state; returns (n, len(FIELDS)).

    `hs` is the hot spot after this reading; n..ol are the last complete day's accumulators
    (today's partial ones until a day has passed); e_* the 30-day decayed sums; hist_days
    the days of history behind the state.
    """
    rows = await state.run_batch_script(
        LUA,
        [state.key(m) for m in meter_ids],
        [
            (float(ts[i]), float(k[i]), float(ambient[i]), int(through_fault[i]), int(overvoltage[i]))
            for i in range(len(meter_ids))
        ],
    )
    return np.array([[float(v) for v in r] for r in rows], dtype=float).reshape(len(meter_ids), len(FIELDS))

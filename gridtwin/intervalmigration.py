"""One-shot migration of the load forecast's Redis history to the interval-end convention.

Before it, the served load forecast put a reading into the 15-min interval ⌊t / 15 min⌋; now a
reading belongs to the interval its timestamp ends, (k·15 min, (k+1)·15 min]
(gridtwin.core.intervals). Only a reading stamped exactly on a boundary changes interval: it moves
one interval back.

* A 15-min meter (AMI averages, every reading on a boundary) has its whole stored history one
  interval late (about 12 days of it, the model's history window): its daily and weekly lags
  would be off by one slot until the old history aged out, and one interval at the upgrade would
  mix two readings. Such a meter is recognised by what the old code wrote: one reading in every
  interval (`<k>:n` = 1) and, at every refresh, exactly one reading of the interval after the
  origin (`<k>:ln` = 1, which the new code never records for it). Its sums and counts move back
  one interval; the newest old interval K (the largest `<k>:ls`) moves back its recorded part
  (`<K>:ls` / `:ln`, exactly the old reading) and keeps what the new code added to it since;
  the `ls`/`ln` records are deleted (they hold complete intervals now, which the replay must not
  take for the interval in progress) and so is the cached forecast (`:fc`; the next reading
  refreshes it).
* Any other meter (readings every 1 s or 1 min) has one reading of 15 or more per interval in
  the wrong interval, merged into the sums: it cannot be separated and is left alone (it ages
  out with the history window).

One Lua script per meter (atomic against the serving replicas, which may run meanwhile). Safe
to run twice: a migrated 15-min meter has no `ls` records left. The demand-response profile is
not migrated: it keeps only hourly sums of bucket means, where the old buckets cannot be told
apart (docs/forecasting.md).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

FAMILY = "load_forecast:*:acc"
SHIFTED, OTHER, NO_RECORD = "shifted", "sub-15-min meter: left alone", "no refresh record: left alone"

# KEYS[1] = the meter's history hash, KEYS[2] = its cached forecast; ARGV[1] = "1" for a dry run.
LUA_SHIFT = r"""
local f = redis.call('HGETALL', KEYS[1])
local s, n, ls, ln = {}, {}, {}, {}
for i = 1, #f, 2 do
  local k, kind = string.match(f[i], '^(%-?%d+):(%a+)$')
  if k then
    k = tonumber(k)
    if kind == 's' then s[k] = f[i + 1]
    elseif kind == 'n' then n[k] = tonumber(f[i + 1])
    elseif kind == 'ls' then ls[k] = f[i + 1]
    elseif kind == 'ln' then ln[k] = tonumber(f[i + 1]) end
  end
end
local top = nil
for k, _ in pairs(ls) do if top == nil or k > top then top = k end end
if top == nil then return 'none' end
for _, v in pairs(ln) do if v ~= 1 then return 'other' end end
for k, v in pairs(n) do if k < top and v ~= 1 then return 'other' end end
if ARGV[1] == '1' then return 'shift' end
local out = {}
for k, v in pairs(s) do
  if k < top then
    table.insert(out, (k - 1) .. ':s'); table.insert(out, v)
    table.insert(out, (k - 1) .. ':n'); table.insert(out, tostring(n[k] or 0))
  elseif k > top then
    table.insert(out, k .. ':s'); table.insert(out, v)
    table.insert(out, k .. ':n'); table.insert(out, tostring(n[k] or 0))
  end
end
table.insert(out, (top - 1) .. ':s'); table.insert(out, ls[top])
table.insert(out, (top - 1) .. ':n'); table.insert(out, '1')
local rest_n = (n[top] or 0) - 1
if rest_n > 0 then
  table.insert(out, top .. ':s'); table.insert(out, string.format('%.17g', tonumber(s[top]) - tonumber(ls[top])))
  table.insert(out, top .. ':n'); table.insert(out, tostring(rest_n))
end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
for i = 1, #out, 1000 do
  redis.call('HSET', KEYS[1], unpack(out, i, math.min(i + 999, #out)))
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 'shift'
"""
_OUTCOME = {b"shift": SHIFTED, b"other": OTHER, b"none": NO_RECORD}


def migrate_intervals(client: Any, prefix: str, *, dry_run: bool = False) -> Counter[str]:
    """Move every 15-min meter's stored load history to the interval-end convention (see the
    module doc); count the meters per outcome (a dry run counts what would be shifted)."""
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"the Redis key prefix {prefix!r} must not contain braces")
    script = client.register_script(LUA_SHIFT)
    report: Counter[str] = Counter()
    for key in client.scan_iter(match=prefix + FAMILY, count=1000):
        name = key.decode() if isinstance(key, bytes) else key
        if "{" not in name:
            continue  # the layout before hash tags: expires by itself (gridtwin.keymigration)
        fc = name[: -len(":acc")] + ":fc"
        outcome = script(keys=[name, fc], args=["1" if dry_run else "0"])
        report[_OUTCOME[outcome if isinstance(outcome, bytes) else outcome.encode()]] += 1
    return report

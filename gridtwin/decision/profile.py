"""Per-meter load-profile aggregate for demand-response clustering.

A meter's profile is kept as 15-minute bucket means of its total active and reactive power
(the simulator's `load_series` are exactly such means), aggregated by UTC hour of day. A
reading belongs to the bucket its timestamp ends (k·900 s < t ≤ (k+1)·900 s,
gridtwin.core.intervals: an AMI 15-min average stamped 10:15 is 10:00-10:15):

    p_sum[h], q_sum[h], n[h]   sums of bucket means (W, var) and bucket count at hour h
    p_max[h]                   largest bucket mean at hour h (W)
    d_sum[h], d_n[h]           sum and count of |ΔP| between consecutive buckets ending at h (W)

The same aggregate is built offline from bucket means (`aggregate_bucket_means`, training)
and online one reading at a time (`ProfileAggregate.update` in Python, `LUA_UPDATE` in Redis,
serving); `profile_features` turns it into the clustering features, so training and serving
share one definition. Fields are stored flat in `FIELDS` order (6 × 24 values).

Why these features: rooftop PV makes daytime net demand mostly a weather signal, so the
type-revealing features are taken in the *dark window* 21:00–03:00 UTC, when PV output is zero
all year round for European longitudes (−10° … +30°): the reactive-to-active ratio tan φ
(business G0/L0 loads run at PF 0.90–0.93, households at 0.97), the smoothness of the
always-on base load, and the night peak (deferred EV charging) and overall peak (a battery
peak-shaver clips net demand). Each customer has its own power factor (H0 0.92-0.995, G0
0.85-0.97, L0 0.78-0.93) and appliance steps carry their own, so the pooled tan φ and |ΔP| of
a night are pulled by whichever appliance ran; the `*_med` and `base_share_dark` features take
the median or minimum over the six dark hours instead, which one appliance run cannot move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BUCKET_S = 900  # 15-minute demand buckets
HOURS = 24
DARK_HOURS = (21, 22, 23, 0, 1, 2)  # UTC; no PV output in Europe all year (see module doc)
BLOCKS = ("p_sum", "q_sum", "n", "p_max", "d_sum", "d_n")
FIELDS = tuple(f"{b}{h}" for b in BLOCKS for h in range(HOURS))
# Enough history to answer: every dark hour seen completely once (4 buckets = one night).
MIN_DARK_BUCKETS = 4
FEATURE_NAMES = (
    "tan_phi_dark",  # Σ Q / Σ P over dark-window buckets (–)
    "variability_dark",  # mean |ΔP| between consecutive dark buckets / (mean P + 0.1 kW) (–)
    "peak_dark_kw",  # largest dark-window bucket mean (kW)
    "peak_kw",  # largest bucket mean at any hour (kW)
    "mean_dark_kw",  # mean dark-window bucket power (kW)
    "log_mean_dark_kw",  # ln(max(mean_dark_kw, 0.05)) (scale-free night base)
    # Robust to appliance steps (kettle, oven, ... 0.7-3 kW for minutes): a step lands in one
    # or two dark hours, so a median / minimum over the six dark hours ignores it, where the
    # pooled sums above take it in whole.
    "tan_phi_dark_med",  # median over dark hours of the hour's Σ Q / Σ P (–)
    "variability_dark_med",  # median over dark hours of the hour's mean |ΔP| / (mean P + 0.1 kW) (–)
    "base_share_dark",  # lowest dark-hour mean P / (mean P + 0.1 kW): always-on share (–)
)


def empty() -> np.ndarray:
    """A zero aggregate (6 × 24 flat, `FIELDS` order); p_max starts at −inf."""
    agg = np.zeros(len(FIELDS))
    agg[3 * HOURS : 4 * HOURS] = -np.inf
    return agg


@dataclass
class ProfileAggregate:
    """Online aggregate of one meter (reference implementation of `LUA_UPDATE`).

    `update(t_s, p_w, q_w)` adds a reading; a bucket is folded into the hourly sums when a
    reading of a later bucket arrives. Readings of an older bucket are dropped (out of order).
    """

    agg: np.ndarray = field(default_factory=empty)
    bucket: int = -1
    b_p: float = 0.0
    b_q: float = 0.0
    b_n: int = 0
    prev_bucket: int = -10
    prev_mean: float = 0.0

    def _close(self) -> None:
        if self.b_n == 0:
            return
        mean_p, mean_q = self.b_p / self.b_n, self.b_q / self.b_n
        h = (self.bucket * BUCKET_S % 86400) // 3600
        a = self.agg
        a[h] += mean_p
        a[HOURS + h] += mean_q
        a[2 * HOURS + h] += 1
        a[3 * HOURS + h] = max(a[3 * HOURS + h], mean_p)
        if self.prev_bucket == self.bucket - 1:
            a[4 * HOURS + h] += abs(mean_p - self.prev_mean)
            a[5 * HOURS + h] += 1
        self.prev_bucket, self.prev_mean = self.bucket, mean_p

    def update(self, t_s: float, p_w: float, q_var: float) -> None:
        self.update_bucket(bucket_of(t_s), p_w, q_var)

    def update_bucket(self, b: int, p_w: float, q_var: float) -> None:
        """Add a reading of bucket `b` (`gridtwin.core.intervals.interval_of`)."""
        if b < self.bucket:
            return
        if b > self.bucket:
            self._close()
            self.bucket, self.b_p, self.b_q, self.b_n = b, 0.0, 0.0, 0
        self.b_p += p_w
        self.b_q += q_var
        self.b_n += 1


def bucket_of(t_s: float) -> int:
    """The 15-min bucket of a reading stamped `t_s` (Unix s): the interval its timestamp ends,
    (k·900, (k+1)·900] (gridtwin.core.intervals; exact for whole seconds, serving uses the
    reading's seconds and nanos)."""
    return math.ceil(t_s / BUCKET_S) - 1


def aggregate_bucket_means(bucket: np.ndarray, p_w: np.ndarray, q_var: np.ndarray) -> np.ndarray:
    """The aggregate of one meter from its 15-min bucket means (training path).

    `bucket` are integer bucket numbers k of the intervals [k·900 s, (k+1)·900 s) (a series
    stamped at interval starts: its UTC seconds // 900), sorted ascending, unique.
    Equal to feeding the buckets' readings through `ProfileAggregate` and closing the last one.
    """
    agg = empty()
    h = (bucket * BUCKET_S % 86400) // 3600
    np.add.at(agg, h, p_w)
    np.add.at(agg, HOURS + h, q_var)
    np.add.at(agg, 2 * HOURS + h, 1.0)
    np.maximum.at(agg, 3 * HOURS + h, p_w)
    consecutive = np.flatnonzero(np.diff(bucket) == 1) + 1
    np.add.at(agg, 4 * HOURS + h[consecutive], np.abs(p_w[consecutive] - p_w[consecutive - 1]))
    np.add.at(agg, 5 * HOURS + h[consecutive], 1.0)
    return agg


def profile_features(aggs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clustering features (n, 9) in `FEATURE_NAMES` order and the dark-bucket count (n,).

    Rows without enough dark-window history get NaN features (the caller reports cold start).
    """
    aggs = np.atleast_2d(aggs)
    blk = {b: aggs[:, i * HOURS : (i + 1) * HOURS] for i, b in enumerate(BLOCKS)}
    dark = list(DARK_HOURS)
    n_dark = blk["n"][:, dark].sum(axis=1)
    p_dark = blk["p_sum"][:, dark].sum(axis=1)
    q_dark = blk["q_sum"][:, dark].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_dark_kw = p_dark / n_dark / 1e3
        tan_dark = np.clip(q_dark / np.where(np.abs(p_dark) > 0, p_dark, np.nan), -0.5, 1.5)
        d_n = blk["d_n"][:, dark].sum(axis=1)
        var_dark = blk["d_sum"][:, dark].sum(axis=1) / d_n / 1e3 / (np.abs(mean_dark_kw) + 0.1)
    peak_dark = np.max(np.where(blk["n"][:, dark] > 0, blk["p_max"][:, dark], -np.inf), axis=1) / 1e3
    peak = np.max(np.where(blk["n"] > 0, blk["p_max"], -np.inf), axis=1) / 1e3
    log_mean = np.log(np.clip(mean_dark_kw, 0.05, None))
    feats = np.column_stack(
        [tan_dark, var_dark, peak_dark, peak, mean_dark_kw, log_mean, *_robust(blk, mean_dark_kw)]
    )
    # Cold start: every dark hour needs MIN_DARK_BUCKETS buckets before the profile is trusted.
    enough = (blk["n"][:, dark] >= MIN_DARK_BUCKETS).all(axis=1)
    feats[~enough] = np.nan
    feats[~np.isfinite(feats)] = np.nan
    return feats, n_dark


def _robust(blk: dict[str, np.ndarray], mean_dark_kw: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hour-wise dark-window features (median / minimum over the dark hours), see FEATURE_NAMES."""
    dark = list(DARK_HOURS)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(blk["n"][:, dark] > 0, blk["n"][:, dark], np.nan)
        p_kw = blk["p_sum"][:, dark] / n / 1e3
        p_sum = blk["p_sum"][:, dark]
        tan_h = np.clip(blk["q_sum"][:, dark] / np.where(np.abs(p_sum) > 0, p_sum, np.nan), -0.5, 1.5)
        d_n = np.where(blk["d_n"][:, dark] > 0, blk["d_n"][:, dark], np.nan)
        var_h = blk["d_sum"][:, dark] / d_n / 1e3
        norm = np.abs(mean_dark_kw) + 0.1
        return np.median(tan_h, axis=1), np.median(var_h, axis=1) / norm, np.min(p_kw, axis=1) / norm


# Redis: one hash per meter; the script updates every meter of a batch in one round trip.
# KEYS[i] = the meter's hash; ARGV holds (bucket, p_w, q_var, cached_prev_bucket) quadruples,
# the bucket computed by the caller from the timestamp's seconds and nanos (`interval_of`: a
# reading stamped on a boundary ends the bucket before it; Lua numbers are doubles, too coarse
# for nanoseconds of Unix time).
# Same logic as ProfileAggregate.update (atomic per call, so several replicas may serve the
# same meter). The aggregate only changes when a bucket closes (every 15 min per meter), so
# the reply for a meter is just its last closed bucket id when that equals the caller's
# cached one, else "<prev_bucket>|<FIELDS values, comma-separated>" (one bulk string per
# meter: cheap to parse, unlike a nested array of 144 values). Each hash expires after
# IDLE_TTL_S without readings (every key the mesh writes has a TTL: abandoned meters go).
IDLE_TTL_S = 40 * 86400
LUA_UPDATE = """
local H = 24
local names = {}
for _, nm in ipairs({'p_sum', 'q_sum', 'n', 'p_max', 'd_sum', 'd_n'}) do
  for h = 0, H - 1 do table.insert(names, nm..h) end
end
local out = {}
for i, key in ipairs(KEYS) do
  local b = tonumber(ARGV[4*i-3]); local p = tonumber(ARGV[4*i-2]); local q = tonumber(ARGV[4*i-1])
  local cached = ARGV[4*i]
  local st = redis.call('HMGET', key, 'bucket', 'b_p', 'b_q', 'b_n', 'prev_bucket', 'prev_mean')
  local cur = tonumber(st[1] or '-1')
  local prev = st[5] or '-10'
  if b > cur then
    local bn = tonumber(st[4] or '0')
    if bn > 0 then
      local mp = tonumber(st[2]) / bn
      local mq = tonumber(st[3]) / bn
      local h = math.floor((cur * 900 % 86400) / 3600)
      redis.call('HINCRBYFLOAT', key, 'p_sum'..h, mp)
      redis.call('HINCRBYFLOAT', key, 'q_sum'..h, mq)
      redis.call('HINCRBYFLOAT', key, 'n'..h, 1)
      local pmax = redis.call('HGET', key, 'p_max'..h)
      if (not pmax) or mp > tonumber(pmax) then redis.call('HSET', key, 'p_max'..h, mp) end
      if tonumber(prev) == cur - 1 then
        redis.call('HINCRBYFLOAT', key, 'd_sum'..h, math.abs(mp - tonumber(st[6])))
        redis.call('HINCRBYFLOAT', key, 'd_n'..h, 1)
      end
      prev = tostring(cur)
      redis.call('HSET', key, 'prev_bucket', cur, 'prev_mean', mp)
    end
    redis.call('HSET', key, 'bucket', b, 'b_p', p, 'b_q', q, 'b_n', 1)
  elseif b == cur then
    redis.call('HINCRBYFLOAT', key, 'b_p', p)
    redis.call('HINCRBYFLOAT', key, 'b_q', q)
    redis.call('HINCRBYFLOAT', key, 'b_n', 1)
  end
  redis.call('PEXPIRE', key, IDLE_TTL_MS)
  if prev == cached then
    table.insert(out, prev)
  else
    local vals = redis.call('HMGET', key, unpack(names))
    for j = 1, #names do
      if not vals[j] then
        if j > 3 * H and j <= 4 * H then vals[j] = '-inf' else vals[j] = '0' end
      end
    end
    table.insert(out, prev .. '|' .. table.concat(vals, ','))
  end
end
return out
""".replace("IDLE_TTL_MS", str(IDLE_TTL_S * 1000))


class ProfileCache:
    """Per-process copy of meters' aggregates keyed by their last closed bucket (see LUA_UPDATE)."""

    def __init__(self, max_meters: int = 200_000) -> None:
        self.max_meters = max_meters
        self.items: dict[str, tuple[str, np.ndarray]] = {}

    def cached_prev(self, meter_id: str) -> str:
        item = self.items.get(meter_id)
        return item[0] if item else ""

    def resolve(self, meter_id: str, reply: bytes | str) -> np.ndarray:
        """The meter's aggregate from a script reply (a full copy or 'unchanged')."""
        text = reply.decode() if isinstance(reply, bytes) else reply
        prev, sep, body = text.partition("|")
        if sep:
            if len(self.items) >= self.max_meters:
                self.items.clear()  # bounded memory; the next reply per meter refills it
            agg = np.array(body.split(","), dtype=float)
            self.items[meter_id] = (prev, agg)
            return agg
        item = self.items.get(meter_id)
        if item is None or item[0] != prev:
            raise KeyError(f"profile cache miss for {meter_id}")
        return item[1]

"""The Lua script behind ``FeatureState`` (atomic batch append + prior-window read).

Redis runs a script atomically, so concurrent feature-service replicas never interleave inside a
batch: every reading is appended exactly once and each sees a consistent prior window.

KEYS: for each distinct meter m = 1..M of the call, KEYS[3m-2] = its window list,
KEYS[3m-1] = its profile hash and KEYS[3m] = its time-window state (a string of packed float64);
then, when marks are given (ARGV[10] > 0), KEYS[3M + i] = reading i's mark key (ingest's
de-duplication key of the reading). Every key carries its meter as a hash tag, so on Redis
Cluster a call holds the meters of one hash slot (the caller splits a batch per slot).

ARGV (few large arguments keep the protocol cost flat):
  [1] key TTL in ms, [2] window length, [3] record size in bytes, [4] number of readings n,
  [5] all n packed records concatenated (batch order),
  [6] comma-separated 1-based meter index of each reading,
  [7] comma-separated 4 values per reading: explicit nominal V, explicit nominal f ('nan' when
      the reading has none), inferred-candidate V, inferred-candidate f,
  [8] comma-separated constants of the time-window recurrence (see ``_CONSTANTS`` in
      :mod:`gridtwin.features.state`): state length, layout version, number of windows,
      their τ (s), reset weight, baseline τ (s), baseline band low/high (pu), under/over (pu),
      in-band recent τ (s),
  [9] number of meters M, [10] TTL of the marks in ms (0: no marks), [11] bytes per mark value,
  [12] the n mark values concatenated (batch order), [13] TTL of the inputs keys in ms (0: none;
  only with marks): then KEYS[3M + n + i] = reading i's inputs key.

For every meter: read the window as it was before the batch (newest first) and the profile;
then, in batch order, resolve each reading's nominal V and f (explicit → stored in the profile
as not inferred; absent → the stored profile; no profile → the candidate, stored and marked
inferred); advance the meter's time-window state by the reading (the recurrence of
:func:`gridtwin.features.timewindows.advance`, repeated here statement by statement); LPUSH the
meter's records in batch order, trim to the window length, count readings in the profile, store
the state, refresh every TTL; then SET each reading's mark key to its value with the marks'
TTL, in the same atomic step (a reading in the rolling state always has its de-duplication
digest committed, and a reading whose digest is committed is always in the state). A stored state of another layout (schema 1.x had none) or length
is ignored: the meter's windows restart, which is the migration from schema 1.

With inputs keys, each reading's *inputs* are stored too, in the same atomic step: its resolved
nominals (``<ddd``: V, f, inferred 0/1), its meter's time-window state just before it
(``STATE_LEN`` float64) and the meter's window just before it (up to the window length of
records, newest first: the batch's earlier readings of the meter, then the stored window).
From them the reading's feature row can be computed again exactly
(:meth:`gridtwin.features.state.FeatureState.recompute`) when the answer of this call is lost.

Returns {windows, counts, nominals, states}: ``windows`` = each meter's pre-batch window records
concatenated newest first, meters in KEYS order; ``counts`` = comma-separated number of records
per meter in ``windows``; ``nominals`` = comma-separated (V, f, inferred '0'/'1') per reading;
``states`` = each meter's pre-batch time-window state (packed float64, KEYS order).
"""

LUA_UPDATE = r"""
local ttl = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local rsize = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local blob = ARGV[5]
local nm = tonumber(ARGV[9])
local mark_ttl = tonumber(ARGV[10])
local mark_size = tonumber(ARGV[11])
local inputs_ttl = tonumber(ARGV[13]) or 0
local C = {}
for s in string.gmatch(ARGV[8], '[^,]+') do C[#C + 1] = tonumber(s) end
local SL, LAYOUT, NW = C[1], C[2], C[3]
local TAU = {}
for w = 1, NW do TAU[w] = C[3 + w] end
local RESET, BTAU, BLO, BHI, UNDER, OVER = C[4 + NW], C[5 + NW], C[6 + NW], C[7 + NW], C[8 + NW], C[9 + NW]
local RTAU = C[10 + NW]
local NQ = 5
local WB = 4 + 3 * NQ
local W0 = 3  -- 1-based slot of the first window (Python slot 2)
local B0 = W0 + NW * WB
local R0 = B0 + 9
local E0 = R0 + 4
local VN = E0 + 2  -- U_n (V) the state was built with
local fmt = '<' .. string.rep('d', SL)

local function load_state(raw)
  if raw and #raw == 8 * SL then
    local s = {struct.unpack(fmt, raw)}
    if s[1] == LAYOUT then s[SL + 1] = nil; return s end
  end
  local s = {}
  for k = 1, SL do s[k] = 0.0 end
  s[1] = LAYOUT
  return s
end

-- gridtwin.features.timewindows.advance for one reading (same statements, same order)
local function advance(s, t, y, v, vn)
  if s[VN] > 0 and s[VN] ~= vn then  -- another U_n: restart (timewindows._other_scale)
    for k = 2, SL do s[k] = 0.0 end
    s[1] = LAYOUT
  end
  s[VN] = vn
  local dt = math.max(t - s[2], 0.0)
  for w = 1, NW do
    local b = W0 + (w - 1) * WB
    local d = math.exp(-dt / TAU[w])
    local reset = s[b] * d < RESET
    if reset then d = 0.0; s[b + 1] = t end
    s[b] = s[b] * d + 1.0
    local a = 1.0 / s[b]
    local mt = s[b + 2]
    if reset then mt = t end
    local dx = t - mt
    s[b + 2] = mt + a * dx
    s[b + 3] = d * s[b + 3] + dx * (t - s[b + 2])
    for q = 1, NQ do
      local k = b + 4 + 3 * (q - 1)
      local my = s[k]
      if reset then my = y[q] end
      local dy = y[q] - my
      s[k] = my + a * dy
      s[k + 1] = d * s[k + 1] + dx * (y[q] - s[k])
      s[k + 2] = d * s[k + 2] + dy * (y[q] - s[k])
    end
  end
  s[2] = math.max(s[2], t)
  local inside = true
  local under, over = false, false
  for p = 1, 3 do
    if v[p] < BLO or v[p] > BHI then inside = false end
    if v[p] < UNDER then under = true end
    if v[p] > OVER then over = true end
  end
  if inside then
    local dr = math.exp(-math.max(t - s[B0 + 2], 0.0) / RTAU)
    local reset_r = s[R0] * dr < RESET
    if reset_r then dr = 0.0; s[R0 + 1] = t end
    local wr = s[R0] * dr + 1.0
    local mr = s[R0 + 2]
    if reset_r then mr = y[1] end
    local dvr = y[1] - mr
    s[R0] = wr
    s[R0 + 2] = mr + dvr / wr
    s[R0 + 3] = dr * s[R0 + 3] + dvr * (y[1] - s[R0 + 2])
    local db = math.exp(-math.max(t - s[B0 + 2], 0.0) / BTAU)
    local reset = s[B0] * db < RESET
    if reset then db = 0.0; s[B0 + 1] = t end
    local wn = s[B0] * db + 1.0
    local a = 1.0 / wn
    s[B0] = wn
    s[B0 + 2] = math.max(s[B0 + 2], t)
    for p = 1, 3 do
      local k = B0 + 3 + 2 * (p - 1)
      local m = s[k]
      if reset then m = v[p] end
      local dv = v[p] - m
      s[k] = m + a * dv
      s[k + 1] = db * s[k + 1] + dv * (v[p] - s[k])
    end
  end
  if under then
    if not (s[E0] > 0) then s[E0] = t end
  else
    s[E0] = 0.0
  end
  if over then
    if not (s[E0 + 1] > 0) then s[E0 + 1] = t end
  else
    s[E0 + 1] = 0.0
  end
end

local midx = {}
for s in string.gmatch(ARGV[6], '[^,]+') do midx[#midx + 1] = tonumber(s) end
local nomin = {}
for s in string.gmatch(ARGV[7], '[^,]+') do nomin[#nomin + 1] = s end

local windows, counts, prof, recs, states, before, stored = {}, {}, {}, {}, {}, {}, {}
for m = 1, nm do
  local w = redis.call('LRANGE', KEYS[3 * m - 2], 0, maxlen - 1)
  stored[m] = w
  windows[m] = table.concat(w)
  counts[m] = #w
  local p = redis.call('HMGET', KEYS[3 * m - 1], 'nominal_voltage', 'nominal_frequency',
                       'nominal_voltage_inferred', 'nominal_frequency_inferred')
  prof[m] = {p[1], p[2], p[3], p[4], false}
  recs[m] = {}
  states[m] = load_state(redis.call('GET', KEYS[3 * m]))
  before[m] = struct.pack(fmt, unpack(states[m]))
end

local out = {}
for i = 1, n do
  local m = midx[i]
  local p = prof[m]
  local b = 4 * (i - 1)
  for j = 0, 1 do
    local given = nomin[b + 1 + j]
    if given ~= 'nan' then
      if p[1 + j] ~= given or p[3 + j] ~= '0' then
        p[1 + j] = given; p[3 + j] = '0'; p[5] = true
      end
    elseif not p[1 + j] then
      p[1 + j] = nomin[b + 3 + j]; p[3 + j] = '1'; p[5] = true
    end
  end
  local inferred = '0'
  if p[3] == '1' or p[4] == '1' then inferred = '1' end
  out[i] = p[1] .. ',' .. p[2] .. ',' .. inferred
  local r = recs[m]
  if inputs_ttl > 0 then
    local parts = {struct.pack('<ddd', tonumber(p[1]), tonumber(p[2]), tonumber(inferred)),
                   struct.pack(fmt, unpack(states[m]))}
    for j = #r, math.max(1, #r - maxlen + 1), -1 do parts[#parts + 1] = r[j] end
    local w = stored[m]
    for j = 1, math.min(#w, maxlen - #r) do parts[#parts + 1] = w[j] end
    redis.call('SET', KEYS[3 * nm + n + i], table.concat(parts), 'PX', inputs_ttl)
  end
  local rec = string.sub(blob, (i - 1) * rsize + 1, i * rsize)
  r[#r + 1] = rec
  local t, va, vb, vc, ia, ib, ic, pt, qt, f = struct.unpack('<dddddddddd', rec)
  local vn = tonumber(p[1])
  advance(states[m], t, {(va + vb + vc) / 3 / vn, (ia + ib + ic) / 3, f, pt, qt},
          {va / vn, vb / vn, vc / vn}, vn)
end

for m = 1, nm do
  local wkey, pkey, skey = KEYS[3 * m - 2], KEYS[3 * m - 1], KEYS[3 * m]
  local r = recs[m]
  for s = 1, #r, 1000 do
    redis.call('LPUSH', wkey, unpack(r, s, math.min(s + 999, #r)))
  end
  redis.call('LTRIM', wkey, 0, maxlen - 1)
  redis.call('PEXPIRE', wkey, ttl)
  local p = prof[m]
  if p[5] then
    redis.call('HSET', pkey, 'nominal_voltage', p[1], 'nominal_frequency', p[2],
               'nominal_voltage_inferred', p[3], 'nominal_frequency_inferred', p[4])
  end
  redis.call('HINCRBY', pkey, 'readings', #r)
  redis.call('PEXPIRE', pkey, ttl)
  redis.call('SET', skey, struct.pack(fmt, unpack(states[m])), 'PX', ttl)
end
if mark_ttl > 0 then
  local marks = ARGV[12]
  for i = 1, n do
    redis.call('SET', KEYS[3 * nm + i], string.sub(marks, (i - 1) * mark_size + 1, i * mark_size), 'PX', mark_ttl)
  end
end
return {table.concat(windows), table.concat(counts, ','), table.concat(out, ','), table.concat(before)}
"""

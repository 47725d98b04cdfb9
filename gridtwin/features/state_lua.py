"""The Lua script behind ``FeatureState`` (atomic batch append + prior-window read).

Redis runs a script atomically, so concurrent feature-service replicas never interleave inside a
batch: every reading is appended exactly once and each sees a consistent prior window.

KEYS: for each distinct meter m = 1..M of the batch, KEYS[2m-1] = its window list and
KEYS[2m] = its profile hash.

ARGV (few large arguments keep the protocol cost flat):
  [1] key TTL in ms, [2] window length, [3] record size in bytes, [4] number of readings n,
  [5] all n packed records concatenated (batch order),
  [6] comma-separated 1-based meter index of each reading,
  [7] comma-separated 4 values per reading: explicit nominal V, explicit nominal f ('nan' when
      the reading has none), inferred-candidate V, inferred-candidate f.

For every meter: read the window as it was before the batch (newest first) and the profile;
then, in batch order, resolve each reading's nominal V and f (explicit → stored in the profile
as not inferred; absent → the stored profile; no profile → the candidate, stored and marked
inferred); LPUSH the meter's records in batch order, trim to the window length, count readings
in the profile, refresh both TTLs.

Returns {windows, counts, nominals}: ``windows`` = each meter's pre-batch window records
concatenated newest first, meters in KEYS order; ``counts`` = comma-separated number of records
per meter in ``windows``; ``nominals`` = comma-separated (V, f, inferred '0'/'1') per reading.
"""

LUA_UPDATE = r"""
local ttl = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local rsize = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local blob = ARGV[5]
local nm = #KEYS / 2

local midx = {}
for s in string.gmatch(ARGV[6], '[^,]+') do midx[#midx + 1] = tonumber(s) end
local nomin = {}
for s in string.gmatch(ARGV[7], '[^,]+') do nomin[#nomin + 1] = s end

local windows, counts, prof, recs = {}, {}, {}, {}
for m = 1, nm do
  local w = redis.call('LRANGE', KEYS[2 * m - 1], 0, maxlen - 1)
  windows[m] = table.concat(w)
  counts[m] = #w
  local p = redis.call('HMGET', KEYS[2 * m], 'nominal_voltage', 'nominal_frequency',
                       'nominal_voltage_inferred', 'nominal_frequency_inferred')
  prof[m] = {p[1], p[2], p[3], p[4], false}
  recs[m] = {}
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
  r[#r + 1] = string.sub(blob, (i - 1) * rsize + 1, i * rsize)
end

for m = 1, nm do
  local wkey, pkey = KEYS[2 * m - 1], KEYS[2 * m]
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
end
return {table.concat(windows), table.concat(counts, ','), table.concat(out, ',')}
"""

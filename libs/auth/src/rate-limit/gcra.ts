/**
 * The generic cell rate algorithm (GCRA), a token bucket kept as one number per bucket: its theoretical
 * arrival time (TAT), the moment the bucket would be full again. A bucket of `rate` per second holding
 * `capacity` requests admits a request at `now` when, after it, the TAT is at most `capacity` emission
 * intervals ahead of `now`.
 *
 * Redis runs {@link GCRA_SCRIPT}; {@link gcraStep} is the same arithmetic in TypeScript, for the unit tests
 * and as its documentation.
 */

/** One bucket's shape: `intervalUs` = 1e6 / rate, `capacityUs` = capacity × intervalUs. */
export interface BucketShape {
  intervalUs: number;
  capacityUs: number;
}

export interface GcraStep {
  allowed: boolean;
  /** The new TAT to store when allowed (unchanged when refused). */
  tat: number;
  /** Requests still admissible right now after this one (0 when refused). */
  remaining: number;
  /** When refused: microseconds until this request would be admitted. */
  retryAfterUs: number;
}

export function gcraStep(storedTat: number, now: number, shape: BucketShape): GcraStep {
  const tat = Math.max(storedTat, now) + shape.intervalUs;
  const ahead = tat - now;
  if (ahead > shape.capacityUs) {
    return { allowed: false, tat: storedTat, remaining: 0, retryAfterUs: ahead - shape.capacityUs };
  }
  return { allowed: true, tat, remaining: Math.floor((shape.capacityUs - ahead) / shape.intervalUs), retryAfterUs: 0 };
}

/**
 * KEYS: the buckets (1 or 2). ARGV: per bucket, its interval and capacity in microseconds. Time is Redis's,
 * so api replicas with skewed clocks share one view. A request takes one cell from every bucket or from none:
 * refused by one bucket, it costs the others nothing.
 * Returns { allowed (0|1), index of the refusing bucket (1-based, 0 if none), retry after (µs), remaining }.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats = {}
local remaining = -1
for i = 1, n do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local stored = tonumber(redis.call('GET', KEYS[i]) or '0')
  local tat = math.max(stored, now) + interval
  local ahead = tat - now
  if ahead > capacity then
    return { 0, i, math.ceil(ahead - capacity), 0 }
  end
  tats[i] = tat
  local left = math.floor((capacity - ahead) / interval)
  if remaining < 0 or left < remaining then remaining = left end
end
for i = 1, n do
  redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
end
return { 1, 0, 0, remaining }
`;

// The Lua scripts that change jobs in Redis: each transition is one atomic script, so replicas never race.
//
// Keys, under the prefix P (REDIS_PREFIX):
//   P:job:<id>      hash   the job (fields: see job-hash.ts); finished jobs expire after JOB_TTL_MS
//   P:idem:<key>    string the job id an Idempotency-Key names; expires with its job
//   P:index         zset   every stored job by seq (listing order); members of expired jobs are dropped lazily
//   P:finished      zset   finished jobs by finishedAt (expiry and eviction order)
//   P:queued        set    jobs waiting for a thread, across the cluster (the queue limit counts these)
//   P:seq           string the last seq given out
//   P:settled       pub/sub channel: every job that becomes terminal, as "<id> <flat hash as JSON>"
// Timestamps come from Redis's clock (TIME), so every replica stamps jobs on the same clock.
import type { Redis } from 'ioredis';

// Shared by the scripts: now in epoch ms, and numbers written as plain integers (never 1.7e+12).
const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function int(n) return string.format('%.0f', n) end
local P = ARGV[1]
local function jobKey(id) return P .. ':job:' .. id end
`;

/**
 * admit(P, id, maxQueue, maxJobs, ttlMs, accepting, idemKey, fingerprint, ...job fields) →
 *   {'created', seq, createdAt, queued} | {'replay', flat} | {'mismatch'} | {'queue_full', queued}
 *   | {'store_full'} | {'shutting_down'}
 * Drops up to 100 expired jobs from the indexes, honours the Idempotency-Key, enforces the cluster's
 * queue limit, makes room in the store by evicting the oldest finished job, then records the job queued.
 */
const ADMIT = `${PRELUDE}
local id, maxQueue, maxJobs, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local accepting, idem, fingerprint = ARGV[6], ARGV[7], ARGV[8]
local index, finished, queued = P .. ':index', P .. ':finished', P .. ':queued'

local expired = redis.call('ZRANGEBYSCORE', finished, '-inf', int(now - ttl), 'LIMIT', 0, 100)
for _, old in ipairs(expired) do
  redis.call('ZREM', index, old)
  redis.call('ZREM', finished, old)
end

local idemKey = P .. ':idem:' .. idem
if idem ~= '' then
  local earlier = redis.call('GET', idemKey)
  if earlier and redis.call('EXISTS', jobKey(earlier)) == 1 then
    if redis.call('HGET', jobKey(earlier), 'idemFp') ~= fingerprint then return {'mismatch'} end
    return {'replay', redis.call('HGETALL', jobKey(earlier))}
  end
end
if accepting ~= '1' then return {'shutting_down'} end

local waiting = redis.call('SCARD', queued)
if waiting >= maxQueue then return {'queue_full', waiting} end

if redis.call('ZCARD', index) >= maxJobs then
  local oldest = redis.call('ZRANGE', finished, 0, 0)
  if #oldest == 0 then return {'store_full'} end
  local victim = oldest[1]
  local victimKey = redis.call('HGET', jobKey(victim), 'idemKey')
  if victimKey and redis.call('GET', P .. ':idem:' .. victimKey) == victim then redis.call('DEL', P .. ':idem:' .. victimKey) end
  redis.call('DEL', jobKey(victim))
  redis.call('ZREM', index, victim)
  redis.call('ZREM', finished, victim)
end

local seq = redis.call('INCR', P .. ':seq')
local key = jobKey(id)
redis.call('HSET', key, 'id', id, 'seq', seq, 'status', 'queued', 'createdAt', int(now))
for i = 9, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
if idem ~= '' then
  redis.call('HSET', key, 'idemKey', idem, 'idemFp', fingerprint)
  redis.call('SET', idemKey, id)
end
redis.call('ZADD', index, seq, id)
redis.call('SADD', queued, id)
return {'created', seq, int(now), waiting + 1}
`;

/**
 * replay(P, idemKey, fingerprint) → {'none'} | {'replay', flat} | {'mismatch'}: what admission would say
 * about an Idempotency-Key, read before the request is validated (admission checks again, atomically).
 */
const REPLAY = `${PRELUDE}
local idem, fingerprint = ARGV[2], ARGV[3]
local earlier = redis.call('GET', P .. ':idem:' .. idem)
if not earlier or redis.call('EXISTS', jobKey(earlier)) == 0 then return {'none'} end
if redis.call('HGET', jobKey(earlier), 'idemFp') ~= fingerprint then return {'mismatch'} end
return {'replay', redis.call('HGETALL', jobKey(earlier))}
`;

/**
 * start(P, id, replica) → {'started', flat, queued} | {'orphan', flat} | {'gone'}
 * A replica's worker took the job from the queue: queued → running. A job already `running` was
 * handed out again because the replica running it lost its lock (it died): 'orphan'.
 */
const START = `${PRELUDE}
local id, replica = ARGV[2], ARGV[3]
local key = jobKey(id)
local status = redis.call('HGET', key, 'status')
if status == 'queued' then
  redis.call('HSET', key, 'status', 'running', 'startedAt', int(now), 'replica', replica)
  redis.call('SREM', P .. ':queued', id)
  return {'started', redis.call('HGETALL', key), redis.call('SCARD', P .. ':queued')}
end
if status == 'running' then return {'orphan', redis.call('HGETALL', key)} end
return {'gone'}
`;

/**
 * settle(P, id, status, ttlMs, from, errorCode, errorMessage, results, durationMs, fuelUsed, returned, wasi) →
 *   {'settled', flat} | {'final', flat} | {'skipped', flat} | {'missing'}
 * The one place a job becomes terminal. First call wins: a job already terminal is 'final'; one not in
 * the state `from` requires ('running', or '' for any live state) is 'skipped'. On success the job
 * starts to expire and the new state is published, so waiters and the replica running it hear of it.
 */
const SETTLE = `${PRELUDE}
local id, status, ttl, from = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local code, message, results, duration, fuelUsed = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local returned, wasi = ARGV[11], ARGV[12]
local key = jobKey(id)
local current = redis.call('HGET', key, 'status')
if not current then
  redis.call('SREM', P .. ':queued', id)
  return {'missing'}
end
if current ~= 'queued' and current ~= 'running' then return {'final', redis.call('HGETALL', key)} end
if from ~= '' and current ~= from then return {'skipped', redis.call('HGETALL', key)} end
redis.call('HSET', key, 'status', status, 'finishedAt', int(now))
if code ~= '' then redis.call('HSET', key, 'errorCode', code, 'errorMessage', message) end
if results ~= '' then redis.call('HSET', key, 'results', results) end
if duration ~= '' then redis.call('HSET', key, 'durationMs', duration) end
if fuelUsed ~= '' then redis.call('HSET', key, 'fuelUsed', fuelUsed) end
if returned ~= '' then redis.call('HSET', key, 'returned', returned) end
if wasi ~= '' then redis.call('HSET', key, 'wasi', wasi) end
-- What the run needed (WASI stdin can be large) is of no use once it is over, and is published below.
redis.call('HDEL', key, 'call')
if current == 'queued' then redis.call('SREM', P .. ':queued', id) end
redis.call('PEXPIRE', key, ttl)
local idem = redis.call('HGET', key, 'idemKey')
if idem and redis.call('GET', P .. ':idem:' .. idem) == id then redis.call('PEXPIRE', P .. ':idem:' .. idem, ttl) end
redis.call('ZADD', P .. ':finished', int(now), id)
local flat = redis.call('HGETALL', key)
redis.call('PUBLISH', P .. ':settled', id .. ' ' .. cjson.encode(flat))
return {'settled', flat}
`;

/**
 * withdraw(P, id) → 1 | 0: undoes an admission the queue did not take (BullMQ refused the job), as if
 * it never happened; only a job still queued and never seen by a worker.
 */
const WITHDRAW = `${PRELUDE}
local id = ARGV[2]
local key = jobKey(id)
if redis.call('HGET', key, 'status') ~= 'queued' then return 0 end
local idem = redis.call('HGET', key, 'idemKey')
if idem and redis.call('GET', P .. ':idem:' .. idem) == id then redis.call('DEL', P .. ':idem:' .. idem) end
redis.call('DEL', key)
redis.call('ZREM', P .. ':index', id)
redis.call('SREM', P .. ':queued', id)
return 1
`;

/**
 * list(P, before, limit, status, scanCap) → {jobs (flat hashes), nextSeq or ''}
 * Newest first from seq `before` (exclusive; '' for the newest), only `status` if given. Scans at most
 * `scanCap` index entries per call, so a rare status never blocks Redis: the page may then be short,
 * with a cursor to go on. Drops index entries whose job has expired.
 */
const LIST = `${PRELUDE}
local before, limit, status, cap = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local index = P .. ':index'
local max = '+inf'
if before ~= '' then max = '(' .. before end
local jobs, scanned, lastSeq = {}, 0, ''
while true do
  local batch = redis.call('ZREVRANGEBYSCORE', index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, 200)
  if #batch == 0 then return {jobs, ''} end
  for i = 1, #batch, 2 do
    local id, seq = batch[i], batch[i + 1]
    local current = redis.call('HGET', jobKey(id), 'status')
    if not current then
      redis.call('ZREM', index, id)
    elseif status == '' or current == status then
      if #jobs == limit then return {jobs, lastSeq} end
      jobs[#jobs + 1] = redis.call('HGETALL', jobKey(id))
      lastSeq = seq
    end
    scanned = scanned + 1
    if scanned >= cap then return {jobs, seq} end
    max = '(' .. seq
  end
end
`;

export const SCRIPTS = { admit: ADMIT, replay: REPLAY, start: START, settle: SETTLE, withdraw: WITHDRAW, list: LIST } as const;
export type ScriptName = keyof typeof SCRIPTS;

type Reply = string | number | null | Reply[];

/** Calls one of SCRIPTS by name (ioredis runs EVALSHA and falls back to EVAL when Redis lost its script cache). */
export type ScriptRunner = (name: ScriptName, args: (string | number)[]) => Promise<Reply[]>;

/** Registers the scripts on `client` (no keys are declared: these run against one Redis, not a cluster). */
export function defineScripts(client: Redis): ScriptRunner {
  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(`wasm64_${name}`, { numberOfKeys: 0, lua });
  const commands = client as unknown as Record<string, (...args: (string | number)[]) => Promise<Reply[]>>;
  return (name, args) => {
    const command = commands[`wasm64_${name}`];
    if (command === undefined) throw new Error(`script ${name} is not defined`);
    return command.call(client, ...args);
  };
}

export type { Reply };

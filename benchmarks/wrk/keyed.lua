-- keyed scenario: every request increments the counter of a random key out of BENCH_KEYS (default 1000),
-- GET /keyed/k<n>, so requests spread over all keys and (partitioned) over every partition that owns keys.
local keys = tonumber(os.getenv("BENCH_KEYS") or "1000")

function init(args)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  return wrk.format("GET", "/keyed/k" .. math.random(keys))
end

-- pipelined scenario: each connection writes DEPTH requests (default 16) at once and reads their responses, as
-- TechEmpower's plaintext test does. Usage: wrk ... -s benchmarks/wrk/pipeline.lua URL -- DEPTH
local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  batch = table.concat(requests)
end

function request()
  return batch
end

-- blocking-mix scenario, the blocking client: each connection sends GET /mix/block (the server blocks its thread
-- in Thread.Sleep(50)), then waits BENCH_BLOCK_PAUSE_MS (default 200) before its next one. A second wrk measures
-- the non-blocking GET /mix at the same time; see benchmarks/README.md.
wrk.path = "/mix/block"
local pause = tonumber(os.getenv("BENCH_BLOCK_PAUSE_MS") or "200")

function delay()
  return pause
end

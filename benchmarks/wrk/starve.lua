-- starvation scenario, the blocking client: each connection sends GET /starve/block back to back (the server
-- blocks its thread in sync-over-async, Task.Delay(20).Wait()). A second wrk measures the non-blocking GET /starve at
-- the same time; see benchmarks/README.md.
wrk.path = "/starve/block"

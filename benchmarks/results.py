#!/usr/bin/env python3
"""Parsing and aggregation for benchmarks/run.sh.

  results.py record --architecture A --scenario S --round R --rss-kb K --startup-ms T --ready-ms T
                    (--wrk FILE [--blocker FILE] | --h2load FILE)
                    [--stats-before "BYTES TICKS" --stats-after "BYTES TICKS" --clock-ticks HZ]
      parses one measured run and prints it as one JSON line (run.sh appends it to runs.jsonl).
  results.py meta META_JSON KEY=VALUE...
      writes the run's metadata (numbers stay numbers; scenarios and architectures are lists).
  results.py report RUNS_JSONL OUT_DIR META_JSON
      aggregates the runs over rounds and writes OUT_DIR/results.json and OUT_DIR/results.md.
"""

import argparse
import json
import re
import statistics
import sys

ARCHITECTURES = ["kestrel", "processes", "partitioned-single", "partitioned-single-pool", "partitioned-free", "partitioned-transport", "partitioned-transport-pool", "partitioned-dedicated", "nginx"]
SCENARIOS = ["plaintext", "pipelined", "json", "cpu", "keyed", "io", "blocking-mix", "starvation", "http2", "db", "fortunes"]

SCENARIO_TEXT = {
    "plaintext": "`GET /plaintext`, 13-byte text body.",
    "pipelined": "`GET /plaintext` with 16 requests pipelined on each connection (`wrk/pipeline.lua`), as in "
    "TechEmpower's plaintext test.",
    "json": "`GET /json`, a small object serialized with a System.Text.Json source-generated context.",
    "cpu": "`GET /cpu`, a fixed 50,000 dependent multiply-rotate steps (about 50 µs of one core) per request.",
    "keyed": "`GET /keyed/{key}` over 1000 random keys, a read-modify-write of a per-key counter in memory.",
    "io": "`GET /io`, `await Task.Delay(1)` then a small body.",
    "blocking-mix": "`GET /mix` measured while other connections send `GET /mix/block` (`Thread.Sleep(50)`).",
    "starvation": "`GET /starve` measured while other connections send `GET /starve/block` (`Task.Delay(20).Wait()`, "
    "sync-over-async) back to back.",
    "http2": "`GET /plaintext` over cleartext HTTP/2 (prior knowledge), driven by h2load.",
    "db": "`GET /db` (TechEmpower's single query): one random row of `World` from PostgreSQL through Npgsql, as JSON.",
    "fortunes": "`GET /fortunes` (TechEmpower's fortunes): every row of `Fortune` from PostgreSQL plus one added at "
    "request time, sorted, rendered as an HTML table with HTML encoding.",
}

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unknown duration '{text}'")
    return float(match.group(1)) * UNIT_MS[match.group(2)]


def parse_wrk(path):
    text = open(path, encoding="utf-8").read()
    result = {"requests": 0, "rps": None, "errors": 0, "non2xx": 0}
    for line in text.splitlines():
        line = line.strip()
        if m := re.fullmatch(r"(50|75|90|99)(?:\.000)?%\s+(\S+)", line):
            result[f"p{m.group(1)}_ms"] = to_ms(m.group(2))
        elif m := re.match(r"(\d+) requests in ([\d.]+\w+)", line):
            result["requests"] = int(m.group(1))
            result["duration_s"] = to_ms(m.group(2)) / 1000
        elif m := re.match(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line):
            result["errors"] = sum(int(g) for g in m.groups())
            result["socket_errors"] = dict(zip(["connect", "read", "write", "timeout"], map(int, m.groups())))
        elif m := re.match(r"Non-2xx or 3xx responses: (\d+)", line):
            result["non2xx"] = int(m.group(1))
        elif m := re.match(r"Requests/sec:\s+([\d.]+)", line):
            result["rps"] = float(m.group(1))
    if result["rps"] is None:
        raise ValueError(f"{path}: no 'Requests/sec' line; wrk said:\n{text}")
    return result


def parse_h2load(path):
    text = open(path, encoding="utf-8").read()
    result = {"requests": 0, "rps": None, "errors": 0, "non2xx": 0, "p50_ms": None, "p99_ms": None}
    for line in text.splitlines():
        line = line.strip()
        if m := re.match(r"finished in ([\d.]+\w+), ([\d.]+) req/s", line):
            result["duration_s"] = to_ms(m.group(1)) / 1000
            result["rps"] = float(m.group(2))
        elif m := re.match(r"requests: (\d+) total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", line):
            result["requests"] = int(m.group(2))
            # 'failed' includes 'errored' and 'timeout'.
            result["errors"] = int(m.group(3))
        elif m := re.match(r"status codes: \d+ 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx", line):
            result["non2xx"] = int(m.group(1)) + int(m.group(2))
        elif m := re.match(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", line):
            result["mean_ms"] = to_ms(m.group(3))
    if result["rps"] is None:
        raise ValueError(f"{path}: no 'finished in' line; h2load said:\n{text}")
    return result


def record(args):
    if args.h2load:
        run = parse_h2load(args.h2load)
    else:
        run = parse_wrk(args.wrk)
    if args.blocker:
        blocker = parse_wrk(args.blocker)
        run["block_requests"] = blocker["requests"]
        run["block_rps"] = blocker["rps"]
        run["block_p50_ms"] = blocker.get("p50_ms")
        run["block_errors"] = blocker["errors"] + blocker["non2xx"]
    if args.stats_before and args.stats_after and run["requests"]:
        bytes0, ticks0 = args.stats_before.split()
        bytes1, ticks1 = args.stats_after.split()
        if bytes0 != "-" and bytes1 != "-":
            run["alloc_bytes_per_request"] = round((int(bytes1) - int(bytes0)) / run["requests"], 1)
        run["cpu_us_per_request"] = round((int(ticks1) - int(ticks0)) * 1e6 / args.clock_ticks / run["requests"], 2)
    run.update(
        architecture=args.architecture,
        scenario=args.scenario,
        round=args.round,
        rss_mb=round(args.rss_kb / 1024, 1),
        startup_ms=round(args.startup_ms, 1),
        ready_ms=round(args.ready_ms, 1),
    )
    print(json.dumps(run, sort_keys=True))
    p99 = "-" if run.get("p99_ms") is None else f"{run['p99_ms']:.2f}"
    alloc = run.get("alloc_bytes_per_request")
    cpu = run.get("cpu_us_per_request")
    print(
        f"round {run['round']} {run['scenario']:<12} {run['architecture']:<23} {run['rps']:>10.0f} req/s  p99 {p99} ms  "
        f"{'-' if alloc is None else f'{alloc:.0f}'} B/req  {'-' if cpu is None else f'{cpu:.1f}'} µs CPU/req  "
        f"rss {run['rss_mb']} MB  startup {run['startup_ms']:.0f} ms  errors {run['errors']}  non-2xx {run['non2xx']}",
        file=sys.stderr,
    )


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def aggregate(runs):
    """One row per (scenario, architecture): medians over rounds, and per-round ratios to kestrel."""
    kestrel = {(r["scenario"], r["round"]): r["rps"] for r in runs if r["architecture"] == "kestrel"}
    kestrel_runs = {(r["scenario"], r["round"]): r for r in runs if r["architecture"] == "kestrel"}
    rows = []
    for scenario in SCENARIOS:
        for architecture in ARCHITECTURES:
            mine = [r for r in runs if r["scenario"] == scenario and r["architecture"] == architecture]
            if not mine:
                continue
            rps = [r["rps"] for r in mine]
            ratios = [r["rps"] / kestrel[(scenario, r["round"])] for r in mine if kestrel.get((scenario, r["round"]))]
            # Per round, against kestrel's run of the same round: CPU time per request, and bytes over kestrel's.
            cpu_ratios, alloc_over = [], []
            for r in mine:
                k = kestrel_runs.get((scenario, r["round"]))
                if k and r.get("cpu_us_per_request") and k.get("cpu_us_per_request"):
                    cpu_ratios.append(r["cpu_us_per_request"] / k["cpu_us_per_request"])
                if k and r.get("alloc_bytes_per_request") is not None and k.get("alloc_bytes_per_request") is not None:
                    alloc_over.append(r["alloc_bytes_per_request"] - k["alloc_bytes_per_request"])
            row = {
                "architecture": architecture,
                "scenario": scenario,
                "rounds": len(mine),
                "rps": round(median(rps)),
                "rps_min": round(min(rps)),
                "rps_max": round(max(rps)),
                "ratio_vs_kestrel": round(median(ratios), 3) if ratios else None,
                "ratio_min": round(min(ratios), 3) if ratios else None,
                "ratio_max": round(max(ratios), 3) if ratios else None,
                "p50_ms": rounded(median(r.get("p50_ms") for r in mine), 3),
                "p99_ms": rounded(median(r.get("p99_ms") for r in mine), 3),
                "alloc_bytes_per_request": rounded(median(r.get("alloc_bytes_per_request") for r in mine), 0),
                "alloc_bytes_over_kestrel": rounded(median(alloc_over), 0),
                "cpu_us_per_request": rounded(median(r.get("cpu_us_per_request") for r in mine), 1),
                "cpu_ratio_vs_kestrel": rounded(median(cpu_ratios), 3),
                "rss_mb": rounded(median(r["rss_mb"] for r in mine), 1),
                "rss_mb_max": max(r["rss_mb"] for r in mine),
                "startup_ms": rounded(median(r["startup_ms"] for r in mine), 0),
                "ready_ms": rounded(median(r["ready_ms"] for r in mine), 0),
                "errors": sum(r["errors"] for r in mine),
                "non2xx": sum(r["non2xx"] for r in mine),
            }
            if scenario == "http2":
                row["mean_ms"] = rounded(median(r.get("mean_ms") for r in mine), 3)
            if scenario in ("blocking-mix", "starvation"):
                row["block_rps"] = rounded(median(r.get("block_rps") for r in mine), 1)
                row["block_share"] = rounded(median(r["block_rps"] / (r["block_rps"] + r["rps"]) for r in mine), 5)
                row["block_errors"] = sum(r.get("block_errors", 0) for r in mine)
            rows.append(row)
    return rows


def rounded(value, digits):
    return None if value is None else round(value, digits)


def fmt(value, digits=2):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if digits else f"{value:,.0f}"


def markdown(rows, meta):
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {meta['date']}",
        f"- Machine: {meta['cores']} cores ({meta['cpu']}), {meta['memory_gib']} GiB memory, {meta['os']}",
        f"- Software: .NET SDK {meta['dotnet']}, {meta['wrk']}, {meta['h2load']}, {meta['nginx']}"
        + (f", {meta['postgres']} (Npgsql 10.0.3)" if meta.get("postgres", "not used") != "not used" else ""),
        f"- Command: `{meta['command']}`",
        f"- Load: {meta['load']}",
        f"- Pinning: {meta.get('pinning', 'none')}",
        f"- Partitions / processes / nginx workers: {meta['partitions']}; rounds: {meta['rounds']}, "
        f"{meta['duration_s']} s measured after {meta['warmup_s']} s of warm-up; architectures alternate within each "
        "round, each run in fresh server processes.",
        "",
        "Medians over rounds. *vs kestrel* is the median of the per-round ratios to `kestrel` in the same round, with "
        "their min–max; *Req/s min–max* is the spread of the rounds. Peak RSS is the highest sum of VmRSS over all the "
        "architecture's server processes (polled every 200 ms from start to the end of the run). Startup is the time "
        "from launching the process(es) to the first 200 response (for `processes`, results.json's `ready_ms` is the "
        "time until all of them listen). Errors are wrk's socket errors (connect, read, "
        "write, timeout); non-2xx counts responses of status 400 or above.",
        "",
        "*B/req* is the bytes the server's .NET processes allocated per measured request (`GC.GetTotalAllocatedBytes` "
        "deltas over the run, read from each process's `/_stats`); *CPU µs/req* is the user+system CPU time of all the "
        "server's processes over the run (`/proc/PID/stat`) per request, and *CPU vs kestrel* its per-round ratio to "
        "`kestrel`'s: far steadier than requests/s on a shared machine. Both include what the load's other clients "
        "cost the server (blocking-mix's blocking requests).",
        "",
        "| Scenario | Architecture | Req/s | Req/s min–max | vs kestrel | p50 ms | p99 ms | B/req | CPU µs/req | CPU vs kestrel | Peak RSS MB | Startup ms | Errors | Non-2xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = "–" if row["ratio_vs_kestrel"] is None else f"{row['ratio_vs_kestrel']:.2f}x ({row['ratio_min']:.2f}–{row['ratio_max']:.2f})"
        cpu_ratio = "–" if row["cpu_ratio_vs_kestrel"] is None else f"{row['cpu_ratio_vs_kestrel']:.2f}x"
        lines.append(
            f"| {row['scenario']} | `{row['architecture']}` | {fmt(row['rps'], 0)} | "
            f"{fmt(row['rps_min'], 0)}–{fmt(row['rps_max'], 0)} | {ratio} | {fmt(row['p50_ms'], 3)} | "
            f"{fmt(row['p99_ms'], 3)} | {fmt(row['alloc_bytes_per_request'], 0)} | {fmt(row['cpu_us_per_request'], 1)} | "
            f"{cpu_ratio} | {fmt(row['rss_mb'], 1)} | {fmt(row['startup_ms'], 0)} | {row['errors']} | {row['non2xx']} |"
        )
    lines += ["", "## Scenarios", ""]
    present = {row["scenario"] for row in rows}
    lines += [f"- **{s}**: {SCENARIO_TEXT[s]}" for s in SCENARIOS if s in present]
    blocking = [row for row in rows if row["scenario"] == "blocking-mix"]
    starving = [row for row in rows if row["scenario"] == "starvation"]
    lines += [
        "",
        "## Notes",
        "",
        "- **keyed**: `kestrel` keeps one `ConcurrentDictionary` for the process (`AddOrUpdate`). `partitioned-single` "
        "keeps a plain `Dictionary` in each partition (a partition-local singleton, no lock) and routes each key to "
        "the partition that owns it (`WithPartitionKey(\"key\")`), so each key still has one counter in the process. "
        "`partitioned-transport` is `partitioned-single` over the Partitioned transport. "
        "`partitioned-free` keeps a partition-local `ConcurrentDictionary`, with the same key affinity: a "
        "FreeThreaded partition runs its requests in parallel, so a plain `Dictionary` would not be safe there. "
        "**`processes` cannot share the store: each process has its own `ConcurrentDictionary`, so its counts are per "
        "process, not per key**; it does less than the others and is not a like-for-like result.",
        f"- **blocking-mix**: two wrk instances run at once. The blocking client ({meta['block_connections']} "
        f"connections, each sending `GET /mix/block`, whose handler sleeps 50 ms on its thread, then pausing "
        f"{meta['block_pause_ms']} ms) starts first; then the measured client sends only the non-blocking `GET /mix`. "
        "Req/s, p50 and p99 are the measured client's, so they are the latency of the non-blocking requests alone "
        "(wrk's Lua hooks cannot split one client's latency by URL).",
    ]
    if blocking:
        shares = ", ".join(
            f"`{row['architecture']}` {fmt(row['block_rps'], 1)}/s ({fmt(100 * row['block_share'], 2)}%)" for row in blocking
        )
        lines.append(f"  Blocking requests served per second (share of all requests): {shares}.")
    lines.append(
        f"- **starvation**: the same two-client method. The blocking client ({meta.get('starve_connections', 16)} "
        "connections) sends `GET /starve/block` back to back; its handler blocks its thread in sync-over-async "
        "(`Task.Delay(20).Wait()`). The measured client sends only `GET /starve`, which answers at once: its p99 shows "
        "how far the blocked threads starve everything else (plain Kestrel's thread pool starts with one thread per "
        "core and grows slowly).")
    if starving:
        shares = ", ".join(
            f"`{row['architecture']}` {fmt(row['block_rps'], 1)}/s ({fmt(100 * row['block_share'], 2)}%)" for row in starving
        )
        lines.append(f"  Blocking requests served per second (share of all requests): {shares}.")
    lines += [
        "- **http2**: h2load has no percentiles; the p50 column is empty and `mean_ms` in results.json has its mean. "
        "nginx is not run for it.",
        "- **db**, **fortunes**: PostgreSQL runs in a cluster of the runner's own on the same machine "
        "(`benchmarks/postgres.sh`: fsync off, TechEmpower's `hello_world` data). The 64 pooled connections "
        "(`BENCH_DB_POOL`) are divided among the data sources: one for `kestrel`, one per process for `processes`, "
        + ("one shared `NpgsqlDataSource` for each partitioned process (`BENCH_DB_SOURCE=shared`: what an application "
           "gets by adding `AddPartitionedHosting()` alone)" if meta.get("db_source") == "shared" else
           "one partition-local `NpgsqlDataSource` per partition for the partitioned architectures")
        + ". Every data source has "
        "TechEmpower's pool settings (`No Reset On Close`, `Enlist=false`, `Max Auto Prepare=4`) plus "
        f"`{meta.get('db_options') or '(nothing)'}`.",
        "- **partitioned-dedicated** is `partitioned-transport` plus one more partition, `FreeThreaded` and "
        "`Dedicated` (no connections, no keys) with `MaxConcurrentRequests` 4, that runs the blocking endpoints "
        "(`/mix/block`, `/starve/block`, pinned with `RunOnPartition`): the recommended setup for blocking code. In the "
        "other scenarios it behaves as `partitioned-transport`.",
        "- **partitioned-single-pool** is `partitioned-single` with `IdleResume` = `ThreadPool`: an await that "
        "completes while the partition's thread sleeps resumes on the thread pool under the partition's turn, instead "
        "of waking the thread. **partitioned-transport-pool** is `partitioned-transport` with the same setting.",
        "- **nginx** serves `return 200 \"Hello, World!\"` with `worker_processes` = partitions and `reuseport`, "
        "plaintext only.",
        "- **partitioned-transport** (and `partitioned-transport-pool`, `partitioned-dedicated`) runs with "
        "`DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1`, as the transport's "
        "documentation advises (socket completions go straight to the partition's thread); the other .NET "
        "architectures run with the defaults (the design notes measured no gain from it for plain Kestrel).",
        "- **processes**: N independent Kestrel processes with default runtime settings (Server GC, thread pool sized "
        "for all cores) bound to one port with `SO_REUSEPORT`; the kernel spreads connections by hashing.",
        "",
        "![Throughput](throughput.png)",
        "",
        "![Throughput relative to kestrel](throughput-ratio.png)",
        "",
        "![Peak memory](memory.png)",
        "",
    ]
    return "\n".join(lines)


def report(args):
    runs = [json.loads(line) for line in open(args.runs, encoding="utf-8") if line.strip()]
    meta = json.load(open(args.meta, encoding="utf-8"))
    rows = aggregate(runs)
    with open(f"{args.out}/results.json", "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
        f.write("\n")
    with open(f"{args.out}/results.md", "w", encoding="utf-8") as f:
        f.write(markdown(rows, meta))


def write_meta(args):
    meta = {}
    for pair in args.pairs:
        key, _, value = pair.partition("=")
        if re.fullmatch(r"-?\d+", value):
            meta[key] = int(value)
        elif re.fullmatch(r"-?\d+\.\d*", value):
            meta[key] = float(value)
        elif key in ("scenarios", "architectures"):
            meta[key] = value.split(",")
        else:
            meta[key] = value
    if "memory_kb" in meta:
        meta["memory_gib"] = round(meta["memory_kb"] / 1048576, 1)
    with open(args.file, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record")
    rec.add_argument("--architecture", required=True, choices=ARCHITECTURES)
    rec.add_argument("--scenario", required=True, choices=SCENARIOS)
    rec.add_argument("--round", required=True, type=int)
    rec.add_argument("--rss-kb", required=True, type=int)
    rec.add_argument("--startup-ms", required=True, type=float)
    rec.add_argument("--ready-ms", required=True, type=float)
    rec.add_argument("--wrk")
    rec.add_argument("--blocker")
    rec.add_argument("--h2load")
    rec.add_argument("--stats-before")
    rec.add_argument("--stats-after")
    rec.add_argument("--clock-ticks", type=int, default=100)
    met = commands.add_parser("meta")
    met.add_argument("file")
    met.add_argument("pairs", nargs="*")
    rep = commands.add_parser("report")
    rep.add_argument("runs")
    rep.add_argument("out")
    rep.add_argument("meta")
    args = parser.parse_args()
    if args.command == "record":
        if bool(args.wrk) == bool(args.h2load):
            parser.error("record needs exactly one of --wrk and --h2load")
        record(args)
    elif args.command == "meta":
        write_meta(args)
    else:
        report(args)


if __name__ == "__main__":
    sys.exit(main())

using System.Diagnostics.Tracing;

/// <summary>
/// Where a request's bytes go: runs <see cref="RequestBenchmarks.Plaintext"/> many times with the runtime's allocation
/// sampling on (an event about every 100 KB allocated, naming the type that crossed it) and prints the types by their
/// share of the samples, scaled to bytes per request. <c>dotnet run -c Release --project benchmarks/Micro --
/// --allocations SingleThreaded</c>.
/// </summary>
internal static class AllocationProfile
{
    public static async Task RunAsync(string architecture, int requests = 500_000)
    {
        var benchmark = new RequestBenchmarks { Architecture = architecture };
        await benchmark.SetupAsync();
        // Waited for synchronously, as BenchmarkDotNet does: an await would go on on the partition's thread, and every
        // request after the first would run there inline, without the hop a request from Kestrel's thread pool makes.
        for (var i = 0; i < 10_000; i++)
        {
            benchmark.Plaintext().GetAwaiter().GetResult();
        }

        using var listener = new AllocationListener();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < requests; i++)
        {
            benchmark.Plaintext().GetAwaiter().GetResult();
        }

        var perRequest = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)requests;
        await benchmark.CleanupAsync();

        var samples = listener.Samples;
        var total = samples.Values.Sum();
        Console.WriteLine($"{architecture}: {perRequest:F0} B per request (all threads), {total} samples");
        foreach (var (type, count) in samples.OrderByDescending(s => s.Value).Take(20))
        {
            Console.WriteLine($"  {count * perRequest / total,7:F1} B  {type}");
        }
    }

    private sealed class AllocationListener : EventListener
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, long> _samples = [];

        public Dictionary<string, long> Samples
        {
            get
            {
                lock (_lock)
                {
                    return new(_samples);
                }
            }
        }

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC: AllocationTick
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs data)
        {
            if (data.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true &&
                data.PayloadNames?.IndexOf("TypeName") is >= 0 and var index && data.Payload?[index] is string type)
            {
                lock (_lock)
                {
                    _samples[type] = _samples.GetValueOrDefault(type) + 1;
                }
            }
        }
    }
}

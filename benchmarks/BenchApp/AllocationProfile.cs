using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

/// <summary>
/// Samples what the server allocates (the runtime's allocation ticks, one per ~100 KB), by type, and prints the top
/// types at exit: BENCH_ALLOC_PROFILE=1. For finding the allocations of the request path. benchmarks/Micro compiles it
/// too, for its --allocations mode.
/// </summary>
internal sealed class AllocationProfile : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytes = new();

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            // GC keyword, verbose: GCAllocationTick.
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true && eventData.Payload is { } payload)
        {
            var type = eventData.PayloadNames!.IndexOf("TypeName") is var index and >= 0 ? payload[index] as string ?? "?" : "?";
            var amount = eventData.PayloadNames!.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(payload[a], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
            _bytes.AddOrUpdate(type, amount, (_, b) => b + amount);
        }
    }

    public void Print()
    {
        foreach (var (type, share) in Top(25))
        {
            Console.WriteLine($"alloc {share * 100,5:F1}%  {type}");
        }
    }

    /// <summary>The types that allocated most, with their share of the bytes sampled (also used by benchmarks/Micro).</summary>
    public IEnumerable<(string Type, double Share)> Top(int count)
    {
        var total = Math.Max(1, _bytes.Values.Sum());
        return _bytes.OrderByDescending(t => t.Value).Take(count).Select(t => (t.Key, t.Value / (double)total)).ToList();
    }
}

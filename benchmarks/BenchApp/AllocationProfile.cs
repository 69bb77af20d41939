using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

/// <summary>
/// Samples what the server allocates (the runtime's allocation ticks, one per ~100 KB), by type, and prints the top
/// types at exit: BENCH_ALLOC_PROFILE=1. For finding the allocations of the request path.
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
        var total = _bytes.Values.Sum();
        foreach (var (type, bytes) in _bytes.OrderByDescending(t => t.Value).Take(25))
        {
            Console.WriteLine($"alloc {bytes * 100.0 / total,5:F1}%  {type}");
        }
    }
}

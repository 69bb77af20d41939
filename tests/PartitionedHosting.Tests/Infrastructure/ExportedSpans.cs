using System.Collections.ObjectModel;
using System.Diagnostics;

namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>Spans an in-memory OpenTelemetry exporter adds from the threads that end them; read with <see cref="Of"/>.</summary>
internal sealed class ExportedSpans : Collection<Activity>
{
    private readonly Lock _lock = new();

    /// <summary>The spans of one trace: the instrumentation listens to every host of the process, other tests' included.</summary>
    public Activity[] Of(ActivityTraceId trace)
    {
        lock (_lock)
        {
            return [.. this.Where(a => a.TraceId == trace)];
        }
    }

    protected override void InsertItem(int index, Activity item)
    {
        lock (_lock)
        {
            base.InsertItem(index, item);
        }
    }
}

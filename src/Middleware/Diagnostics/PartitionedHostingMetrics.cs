namespace PartitionedHosting;

/// <summary>
/// The meter of partitioned hosting, <see cref="MeterName"/>, with per-partition instruments tagged
/// <c>partition.id</c>: watch them with <c>dotnet-counters monitor --counters PartitionedHosting</c> or collect them
/// with OpenTelemetry (<c>AddMeter("PartitionedHosting")</c>).
/// </summary>
/// <remarks>
/// Instruments: <c>partitionedhosting.requests</c> (admitted), <c>partitionedhosting.rejections</c> (tag
/// <c>reason</c>: <c>queue_full</c>, <c>queue_wait</c>, <c>unavailable</c>, <c>handoff_timeout</c>),
/// <c>partitionedhosting.active_requests</c>, <c>partitionedhosting.queue_length</c>,
/// <c>partitionedhosting.connections</c>, <c>partitionedhosting.queue_wait</c> (seconds),
/// <c>partitionedhosting.turn_duration</c> (seconds, single-threaded partitions: one synchronous segment),
/// <c>partitionedhosting.recycles</c> (tag <c>cause</c>), <c>partitionedhosting.slots_moved</c> (key-map slots handed
/// over, by new owner), <c>partitionedhosting.misdirected</c> (keyed requests for another node's slot, tag <c>owner</c>).
/// </remarks>
public static class PartitionedHostingMetrics
{
    /// <summary>The name of the meter.</summary>
    public const string MeterName = "PartitionedHosting";
}

using System.Diagnostics.Metrics;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Diagnostics;

/// <summary>The instruments of <see cref="PartitionedHostingMetrics"/>, created once per host.</summary>
internal sealed class PartitionedHostingInstruments
{
    private const string PartitionTag = "partition.id";
    private readonly Counter<long> _requests;
    private readonly Counter<long> _rejections;
    private readonly Counter<long> _recycles;
    private readonly Counter<long> _slotsMoved;
    private readonly Counter<long> _misdirected;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _turnDuration;
    private object[] _ids = [];
    private long _misdirectedCount;
    private Func<IReadOnlyList<Partition>> _partitions = static () => [];

    public PartitionedHostingInstruments(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(PartitionedHostingMetrics.MeterName);
        _requests = meter.CreateCounter<long>("partitionedhosting.requests", "{request}", "Requests admitted by a partition.");
        _rejections = meter.CreateCounter<long>("partitionedhosting.rejections", "{request}", "Requests a partition answered with 503 instead of running them.");
        _recycles = meter.CreateCounter<long>("partitionedhosting.recycles", "{recycle}", "Partition recycles, by cause.");
        _slotsMoved = meter.CreateCounter<long>("partitionedhosting.slots_moved", "{slot}", "Key-map slots handed over to a partition, by their new owner.");
        _misdirected = meter.CreateCounter<long>("partitionedhosting.misdirected", "{request}", "Keyed requests for a slot another node of the cluster owns (answered 421), by owner.");
        _queueWait = meter.CreateHistogram<double>("partitionedhosting.queue_wait", "s", "Time a request waited for its partition's thread.");
        _turnDuration = meter.CreateHistogram<double>("partitionedhosting.turn_duration", "s", "Duration of one synchronous segment on a partition's thread.");
        meter.CreateObservableUpDownCounter("partitionedhosting.active_requests", () => Observe(static p => p.ActiveRequests), "{request}", "Requests admitted and not finished.");
        meter.CreateObservableUpDownCounter("partitionedhosting.queue_length", () => Observe(static p => p.QueueLength), "{request}", "Requests waiting to start.");
        meter.CreateObservableUpDownCounter("partitionedhosting.connections", () => Observe(static p => p.ActiveConnections), "{connection}", "Open connections assigned to a partition.");
    }

    public void Attach(Func<IReadOnlyList<Partition>> partitions, int partitionCount)
    {
        // Boxed once: a tag value is an object, and boxing an id per measurement would allocate on every request.
        _ids = [.. Enumerable.Range(0, partitionCount).Select(static id => (object)id)];
        _partitions = partitions;
    }

    public bool TurnDurationEnabled => _turnDuration.Enabled;

    public bool QueueWaitEnabled => _queueWait.Enabled;

    public void RequestAdmitted(int partitionId)
    {
        if (_requests.Enabled)
        {
            _requests.Add(1, new KeyValuePair<string, object?>(PartitionTag, _ids[partitionId]));
        }
    }

    /// <summary>Counts a 503 of a partition, in the metric and in the partition's snapshot (the dashboard shows it).</summary>
    public void RequestRejected(int partitionId, string reason)
    {
        var partitions = _partitions();
        if ((uint)partitionId < (uint)partitions.Count)
        {
            partitions[partitionId].CountRejection();
        }

        if (_rejections.Enabled)
        {
            _rejections.Add(1, new KeyValuePair<string, object?>(PartitionTag, _ids[partitionId]), new KeyValuePair<string, object?>("reason", reason));
        }
    }

    public void QueueWaited(int partitionId, TimeSpan wait) =>
        _queueWait.Record(wait.TotalSeconds, new KeyValuePair<string, object?>(PartitionTag, _ids[partitionId]));

    public void TurnCompleted(int partitionId, TimeSpan duration) =>
        _turnDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>(PartitionTag, _ids[partitionId]));

    public void Recycled(int partitionId, RecycleCause cause) =>
        _recycles.Add(1, new KeyValuePair<string, object?>(PartitionTag, _ids[partitionId]), new KeyValuePair<string, object?>("cause", cause.ToString()));

    public void SlotsMoved(int partitionId, int slots) =>
        _slotsMoved.Add(slots, new KeyValuePair<string, object?>(PartitionTag, _ids[partitionId]));

    public void Misdirected(string owner)
    {
        Interlocked.Increment(ref _misdirectedCount);
        _misdirected.Add(1, new KeyValuePair<string, object?>("owner", owner));
    }

    /// <summary>Misdirected requests so far, for the diagnostics endpoint.</summary>
    public long MisdirectedCount => Interlocked.Read(ref _misdirectedCount);

    private IEnumerable<Measurement<int>> Observe(Func<Partition, int> value)
    {
        foreach (var partition in _partitions())
        {
            yield return new Measurement<int>(value(partition), new KeyValuePair<string, object?>(PartitionTag, _ids[partition.Id]));
        }
    }
}

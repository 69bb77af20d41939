namespace PartitionedHosting.Partitions;

/// <summary>Work running in an instance that a drain waits for: a request, or a connection's application.</summary>
internal abstract class InFlightWork
{
    public InFlightWork? Previous { get; set; }

    public InFlightWork? Next { get; set; }

    /// <summary>Ends the work early: the drain timed out.</summary>
    public abstract void Abort();
}

namespace PartitionedHosting.Execution;

/// <summary>
/// Makes a synchronization context current (a partition's, or none) until disposed, then restores the one before:
/// <c>using var scope = new SynchronizationContextScope(thread.Context);</c>.
/// </summary>
internal readonly ref struct SynchronizationContextScope
{
    private readonly SynchronizationContext? _previous;

    public SynchronizationContextScope(SynchronizationContext? context)
    {
        _previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(context);
    }

    public void Dispose() => SynchronizationContext.SetSynchronizationContext(_previous);
}

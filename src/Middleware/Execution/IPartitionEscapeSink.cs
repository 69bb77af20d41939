namespace PartitionedHosting.Execution;

/// <summary>Receives the flows whose code ran off their partition's thread, outside its turn.</summary>
internal interface IPartitionEscapeSink
{
    /// <summary>Called on the thread the flow now runs on, before any of its code; must not throw.</summary>
    void OnEscaped(PartitionFlow flow);
}

namespace PartitionedHosting.Execution;

/// <summary>
/// A work item that has not started anything yet, and can therefore start over elsewhere when its thread is given up
/// (see <see cref="PartitionThread.Abandon"/>): a request still waiting for its partition.
/// </summary>
internal interface IRedirectableWorkItem : IPartitionWorkItem
{
    /// <summary>Takes the work elsewhere (or answers it); false to let the thread forward it as it is.</summary>
    bool TryRedirect();
}

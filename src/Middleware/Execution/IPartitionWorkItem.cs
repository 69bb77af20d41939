namespace PartitionedHosting.Execution;

/// <summary>A unit of work a partition thread runs, queued without allocating a delegate.</summary>
internal interface IPartitionWorkItem
{
    void Execute();
}

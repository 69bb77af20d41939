namespace PartitionedHosting.Diagnostics;

/// <summary>Reasons of <c>partitionedhosting.rejections</c>.</summary>
internal static class RejectionReasons
{
    public const string QueueFull = "queue_full";
    public const string QueueWait = "queue_wait";
    public const string Unavailable = "unavailable";
    public const string HandoffTimeout = "handoff_timeout";
}

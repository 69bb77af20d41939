using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Diagnostics;

/// <summary>The log events of the partition runtime; event ids are stable.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Started {PartitionCount} partitions ({SingleThreaded} single-threaded, {FreeThreaded} free-threaded), connection distribution {ConnectionDistribution}.")]
    public static partial void PartitionsStarted(ILogger logger, int partitionCount, int singleThreaded, int freeThreaded, string connectionDistribution);

    [LoggerMessage(2, LogLevel.Error, "Partition {PartitionId}: unhandled exception in work posted to the partition.")]
    public static partial void UnhandledException(ILogger logger, int partitionId, Exception exception);

    [LoggerMessage(3, LogLevel.Debug, "Partition {PartitionId}: queue full ({QueueLength} waiting), answered 503.")]
    public static partial void QueueFull(ILogger logger, int partitionId, int queueLength);

    [LoggerMessage(4, LogLevel.Information, "Draining partitions: {ActiveRequests} requests in flight.")]
    public static partial void Draining(ILogger logger, int activeRequests);

    [LoggerMessage(5, LogLevel.Warning, "Partition {PartitionId}: shutdown timed out with {ActiveRequests} requests still in flight; disposing the partition anyway.")]
    public static partial void DrainTimedOut(ILogger logger, int partitionId, int activeRequests);

    [LoggerMessage(6, LogLevel.Information, "Stopped {PartitionCount} partitions.")]
    public static partial void PartitionsStopped(ILogger logger, int partitionCount);

    [LoggerMessage(7, LogLevel.Warning, "Partition {PartitionId}: generation {Generation} did not finish {Stage} in time (its thread is blocked, or the shutdown deadline passed); it is left to the garbage collector.")]
    public static partial void DisposeAbandoned(ILogger logger, int partitionId, int generation, string stage);

    [LoggerMessage(8, LogLevel.Debug, "Partition runtime stopped: request answered 503.")]
    public static partial void RejectedAfterStop(ILogger logger);

    [LoggerMessage(9, LogLevel.Debug, "Partition {PartitionId}: partition key ({KeySource} '{KeyName}') is {KeyStatus}; {KeyFailure}.")]
    public static partial void PartitionKeyFailed(ILogger logger, int partitionId, PartitionKeySource keySource, string keyName, PartitionKeyStatus keyStatus, PartitionKeyFailure keyFailure);

    [LoggerMessage(10, LogLevel.Warning, "Partition {PartitionId}: stalled: one synchronous segment has run for {DurationMs} ms (most recent request: {Request}). New connections and unkeyed requests go to other partitions.")]
    public static partial void Stalled(ILogger logger, int partitionId, double durationMs, string request);

    [LoggerMessage(11, LogLevel.Information, "Partition {PartitionId}: recovered after a stall of {DurationMs} ms.")]
    public static partial void Recovered(ILogger logger, int partitionId, double durationMs);

    [LoggerMessage(12, LogLevel.Information, "Partition {PartitionId}: recycled ({Cause}); generation {Generation} serves, the previous one drains {ActiveRequests} requests.")]
    public static partial void Recycled(ILogger logger, int partitionId, int generation, RecycleCause cause, int activeRequests);

    [LoggerMessage(13, LogLevel.Warning, "Partition {PartitionId}: generation {Generation} still had {ActiveRequests} requests after {Timeout}; they are aborted and the instance disposed.")]
    public static partial void RecycleDrainTimedOut(ILogger logger, int partitionId, int generation, int activeRequests, TimeSpan timeout);

    [LoggerMessage(14, LogLevel.Error, "Partition {PartitionId}: {MaxFailures} faults within {Window}; it is marked unhealthy and tried again in {RetryIn}.")]
    public static partial void CrashLoop(ILogger logger, int partitionId, int maxFailures, TimeSpan window, TimeSpan retryIn);

    [LoggerMessage(18, LogLevel.Warning, "Partition {PartitionId}: its crash-loop back-off has passed; trying a new instance.")]
    public static partial void CrashLoopRetry(ILogger logger, int partitionId);

    [LoggerMessage(15, LogLevel.Error, "Partition {PartitionId}: a lifecycle hook failed ({Stage}).")]
    public static partial void LifecycleHookFailed(ILogger logger, int partitionId, string stage, Exception exception);

    [LoggerMessage(16, LogLevel.Error, "Partition {PartitionId}: disposing its services failed.")]
    public static partial void DisposeFailed(ILogger logger, int partitionId, Exception exception);

    [LoggerMessage(17, LogLevel.Warning, "Partition {PartitionId}: request code left the single-threaded partition: {CallSite}, in request {RequestPath}, on thread {ThreadId}, outside the partition's turn. Code after ConfigureAwait(false), in Task.Run or in a timer runs in parallel with the partition and must not touch its state or partition-local services: remove ConfigureAwait(false), or move the work back with IPartitionInvoker. Reported once per call site.")]
    public static partial void Escaped(ILogger logger, int partitionId, string callSite, string requestPath, int threadId);

    [LoggerMessage(19, LogLevel.Error, "Connection distribution policy '{Policy}' failed for a new connection, which goes to partition {PartitionId} instead.")]
    public static partial void DistributionPolicyFailed(ILogger logger, string policy, int partitionId, Exception exception);

    [LoggerMessage(20, LogLevel.Information, "The partition count changed in configuration: resizing from {From} to {To} partitions.")]
    public static partial void ResizeRequested(ILogger logger, int from, int to);

    [LoggerMessage(21, LogLevel.Error, "Resizing to {PartitionCount} partitions failed.")]
    public static partial void ResizeFailed(ILogger logger, int partitionCount, Exception exception);

    [LoggerMessage(22, LogLevel.Information, "Resized from {From} to {To} partitions: {Slots} slots moved in {ElapsedMs:F1} ms.")]
    public static partial void Resized(ILogger logger, int from, int to, int slots, double elapsedMs);

    [LoggerMessage(23, LogLevel.Warning, "Moving {Slots} slots from partition {From} to partition {To}: {InFlight} of their requests were still running after {Timeout}; the move is called off and the slots stay on partition {From}.")]
    public static partial void HandoffDrainTimedOut(ILogger logger, int from, int to, int slots, int inFlight, TimeSpan timeout);

    [LoggerMessage(24, LogLevel.Error, "Moving {Slots} slots from partition {From} to partition {To}: the state handoff failed; they stay on partition {From}.")]
    public static partial void HandoffFailed(ILogger logger, int from, int to, int slots, Exception exception);

    [LoggerMessage(25, LogLevel.Information, "Partition {PartitionId} removed by a resize: {Connections} connections asked to close, {ActiveRequests} requests draining.")]
    public static partial void PartitionRemoved(ILogger logger, int partitionId, int connections, int activeRequests);

    [LoggerMessage(26, LogLevel.Warning, "A request for slot {Slot} waited longer than HandoffTimeout for the slot to move from partition {From} to partition {To}: answered 503.")]
    public static partial void HandoffTimedOut(ILogger logger, int slot, int from, int to);

    [LoggerMessage(27, LogLevel.Error, "The reloaded configuration of the partitions is invalid; the partitions keep running as they are. {Problems}")]
    public static partial void ReloadedOptionsInvalid(ILogger logger, string problems);

    [LoggerMessage(28, LogLevel.Debug, "A keyed request for slot {Slot} reached this node, but node {Owner} owns it: answered 421.")]
    public static partial void Misdirected(ILogger logger, int slot, string owner);

    [LoggerMessage(29, LogLevel.Critical, "Moving {Slots} slots from partition {From} to partition {To}: the import failed, and so did importing the state back into partition {From}; the state of those slots is lost.")]
    public static partial void HandoffStateLost(ILogger logger, int from, int to, int slots, Exception exception);

    [LoggerMessage(30, LogLevel.Debug, "Partition {PartitionId}: the request waited longer than Admission:MaxQueueWait for a place (or its client left), answered 503.")]
    public static partial void QueueWaitExceeded(ILogger logger, int partitionId);

    /// <summary>Logs a refused admission by its reason, counts it, and answers 503 with <c>Retry-After</c>.</summary>
    public static Task Rejected(ILogger logger, PartitionedHostingInstruments metrics, HttpContext context, PartitionInstance instance, string? reason)
    {
        reason ??= RejectionReasons.QueueFull;
        if (reason == RejectionReasons.QueueWait)
        {
            QueueWaitExceeded(logger, instance.Id);
        }
        else
        {
            QueueFull(logger, instance.Id, instance.QueueLength);
        }

        metrics.RequestRejected(instance.Id, reason);
        return Dispatch.PartitionResponses.ServiceUnavailable(context);
    }
}

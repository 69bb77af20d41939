using Microsoft.Extensions.Logging;

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

    [LoggerMessage(7, LogLevel.Warning, "Partition {PartitionId}: its thread did not end within {Timeout}; it is abandoned.")]
    public static partial void ThreadDidNotStop(ILogger logger, int partitionId, TimeSpan timeout);

    [LoggerMessage(8, LogLevel.Debug, "Partition runtime stopped: request answered 503.")]
    public static partial void RejectedAfterStop(ILogger logger);

    [LoggerMessage(9, LogLevel.Debug, "Partition {PartitionId}: partition key ({KeySource} '{KeyName}') is {KeyStatus}; {KeyFailure}.")]
    public static partial void PartitionKeyFailed(ILogger logger, int partitionId, Affinity.PartitionKeySource keySource, string keyName, Affinity.PartitionKeyStatus keyStatus, Affinity.PartitionKeyFailure keyFailure);
}

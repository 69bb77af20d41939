using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace PartitionedHosting.Transport;

/// <summary>
/// The log events of the <c>Partitioned</c> transport, in the manner of Kestrel's socket transport (category
/// <c>PartitionedHosting.Transport</c>); event ids are stable.
/// </summary>
internal static partial class PartitionedTransportLog
{
    [LoggerMessage(1, LogLevel.Debug, "Connection id \"{ConnectionId}\" received FIN.", EventName = "ConnectionReadFin")]
    public static partial void ConnectionReadFin(ILogger logger, string connectionId);

    [LoggerMessage(2, LogLevel.Debug, "Connection id \"{ConnectionId}\" sending FIN because: \"{Reason}\"", EventName = "ConnectionWriteFin")]
    public static partial void ConnectionWriteFin(ILogger logger, string connectionId, string reason);

    [LoggerMessage(3, LogLevel.Debug, "Connection id \"{ConnectionId}\" reset.", EventName = "ConnectionReset")]
    public static partial void ConnectionReset(ILogger logger, string connectionId);

    [LoggerMessage(4, LogLevel.Debug, "Connection id \"{ConnectionId}\" communication error.", EventName = "ConnectionError")]
    public static partial void ConnectionError(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(5, LogLevel.Debug, "Connection id \"{ConnectionId}\" paused: the server has not read what it received up to the read buffer's limit.", EventName = "ConnectionPause")]
    public static partial void ConnectionPause(ILogger logger, string connectionId);

    [LoggerMessage(6, LogLevel.Debug, "Connection id \"{ConnectionId}\" resumed.", EventName = "ConnectionResume")]
    public static partial void ConnectionResume(ILogger logger, string connectionId);

    [LoggerMessage(7, LogLevel.Debug, "A connection could not be accepted ({SocketError}); accepting the next one.", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, SocketError socketError);

    [LoggerMessage(8, LogLevel.Debug, "Connection id \"{ConnectionId}\" carries HTTP/2 streams: its I/O and frames are handled on the thread pool from now on; its requests still run in their partitions.", EventName = "ConnectionLeftPartitionThread")]
    public static partial void ConnectionLeftPartitionThread(ILogger logger, string connectionId);
}

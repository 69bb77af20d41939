using Microsoft.AspNetCore.Connections;

namespace PartitionedHosting.Partitions;

/// <summary>
/// A connection's application running in an instance (a SignalR connection under long polling), until it is disposed:
/// a node of the instance's list of such connections, which a drain that times out aborts.
/// </summary>
internal sealed class InFlightConnection(PartitionInstance instance, ConnectionContext connection) : IDisposable
{
    private int _ended;

    public InFlightConnection? Previous { get; set; }

    public InFlightConnection? Next { get; set; }

    /// <summary>Ends the connection early: the drain timed out.</summary>
    public void Abort() => connection.Abort(new ConnectionAbortedException("The partition instance serving the connection is being replaced."));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            instance.OnConnectionEnded(this);
        }
    }
}

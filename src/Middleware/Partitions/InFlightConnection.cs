using Microsoft.AspNetCore.Connections;

namespace PartitionedHosting.Partitions;

/// <summary>A connection's application running in an instance (a SignalR connection), until it is disposed.</summary>
internal sealed class InFlightConnection(PartitionInstance instance, ConnectionContext connection) : InFlightWork, IDisposable
{
    private int _ended;

    public override void Abort() => connection.Abort(new ConnectionAbortedException("The partition instance serving the connection is being replaced."));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            instance.OnWorkEnded(this, lease: null);
        }
    }
}

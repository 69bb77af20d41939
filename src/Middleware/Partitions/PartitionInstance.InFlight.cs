using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace PartitionedHosting.Partitions;

/// <summary>The work in flight: requests and connections followed until they end, for the drain and its timeout.</summary>
internal sealed partial class PartitionInstance
{
    /// <summary>
    /// Follows an admitted request that now runs here until its response has completed (its <c>OnCompleted</c>
    /// callbacks have run and its services are disposed), which then releases its admission: a recycle disposes the
    /// instance only after that. <paramref name="serverResponse"/> is the server's own response feature, whose first
    /// <c>OnCompleted</c> callback runs last.
    /// </summary>
    /// <returns>
    /// The request's state in the instance, pooled: its services and response feature, valid until its response has
    /// completed.
    /// </returns>
    public InFlightRequest Track(HttpContext context, IHttpResponseFeature serverResponse, RateLimitLease? lease)
    {
        var request = InFlightRequests.Rent();
        request.Start(this, context, serverResponse, lease);
        return request;
    }

    /// <summary>
    /// Follows a connection's application that runs here beyond the request that started it (a SignalR connection
    /// under long polling): it counts as work in flight, which a drain waits for and a drain timeout aborts, until
    /// the returned registration is disposed.
    /// </summary>
    public IDisposable TrackConnection(ConnectionContext connection)
    {
        Interlocked.Increment(ref _counts);
        var work = new InFlightConnection(this, connection);
        lock (_connectionsLock)
        {
            work.Next = _connections;
            if (_connections is not null)
            {
                _connections.Previous = work;
            }

            _connections = work;
        }

        return work;
    }

    /// <summary>Aborts every request and connection still running here (a drain that timed out); returns how many there were.</summary>
    /// <remarks>
    /// A request is aborted only while it runs (see <see cref="InFlightRequest"/>): its state is pooled and its context
    /// reused by the server once it ends. The servers' aborts queue their callbacks rather than run them.
    /// </remarks>
    public int AbortInFlight()
    {
        var aborted = InFlightRequests.AbortAll(this);
        lock (_connectionsLock)
        {
            for (var work = _connections; work is not null; work = work.Next)
            {
                work.Abort();
                aborted++;
            }
        }

        return aborted;
    }

    /// <summary>Ends a connection followed by <see cref="TrackConnection"/>.</summary>
    internal void OnConnectionEnded(InFlightConnection work)
    {
        lock (_connectionsLock)
        {
            if (work.Previous is { } previous)
            {
                previous.Next = work.Next;
            }
            else
            {
                _connections = work.Next;
            }

            if (work.Next is { } next)
            {
                next.Previous = work.Previous;
            }
        }

        OnRequestCompleted();
    }

    /// <summary>Completes when no admitted request is left.</summary>
    public Task WhenIdleAsync()
    {
        Interlocked.CompareExchange(ref _idle, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
        Interlocked.Exchange(ref _draining, 1);
        if (ActiveRequests == 0)
        {
            _idle!.TrySetResult();
        }

        return _idle!.Task;
    }
}

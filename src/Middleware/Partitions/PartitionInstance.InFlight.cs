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
        var request = Runtime.InFlightRequests.Get();
        request.Initialize(this, context, lease);
        Link(request);
        serverResponse.OnCompleted(InFlightRequest.OnResponseCompleted, request);
        return request;
    }

    /// <summary>
    /// Follows a connection's application that runs here beyond the request that started it (a SignalR connection
    /// under long polling): it counts as work in flight, which a drain waits for and a drain timeout aborts, until
    /// the returned registration is disposed.
    /// </summary>
    public IDisposable TrackConnection(ConnectionContext connection)
    {
        Interlocked.Increment(ref _activeRequests);
        var work = new InFlightConnection(this, connection);
        Link(work);
        return work;
    }

    /// <summary>Aborts every request and connection still running here (a drain that timed out); returns how many there were.</summary>
    /// <remarks>
    /// Under the lock: a request's state is pooled and its context reused by the server once it ends, so it must not
    /// end between being listed and being aborted. The servers' aborts queue their callbacks rather than run them.
    /// </remarks>
    public int AbortInFlight()
    {
        var aborted = 0;
        lock (_inFlightLock)
        {
            for (var work = _inFlight; work is not null; work = work.Next)
            {
                work.Abort();
                aborted++;
            }
        }

        return aborted;
    }

    /// <summary>Ends work followed by <see cref="Track"/> or <see cref="TrackConnection"/>.</summary>
    internal void OnWorkEnded(InFlightWork work, RateLimitLease? lease)
    {
        lock (_inFlightLock)
        {
            if (work.Previous is { } previous)
            {
                previous.Next = work.Next;
            }
            else
            {
                _inFlight = work.Next;
            }

            if (work.Next is { } next)
            {
                next.Previous = work.Previous;
            }
        }

        OnRequestCompleted(lease);
        if (work is InFlightRequest request)
        {
            Runtime.InFlightRequests.Return(request);
        }
    }

    private void Link(InFlightWork work)
    {
        lock (_inFlightLock)
        {
            work.Next = _inFlight;
            if (_inFlight is not null)
            {
                _inFlight.Previous = work;
            }

            _inFlight = work;
        }
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

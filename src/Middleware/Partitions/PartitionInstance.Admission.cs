using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;

namespace PartitionedHosting.Partitions;

/// <summary>Admission: the queue bound, the concurrency limiter and its wait, and a recycle replacing the instance meanwhile.</summary>
internal sealed partial class PartitionInstance
{
    /// <summary>
    /// Admits a request, or refuses it when the partition's queue is full. An admitted request must end with
    /// <see cref="OnRequestCompleted()"/>; on a single-threaded partition it also holds a place in the queue until
    /// <see cref="OnRequestDequeued"/>.
    /// </summary>
    public bool TryAdmitRequest()
    {
        if (Thread is not null)
        {
            if (Interlocked.Increment(ref _queueLength) > _maxQueueLength)
            {
                Interlocked.Decrement(ref _queueLength);
                return false;
            }
        }

        Interlocked.Increment(ref _activeRequests);
        Runtime.Metrics.RequestAdmitted(Id);
        if (Interlocked.Increment(ref _requests) == _recycleAfterRequests)
        {
            Runtime.RequestRecycle(Owner, this, RecycleCause.Requests);
        }

        return true;
    }

    /// <summary>
    /// Admits a request: a place in the queue (see <see cref="TryAdmitRequest"/>), then, when the partition bounds
    /// its concurrent requests, a permit, waited for within <see cref="MaxQueueWait"/>. Completes synchronously
    /// unless it must wait for a permit.
    /// </summary>
    public ValueTask<PartitionAdmission> AdmitAsync(HttpContext context)
    {
        if (!TryAdmitRequest())
        {
            return new(PartitionAdmission.Rejected);
        }

        // Counted (above) before this check, while WhenIdleAsync sets the flag before it reads the count: either the
        // drain waits for this request, or this request sees the drain and goes to the instance that replaced this one.
        if (IsRetiring)
        {
            AbandonAdmission();
            return new(PartitionAdmission.Retired);
        }

        if (_limiter is null)
        {
            return new(PartitionAdmission.Admitted);
        }

        var lease = _limiter.AttemptAcquire();
        if (lease.IsAcquired)
        {
            return new(new PartitionAdmission(true, lease));
        }

        lease.Dispose();

        // RequestAborted is read only here: creating it costs the server a token source per request.
        return WaitForPermitAsync(context.RequestAborted);
    }

    /// <summary>
    /// For work admitted by <see cref="TryAdmitRequest"/>: when the instance is being replaced, gives the admission back
    /// and returns true (admit it on the partition's current instance instead).
    /// </summary>
    public bool TryAbandonIfRetiring()
    {
        if (!IsRetiring)
        {
            return false;
        }

        AbandonAdmission();
        return true;
    }

    /// <summary>Ends an admitted request: releases its permit and its place in the counts.</summary>
    public void OnRequestCompleted(RateLimitLease? lease)
    {
        lease?.Dispose();
        OnRequestCompleted();
    }

    public void OnRequestDequeued() => Interlocked.Decrement(ref _queueLength);

    private async ValueTask<PartitionAdmission> WaitForPermitAsync(CancellationToken cancellationToken)
    {
        using var timeout = MaxQueueWait is { } wait ? new CancellationTokenSource(wait, Runtime.TimeProvider) : new CancellationTokenSource();
        using var aborted = cancellationToken.UnsafeRegister(static t => ((CancellationTokenSource)t!).Cancel(), timeout);

        RateLimitLease? lease = null;
        try
        {
            lease = await _limiter!.AcquireAsync(1, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (lease is { IsAcquired: true })
        {
            return new PartitionAdmission(true, lease);
        }

        // Refused at once (the limiter's queue is full), or given up after MaxQueueWait (or when the client left).
        lease?.Dispose();
        AbandonAdmission();
        return IsRetiring ? PartitionAdmission.Retired : timeout.IsCancellationRequested ? PartitionAdmission.TimedOut : PartitionAdmission.Rejected;
    }

    /// <summary>
    /// Draining because a recycle replaced it (the swap happens before the drain starts). A drain at shutdown keeps
    /// the instance current: requests that still arrive then are served.
    /// </summary>
    private bool IsRetiring => Volatile.Read(ref _draining) == 1 && Owner.Current != this;

    /// <summary>Gives back what <see cref="TryAdmitRequest"/> took, for a request that will not run here.</summary>
    private void AbandonAdmission()
    {
        if (Thread is not null)
        {
            OnRequestDequeued();
        }

        OnRequestCompleted();
    }

    public void OnRequestCompleted()
    {
        if (Interlocked.Decrement(ref _activeRequests) == 0 && Volatile.Read(ref _draining) == 1)
        {
            Volatile.Read(ref _idle)?.TrySetResult();
        }
    }
}

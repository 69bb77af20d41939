using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;

namespace PartitionedHosting.Partitions;

/// <summary>Admission: the queue bound, the concurrency limiter and its wait, and a recycle replacing the instance meanwhile.</summary>
internal sealed partial class PartitionInstance
{
    private const int ActiveBits = 24;
    private const long ActiveMask = (1L << ActiveBits) - 1;
    private const long OneAdmitted = (1L << ActiveBits) + 1;

    // The longest a partition's thread runs requests inline in one turn (pipelined requests the server parses one after
    // the other, or requests a connection of the partitioned transport delivers) before it queues the next one behind
    // its other work: a burst on one connection then cannot starve the partition's other connections or look like a
    // stall. One millisecond is about a hundred small requests; a hop costs about a microsecond.
    private static readonly TimeSpan s_turnQuantum = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// Whether a single-threaded partition's request runs at once on the calling thread, which is the partition's (the
    /// Partitioned transport resumes the connection there, or the server parses a pipelined request inline after the
    /// previous one), as the first request of a turn that resumed the connection or within a quantum of the turn (see
    /// <see cref="Execution.PartitionThread.TryRunInline"/>): then it takes no place in the partition's queue. Called
    /// once per request: it counts the turn's requests.
    /// </summary>
    public bool TryRunInline() => Thread is { IsCurrent: true } thread && thread.TryRunInline(s_turnQuantum);

    /// <summary>
    /// Admits a request, or refuses it when the partition's queue is full. An admitted request must end with
    /// <see cref="OnRequestCompleted()"/>; on a single-threaded partition, unless <paramref name="queued"/> is false (it
    /// runs at once, already on the partition's thread), it also holds a place in the queue until
    /// <see cref="OnRequestDequeued"/>. One interlocked operation, and a second for a place in the queue.
    /// </summary>
    public bool TryAdmitRequest(bool queued = true)
    {
        if (queued && Thread is not null)
        {
            if (Interlocked.Increment(ref _queueLength) > _maxQueueLength)
            {
                Interlocked.Decrement(ref _queueLength);
                return false;
            }
        }

        var counts = Interlocked.Add(ref _counts, OneAdmitted);
        Runtime.Metrics.RequestAdmitted(Id);
        if (_recycleAfterRequests != 0 && (long)((ulong)counts >> ActiveBits) == _recycleAfterRequests)
        {
            Runtime.RequestRecycle(Owner, this, RecycleCause.Requests);
        }

        return true;
    }

    /// <summary>
    /// Admits a request: a place in the queue unless it runs at once (see <see cref="TryAdmitRequest"/>), then, when
    /// the partition bounds its concurrent requests, a permit, waited for within <see cref="MaxQueueWait"/>. Completes
    /// synchronously unless it must wait for a permit.
    /// </summary>
    public ValueTask<PartitionAdmission> AdmitAsync(HttpContext context, bool queued = true)
    {
        if (!TryAdmitRequest(queued))
        {
            return new(PartitionAdmission.Rejected);
        }

        // Counted (above) before this check, while WhenIdleAsync sets the flag before it reads the count: either the
        // drain waits for this request, or this request sees the drain and goes to the instance that replaced this one.
        if (IsRetiring)
        {
            AbandonAdmission(queued);
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
        return WaitForPermitAsync(context.RequestAborted, queued);
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

    /// <summary>Takes a place in the queue, beyond the bound, for a request admitted to run at once that must queue after all.</summary>
    public void OnRequestQueued() => Interlocked.Increment(ref _queueLength);

    private async ValueTask<PartitionAdmission> WaitForPermitAsync(CancellationToken cancellationToken, bool queued)
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
        AbandonAdmission(queued);
        return IsRetiring ? PartitionAdmission.Retired : timeout.IsCancellationRequested ? PartitionAdmission.TimedOut : PartitionAdmission.Rejected;
    }

    /// <summary>
    /// Draining because a recycle replaced it (the swap happens before the drain starts). A drain at shutdown keeps
    /// the instance current: requests that still arrive then are served.
    /// </summary>
    private bool IsRetiring => Volatile.Read(ref _draining) == 1 && Owner.Current != this;

    /// <summary>Gives back what <see cref="TryAdmitRequest"/> took, for a request that will not run here.</summary>
    private void AbandonAdmission(bool queued = true)
    {
        if (queued && Thread is not null)
        {
            OnRequestDequeued();
        }

        OnRequestCompleted();
    }

    public void OnRequestCompleted()
    {
        if ((Interlocked.Decrement(ref _counts) & ActiveMask) == 0 && Volatile.Read(ref _draining) == 1)
        {
            Volatile.Read(ref _idle)?.TrySetResult();
        }
    }
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.ObjectPool;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// A request on its way into a single-threaded partition: queued to the partition's thread, run there in the
/// execution context of the server's thread (so <c>IHttpContextAccessor</c>, <c>Activity.Current</c> and logging
/// scopes follow), and completed back to the server. Pooled: the hop itself allocates only the <see cref="Task"/> the server
/// awaits (72 B: a builder's task, where a <see cref="TaskCompletionSource"/> would add 24 B of its own).
/// </summary>
internal sealed class PartitionRequest : IRedirectableWorkItem, IResettable
{
    private static readonly ContextCallback s_run = static self => ((PartitionRequest)self!).Run();

    private readonly Action _onPipelineCompleted;
    private ObjectPool<PartitionRequest>? _pool;
    private PartitionedHostingMiddleware? _middleware;
    private HttpContext? _context;
    private PartitionInstance? _instance;
    private ExecutionContext? _executionContext;
    // The task the server awaits: completed, with no other object, when the request's pipeline has. Never readonly: its
    // Task property creates the task in the field itself.
    private AsyncTaskMethodBuilder _completion;
    private Task? _pipeline;
    private RateLimitLease? _lease;
    private ConnectionPartition? _connection;
    private long _enqueuedAt;
    // Whether something else releases the request's admission (the partition following its response), or did.
    private bool _admissionReleased;

    public PartitionRequest() => _onPipelineCompleted = OnPipelineCompleted;

    public Task Start(ObjectPool<PartitionRequest> pool, PartitionedHostingMiddleware middleware, HttpContext context, PartitionInstance instance, RateLimitLease? lease, ConnectionPartition? connection)
    {
        _connection = connection;
        _pool = pool;
        _middleware = middleware;
        _context = context;
        _instance = instance;
        _lease = lease;
        _enqueuedAt = instance.MaxQueueWait is null && !instance.Runtime.Metrics.QueueWaitEnabled ? 0 : instance.Runtime.TimeProvider.GetTimestamp();
        _executionContext = ExecutionContext.Capture();
        _completion = AsyncTaskMethodBuilder.Create();
        var completion = _completion.Task;
        instance.Thread!.Post(this);
        return completion;
    }

    public void Execute()
    {
        _instance!.OnRequestDequeued();
        if (_executionContext is null)
        {
            Run();
        }
        else
        {
            ExecutionContext.Run(_executionContext, s_run, this);
        }
    }

    public bool TryReset()
    {
        _middleware = null;
        _context = null;
        _instance = null;
        _executionContext = null;
        _completion = default;
        _pipeline = null;
        _lease = null;
        _connection = null;
        _admissionReleased = false;
        return true;
    }

    private void Run()
    {
        Task pipeline;
        try
        {
            var instance = _instance!;
            if (_enqueuedAt != 0 && Waited(instance) > instance.MaxQueueWait)
            {
                pipeline = RejectAfterWait(instance);
            }
            else
            {
                // From here the partition follows the request until its response completes, and releases its
                // admission then (see RunInPartition).
                _admissionReleased = true;
                pipeline = _middleware!.RunInPartition(_context!, instance, _lease, _connection);
            }
        }
        catch (Exception ex)
        {
            pipeline = Task.FromException(ex);
        }

        if (pipeline.IsCompleted)
        {
            Complete(pipeline);
        }
        else
        {
            _pipeline = pipeline;
            pipeline.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onPipelineCompleted);
        }
    }

    /// <summary>
    /// The request's partition instance was given up (deadlocked) before the request started: nothing of it ran, so it
    /// starts over on the instance that replaced that one, or is answered 503 when that one cannot take it.
    /// </summary>
    public bool TryRedirect()
    {
        var abandoned = _instance!;
        var successor = abandoned.Owner.Current;
        if (successor == abandoned || successor.Thread is not { } thread)
        {
            return false;
        }

        abandoned.OnRequestDequeued();
        abandoned.OnRequestCompleted(_lease);
        _lease = null;
        if (!successor.TryAdmitRequest())
        {
            _admissionReleased = true;
            Complete(Log.Rejected(_middleware!.Logger, successor.Runtime.Metrics, _context!, successor, RejectionReasons.QueueFull));
            return true;
        }

        _instance = successor;
        thread.Post(this);
        return true;
    }

    private TimeSpan Waited(PartitionInstance instance)
    {
        var waited = instance.Runtime.TimeProvider.GetElapsedTime(_enqueuedAt);
        if (instance.Runtime.Metrics.QueueWaitEnabled)
        {
            instance.Runtime.Metrics.QueueWaited(instance.Id, waited);
        }

        return waited;
    }

    /// <summary>A request that waited longer than the partition allows is answered at once: its client may be gone.</summary>
    private Task RejectAfterWait(PartitionInstance instance)
    {
        return Log.Rejected(_middleware!.Logger, instance.Runtime.Metrics, _context!, instance, RejectionReasons.QueueWait);
    }

    private void OnPipelineCompleted() => Complete(_pipeline!);

    private void Complete(Task pipeline)
    {
        var completion = _completion;
        var instance = _instance!;
        var lease = _lease;
        var released = _admissionReleased;
        _pool!.Return(this);
        if (!released)
        {
            instance.OnRequestCompleted(lease);
        }

        // Without the partition's context, the server's continuation may run inline here and finish the response
        // at once instead of being queued to the thread pool; its own awaits then resume on the thread pool, and
        // the callbacks it runs (OnStarting, OnCompleted) come back through PartitionResponseFeature.
        using var scope = new SynchronizationContextScope(null);
        if (pipeline.IsCompletedSuccessfully)
        {
            completion.SetResult();
        }
        else
        {
            completion.SetException(Failure(pipeline));
        }
    }

    /// <summary>What awaiting the failed <paramref name="pipeline"/> would throw: its first exception, or the one that canceled it.</summary>
    private static Exception Failure(Task pipeline)
    {
        Debug.Assert(pipeline.IsCompleted && !pipeline.IsCompletedSuccessfully);
        if (pipeline.IsFaulted)
        {
            return pipeline.Exception!.InnerExceptions[0];
        }

        // Only awaiting a canceled task gives its exception back. Returned, not completed from the catch block: the
        // server's continuation runs inline in the completion.
        try
        {
            pipeline.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException canceled)
        {
            return canceled;
        }

        return new TaskCanceledException(pipeline);
    }
}

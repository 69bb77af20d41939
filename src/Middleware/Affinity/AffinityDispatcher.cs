using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Dispatch;
using PartitionedHosting.Execution;
using PartitionedHosting.KeyMap;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Affinity;

/// <summary>
/// Runs a keyed endpoint on the partition that owns the request's key, and a pinned one on its partition
/// (<see cref="RunOnPartitionAttribute"/>): in place when the request is already there, otherwise by moving the request
/// to the owner for the endpoint's run (its services, thread and response callbacks become the owner's) and back.
/// </summary>
internal sealed class AffinityDispatcher(PartitionRuntime runtime, ILogger<AffinityDispatcher> logger)
{
    private static readonly Func<object, Task<bool>> s_runEndpoint = static state => RunEndpoint((EndpointCall)state);

    private SlotTable Slots => runtime.Slots;

    public Task InvokeAsync(HttpContext context, RequestDelegate endpoint, IPartitionKeyMetadata key)
    {
        if (CurrentInstance(context) is not { } current)
        {
            return endpoint(context);
        }

        var result = PartitionKeyReader.Read(context, key);
        if (result.Status != PartitionKeyStatus.Found)
        {
            Log.PartitionKeyFailed(logger, current.Id, key.Source, key.Name, result.Status, runtime.KeyFailure);
            return runtime.KeyFailure switch
            {
                PartitionKeyFailure.RunOnCurrentPartition => endpoint(context),
                PartitionKeyFailure.ServiceUnavailable => PartitionResponses.ServiceUnavailable(context),
                _ => PartitionResponses.BadRequest(context, $"The partition key ({key.Source} '{key.Name}') is {(result.Status == PartitionKeyStatus.Missing ? "missing" : "unreadable")}."),
            };
        }

        var slot = PartitionKeySlots.GetSlot(result.Key);
        PartitionTracing.Keyed(context, slot);
        return runtime.OwnsSlot(slot) ? RunKeyed(context, endpoint, current, slot) : Misdirected(context, slot);
    }

    /// <summary>421 Misdirected Request: the key belongs to another node of the cluster, named in <c>X-Partition-Owner</c>.</summary>
    private Task Misdirected(HttpContext context, int slot)
    {
        var owner = runtime.Cluster!.Nodes[runtime.Cluster.GetNode(slot)];
        Log.Misdirected(logger, slot, owner);
        runtime.Metrics.Misdirected(owner);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status421MisdirectedRequest;
        response.Headers[PartitionResponses.OwnerHeader] = owner;
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync($"Slot {slot} of this key belongs to node {owner}.");
    }

    /// <summary>Runs an endpoint pinned to partition <paramref name="partitionId"/> (<see cref="RunOnPartitionAttribute"/>) there.</summary>
    public Task InvokeOnPartitionAsync(HttpContext context, RequestDelegate endpoint, int partitionId) =>
        // The index was checked against PartitionCount at startup.
        CurrentInstance(context) is { } current ? RunOn(context, endpoint, current, runtime.Partitions[partitionId]) : endpoint(context);

    /// <summary>The instance of this runtime serving the request; null outside the partitions (or once they stopped): then the endpoint runs in place.</summary>
    private PartitionInstance? CurrentInstance(HttpContext context) =>
        context.Features.Get<IPartitionFeature>()?.Partition is PartitionInstance current && current.Runtime == runtime && runtime.IsRunning ? current : null;

    /// <summary>
    /// Runs a keyed endpoint on the owner of <paramref name="slot"/>, counted in the slot until it ends, so that the
    /// slot cannot move under it; while the slot moves, waits for the move first.
    /// </summary>
    private Task RunKeyed(HttpContext context, RequestDelegate endpoint, PartitionInstance current, int slot)
    {
        var slots = runtime.Slots;
        if (slots.TryEnter(slot, out var move) is not { } owner)
        {
            return WaitForSlotAsync(context, endpoint, current, slot, move!);
        }

        Task run;
        try
        {
            run = RunOn(context, endpoint, current, owner);
        }
        catch
        {
            slots.Exit(slot);
            throw;
        }

        if (run.IsCompleted)
        {
            slots.Exit(slot);
            return run;
        }

        return ExitWhenDoneAsync(run, slots, slot);
    }

    private static async Task ExitWhenDoneAsync(Task run, SlotTable slots, int slot)
    {
        try
        {
            await run.ConfigureAwait(false);
        }
        finally
        {
            slots.Exit(slot);
        }
    }

    /// <summary>
    /// Waits for the slot's move to end, then runs the endpoint on the new owner. The wait ends on the new owner (on
    /// its thread, when single-threaded), where the waiting requests start one after the other in arrival order; each
    /// then returns to where it was. A move that takes longer than <c>HandoffTimeout</c> answers 503.
    /// </summary>
    private async Task WaitForSlotAsync(HttpContext context, RequestDelegate endpoint, PartitionInstance current, int slot, SlotMove move)
    {
        var resumeOn = SynchronizationContext.Current;
        var waiting = new WaitingRequest(this, context, endpoint, current, slot, move, resumeOn);
        move.Wait(waiting);
        try
        {
            await waiting.Task.ConfigureAwait(false);
        }
        finally
        {
            await new ResumeOn(resumeOn);
        }
    }

    private Task HandoffTimedOut(HttpContext context, int slot, SlotMove move)
    {
        Log.HandoffTimedOut(logger, slot, move.From.Id, move.To.Id);
        runtime.Metrics.RequestRejected(move.From.Id, RejectionReasons.HandoffTimeout);
        return PartitionResponses.ServiceUnavailable(context);
    }

    /// <summary>
    /// A keyed request waiting for its slot, resumed once by the move. On the new owner's thread (where the move
    /// releases its waiters one by one, in arrival order) it starts at once; anywhere else (a move that timed out, an
    /// owner that did not take the release in time, a move already over), it goes back to where it came from first.
    /// It then completes with its run.
    /// </summary>
    private sealed class WaitingRequest(
        AffinityDispatcher dispatcher, HttpContext context, RequestDelegate endpoint, PartitionInstance current, int slot, SlotMove move, SynchronizationContext? resumeOn)
        : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), ISlotWaiter
    {
        private static readonly ContextCallback s_start = static s =>
        {
            var (waiting, entered) = ((WaitingRequest, bool))s!;
            waiting.Start(entered);
        };

        private static readonly SendOrPostCallback s_startEntered = static s => ((WaitingRequest)s!).Start(entered: true);
        private static readonly SendOrPostCallback s_startTimedOut = static s => ((WaitingRequest)s!).Start(entered: false);

        // The request's own context, and the same without its partition's flow, for its start on another partition.
        private readonly ExecutionContext? _executionContext = ExecutionContext.Capture();
        private readonly ExecutionContext? _withoutFlow = PartitionFlow.CaptureWithoutFlow();

        public void Resume(bool entered)
        {
            if (entered && OnOwnersThread())
            {
                Run(_withoutFlow, entered);
            }
            else if (resumeOn is null ? PartitionThread.Current is null : SynchronizationContext.Current == resumeOn)
            {
                Run(_executionContext, entered);
            }
            else if (resumeOn is not null)
            {
                // Post flows the poster's context: run in the request's own.
                resumeOn.Post(entered ? s_startEntered : s_startTimedOut, this);
            }
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Waiting.Run(s.Waiting._executionContext, s.Entered), (Waiting: this, Entered: entered), preferLocal: false);
            }
        }

        /// <summary>Whether this is the thread of the slot's owner now (any thread but a partition's, for a free-threaded owner).</summary>
        private bool OnOwnersThread() =>
            dispatcher.Slots.GetOwner(slot).Current.Thread is { } thread ? thread.IsCurrent : PartitionThread.Current is null;

        private void Run(ExecutionContext? executionContext, bool entered)
        {
            if (executionContext is null)
            {
                Start(entered);
            }
            else
            {
                ExecutionContext.Run(executionContext, s_start, (this, entered));
            }
        }

        private void Start(bool entered)
        {
            Task run;
            try
            {
                run = entered ? dispatcher.RunKeyed(context, endpoint, current, slot) : dispatcher.HandoffTimedOut(context, slot, move);
            }
            catch (Exception ex)
            {
                run = Task.FromException(ex);
            }

            if (run.IsCompleted)
            {
                Complete(run);
            }
            else
            {
                run.ContinueWith(static (r, s) => ((WaitingRequest)s!).Complete(r), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        private void Complete(Task run)
        {
            if (run.IsFaulted)
            {
                TrySetException(run.Exception!.InnerExceptions);
            }
            else if (run.IsCanceled)
            {
                TrySetCanceled();
            }
            else
            {
                TrySetResult();
            }
        }
    }

    private Task RunOn(HttpContext context, RequestDelegate endpoint, PartitionInstance current, Partition ownerPartition)
    {
        if (!ownerPartition.IsServing)
        {
            // The owner is stalled or unhealthy, and nobody else may serve the key (or the pinned endpoint).
            runtime.Metrics.RequestRejected(ownerPartition.Id, RejectionReasons.Unavailable);
            return PartitionResponses.ServiceUnavailable(context);
        }

        var owner = ownerPartition.Current;
        return owner == current ? endpoint(context) : MoveAsync(context, endpoint, current, owner);
    }

    private async Task MoveAsync(HttpContext context, RequestDelegate endpoint, PartitionInstance current, PartitionInstance owner)
    {
        var admission = await owner.Owner.AdmitAsync(context).ConfigureAwait(true);
        owner = admission.Instance!;
        if (!admission.IsAdmitted)
        {
            await Log.Rejected(logger, runtime.Metrics, context, owner, admission.RejectionReason).ConfigureAwait(true);
            return;
        }

        var features = context.Features;
        var partitionFeature = features.Get<IPartitionFeature>();
        var services = features.Get<IServiceProvidersFeature>();
        var response = features.GetRequiredFeature<IHttpResponseFeature>();
        var serverResponse = response is PartitionResponseFeature partitionResponse ? partitionResponse.Inner : response;

        // The owner follows the request until its response completes (callbacks registered on the owner included).
        var moved = owner.Track(context, serverResponse, admission.Lease);
        try
        {
            // The owner's own services, then the request's application scope (through the services it had).
            features.Set<IPartitionFeature>(owner);
            PartitionTracing.Moved(context, owner);
            moved.Services.InitializeForRequest(owner.Container, context, services);
            features.Set<IServiceProvidersFeature>(moved.Services);

            // Response callbacks run on the owner: on its thread, or, free-threaded, anywhere but a partition's thread.
            if (owner.Thread is null && PartitionThread.Current is null)
            {
                features.Set(serverResponse);
            }
            else
            {
                moved.Response.Initialize(serverResponse, owner);
                features.Set<IHttpResponseFeature>(moved.Response);
            }

            // Awaited with the current partition's context, so that the request comes back to it afterwards. Admitted
            // to run at once (already on the owner's thread: a request resumed there after a slot move), it holds no
            // place in the queue to give up.
            await moved.EndOnFailure(owner.InvokeAsync(s_runEndpoint, new EndpointCall(endpoint, context, owner), dequeues: !admission.RunsInline)).ConfigureAwait(true);
        }
        finally
        {
            features.Set(partitionFeature);
            features.Set(services);
            features.Set(response);
        }
    }

    private static async Task<bool> RunEndpoint(EndpointCall call)
    {
        // The owner's scope, inside the connection partition's: the innermost scope names the partition running the code.
        Task endpoint;
        using (call.Owner.Runtime.BeginLogScope(call.Owner))
        {
            endpoint = call.Endpoint(call.Context);
        }

        await endpoint.ConfigureAwait(false);
        return true;
    }

    private sealed record EndpointCall(RequestDelegate Endpoint, HttpContext Context, PartitionInstance Owner);
}

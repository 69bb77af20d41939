using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.ObjectPool;
using PartitionedHosting.DependencyInjection;

namespace PartitionedHosting.Partitions;

/// <summary>
/// A request running in an instance, until its response has completed: its partition state (its services, its response
/// feature) and its place among the requests a drain that times out aborts, pooled together so that a request
/// allocates none of them.
/// </summary>
/// <remarks>
/// Following a request costs no lock: every node the pool ever made is listed once (see <see cref="InFlightRequests"/>),
/// and a node says itself whether it runs and for which instance. An abort claims a running node before it aborts its
/// request; a request that ends while the claim is held leaves its end to the abort, which finishes it when it lets go.
/// So a request is never aborted after it ended (its context is then the server's again, reused for the connection's
/// next request), and neither side waits for the other.
/// </remarks>
internal sealed class InFlightRequest : IResettable
{
    // EndPending: the request ended while an abort held the node; the aborter finishes it when it lets go.
    private const int Free = 0, Running = 1, Aborting = 2, EndPending = 3;

    public static readonly Func<object, Task> OnResponseCompleted = static state =>
    {
        // Last of the response's callbacks: the request's application scope goes now, then the request itself.
        var request = (InFlightRequest)state;
        var disposal = request.Services.DisposeApplicationScopeAsync();
        if (!disposal.IsCompletedSuccessfully)
        {
            return EndAfterAsync(request, disposal);
        }

        request.End();
        return Task.CompletedTask;
    };

    private static async Task EndAfterAsync(InFlightRequest request, ValueTask disposal)
    {
        try
        {
            await disposal.ConfigureAwait(false);
        }
        finally
        {
            request.End();
        }
    }

    private HttpContext? _context;
    private ConnectionPartition? _connection;
    private int _state;
    private EndOnce? _endOnce;

    public PartitionInstance Instance { get; private set; } = null!;

    public RateLimitLease? Lease { get; private set; }

    /// <summary>The request's services: the partition's own, then the application's.</summary>
    public PartitionServiceProvider Services { get; } = new();

    /// <summary>The request's response feature in a single-threaded partition.</summary>
    public Dispatch.PartitionResponseFeature Response { get; } = new();

    /// <summary>
    /// Starts following a request admitted by <paramref name="instance"/>, until <paramref name="serverResponse"/>'s
    /// <c>OnCompleted</c> callbacks run (last of them, registered first), or, under a server that runs none for a request
    /// whose pipeline failed (TestServer), until that failure (see <see cref="EndOnFailure"/>).
    /// </summary>
    public void Start(PartitionInstance instance, HttpContext context, IHttpResponseFeature serverResponse, RateLimitLease? lease)
    {
        Instance = instance;
        _context = context;
        Lease = lease;
        if (instance.Runtime.ServerSkipsOnCompletedOnFailure)
        {
            _endOnce = new EndOnce(this);
            serverResponse.OnCompleted(EndOnce.OnResponseCompleted, _endOnce);
        }
        else
        {
            _endOnce = null;
            serverResponse.OnCompleted(OnResponseCompleted, this);
        }

        // Published last: an abort that sees the node running sees its instance and context.
        Volatile.Write(ref _state, Running);
    }

    /// <summary>
    /// Has <paramref name="connection"/> name the request's instance until the request ends, when no other request of
    /// the connection does (see <see cref="ConnectionPartition"/>).
    /// </summary>
    public bool TryServe(ConnectionPartition connection)
    {
        if (!connection.TryServe(Instance))
        {
            return false;
        }

        _connection = connection;
        return true;
    }

    /// <summary>Whether <see cref="EndOnFailure"/> ends the request when its pipeline fails.</summary>
    public bool EndsOnFailure => _endOnce is not null;

    /// <summary>
    /// <paramref name="pipeline"/>, the request's, which also ends the request when it fails under a server that then
    /// runs no <c>OnCompleted</c> callbacks (TestServer: <c>WebApplicationFactory</c>'s tests of endpoints that throw);
    /// elsewhere <paramref name="pipeline"/> itself. A caller turns a pipeline that throws at once into a failed one
    /// when <see cref="EndsOnFailure"/>.
    /// </summary>
    public Task EndOnFailure(Task pipeline) =>
        _endOnce is not { } end || pipeline.IsCompletedSuccessfully ? pipeline : EndOnFailureAsync(pipeline, end);

    private static async Task EndOnFailureAsync(Task pipeline, EndOnce end)
    {
        try
        {
            await pipeline.ConfigureAwait(false);
        }
        catch
        {
            await end.RunAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Aborts the request if the node follows one of <paramref name="instance"/>; true when it did.</summary>
    public bool TryAbort(PartitionInstance instance)
    {
        if (Volatile.Read(ref _state) != Running || Instance != instance ||
            Interlocked.CompareExchange(ref _state, Aborting, Running) != Running)
        {
            return false;
        }

        // Claimed: the request cannot end meanwhile. Read again, since the node may have ended and started for another
        // instance between the first read and the claim.
        var aborted = Instance == instance;
        if (aborted)
        {
            _context!.Abort();
        }

        // A server may run the abort's callbacks inline (TestServer cancels RequestAborted on this thread), and the
        // request may end in them: then its end was left to this abort.
        if (Interlocked.CompareExchange(ref _state, Running, Aborting) == EndPending)
        {
            Volatile.Write(ref _state, Free);
            Finish();
        }

        return aborted;
    }

    /// <summary>The request's response has completed: its admission is released and the node goes back to the pool.</summary>
    private void End()
    {
        while (true)
        {
            var state = Interlocked.CompareExchange(ref _state, Free, Running);
            if (state == Running)
            {
                Finish();
                return;
            }

            // An abort holds the node (perhaps on this very thread, running the abort's callbacks): it finishes it.
            if (state == Aborting && Interlocked.CompareExchange(ref _state, EndPending, Aborting) == Aborting)
            {
                return;
            }
        }
    }

    private void Finish()
    {
        var instance = Instance;
        var lease = Lease;
        _connection?.EndServing();
        InFlightRequests.Return(this);
        instance.OnRequestCompleted(lease);
    }

    public bool TryReset()
    {
        Services.ResetForPool();
        Response.Reset();
        Instance = null!;
        _context = null;
        _connection = null;
        Lease = null;
        return true;
    }

    /// <summary>
    /// A request's end under a server that may not run its <c>OnCompleted</c> callbacks: by the callback or by the
    /// pipeline's failure, whichever comes first, once (a node is pooled: a second end would end its next request).
    /// </summary>
    private sealed class EndOnce(InFlightRequest request)
    {
        public static readonly Func<object, Task> OnResponseCompleted = static state => ((EndOnce)state).RunAsync();

        private int _ended;

        public Task RunAsync() => Interlocked.Exchange(ref _ended, 1) == 0 ? InFlightRequest.OnResponseCompleted(request) : Task.CompletedTask;
    }
}

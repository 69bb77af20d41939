using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.ObjectPool;
using PartitionedHosting.DependencyInjection;

namespace PartitionedHosting.Partitions;

/// <summary>
/// A request running in an instance, until its response has completed: the node of the instance's in-flight list and
/// the request's partition state (its services, its response feature), pooled together so that a request allocates
/// none of them.
/// </summary>
internal sealed class InFlightRequest : InFlightWork, IResettable
{
    public static readonly Func<object, Task> OnResponseCompleted = static state =>
    {
        // Last of the response's callbacks: the request's application scope goes now, then the request itself.
        var request = (InFlightRequest)state;
        var disposal = request.Services.DisposeApplicationScopeAsync();
        if (!disposal.IsCompletedSuccessfully)
        {
            return EndAfterAsync(request, disposal);
        }

        request.Instance.OnWorkEnded(request, request.Lease);
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
            request.Instance.OnWorkEnded(request, request.Lease);
        }
    }

    private HttpContext? _context;

    public PartitionInstance Instance { get; private set; } = null!;

    public RateLimitLease? Lease { get; private set; }

    /// <summary>The request's services: the partition's own, then the application's.</summary>
    public PartitionServiceProvider Services { get; } = new();

    /// <summary>The request's response feature in a single-threaded partition.</summary>
    public Dispatch.PartitionResponseFeature Response { get; } = new();

    public void Initialize(PartitionInstance instance, HttpContext context, RateLimitLease? lease)
    {
        Instance = instance;
        _context = context;
        Lease = lease;
    }

    public override void Abort() => _context?.Abort();

    public bool TryReset()
    {
        Services.ResetForPool();
        Response.Reset();
        Instance = null!;
        _context = null;
        Lease = null;
        Previous = null;
        Next = null;
        return true;
    }
}

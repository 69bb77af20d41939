namespace PartitionedHosting;

/// <summary>
/// One application partition: its identity, its execution mode, its services and its current load.
/// </summary>
/// <remarks>
/// Inject it in request code (endpoint parameters, controller constructors, <c>InvokeAsync</c> parameters) to learn
/// which partition runs the request; <c>HttpContext.Features.Get&lt;IPartitionFeature&gt;().Partition</c> is the same object.
/// </remarks>
public interface IPartitionContext
{
    /// <summary>
    /// The partition's index, from 0 to <see cref="PartitionCount"/> - 1 (a partition that a resize is removing keeps
    /// its index while it drains).
    /// </summary>
    int Id { get; }

    /// <summary>The number of partitions in the process now: a resize (<see cref="IPartitionManager.ResizeAsync"/>) changes it.</summary>
    int PartitionCount { get; }

    /// <summary>How the partition runs request code.</summary>
    ExecutionMode Mode { get; }

    /// <summary>The partition's instance: 1, then one more each time the partition is recycled.</summary>
    int Generation { get; }

    /// <summary>The partition's health.</summary>
    PartitionState State { get; }

    /// <summary>
    /// The partition's services: its partition-local services, and the shared ones of the application.
    /// Create a scope from it (<c>CreateAsyncScope()</c>) for scoped services outside a request.
    /// </summary>
    IServiceProvider Services { get; }

    /// <summary>The number of open connections assigned to the partition.</summary>
    int ActiveConnections { get; }

    /// <summary>The number of requests the partition has admitted and not yet finished.</summary>
    int ActiveRequests { get; }

    /// <summary>The number of admitted requests waiting for the partition's thread to start them.</summary>
    int QueueLength { get; }
}

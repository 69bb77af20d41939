using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace PartitionedHosting.Yarp;

/// <summary>
/// A YARP load-balancing policy (<c>LoadBalancingPolicy: "PartitionKey"</c>) that sends a keyed request to the node
/// owning its key's slot, computed from the same configuration as the nodes (<c>PartitionedHosting:Keys</c> and
/// <c>PartitionedHosting:Cluster:Nodes</c>), so that the node serves it without a further hop.
/// </summary>
/// <remarks>
/// <para>
/// A destination is a node when its address, or its metadata <c>PartitionedHosting.Node</c>, is the node's name in
/// <c>Cluster:Nodes</c>. A request that no key rule matches goes to the available destinations in turn.
/// </para>
/// <para>
/// When the owner is down (not among the available destinations, by YARP's health checks), the policy fails closed:
/// no destination, so YARP answers 503, with <c>Retry-After</c>; the key is never served by another node, whose state
/// would diverge. <c>UsePartitionOwnerFailClosed</c> does the same for a
/// destination that turns out to be unreachable before health checks notice.
/// </para>
/// </remarks>
public sealed class PartitionKeyLoadBalancingPolicy : ILoadBalancingPolicy
{
    /// <summary>The policy's name in YARP's cluster configuration.</summary>
    public const string PolicyName = "PartitionKey";

    /// <summary>The destination metadata that names the node a destination is, when its address is not that name.</summary>
    public const string NodeMetadata = "PartitionedHosting.Node";

    internal const string RetryAfterSeconds = "1";

    private readonly IOptionsMonitor<PartitionKeyRoutingOptions> _options;
    private Routing? _routing;
    private int _next;

    /// <summary>Creates the policy.</summary>
    /// <param name="options">The key rules and the cluster's nodes.</param>
    public PartitionKeyLoadBalancingPolicy(IOptionsMonitor<PartitionKeyRoutingOptions> options)
    {
        _options = options;
        options.OnChange(_ => _routing = null);
    }

    /// <inheritdoc/>
    public string Name => PolicyName;

    /// <inheritdoc/>
    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (!TryFindOwner(context, availableDestinations, out var owner))
        {
            return availableDestinations.Count == 0 ? null : availableDestinations[(int)((uint)Interlocked.Increment(ref _next) % (uint)availableDestinations.Count)];
        }

        if (owner is null)
        {
            // The owner is down: fail closed.
            context.Response.Headers[HeaderNames.RetryAfter] = RetryAfterSeconds;
        }

        return owner;
    }

    /// <summary>
    /// Whether the request is keyed; if so, <paramref name="owner"/> is its owner node among
    /// <paramref name="destinations"/>, or <see langword="null"/> when the owner is not among them (down).
    /// </summary>
    internal bool TryFindOwner(HttpContext context, IReadOnlyList<DestinationState> destinations, out DestinationState? owner)
    {
        owner = null;
        var routing = _routing ??= new Routing(_options.CurrentValue);
        if (!routing.Rules.TryGetKey(context, out var key))
        {
            return false;
        }

        var node = routing.Cluster.GetNode(PartitionKeySlots.GetSlot(key));
        context.Items[OwnerItem] = routing.Cluster.Nodes[node];
        foreach (var destination in destinations)
        {
            if (routing.NodeOf(destination) == node)
            {
                owner = destination;
                break;
            }
        }

        return true;
    }

    /// <summary>The item of a keyed request's <c>HttpContext.Items</c> that names its owner node.</summary>
    public const string OwnerItem = "PartitionedHosting.Owner";

    private sealed class Routing(PartitionKeyRoutingOptions options)
    {
        private readonly System.Runtime.CompilerServices.ConditionalWeakTable<DestinationState, object> _nodes = [];

        public PartitionKeyRules Rules { get; } = new(options.Keys);

        public PartitionCluster Cluster { get; } = options.Cluster.Nodes.Count > 0
            ? new([.. options.Cluster.Nodes])
            : throw new InvalidOperationException("PartitionedHosting:Cluster:Nodes is empty: the PartitionKey load-balancing policy needs the list of every node, as the nodes have it.");

        /// <summary>The node a destination is (by metadata, else by address); -1 when it is none.</summary>
        public int NodeOf(DestinationState destination) => (int)_nodes.GetValue(destination, d =>
        {
            var config = d.Model.Config;
            var name = config.Metadata?.GetValueOrDefault(NodeMetadata) ?? config.Address;
            return Cluster.IndexOf(name);
        });
    }
}

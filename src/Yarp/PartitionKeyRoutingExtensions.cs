using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Net.Http.Headers;
using PartitionedHosting.Yarp;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the <see cref="PartitionKeyLoadBalancingPolicy"/> and its fail-closed step.</summary>
public static class PartitionKeyRoutingExtensions
{
    /// <summary>
    /// Adds the <c>PartitionKey</c> load-balancing policy, configured from the <c>PartitionedHosting</c> section (the
    /// nodes' own: <c>Keys</c> and <c>Cluster:Nodes</c>). Use it in a YARP cluster whose destinations are the nodes.
    /// </summary>
    /// <param name="builder">The reverse proxy's builder.</param>
    /// <returns>The builder.</returns>
    public static IReverseProxyBuilder AddPartitionKeyLoadBalancing(this IReverseProxyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<PartitionKeyRoutingOptions>()
            .BindConfiguration("PartitionedHosting")
            .Validate(o => o.Cluster.Nodes.Count > 0, "PartitionedHosting:Cluster:Nodes is empty; allowed values: the list of every node's name, as the nodes have it.")
            .Validate(o => o.Keys.All(k => k.Pattern.StartsWith('/') && k.Name.Length > 0), "PartitionedHosting:Keys: every key needs a Pattern starting with '/' and a Name.")
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoadBalancingPolicy, PartitionKeyLoadBalancingPolicy>());
        return builder;
    }

    /// <summary>
    /// In the proxy's pipeline (<c>MapReverseProxy(proxy =&gt; ...)</c>), first: for a cluster whose policy is
    /// <c>PartitionKey</c>, narrows a keyed request's available destinations to its owner node, so that it reaches the
    /// owner even where YARP does not ask the policy (a cluster with one available destination, while health checks
    /// have the others down); answers 503 with <c>Retry-After</c> at once when the owner is down; and turns a failed
    /// connection to the owner (before health checks notice) from 502 into 503 with <c>Retry-After</c>. A keyed
    /// request is never sent to another node.
    /// </summary>
    /// <param name="proxy">The proxy's pipeline.</param>
    /// <returns>The pipeline.</returns>
    public static IReverseProxyApplicationBuilder UsePartitionOwnerFailClosed(this IReverseProxyApplicationBuilder proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        var policy = proxy.ApplicationServices.GetServices<ILoadBalancingPolicy>().OfType<PartitionKeyLoadBalancingPolicy>().FirstOrDefault()
            ?? throw new InvalidOperationException("UsePartitionOwnerFailClosed needs AddPartitionKeyLoadBalancing() on the reverse proxy's builder.");
        proxy.Use(async (context, next) =>
        {
            var feature = context.GetReverseProxyFeature();
            if (feature.Cluster.Config.LoadBalancingPolicy == PartitionKeyLoadBalancingPolicy.PolicyName &&
                policy.TryFindOwner(context, feature.AvailableDestinations, out var owner))
            {
                if (owner is null)
                {
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    context.Response.Headers[HeaderNames.RetryAfter] = PartitionKeyLoadBalancingPolicy.RetryAfterSeconds;
                    return;
                }

                feature.AvailableDestinations = [owner];
            }

            await next(context);
            if (context.Items.ContainsKey(PartitionKeyLoadBalancingPolicy.OwnerItem) &&
                context.Features.Get<IForwarderErrorFeature>() is { Error: ForwarderError.Request or ForwarderError.RequestTimedOut } &&
                !context.Response.HasStarted)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers[HeaderNames.RetryAfter] = PartitionKeyLoadBalancingPolicy.RetryAfterSeconds;
            }
        });
        return proxy;
    }
}

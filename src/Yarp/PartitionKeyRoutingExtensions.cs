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
    /// In the proxy's pipeline (<c>MapReverseProxy(proxy =&gt; ...)</c>): a keyed request whose owner node could not be
    /// reached (connection refused, before health checks mark it down) gets 503 with <c>Retry-After</c> instead of 502,
    /// as when the owner is known to be down. The request is never sent to another node.
    /// </summary>
    /// <param name="proxy">The proxy's pipeline.</param>
    /// <returns>The pipeline.</returns>
    public static IReverseProxyApplicationBuilder UsePartitionOwnerFailClosed(this IReverseProxyApplicationBuilder proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        proxy.Use(async (context, next) =>
        {
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

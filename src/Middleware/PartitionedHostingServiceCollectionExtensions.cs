using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PartitionedHosting;
using PartitionedHosting.Affinity;
using PartitionedHosting.Configuration;
using PartitionedHosting.CrossPartition;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Dispatch;
using PartitionedHosting.Distribution;
using PartitionedHosting.Mvc;
using PartitionedHosting.Partitions;
using PartitionedHosting.SignalR;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the partition runtime, which partitions requests in any ASP.NET Core server.</summary>
public static class PartitionedHostingServiceCollectionExtensions
{
    /// <summary>
    /// Adds the partition runtime: partitions built from the <c>PartitionedHosting</c> configuration section, and a
    /// middleware, first in the pipeline, that runs every request in a partition. Without the partitioned server
    /// (under <c>TestServer</c>, or another server), each request is assigned a partition as if it were a connection.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configurePartition">Describes the partition-local services; may be <see langword="null"/>.</param>
    /// <returns>The application's services, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A partition-local registration is not supported.</exception>
    public static IServiceCollection AddPartitionedHostingCore(this IServiceCollection services, Action<IPartitionBuilder>? configurePartition = null)
    {
        ArgumentNullException.ThrowIfNull(services);

        services.AddOptions<PartitionedHostingOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<PartitionedHostingOptions>, PartitionedHostingOptionsSetup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PartitionedHostingOptions>, PartitionedHostingOptionsValidator>());

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionDistributionPolicy, RoundRobinPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionDistributionPolicy, LeastConnectionsPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionDistributionPolicy, PowerOfTwoChoicesPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionDistributionPolicy, ClientAddressHashPolicy>());
        services.TryAddSingleton<ConnectionDistributionPolicyRegistry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPartitionKeyPolicy, JumpHashKeyPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPartitionKeyPolicy, RendezvousKeyPolicy>());
        services.TryAddSingleton<PartitionKeyPolicyRegistry>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IRandomFactory, SharedRandomFactory>();

        GetOrAddRegistry(services);
        services.AddMetrics();
        services.TryAddSingleton<PartitionedHostingInstruments>();
        services.TryAddSingleton<PartitionRuntime>();
        services.TryAddSingleton<IPartitionManager>(sp => sp.GetRequiredService<PartitionRuntime>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, PartitionRuntimeLifecycle>());
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, PartitionedHostingStartupFilter>());
        services.TryAddSingleton<AffinityDispatcher>();
        services.TryAddSingleton<PartitionKeyCatalog>();
        services.TryAddSingleton<UnpartitionedEndpoints>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, PartitionEndpointMatcherPolicy>());
        services.TryAddSingleton<IPartitionInvoker, PartitionInvoker>();

        // Framework seams that call back into request code outside the middleware pipeline or after their own
        // ConfigureAwait(false): MVC's formatters enumerating async streams, and SignalR running hubs.
        services.TryAddEnumerable(ServiceDescriptor.Transient<IConfigureOptions<MvcOptions>, PartitionMvcOptionsSetup>());
        services.RemoveAll(typeof(HubConnectionHandler<>));
        services.AddSingleton(typeof(HubConnectionHandler<>), typeof(PartitionHubConnectionHandler<>));

        if (configurePartition is not null)
        {
            services.ConfigurePartitions(configurePartition);
        }

        return services;
    }

    /// <summary>
    /// Adds partition-local services. Call it after <c>AddPartitionedHosting</c>, for example from a test's
    /// <c>ConfigureTestServices</c> to replace a partition-local service while keeping one instance per partition.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configurePartition">Describes partition-local services.</param>
    /// <returns>The application's services, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A partition-local registration is not supported.</exception>
    public static IServiceCollection ConfigurePartitions(this IServiceCollection services, Action<IPartitionBuilder> configurePartition)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configurePartition);

        GetOrAddRegistry(services).Add(configurePartition);
        return services;
    }

    private static PartitionServiceRegistry GetOrAddRegistry(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(PartitionServiceRegistry) && descriptor.ImplementationInstance is PartitionServiceRegistry existing)
            {
                return existing;
            }
        }

        var registry = new PartitionServiceRegistry(services);
        services.AddSingleton(registry);
        return registry;
    }
}

using System.Collections.Frozen;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting.DependencyInjection;

/// <summary>
/// One partition's own container: the partition-local registrations, built into a service provider of their own,
/// behind <see cref="PartitionServiceProvider"/>, which resolves everything else from the application.
/// </summary>
/// <remarks>
/// Microsoft's container cannot fall back to another container for constructor parameters, and it disposes whatever
/// a factory returns; so the partition's container holds only partition-local services, each created by a factory
/// that takes its dependencies from a <see cref="PartitionServiceProvider"/>. Shared services are never created,
/// owned or disposed by a partition.
/// </remarks>
internal sealed class PartitionContainer : IServiceScopeFactory, IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    public PartitionContainer(
        IPartitionContext partition,
        IReadOnlyList<ServiceDescriptor> descriptors,
        FrozenDictionary<Type, bool> localServices,
        IServiceProvider applicationServices)
    {
        Partition = partition;
        LocalServices = localServices;
        ApplicationServices = applicationServices;
        ApplicationScopeFactory = applicationServices.GetRequiredService<IServiceScopeFactory>();
        ApplicationIsService = applicationServices.GetService<IServiceProviderIsService>();
        Services = new PartitionServiceProvider(this);

        IServiceCollection services = new ServiceCollection();
        foreach (var descriptor in descriptors)
        {
            if (localServices.ContainsKey(descriptor.ServiceType))
            {
                services.Add(Rewrite(descriptor));
            }
        }

        services.AddSingleton(partition);
        services.AddScoped<ScopeLink>();
        _provider = services.BuildServiceProvider();
    }

    /// <summary>The partition instance that owns the container.</summary>
    public IPartitionContext Partition { get; }

    public FrozenDictionary<Type, bool> LocalServices { get; }

    public IServiceProvider ApplicationServices { get; }

    public IServiceScopeFactory ApplicationScopeFactory { get; }

    public IServiceProviderIsService? ApplicationIsService { get; }

    /// <summary>The partition's services outside any scope.</summary>
    public PartitionServiceProvider Services { get; }

    /// <summary>The provider of partition-local services only.</summary>
    public IServiceProvider LocalProvider => _provider;

    public IServiceScope CreateScope() => new PartitionServiceScope(this);

    public IServiceScope CreateLocalScope(PartitionServiceProvider owner)
    {
        var scope = _provider.CreateScope();
        scope.ServiceProvider.GetRequiredService<ScopeLink>().Provider = owner;
        return scope;
    }

    public ValueTask DisposeAsync() => _provider.DisposeAsync();

    private ServiceDescriptor Rewrite(ServiceDescriptor descriptor)
    {
        var create = descriptor.ImplementationFactory ?? CreateActivator(descriptor.ImplementationType!);
        return descriptor.Lifetime == ServiceLifetime.Singleton
            ? ServiceDescriptor.Describe(descriptor.ServiceType, _ => create(Services), ServiceLifetime.Singleton)
            : ServiceDescriptor.Describe(
                descriptor.ServiceType,
                local => create(local.GetRequiredService<ScopeLink>().Provider ?? Services),
                descriptor.Lifetime);
    }

    private static Func<IServiceProvider, object> CreateActivator(Type implementationType)
    {
        // A compiled factory when the constructor is unambiguous; otherwise let ActivatorUtilities pick, per instance,
        // the longest constructor whose parameters are all services, as the container itself would.
        if (implementationType.GetConstructors(BindingFlags.Public | BindingFlags.Instance).Length == 1)
        {
            var factory = ActivatorUtilities.CreateFactory(implementationType, Type.EmptyTypes);
            return services => factory(services, null);
        }

        return services => ActivatorUtilities.CreateInstance(services, implementationType);
    }

    /// <summary>The <see cref="PartitionServiceProvider"/> that owns a partition-local scope.</summary>
    internal sealed class ScopeLink
    {
        public PartitionServiceProvider? Provider { get; set; }
    }
}

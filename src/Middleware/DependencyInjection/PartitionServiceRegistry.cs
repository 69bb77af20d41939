using System.Collections.Frozen;
using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting.DependencyInjection;

/// <summary>
/// The partition-local registrations, kept apart from the application's container, from which each partition builds
/// its own. For every partition-local type the application's container gets a stand-in registration, so that the
/// framework knows the type is a service (a minimal API parameter of that type is then bound from services) and so
/// that resolving it outside a partition fails with an error that says why.
/// </summary>
internal sealed class PartitionServiceRegistry
{
    private readonly List<ServiceDescriptor> _descriptors = [];
    private readonly IServiceCollection _applicationServices;

    public PartitionServiceRegistry(IServiceCollection applicationServices)
    {
        _applicationServices = applicationServices;
        AddStandIn(typeof(IPartitionContext));
    }

    public IReadOnlyList<ServiceDescriptor> Descriptors => _descriptors;

    public void Add(Action<IPartitionBuilder> configure)
    {
        var builder = new PartitionBuilder();
        configure(builder);

        var errors = new List<string>();
        foreach (var descriptor in builder.Services)
        {
            var service = descriptor.ServiceType;
            if (descriptor.IsKeyedService)
            {
                errors.Add($"{service}: keyed services cannot be partition-local; register them on the application's services.");
            }
            else if (service.IsGenericTypeDefinition)
            {
                errors.Add($"{service}: open generic services cannot be partition-local; register each closed type.");
            }
            else if (descriptor.ImplementationInstance is not null)
            {
                errors.Add($"{service}: an instance cannot be partition-local, because every partition must get its own; register a type or a factory, or register the instance on the application's services to share it.");
            }
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Invalid partition-local services:" + Environment.NewLine + "- " + string.Join(Environment.NewLine + "- ", errors));
        }

        foreach (var descriptor in builder.Services)
        {
            _descriptors.Add(descriptor);
            AddStandIn(descriptor.ServiceType);
        }
    }

    /// <summary>
    /// Builds the table of partition-local service types: <see langword="true"/> where every registration of the type
    /// is a singleton (resolved from the partition's container), <see langword="false"/> where a scope is needed.
    /// A type that the application's services registered again after the stand-in (as a test's
    /// <c>ConfigureTestServices</c> does to replace it) is shared, and resolved from the application.
    /// </summary>
    public FrozenDictionary<Type, bool> BuildLocalServiceTable()
    {
        var lastApplicationRegistration = new Dictionary<Type, ServiceDescriptor>();
        foreach (var descriptor in _applicationServices)
        {
            if (!descriptor.IsKeyedService)
            {
                lastApplicationRegistration[descriptor.ServiceType] = descriptor;
            }
        }

        var table = new Dictionary<Type, bool>
        {
            [typeof(IPartitionContext)] = true,
            [typeof(IEnumerable<IPartitionContext>)] = true,
        };
        foreach (var descriptor in _descriptors)
        {
            var service = descriptor.ServiceType;
            if (lastApplicationRegistration.TryGetValue(service, out var last) && last.ImplementationFactory?.Target is not StandIn)
            {
                continue;
            }

            var singleton = descriptor.Lifetime == ServiceLifetime.Singleton && (!table.TryGetValue(service, out var before) || before);
            table[service] = singleton;
            table[typeof(IEnumerable<>).MakeGenericType(service)] = singleton;
        }

        return table.ToFrozenDictionary();
    }

    private void AddStandIn(Type serviceType) =>
        _applicationServices.Add(ServiceDescriptor.Describe(serviceType, new StandIn(serviceType).Resolve, ServiceLifetime.Transient));

    private sealed class PartitionBuilder : IPartitionBuilder
    {
        public IServiceCollection Services { get; } = new ServiceCollection();
    }

    private sealed class StandIn(Type serviceType)
    {
        public object Resolve(IServiceProvider services) => throw new InvalidOperationException(
            $"'{serviceType}' is a partition-local service (IPartitionContext, or registered in the partition callback of AddPartitionedHosting), " +
            "and it was resolved from the application's shared container, where no partition is executing. Resolve it in " +
            "request code (HttpContext.RequestServices, endpoint parameters, controller constructors, middleware InvokeAsync " +
            "parameters) or from IPartitionContext.Services. A shared service, or a middleware constructor, cannot depend on it.");
    }
}

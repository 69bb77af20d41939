using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting;

/// <summary>Describes what every partition has of its own.</summary>
public interface IPartitionBuilder
{
    /// <summary>
    /// Partition-local services. Every partition builds its own container from these registrations, so a singleton
    /// registered here has one instance per partition, and a scoped one is created in the partition's request scope.
    /// They may depend on the application's shared services and on <see cref="IPartitionContext"/>.
    /// </summary>
    /// <remarks>
    /// Register types or factories: an instance (<c>AddSingleton(obj)</c>) cannot be per partition, and open generic
    /// and keyed registrations are not supported here; each is rejected when registered.
    /// </remarks>
    IServiceCollection Services { get; }
}

using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting.Server;

/// <summary>
/// Replaces registrations of a service with decorators, keeping each original registration under a private key so
/// that the container still creates (and disposes) the original exactly as it would have.
/// </summary>
internal static class ServiceDecoration
{
    public static void Decorate<TService>(IServiceCollection services, Func<IServiceProvider, TService, TService> decorate)
        where TService : class
    {
        for (var i = 0; i < services.Count; i++)
        {
            var original = services[i];
            if (original.ServiceType != typeof(TService) || original.IsKeyedService || original.ImplementationFactory?.Target is Decorated)
            {
                continue;
            }

            var key = new Decorated();
            services.Add(original switch
            {
                { ImplementationInstance: { } instance } => new ServiceDescriptor(typeof(TService), key, instance),
                { ImplementationFactory: { } factory } => new ServiceDescriptor(typeof(TService), key, (sp, _) => factory(sp), original.Lifetime),
                _ => new ServiceDescriptor(typeof(TService), key, original.ImplementationType!, original.Lifetime),
            });
            services[i] = ServiceDescriptor.Describe(typeof(TService), key.Create(decorate), original.Lifetime);
        }
    }

    private sealed class Decorated
    {
        public Func<IServiceProvider, object> Create<TService>(Func<IServiceProvider, TService, TService> decorate)
            where TService : class =>
            services => decorate(services, services.GetRequiredKeyedService<TService>(this));
    }
}

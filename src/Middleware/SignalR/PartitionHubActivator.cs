using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting.SignalR;

/// <summary>Activates hubs from a partition's services, as SignalR's default activator does from the application's.</summary>
internal sealed class PartitionHubActivator<THub>(IServiceProvider services) : IHubActivator<THub>
    where THub : Hub
{
    private static readonly ObjectFactory s_factory = ActivatorUtilities.CreateFactory(typeof(THub), Type.EmptyTypes);
    private bool _created;

    public static object New(IServiceProvider services) => new PartitionHubActivator<THub>(services);

    public THub Create()
    {
        // A hub registered as a service is the application's to create and dispose.
        if (services.GetService(typeof(THub)) is THub registered)
        {
            _created = false;
            return registered;
        }

        _created = true;
        return (THub)s_factory(services, null);
    }

    public void Release(THub hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        if (_created)
        {
            hub.Dispose();
        }
    }
}

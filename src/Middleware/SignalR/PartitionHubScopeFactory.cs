using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.SignalR;

/// <summary>
/// The scope factory of a hub's dispatcher: the scope of every hub invocation (and of <c>OnConnectedAsync</c> and
/// <c>OnDisconnectedAsync</c>) comes from the partition that runs the connection, so that hubs, hub filters and
/// <c>[FromServices]</c> parameters receive its partition-local services. Outside a partition (the dispatcher's own
/// start-up, an unpartitioned connection) the application's scope factory serves.
/// </summary>
internal sealed class PartitionHubScopeFactory(IServiceScopeFactory application) : IServiceScopeFactory
{
    private static readonly AsyncLocal<PartitionInstance?> s_partition = new();

    /// <summary>The partition running the current SignalR connection's application.</summary>
    public static PartitionInstance? CurrentPartition
    {
        get => s_partition.Value;
        set => s_partition.Value = value;
    }

    public IServiceScope CreateScope() =>
        CurrentPartition is { } partition ? new HubScope(partition.Container.CreateScope()) : application.CreateScope();

    /// <summary>
    /// A partition scope whose hub activators are built on the partition's services: SignalR's own activator is a
    /// shared service, which would otherwise take its services from the application's scope.
    /// </summary>
    private sealed class HubScope(IServiceScope partitionScope) : IServiceScope, IAsyncDisposable, IServiceProvider, ISupportRequiredService
    {
        private static readonly ConcurrentDictionary<Type, Func<IServiceProvider, object>?> s_activators = new();

        public IServiceProvider ServiceProvider => this;

        public object? GetService(Type serviceType)
        {
            var activator = s_activators.GetOrAdd(serviceType, static type =>
                type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IHubActivator<>)
                    ? typeof(PartitionHubActivator<>).MakeGenericType(type.GetGenericArguments()).GetMethod(nameof(PartitionHubActivator<Hub>.New))!.CreateDelegate<Func<IServiceProvider, object>>()
                    : null);
            return activator is null ? partitionScope.ServiceProvider.GetService(serviceType) : activator(partitionScope.ServiceProvider);
        }

        public object GetRequiredService(Type serviceType) =>
            GetService(serviceType) ?? throw new InvalidOperationException($"No service for type '{serviceType}' has been registered.");

        public void Dispose() => partitionScope.Dispose();

        public ValueTask DisposeAsync() => partitionScope is IAsyncDisposable scope ? scope.DisposeAsync() : ValueTask.CompletedTask;
    }
}

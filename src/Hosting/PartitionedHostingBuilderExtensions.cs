using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PartitionedHosting;
using PartitionedHosting.Partitions;
using PartitionedHosting.Server;
using PartitionedHosting.Transport;

namespace Microsoft.Extensions.Hosting;

/// <summary>Turns an ASP.NET Core application into a partitioned one.</summary>
public static class PartitionedHostingBuilderExtensions
{
    /// <summary>
    /// Runs the application in partitions: the server's connections are spread over several isolated application
    /// partitions inside the process, each with its own partition-local services and its execution mode, as the
    /// <c>PartitionedHosting</c> configuration section says. Everything else about the application is unchanged.
    /// </summary>
    /// <typeparam name="TBuilder">The application builder, for example <c>WebApplicationBuilder</c>.</typeparam>
    /// <param name="builder">The application builder.</param>
    /// <param name="configurePartition">
    /// Describes the partition-local services; every partition builds its own container from them. May be
    /// <see langword="null"/>: the application is then partitioned with no partition-local services.
    /// </param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">A partition-local registration is not supported.</exception>
    public static TBuilder AddPartitionedHosting<TBuilder>(this TBuilder builder, Action<IPartitionBuilder>? configurePartition = null)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        var services = builder.Services;
        services.AddPartitionedHostingCore(configurePartition);

        // A test host replaces IServer with TestServer after this; the decorators are then never created, and the
        // partitioning middleware alone assigns partitions. A TestServer registered before (UseTestServer, then this)
        // is left as it is too: it has no connections to assign, and GetTestServer() must find it.
        ServiceDecoration.Decorate<IServer>(services, static (sp, server) => PartitionRuntime.IsTestServer(server) ? server : new PartitionedServer(server, sp.GetRequiredService<PartitionRuntime>()));
        ServiceDecoration.Decorate<IConnectionListenerFactory>(services, static (sp, factory) => new PartitionedConnectionListenerFactory(
            factory,
            sp.GetRequiredService<PartitionRuntime>(),
            sp.GetRequiredService<IOptions<PartitionedHostingOptions>>(),
            new PartitionedSocketTransportFactory(
                sp.GetRequiredService<PartitionRuntime>(),
                sp.GetRequiredService<IOptions<SocketTransportOptions>>(),
                sp.GetService<IMemoryPoolFactory<byte>>(),
                sp.GetRequiredService<ILoggerFactory>())));
        return builder;
    }
}

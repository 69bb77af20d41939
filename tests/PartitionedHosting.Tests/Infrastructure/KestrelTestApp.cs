using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>
/// A partitioned application on real Kestrel, bound to 127.0.0.1 on an ephemeral port, for functional tests with
/// real clients. Every wait it offers is bounded.
/// </summary>
internal sealed class KestrelTestApp : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly WebApplication _app;

    private KestrelTestApp(WebApplication app, IReadOnlyList<Uri> addresses)
    {
        _app = app;
        Addresses = addresses;
    }

    /// <summary>The first address the server listens on.</summary>
    public Uri Address => Addresses[0];

    /// <summary>Every address the server listens on, the test's own first.</summary>
    public IReadOnlyList<Uri> Addresses { get; }

    public IServiceProvider Services => _app.Services;

    public PartitionRuntime Runtime => _app.Services.GetRequiredService<PartitionRuntime>();

    public static async Task<KestrelTestApp> StartAsync(
        IDictionary<string, string?> settings,
        Action<WebApplication> map,
        Action<IPartitionBuilder>? configurePartition = null,
        Action<WebApplicationBuilder>? configure = null,
        HttpProtocols protocols = HttpProtocols.Http1,
        string environment = "Development")
    {
        var app = Build(settings, map, configurePartition, configure, protocols, environment);
        await app.StartAsync().WaitAsync(Timeout);
        var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
        return new KestrelTestApp(app, [.. addresses.Select(a => new Uri(a))]);
    }

    public static WebApplication Build(
        IDictionary<string, string?> settings,
        Action<WebApplication> map,
        Action<IPartitionBuilder>? configurePartition = null,
        Action<WebApplicationBuilder>? configure = null,
        HttpProtocols protocols = HttpProtocols.Http1,
        string environment = "Development")
    {
        // Development turns on the container's scope and build validation, which partitions must pass too, and the
        // escape detector.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = environment });
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter("PartitionedHosting", LogLevel.Warning);

        // PARTITIONED_HOSTING_TEST_LOGS=Debug (or another level) shows the server's logs while a test is debugged.
        if (Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("PARTITIONED_HOSTING_TEST_LOGS"), out var level))
        {
            builder.Logging.AddSimpleConsole().SetMinimumLevel(level);
        }
        builder.Configuration.AddInMemoryCollection(settings);

        // Runs the functional tests over the partitioned transport too (see .ci/run).
        if (Environment.GetEnvironmentVariable("PARTITIONED_HOSTING_TEST_TRANSPORT") is { Length: > 0 } transport && !settings.ContainsKey("PartitionedHosting:Transport"))
        {
            builder.Configuration["PartitionedHosting:Transport"] = transport;
        }
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = protocols));
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.AddPartitionedHosting(configurePartition);
        configure?.Invoke(builder);

        var app = builder.Build();
        map(app);
        return app;
    }

    /// <summary>A client on one keep-alive connection, or on a new connection for every request.</summary>
    public HttpClient CreateClient(bool newConnectionPerRequest = false, Version? version = null, Uri? address = null)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1, PooledConnectionLifetime = System.Threading.Timeout.InfiniteTimeSpan };
        var client = new HttpClient(handler) { BaseAddress = address ?? Address, Timeout = Timeout };
        client.DefaultRequestHeaders.ConnectionClose = newConnectionPerRequest;
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return client;
    }

    public Task StopAsync() => _app.StopAsync().WaitAsync(Timeout);

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(Timeout);
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }

    /// <summary>A TCP port of 127.0.0.1 that was free a moment ago, for a test that must name its port before it starts.</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits until <paramref name="condition"/> holds, failing the test after <see cref="Timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(10);
        }
    }
}

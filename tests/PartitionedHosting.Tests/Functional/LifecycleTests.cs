using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// Replacement, recycle, drain and shutdown account for every request, connection and thread: on real Kestrel, with
/// the partition runtime's clock faked where a threshold decides.
/// </summary>
public sealed class LifecycleTests
{
    [Fact]
    public async Task AStuckPartitionReplaced_OverThePartitionedTransport_ItsOtherOpenConnectionsMoveToTheNewInstance_AndNoneLeaks()
    {
        var time = new FakeTimeProvider();
        using var release = new ManualResetEventSlim();
        var settings = StallSettings("Partitioned");
        await using var app = await StartAsync(settings, time, release);
        var partition = app.Runtime.Partitions[0];
        using var stuck = await ClientOnPartitionAsync(app, "0 1");
        using var other = await ClientOnPartitionAsync(app, "0 1");
        try
        {
            var blocking = stuck.GetStringAsync("/block");
            await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 1, "partition 0 is blocked");
            await ReplaceStalledAsync(app, time);

            // The other connection was accepted by generation 1: its requests are now served by generation 2.
            Assert.Equal("0 2", await other.GetStringAsync("/partition").WaitAsync(TimeSpan.FromSeconds(8)));

            release.Set();
            Assert.Equal("released", await blocking.WaitAsync(KestrelTestApp.Timeout));
        }
        finally
        {
            release.Set();
        }

        // Closed, every connection is disposed: its loops ended, wherever they ran.
        stuck.Dispose();
        other.Dispose();
        await KestrelTestApp.WaitUntilAsync(() => partition.ActiveConnections == 0, "every connection of partition 0 is disposed");
    }

    [Fact]
    public async Task RequestsQueuedBehindAStuckPartition_StartOverOnItsReplacement_InsteadOfHanging()
    {
        var time = new FakeTimeProvider();
        using var release = new ManualResetEventSlim();
        await using var app = await StartAsync(StallSettings("Kestrel"), time, release);
        var partition = app.Runtime.Partitions[0];
        using var stuck = await ClientOnPartitionAsync(app, "0 1");
        var queued = new List<HttpClient>();
        for (var i = 0; i < 4; i++)
        {
            queued.Add(await ClientOnPartitionAsync(app, "0 1"));
        }

        try
        {
            var blocking = stuck.GetStringAsync("/block");
            await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 1, "partition 0 is blocked");

            // Admitted before the watchdog saw the stall: they wait in the stuck thread's queue.
            var waiting = queued.Select(c => c.GetStringAsync("/partition")).ToList();
            await KestrelTestApp.WaitUntilAsync(() => partition.QueueLength == 4, "four requests are queued behind the stuck one");
            await ReplaceStalledAsync(app, time);

            Assert.All(await Task.WhenAll(waiting).WaitAsync(KestrelTestApp.Timeout), answer => Assert.Equal("0 2", answer));
            release.Set();
            Assert.Equal("released", await blocking.WaitAsync(KestrelTestApp.Timeout));
        }
        finally
        {
            release.Set();
            queued.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task ARecycle_WaitsForTheResponsesCallbacksAndScopes_BeforeDisposingTheOldInstance()
    {
        var callback = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var order = new ConcurrentQueue<string>();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "SingleThreaded"),
            a => a.MapGet("/callback", (HttpContext context, Resource resource, ScopedResource scoped) =>
            {
                context.Response.OnCompleted(async () =>
                {
                    await callback.Task;

                    // Still usable: the instance that served the request is not disposed before its response is done.
                    order.Enqueue($"callback used generation {resource.Use()}");
                });
                return scoped.Generation.ToString(CultureInfo.InvariantCulture);
            }),
            partition =>
            {
                partition.Services.AddSingleton(sp => new Resource(sp.GetRequiredService<IPartitionContext>().Generation, order));
                partition.Services.AddScoped(sp => new ScopedResource(sp.GetRequiredService<IPartitionContext>().Generation, order));
            });
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        using var client = app.CreateClient();
        var old = app.Runtime.Partitions[0].Current;

        Assert.Equal("1", await client.GetStringAsync("/callback"));
        await manager.RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);

        // The response was sent, its callback has not run: the request still counts on the old instance.
        Assert.Equal(1, old.ActiveRequests);
        Assert.Empty(order);

        callback.SetResult();
        await KestrelTestApp.WaitUntilAsync(() => order.Count == 3, "the old instance is disposed");
        Assert.Equal(["callback used generation 1", "scoped of generation 1 disposed", "singleton of generation 1 disposed"], order);
    }

    [Fact]
    public async Task AStopDuringARecycle_DisposesTheInstanceStillStarting_AndEndsItsThread()
    {
        var starting = new TaskCompletionSource<IPartitionContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        var disposed = new ConcurrentQueue<int>();
        var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "SingleThreaded"),
            a => a.MapGet("/", () => "ok"),
            partition =>
            {
                partition.Services.AddSingleton<IPartitionLifecycleHook>(sp => new SlowSecondStart(starting));
                partition.Services.AddSingleton(sp => new Disposal(sp.GetRequiredService<IPartitionContext>().Generation, disposed));
            },
            b => b.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(5)));
        await using (app)
        {
            var first = app.Runtime.Partitions[0].Current;
            first.Services.GetRequiredService<Disposal>();
            var recycle = app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0);
            var second = (PartitionInstance)await starting.Task.WaitAsync(KestrelTestApp.Timeout);
            second.Services.GetRequiredService<Disposal>();

            await app.StopAsync();

            // The instance that was starting never served, and is gone with the host, thread and all.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => recycle.WaitAsync(KestrelTestApp.Timeout));
            Assert.Same(first, app.Runtime.Partitions[0].Current);
            Assert.Equal([1, 2], disposed.Order());
            await second.Thread!.Exited.WaitAsync(KestrelTestApp.Timeout);
            await first.Thread!.Exited.WaitAsync(KestrelTestApp.Timeout);
        }
    }

    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task ARequestInFlightDuringARecycle_SeesTheInstanceServingIt_NotTheNewOne(string mode)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await StartServingGenerationsAsync(mode, gate, HttpProtocols.Http1);
        using var client = app.CreateClient();
        var serving = client.GetStringAsync("/serving");
        await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions[0].ActiveRequests == 1, "the request is in flight");

        await app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
        gate.SetResult();

        Assert.Equal("1 1 1", await serving.WaitAsync(KestrelTestApp.Timeout));

        // The connection's next requests see the new instance: one outside the partitions, one served by it.
        Assert.Equal("2", await client.GetStringAsync("/outside").WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal("2 2 2", await client.GetStringAsync("/serving").WaitAsync(KestrelTestApp.Timeout));
    }

    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task Http2_AStreamOutsideThePartitions_SeesTheCurrentInstance_WhileAnotherStreamRunsOnTheOldOne(string mode)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await StartServingGenerationsAsync(mode, gate, HttpProtocols.Http2);
        using var client = app.CreateClient(version: HttpVersion.Version20);
        var serving = client.GetStringAsync("/serving");
        await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions[0].ActiveRequests == 1, "the request is in flight");

        await app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);

        // Another stream of the same connection, while the first still runs on the instance the recycle replaced.
        Assert.Equal("2", await client.GetStringAsync("/outside").WaitAsync(KestrelTestApp.Timeout));
        gate.SetResult();
        Assert.Equal("1 1 1", await serving.WaitAsync(KestrelTestApp.Timeout));
    }

    /// <summary>
    /// One partition: <c>/serving</c> waits for <paramref name="gate"/>, then answers the generation of the instance it
    /// got injected, read from <c>IPartitionFeature</c> and resolved from its services; <c>/outside</c>, outside the
    /// partitions, the generation <c>IPartitionFeature</c> names.
    /// </summary>
    private static Task<KestrelTestApp> StartServingGenerationsAsync(string mode, TaskCompletionSource gate, HttpProtocols protocols) =>
        KestrelTestApp.StartAsync(
            Settings.Partitioned(1, mode),
            a =>
            {
                a.MapGet("/serving", async (HttpContext context, IPartitionContext injected) =>
                {
                    await gate.Task.WaitAsync(KestrelTestApp.Timeout);
                    var feature = context.Features.GetRequiredFeature<IPartitionFeature>().Partition;
                    var resolved = context.RequestServices.GetRequiredService<IPartitionContext>();
                    return $"{injected.Generation} {feature.Generation} {resolved.Generation}";
                });
                a.MapGet("/outside", (HttpContext context) => context.Features.GetRequiredFeature<IPartitionFeature>().Partition.Generation).WithoutPartition();
            },
            protocols: protocols);

    [Fact]
    public async Task AnInstanceStillBusyAfterItsDrainTimeout_HasItsRequestsAborted_ThenStopsAndIsDisposed_WhileItsSuccessorKeepsItsOwn()
    {
        var time = new FakeTimeProvider();
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var abortedGenerations = new ConcurrentQueue<int>();
        var events = new ConcurrentQueue<string>();
        var settings = Settings.Partitioned(1, "SingleThreaded");
        settings["PartitionedHosting:Recycling:DrainTimeout"] = "00:00:10";
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => a.MapGet("/long", async (HttpContext context) =>
            {
                // A long poll, a stream or a WebSocket: it ends when the client or the server says so.
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    abortedGenerations.Enqueue(context.Features.GetRequiredFeature<IPartitionFeature>().Partition.Generation);
                    aborted.TrySetResult();
                }
            }),
            partition =>
            {
                partition.Services.AddSingleton<IPartitionLifecycleHook>(sp => new RecordingHook(events));
                partition.Services.AddSingleton(sp => new Disposal(sp.GetRequiredService<IPartitionContext>().Generation, new ConcurrentQueue<int>(), events));
            },
            b => b.Services.AddSingleton<TimeProvider>(time));
        using var client = app.CreateClient();
        var old = app.Runtime.Partitions[0].Current;
        old.Services.GetRequiredService<Disposal>();
        var request = client.GetAsync("/long");
        await KestrelTestApp.WaitUntilAsync(() => old.ActiveRequests == 1, "the long request runs");

        await app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);

        // A request of the instance that replaced it, running when the drain times out, is not the old one's to abort.
        var successor = app.Runtime.Partitions[0].Current;
        using var successorClient = app.CreateClient();
        var successorRequest = successorClient.GetAsync("/long");
        await KestrelTestApp.WaitUntilAsync(() => successor.ActiveRequests == 1, "the successor's long request runs");
        await KestrelTestApp.WaitUntilAsync(() => { time.Advance(TimeSpan.FromSeconds(1)); return aborted.Task.IsCompleted; }, "the drain times out and the request is aborted");

        await KestrelTestApp.WaitUntilAsync(() => events.Contains("disposed 1"), "the old instance is disposed");
        Assert.Equal(["started 1", "started 2", "stopping 1", "disposed 1"], events);
        await old.Thread!.Exited.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal([1], abortedGenerations);
        Assert.False(successorRequest.IsCompleted);

        // The clients leave. (HttpClient may have sent the aborted request again, on a new connection: to the successor.)
        client.CancelPendingRequests();
        successorClient.CancelPendingRequests();
        await Assert.ThrowsAnyAsync<Exception>(() => request.WaitAsync(KestrelTestApp.Timeout));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => successorRequest.WaitAsync(KestrelTestApp.Timeout));
        await KestrelTestApp.WaitUntilAsync(() => successor.ActiveRequests == 0, "the successor's requests end when their clients leave");
    }

    [Fact]
    public async Task Partitions_StartBeforeTheApplicationsHostedServices_AndStopAfterThem_RunningTheirStoppingHooks()
    {
        var events = new ConcurrentQueue<string>();
        var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapGet("/", () => "ok"),
            partition => partition.Services.AddSingleton<IPartitionLifecycleHook>(sp => new RecordingHook(events)),
            b => b.Services.AddHostedService(sp => new UsesPartitions(sp.GetRequiredService<IPartitionInvoker>(), events)));
        await app.DisposeAsync();

        // A hosted service can call into the partitions from its start to its stop: they run around it.
        Assert.Equal(["started 1", "started 1", "service started with 2 partitions", "service stopped with 2 partitions", "stopping 1", "stopping 1"], events);
    }

    [Fact]
    public async Task Health_IsDegradedWhileAPartitionRecycles()
    {
        var starting = new TaskCompletionSource<IPartitionContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapHealthChecks("/healthz").WithoutPartition(),
            partition => partition.Services.AddSingleton<IPartitionLifecycleHook>(sp => new SlowSecondStart(starting, finish.Task)),
            b => b.Services.AddHealthChecks().AddPartitionedHostingHealthCheck());
        using var client = app.CreateClient();
        Assert.Equal("Healthy", await client.GetStringAsync("/healthz"));

        var recycle = app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(1);
        await starting.Task.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal("Degraded", await client.GetStringAsync("/healthz"));
        Assert.Equal(PartitionState.Recycling, app.Services.GetRequiredService<IPartitionManager>().GetSnapshots()[1].State);

        finish.SetResult();
        await recycle.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal("Healthy", await client.GetStringAsync("/healthz"));
    }

    private static Dictionary<string, string?> StallSettings(string transport)
    {
        var settings = Settings.Partitioned(2, "SingleThreaded");
        settings["PartitionedHosting:Transport"] = transport;
        settings["PartitionedHosting:Watchdog:StallThreshold"] = "00:00:01";
        settings["PartitionedHosting:Watchdog:ReplaceStalledAfter"] = "00:00:02";
        return settings;
    }

    private static Task<KestrelTestApp> StartAsync(Dictionary<string, string?> settings, FakeTimeProvider time, ManualResetEventSlim release) =>
        KestrelTestApp.StartAsync(
            settings,
            a =>
            {
                a.MapGet("/block", () => release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out");
                a.MapGet("/partition", (IPartitionContext p) => $"{p.Id} {p.Generation}");
            },
            configure: b => b.Services.AddSingleton<TimeProvider>(time));

    /// <summary>Moves the partition runtime's clock until the watchdog has replaced the stuck partition 0.</summary>
    private static Task ReplaceStalledAsync(KestrelTestApp app, FakeTimeProvider time) =>
        KestrelTestApp.WaitUntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromMilliseconds(250));
                return app.Runtime.Partitions[0].Generation == 2;
            },
            "the stuck partition is replaced");

    private static async Task<HttpClient> ClientOnPartitionAsync(KestrelTestApp app, string partition)
    {
        var client = app.CreateClient();
        while (await client.GetStringAsync("/partition") != partition)
        {
            client.Dispose();
            client = app.CreateClient();
        }

        return client;
    }

    private sealed class Resource(int generation, ConcurrentQueue<string> order) : IDisposable
    {
        private bool _disposed;

        public int Use() => _disposed ? throw new ObjectDisposedException(nameof(Resource)) : generation;

        public void Dispose()
        {
            _disposed = true;
            order.Enqueue($"singleton of generation {generation} disposed");
        }
    }

    private sealed class ScopedResource(int generation, ConcurrentQueue<string> order) : IDisposable
    {
        public int Generation => generation;

        public void Dispose() => order.Enqueue($"scoped of generation {generation} disposed");
    }

    private sealed class Disposal(int generation, ConcurrentQueue<int> disposed, ConcurrentQueue<string>? events = null) : IDisposable
    {
        public void Dispose()
        {
            disposed.Enqueue(generation);
            events?.Enqueue($"disposed {generation}");
        }
    }

    private sealed class SlowSecondStart(TaskCompletionSource<IPartitionContext> starting, Task? finish = null) : IPartitionLifecycleHook
    {
        public async Task OnStartedAsync(IPartitionContext partition, CancellationToken cancellationToken)
        {
            if (partition.Generation == 2)
            {
                // Still starting until told, or until the host stops.
                starting.SetResult(partition);
                await (finish ?? Task.Delay(Timeout.Infinite, cancellationToken)).WaitAsync(cancellationToken);
            }
        }

        public Task OnStoppingAsync(IPartitionContext partition, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class UsesPartitions(IPartitionInvoker partitions, ConcurrentQueue<string> events) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken) =>
            events.Enqueue($"service started with {(await partitions.InvokeAllAsync((p, _) => Task.FromResult(p.Id), cancellationToken)).Length} partitions");

        public async Task StopAsync(CancellationToken cancellationToken) =>
            events.Enqueue($"service stopped with {(await partitions.InvokeAllAsync((p, _) => Task.FromResult(p.Id), cancellationToken)).Length} partitions");
    }

    private sealed class RecordingHook(ConcurrentQueue<string> events) : IPartitionLifecycleHook
    {
        public Task OnStartedAsync(IPartitionContext partition, CancellationToken cancellationToken)
        {
            events.Enqueue($"started {partition.Generation}");
            return Task.CompletedTask;
        }

        public Task OnStoppingAsync(IPartitionContext partition, CancellationToken cancellationToken)
        {
            events.Enqueue($"stopping {partition.Generation}");
            return Task.CompletedTask;
        }
    }
}

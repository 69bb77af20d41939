using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Overload answers 503 at once; shutdown lets every accepted request finish.</summary>
public sealed class AdmissionAndShutdownTests
{
    [Fact]
    public async Task FullQueue_Answers503WithRetryAfter_AtOnce_AndQueuedRequestsStillSucceed()
    {
        using var release = new ManualResetEventSlim();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.KestrelTransport(Settings.Partitioned(1, "SingleThreaded", maxQueueLength: 2)),
            a =>
            {
                a.MapGet("/block", () => release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out");
                a.MapGet("/quick", () => "quick");
            });
        var partition = app.Runtime.Partitions[0];
        var clients = Enumerable.Range(0, 4).Select(_ => app.CreateClient()).ToList();
        try
        {
            // The first request holds the partition's thread; the next two wait in its queue, which is then full.
            var blocking = clients[0].GetStringAsync("/block");
            await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 1 && partition.QueueLength == 0, "the blocking request runs");
            var queued = new[] { clients[1].GetStringAsync("/quick"), clients[2].GetStringAsync("/quick") };
            await KestrelTestApp.WaitUntilAsync(() => partition.QueueLength == 2, "two requests wait in the queue");

            var stopwatch = Stopwatch.StartNew();
            using var rejected = await clients[3].GetAsync("/quick");
            stopwatch.Stop();

            Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), rejected.Headers.RetryAfter?.Delta);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"The 503 took {stopwatch.Elapsed}.");
            Assert.False(blocking.IsCompleted);

            release.Set();
            Assert.Equal("released", await blocking.WaitAsync(KestrelTestApp.Timeout));
            Assert.Equal(["quick", "quick"], await Task.WhenAll(queued).WaitAsync(KestrelTestApp.Timeout));
            Assert.Equal("quick", await clients[3].GetStringAsync("/quick"));
        }
        finally
        {
            release.Set();
            clients.ForEach(c => c.Dispose());
        }
    }

    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task Shutdown_DuringInFlightRequests_CompletesThemAll(string mode)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, mode),
            a => a.MapGet("/slow/{n:int}", async (int n) =>
            {
                await gate.Task;
                await Task.Delay(50);
                return n.ToString(CultureInfo.InvariantCulture);
            }));
        var clients = Enumerable.Range(0, 10).Select(_ => app.CreateClient()).ToList();
        try
        {
            var requests = clients.Select((client, n) => client.GetStringAsync($"/slow/{n}")).ToList();
            await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions.Sum(p => p.ActiveRequests) == 10, "all ten requests are in flight");

            var stopping = app.StopAsync();

            // The server no longer accepts (its listener is closed): the stop is under way, and waits for the ten.
            await KestrelTestApp.WaitUntilAsync(() => !Accepts(app.Address), "the server stops accepting");
            Assert.False(stopping.IsCompleted, "The server stopped before its in-flight requests finished.");
            gate.SetResult();

            await stopping;
            var answers = await Task.WhenAll(requests).WaitAsync(KestrelTestApp.Timeout);
            Assert.Equal(Enumerable.Range(0, 10).Select(n => n.ToString(CultureInfo.InvariantCulture)), answers);
            Assert.All(app.Runtime.Partitions, p => Assert.Equal(0, p.ActiveRequests));
            Assert.False(app.Runtime.IsRunning);
        }
        finally
        {
            gate.TrySetResult();
            clients.ForEach(c => c.Dispose());
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Server_StartedTwice_Throws()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(1, "FreeThreaded"), _ => { });
        var server = app.Services.GetService(typeof(Microsoft.AspNetCore.Hosting.Server.IServer))!;

        Assert.Equal("PartitionedServer", server.GetType().Name);
        var start = server.GetType().GetMethod("StartAsync")!.MakeGenericMethod(typeof(object));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => (Task)start.Invoke(server, [new NullApplication(), CancellationToken.None])!);
        Assert.Contains("already been started", error.Message, StringComparison.Ordinal);
    }

    private sealed class NullApplication : Microsoft.AspNetCore.Hosting.Server.IHttpApplication<object>
    {
        public object CreateContext(Microsoft.AspNetCore.Http.Features.IFeatureCollection contextFeatures) => new();

        public void DisposeContext(object context, Exception? exception)
        {
        }

        public Task ProcessRequestAsync(object context) => Task.CompletedTask;
    }

    [Fact]
    public async Task ARequestReachingThePartitionsAfterTheyStopped_Gets503WithRetryAfter()
    {
        // Under TestServer the pipeline still runs once the partitions have stopped, as it may in any server that is
        // still finishing its work.
        await using var factory = new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program>();
        using var client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/partition")).StatusCode);

        await factory.Services.GetRequiredService<PartitionRuntime>().StopAsync(CancellationToken.None).WaitAsync(KestrelTestApp.Timeout);
        using var response = await client.GetAsync("/partition");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    private static bool Accepts(Uri address)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            socket.Connect(address.Host, address.Port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}

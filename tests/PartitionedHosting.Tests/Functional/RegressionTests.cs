using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// Defects found in review: shutdown with a blocked partition, cancelled recycles; and the behaviour the review
/// worried about for pipelined requests (parsed on a partition's thread), which these conditions did not reproduce
/// but which must hold.
/// </summary>
public sealed class RegressionTests
{
    [Fact]
    public async Task PipelinedRequests_ParsedOnThePartitionThread_KeepThePartitionContext()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "SingleThreaded"),
            a => a.MapGet("/after-await", async (IPartitionContext partition) =>
            {
                await Task.Delay(5);
                return ((PartitionInstance)partition).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId ? "home" : "lost";
            }));
        using var client = new TcpClient();
        await client.ConnectAsync(app.Address.Host, app.Address.Port).WaitAsync(KestrelTestApp.Timeout);
        var stream = client.GetStream();

        // Several requests in one write: the server parses the next one as soon as it has answered the previous one.
        var request = "GET /after-await HTTP/1.1\r\nHost: test\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(request, 5))));
        var responses = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(KestrelTestApp.Timeout);
        while (CountOf(responses.ToString(), "home") + CountOf(responses.ToString(), "lost") < 5)
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            Assert.NotEqual(0, read);
            responses.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        Assert.Equal(5, CountOf(responses.ToString(), "home"));
    }

    [Fact]
    public async Task Shutdown_WithAPartitionBlockedForever_StillEnds()
    {
        using var release = new ManualResetEventSlim();
        var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapGet("/block", () => release.Wait(TimeSpan.FromMinutes(2)) ? "released" : "timed out"),
            configure: b => b.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(1)));
        try
        {
            using var client = app.CreateClient();
            _ = client.GetStringAsync("/block");
            await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions.Sum(p => p.ActiveRequests) == 1, "the partition is blocked");

            var watch = Stopwatch.StartNew();
            await app.StopAsync();

            // The host's timeout (one second), then Kestrel's own wait for the connections it aborts (one second: plain
            // Kestrel takes as long), then a short grace (a quarter of a second) for the partitions whose thread is free
            // to dispose their services: about 2.3 s alone, 2.8 s once in CI among the other tests. The blocked partition
            // is left behind, not waited for: waiting for it would take two minutes, and waiting out the abort grace
            // (two seconds) instead of the disposal's would take over 4 s; the bound tells both apart from a busy machine.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3.75), $"Shutdown took {watch.Elapsed}.");
        }
        finally
        {
            release.Set();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task ACancelledManualRecycle_Throws_AndTheNextOneStillWorks()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = Settings.Partitioned(2, "SingleThreaded");
        settings["PartitionedHosting:Recycling:MaxConcurrent"] = "1";
        await using var app = await KestrelTestApp.StartAsync(settings, a => a.MapGet("/gated", async (IPartitionContext p) =>
        {
            await gate.Task;
            return p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }));
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        using var client = app.CreateClient();
        var gated = client.GetStringAsync("/gated");
        await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions.Sum(p => p.ActiveRequests) == 1, "a request is in flight");
        var busy = app.Runtime.Partitions.Single(p => p.ActiveRequests == 1).Id;

        // The busy partition's recycle holds the only slot while its old instance drains.
        await manager.RecycleAsync(busy).WaitAsync(KestrelTestApp.Timeout);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => manager.RecycleAsync(1 - busy, cancel.Token));

        gate.SetResult();
        await gated.WaitAsync(KestrelTestApp.Timeout);
        await manager.RecycleAsync(1 - busy).WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(2, manager.GetSnapshots()[1 - busy].Generation);
    }

    private static int CountOf(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>
    /// An application without routing (<c>WebApplication.CreateEmptyBuilder</c>, middleware only) starts and serves
    /// partitioned: the partitioning middleware reads the endpoints when there are some, and needs none.
    /// </summary>
    [Theory]
    [InlineData("SingleThreaded", "Kestrel")]
    [InlineData("SingleThreaded", "Partitioned")]
    [InlineData("FreeThreaded", "Kestrel")]
    public async Task AnApplicationWithoutRouting_StartsAndServesPartitioned(string mode, string transport)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Configuration.AddInMemoryCollection(Settings.Partitioned(2, mode));
        builder.Configuration["PartitionedHosting:Transport"] = transport;
        builder.AddPartitionedHosting();
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync(context.RequestServices.GetRequiredService<IPartitionContext>().Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await app.StartAsync().WaitAsync(KestrelTestApp.Timeout);
        try
        {
            var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Single();
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = KestrelTestApp.Timeout };

            var index = await client.GetStringAsync("/anything");

            Assert.Contains(index, new[] { "0", "1" });
        }
        finally
        {
            await app.StopAsync().WaitAsync(KestrelTestApp.Timeout);
        }
    }
}

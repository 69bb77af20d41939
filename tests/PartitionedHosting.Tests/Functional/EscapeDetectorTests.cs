using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// The escape detector: request code of a single-threaded partition that the application itself moves off the
/// partition is reported once per call site, with the partition, the request path and the stack; code that stays, and
/// the framework's own continuations, are not.
/// </summary>
public sealed class EscapeDetectorTests
{
    private const int EscapedEvent = 17;

    [Fact]
    public async Task ConfigureAwaitFalse_InRequestCode_IsReportedOncePerCallSite_WithThePartitionPathAndMethod()
    {
        var logs = new LogRecorder();
        await using var app = await StartAsync(logs, a => a.MapGet("/escape", EscapingHandler));
        using var client = app.CreateClient();

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("escaped", await client.GetStringAsync("/escape"));
        }

        var escape = Assert.Single(Escapes(logs));
        Assert.Equal(LogLevel.Warning, escape.Level);
        Assert.Contains($"async method {typeof(EscapeDetectorTests).FullName}.{nameof(EscapingHandler)} ran off the thread and reached its await #2", escape.Message, StringComparison.Ordinal);
        Assert.Contains("in request /escape", escape.Message, StringComparison.Ordinal);
        Assert.Contains("Partition 0:", escape.Message, StringComparison.Ordinal);
        Assert.True(((PartitionEscapeDetector)app.Runtime.Escapes!).Escapes >= 10);
    }

    [Fact]
    public async Task TaskRun_InRequestCode_IsReportedWithItsDelegate()
    {
        var logs = new LogRecorder();
        await using var app = await StartAsync(logs, a => a.MapGet("/task", TaskRunHandler));
        using var client = app.CreateClient();

        Assert.Equal("done", await client.GetStringAsync("/task"));

        var escape = Assert.Single(Escapes(logs));
        Assert.Contains(nameof(TaskRunHandler), escape.Message, StringComparison.Ordinal);
        Assert.Contains("task delegate", escape.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CodeThatStaysInThePartition_AndTheFrameworksOwnContinuations_AreNotReported()
    {
        var logs = new LogRecorder();
        using var outgoing = new HttpClient { Timeout = KestrelTestApp.Timeout };
        await using var app = await StartAsync(logs, a =>
        {
            a.MapGet("/pong", () => "pong");
            a.MapPost("/stays", async (HttpContext context) =>
            {
                // Awaits that return to the partition: a timer, a yield, a body read, an outgoing HTTP call, a write.
                await Task.Delay(1);
                await Task.Yield();
                var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
                var pong = await outgoing.GetStringAsync(new Uri($"{context.Request.Scheme}://{context.Request.Host}/pong"));
                await context.Response.WriteAsync(body + pong);
            });
            a.MapGet("/stream", () => Numbers());
            a.MapGet("/push", () => Results.Stream(async stream =>
            {
                for (var i = 0; i < 4; i++)
                {
                    await stream.WriteAsync(new byte[64 * 1024]);
                }
            }));
        });

        await Load.RunAsync(app, rounds: 3, async (client, _) =>
        {
            using var posted = await client.PostAsync("/stays", new StringContent(new string('x', 100_000)));
            Assert.Equal(100_004, (await posted.Content.ReadAsStringAsync()).Length);
            Assert.Equal(Enumerable.Range(0, 3), await client.GetFromJsonAsync<int[]>("/stream"));
            Assert.Equal(4 * 64 * 1024, (await client.GetByteArrayAsync("/push")).Length);
        });

        Assert.Empty(Escapes(logs));
        Assert.Equal(0, ((PartitionEscapeDetector)app.Runtime.Escapes!).Escapes);
    }

    [Theory]
    [InlineData("Development", null, true)]
    [InlineData("Production", null, false)]
    [InlineData("Development", "false", false)]
    [InlineData("Production", "true", true)]
    public async Task IsOnInDevelopment_OffElsewhere_UnlessConfigured(string environment, string? setting, bool on)
    {
        var settings = Settings.Partitioned(1, "SingleThreaded");
        settings["PartitionedHosting:DetectEscapes"] = setting;
        var logs = new LogRecorder();
        await using var app = await KestrelTestApp.StartAsync(settings, a => a.MapGet("/escape", EscapingHandler), configure: b => b.Logging.AddProvider(logs), environment: environment);
        using var client = app.CreateClient();

        Assert.Equal("escaped", await client.GetStringAsync("/escape"));

        Assert.Equal(on, app.Runtime.Escapes is not null);
        Assert.Equal(on ? 1 : 0, Escapes(logs).Count());
    }

    private static async Task<string> EscapingHandler(IPartitionContext partition)
    {
        // Long enough to be pending when awaited, even on a busy machine: a completed task would not leave the thread.
        await Task.Delay(30).ConfigureAwait(false);

        // Off the partition from here on, and seen at the next await.
        await Task.Delay(1);
        return "escaped";
    }

    private static async Task<string> TaskRunHandler()
    {
        var sum = await Task.Run(() => Enumerable.Range(0, 100).Sum());
        return sum == 4950 ? "done" : "wrong";
    }

    private static async IAsyncEnumerable<int> Numbers()
    {
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(1);
            yield return i;
        }
    }

    private static IEnumerable<LogEntry> Escapes(LogRecorder logs) => logs.Entries.Where(e => e.EventId.Id == EscapedEvent && e.Category == typeof(PartitionEscapeDetector).FullName);

    private static Task<KestrelTestApp> StartAsync(LogRecorder logs, Action<WebApplication> map) =>
        KestrelTestApp.StartAsync(Settings.Partitioned(1, "SingleThreaded"), map, configure: b => b.Logging.AddProvider(logs));
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Where request code runs in each execution mode, measured on real Kestrel with real clients.</summary>
public sealed class ExecutionModeTests
{
    [Fact]
    public async Task SingleThreaded_RequestCodeStaysOnThePartitionThread_AcrossEveryKindOfAwait()
    {
        var observed = new ConcurrentQueue<(string Where, int Thread)>();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outgoing = new HttpClient { Timeout = KestrelTestApp.Timeout };

        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a =>
            {
                a.Use(async (context, next) =>
                {
                    var tour = context.Request.Path == "/tour";
                    if (tour)
                    {
                        observed.Enqueue(("middleware", Environment.CurrentManagedThreadId));
                    }

                    await next(context);
                    if (tour)
                    {
                        observed.Enqueue(("middleware after next", Environment.CurrentManagedThreadId));
                    }
                });
                a.MapGet("/pong", () => "pong");
                a.MapPost("/tour", async (HttpContext context) =>
                {
                    var self = new Uri($"{context.Request.Scheme}://{context.Request.Host}/pong");
                    observed.Enqueue(("start", Environment.CurrentManagedThreadId));
                    await Task.Delay(20);
                    observed.Enqueue(("Task.Delay", Environment.CurrentManagedThreadId));
                    await Task.Yield();
                    observed.Enqueue(("Task.Yield", Environment.CurrentManagedThreadId));
                    var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
                    observed.Enqueue(("body read", Environment.CurrentManagedThreadId));
                    await outgoing.GetStringAsync(self);
                    observed.Enqueue(("HttpClient", Environment.CurrentManagedThreadId));
                    context.Response.OnStarting(() =>
                    {
                        observed.Enqueue(("OnStarting", Environment.CurrentManagedThreadId));
                        return Task.CompletedTask;
                    });
                    context.Response.OnCompleted(async () =>
                    {
                        observed.Enqueue(("OnCompleted", Environment.CurrentManagedThreadId));
                        await Task.Delay(10);
                        observed.Enqueue(("OnCompleted after await", Environment.CurrentManagedThreadId));
                        completed.TrySetResult();
                    });
                    return body.Length.ToString(CultureInfo.InvariantCulture);
                });
            });
        using var client = app.CreateClient();

        // The body arrives in two parts with a pause between them, so that reading it really waits for the socket.
        var response = await client.PostAsync("/tour", new SlowContent());
        await completed.Task.WaitAsync(KestrelTestApp.Timeout);

        Assert.Equal("8", await response.Content.ReadAsStringAsync());
        Assert.Equal(
            ["middleware", "start", "Task.Delay", "Task.Yield", "body read", "HttpClient", "OnStarting", "middleware after next", "OnCompleted", "OnCompleted after await"],
            observed.Select(o => o.Where));
        var partition = Assert.Single(app.Runtime.Partitions, p => p.Thread!.ManagedThreadId == observed.First().Thread);
        Assert.All(observed, o => Assert.True(
            o.Thread == partition.Thread!.ManagedThreadId,
            $"'{o.Where}' ran on thread {o.Thread}, not on partition {partition.Id}'s thread {partition.Thread!.ManagedThreadId}."));
    }

    [Fact]
    public async Task SingleThreaded_SynchronousSegmentsOfOnePartitionNeverOverlap_UnderConcurrentLoad()
    {
        var inSegment = new int[2];
        var overlaps = 0;
        var inRequest = new int[2];
        var maxInterleaved = new int[2];

        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapGet("/segments", async (IPartitionContext partition) =>
            {
                var id = partition.Id;
                var now = Interlocked.Increment(ref inRequest[id]);
                InterlockedMax(ref maxInterleaved[id], now);
                for (var segment = 0; segment < 5; segment++)
                {
                    // One synchronous segment: nobody else of this partition may be inside one now.
                    if (Interlocked.Increment(ref inSegment[id]) != 1)
                    {
                        Interlocked.Increment(ref overlaps);
                    }

                    Thread.SpinWait(2_000);
                    Interlocked.Decrement(ref inSegment[id]);
                    await Task.Yield();
                }

                Interlocked.Decrement(ref inRequest[id]);
                return "ok";
            }));

        var clients = Enumerable.Range(0, 8).Select(_ => app.CreateClient()).ToList();
        try
        {
            var load = clients.Select(async client =>
            {
                for (var i = 0; i < 40; i++)
                {
                    var pending = Enumerable.Range(0, 4).Select(_ => client.GetStringAsync("/segments"));
                    Assert.All(await Task.WhenAll(pending), body => Assert.Equal("ok", body));
                }
            });
            await Task.WhenAll(load).WaitAsync(KestrelTestApp.Timeout * 2);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        Assert.Equal(0, overlaps);

        // The measure means something only if requests of one partition did interleave at their awaits.
        Assert.All(maxInterleaved, max => Assert.True(max > 1, $"requests never interleaved (max {max})"));
    }

    [Fact]
    public async Task FreeThreaded_OnePartitionRunsRequestsInParallel()
    {
        // Two requests each block their thread until both have arrived: only parallel execution lets them finish.
        using var barrier = new Barrier(2);
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "FreeThreaded"),
            a => a.MapGet("/meet", () => barrier.SignalAndWait(KestrelTestApp.Timeout) ? "met" : "alone"));
        using var first = app.CreateClient();
        using var second = app.CreateClient();

        var answers = await Task.WhenAll(first.GetStringAsync("/meet"), second.GetStringAsync("/meet")).WaitAsync(KestrelTestApp.Timeout * 2);

        Assert.Equal(["met", "met"], answers);
    }

    [Fact]
    public async Task SingleThreaded_APartitionBlockedByOneRequest_DoesNotBlockAnotherPartition()
    {
        using var release = new ManualResetEventSlim();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a =>
            {
                a.MapGet("/block", () => release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out");
                a.MapGet("/partition", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture));
            });
        using var blocked = app.CreateClient();
        using var other = app.CreateClient();
        var blockedPartition = await blocked.GetStringAsync("/partition");
        var otherPartition = await other.GetStringAsync("/partition");
        Assert.NotEqual(blockedPartition, otherPartition);

        var blocking = blocked.GetStringAsync("/block");
        await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions[int.Parse(blockedPartition, CultureInfo.InvariantCulture)].ActiveRequests == 1, "the blocking request runs");

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(otherPartition, await other.GetStringAsync("/partition").WaitAsync(TimeSpan.FromSeconds(10)));
        }

        release.Set();
        Assert.Equal("released", await blocking.WaitAsync(KestrelTestApp.Timeout));
    }

    [Fact]
    public async Task SingleThreaded_ExecutionContextFlows_IntoThePartition()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "SingleThreaded"),
            a => a.MapGet("/accessor", (IHttpContextAccessor accessor, HttpContext context) =>
                ReferenceEquals(accessor.HttpContext, context) && System.Diagnostics.Activity.Current is not null ? "flowed" : "lost"),
            configure: b => b.Services.AddHttpContextAccessor());
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "Microsoft.AspNetCore",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllData,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        using var client = app.CreateClient();

        Assert.Equal("flowed", await client.GetStringAsync("/accessor"));
    }

    [Theory]
    [InlineData("Thread")]
    [InlineData("ThreadPool")]
    public async Task SingleThreaded_IdleResume_KeepsOneSegmentAtATime_AndPartitionLocalStateExact(string idleResume)
    {
        var settings = Settings.Partitioned(2, "SingleThreaded");
        settings["PartitionedHosting:IdleResume"] = idleResume;

        // The escape detector is on (Development): a stand-in runs as the partition, so it reports nothing.
        settings["PartitionedHosting:DetectEscapes"] = "true";
        var logs = new LogRecorder();

        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => a.MapPost("/io", async (HttpContext context, SegmentRecorder recorder, UnsynchronizedCounter counter) =>
            {
                recorder.Segment("start");

                // Awaits that complete on the thread pool while the partition's thread may sleep: a timer, work
                // finished by another thread (a driver's I/O completion), and the request body from the socket.
                await Task.Delay(1);
                recorder.Segment("timer");
                // Completed by a thread-pool thread that carries none of the request's flow, as a driver's I/O does
                // (a Task.Run delegate would itself be application code off the partition, which the detector reports).
                var completed = new TaskCompletionSource();
                ThreadPool.UnsafeQueueUserWorkItem(static c => c.SetResult(), completed, preferLocal: false);
                await completed.Task;
                recorder.Segment("thread pool");
                var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
                recorder.Segment("body");
                counter.Value++;
                return body.Length;
            }),
            partition => partition.Services.AddSingleton<SegmentRecorder>().AddSingleton<UnsynchronizedCounter>(),
            configure: b => b.Logging.AddProvider(logs));

        const int Clients = 16, RequestsPerClient = 25;
        var clients = Enumerable.Range(0, Clients).Select(_ => app.CreateClient()).ToList();
        try
        {
            await Task.WhenAll(clients.Select(async client =>
            {
                for (var i = 0; i < RequestsPerClient; i++)
                {
                    using var response = await client.PostAsync("/io", new StringContent("payload"));
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
            })).WaitAsync(KestrelTestApp.Timeout);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        var partitions = app.Runtime.Partitions.Select(p => p.Current.Services).ToList();
        Assert.DoesNotContain(logs.Entries, e => e.Category == typeof(PartitionedHosting.Diagnostics.PartitionEscapeDetector).FullName);
        SeamLayouts.AssertHeld(app, $"IdleResume {idleResume}", onThread: idleResume == "Thread");
        Assert.Equal(Clients * RequestsPerClient, partitions.Sum(s => s.GetRequiredService<UnsynchronizedCounter>().Value));
        if (idleResume == "ThreadPool")
        {
            // The resumed segments ran on thread-pool threads standing in for the sleeping partition threads.
            Assert.Contains(partitions, s => s.GetRequiredService<SegmentRecorder>().Threads.Count > 1);
        }
    }

    private static void InterlockedMax(ref int location, int value)
    {
        var current = Volatile.Read(ref location);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>Eight bytes sent as two writes with a pause between them.</summary>
    private sealed class SlowContent : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync("ABCD"u8.ToArray());
            await stream.FlushAsync();
            await Task.Delay(100);
            await stream.WriteAsync("EFGH"u8.ToArray());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 8;
            return true;
        }
    }
}

/// <summary>A partition-local counter with no synchronization: exact only while its partition runs one segment at a time.</summary>
internal sealed class UnsynchronizedCounter
{
    public int Value { get; set; }
}

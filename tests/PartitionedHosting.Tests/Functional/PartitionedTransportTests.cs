using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>The partitioned transport: a connection's I/O, parsing and requests on its partition's thread.</summary>
public sealed class PartitionedTransportTests
{
    private static Dictionary<string, string?> PartitionedTransport(int partitions = 2)
    {
        var settings = Settings.Partitioned(partitions, "SingleThreaded");
        settings["PartitionedHosting:Transport"] = "Partitioned";
        return settings;
    }

    [Fact]
    public async Task TheServerItself_RunsOnThePartitionThread_SoRequestsNeedNoHop()
    {
        var before = new ConcurrentQueue<int>();
        await using var app = await KestrelTestApp.StartAsync(
            PartitionedTransport(),
            a => a.MapPost("/where", async (HttpContext context, IPartitionContext partition) =>
            {
                var threads = new List<int> { Environment.CurrentManagedThreadId };
                await new StreamReader(context.Request.Body).ReadToEndAsync();
                threads.Add(Environment.CurrentManagedThreadId);
                await Task.Delay(5);
                threads.Add(Environment.CurrentManagedThreadId);
                var own = ((PartitionInstance)partition).Thread!.ManagedThreadId;
                return threads.All(t => t == own) ? own.ToString(CultureInfo.InvariantCulture) : "moved";
            }),
            configure: b => b.Services.Insert(0, ServiceDescriptor.Transient<IStartupFilter>(_ => new RecordThreadFilter(before))));
        using var client = app.CreateClient();

        var answers = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            using var response = await client.PostAsync("/where", new StringContent(new string('x', 50_000)));
            answers.Add(await response.Content.ReadAsStringAsync());
        }

        // Code that runs before the partitioning middleware (the server's own) is already on the partition's thread,
        // except possibly for a connection's first request: the server starts a connection on the thread pool, and its
        // first read completes there when the request's bytes have already arrived.
        Assert.Single(answers.Distinct());
        Assert.NotEqual("moved", answers[0]);
        Assert.All(before.Skip(1), thread => Assert.Equal(answers[0], thread.ToString(CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task ClientDisconnect_FiresRequestAborted()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await KestrelTestApp.StartAsync(PartitionedTransport(), a => a.MapGet("/wait", async (HttpContext context) =>
        {
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                aborted.TrySetResult();
            }
        }));
        using var client = app.CreateClient();
        using var cancel = new CancellationTokenSource();

        var request = client.GetAsync("/wait", cancel.Token);
        await started.Task.WaitAsync(KestrelTestApp.Timeout);
        await cancel.CancelAsync();

        await aborted.Task.WaitAsync(KestrelTestApp.Timeout);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
    }

    [Fact]
    public async Task LargeBodies_BothWays_ArriveWhole()
    {
        var download = new byte[4 * 1024 * 1024];
        Random.Shared.NextBytes(download);
        await using var app = await KestrelTestApp.StartAsync(PartitionedTransport(), a =>
        {
            a.MapPost("/upload", async (HttpContext context) =>
            {
                var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer);
                return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(buffer.ToArray()));
            });
            a.MapGet("/download", () => Results.Bytes(download));
        });
        using var client = app.CreateClient();
        var upload = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(upload);

        using var uploaded = await client.PostAsync("/upload", new ByteArrayContent(upload));
        var downloaded = await client.GetByteArrayAsync("/download");

        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(upload)), await uploaded.Content.ReadAsStringAsync());
        Assert.Equal(download, downloaded);
    }

    [Fact]
    public async Task SocketTransportOptions_AreHonoured_TheReadBufferLimitPausesAConnection_AndACustomListenSocketIsUsed()
    {
        var logs = new LogRecorder();
        var bound = 0;
        var readBody = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await KestrelTestApp.StartAsync(
            PartitionedTransport(),
            a => a.MapPost("/upload", async (HttpContext context) =>
            {
                await readBody.Task;
                var buffer = new byte[8192];
                long length = 0;
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
                {
                    length += read;
                }

                return length.ToString(CultureInfo.InvariantCulture);
            }),
            configure: b =>
            {
                b.Logging.AddProvider(logs).AddFilter("PartitionedHosting.Transport", LogLevel.Debug);
                b.Services.Configure<SocketTransportOptions>(options =>
                {
                    // Far below the 1 MiB the transport used to hard-code, and below the body sent.
                    options.MaxReadBufferSize = 16 * 1024;
                    var create = options.CreateBoundListenSocket;
                    options.CreateBoundListenSocket = endpoint =>
                    {
                        Interlocked.Increment(ref bound);
                        return create(endpoint);
                    };
                });
            });
        using var client = app.CreateClient();

        // The endpoint does not read yet: the connection must pause once 16 KiB wait unread.
        var upload = client.PostAsync("/upload", new ByteArrayContent(new byte[512 * 1024]));
        var deadline = DateTime.UtcNow + KestrelTestApp.Timeout;
        while (!logs.Entries.Any(e => e.EventId.Name == "ConnectionPause") && DateTime.UtcNow < deadline && !upload.IsCompleted)
        {
            await Task.Delay(10);
        }

        if (upload.IsCompleted)
        {
            using var early = await upload;
            Assert.Fail($"The upload ended before the endpoint read its body: {early.StatusCode}.");
        }
        Assert.Contains(logs.Entries, e => e.EventId.Name == "ConnectionPause" && e.Category == "PartitionedHosting.Transport");
        readBody.SetResult();
        using var response = await upload.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal("524288", await response.Content.ReadAsStringAsync());
        Assert.Contains(logs.Entries, e => e.EventId.Name == "ConnectionResume");
        Assert.True(bound > 0, "The listen socket was not created by SocketTransportOptions.CreateBoundListenSocket.");
    }

    [Fact]
    public async Task AResponseWrittenInManySegments_ArrivesIntact()
    {
        await using var app = await KestrelTestApp.StartAsync(
            PartitionedTransport(),
            a => a.MapGet("/segments", async (HttpContext context) =>
            {
                // 40 writes of 5,000 bytes without a flush: the transport sends them from several buffer segments.
                context.Response.ContentLength = 40 * 5000;
                var chunk = new byte[5000];
                for (var i = 0; i < 40; i++)
                {
                    Array.Fill(chunk, (byte)('A' + (i % 26)));
                    await context.Response.BodyWriter.WriteAsync(chunk);
                }
            }));
        using var client = app.CreateClient();

        for (var round = 0; round < 3; round++)
        {
            var body = await client.GetByteArrayAsync("/segments");
            Assert.Equal(40 * 5000, body.Length);
            for (var i = 0; i < 40; i++)
            {
                Assert.True(body.AsSpan(i * 5000, 5000).IndexOfAnyExcept((byte)('A' + (i % 26))) < 0, $"chunk {i} of round {round} is corrupt");
            }
        }
    }

    [Fact]
    public async Task EndpointsWithoutPartition_RunOnTheThreadPool_NotOnThePartitionsThreadThatReadTheirConnection()
    {
        using var release = new ManualResetEventSlim();
        var seen = new ConcurrentQueue<string>();
        await using var app = await KestrelTestApp.StartAsync(
            PartitionedTransport(partitions: 1),
            a =>
            {
                a.MapGet("/outside", async () =>
                {
                    seen.Enqueue($"{PartitionThread.Current is null} {SynchronizationContext.Current is null}");
                    await Task.Yield();
                    seen.Enqueue($"{PartitionThread.Current is null} {SynchronizationContext.Current is null}");

                    // Blocks its thread: a partition's thread would stop every connection of the partition.
                    return release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out";
                }).WithoutPartition();
                a.MapGet("/inside", (IPartitionContext partition) => partition.Id.ToString(CultureInfo.InvariantCulture));
            });
        using var outsideClient = app.CreateClient();
        using var insideClient = app.CreateClient();

        // A request that follows another on its connection is read, and so started, on the partition's thread.
        Assert.Equal("0", await outsideClient.GetStringAsync("/inside"));
        var outside = outsideClient.GetStringAsync("/outside");
        await KestrelTestApp.WaitUntilAsync(() => seen.Count == 2, "the unpartitioned endpoint runs");

        // The only partition still serves its other connections while the unpartitioned endpoint blocks.
        Assert.Equal("0", await insideClient.GetStringAsync("/inside").WaitAsync(KestrelTestApp.Timeout));
        release.Set();
        Assert.Equal("released", await outside.WaitAsync(KestrelTestApp.Timeout));
        Assert.All(seen, s => Assert.Equal("True True", s));
    }

    [Fact]
    public async Task Recycle_MovesAnOpenConnectionToTheNewInstance()
    {
        await using var app = await KestrelTestApp.StartAsync(
            PartitionedTransport(partitions: 1),
            a => a.MapGet("/where", (IPartitionContext p) => $"{p.Generation} {((PartitionInstance)p).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}"));
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        using var client = app.CreateClient();
        Assert.Equal("1 True", await client.GetStringAsync("/where"));

        await manager.RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("2 True", await client.GetStringAsync("/where").WaitAsync(KestrelTestApp.Timeout));
        }
    }

    [Fact]
    public async Task Http2_OverThePartitionedTransport_Works()
    {
        await using var app = await KestrelTestApp.StartAsync(
            PartitionedTransport(),
            a => a.MapGet("/h2", (HttpContext c, IPartitionContext p) => $"{c.Request.Protocol} {((PartitionInstance)p).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}"),
            protocols: HttpProtocols.Http2);
        using var client = app.CreateClient(version: HttpVersion.Version20);

        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.GetStringAsync("/h2"))).WaitAsync(KestrelTestApp.Timeout);

        Assert.All(answers, a => Assert.Equal("HTTP/2 True", a));
    }

    [Fact]
    public async Task UnixSockets_KeepKestrelsTransport_AndTheirConnectionsAreStillPartitioned()
    {
        var path = Path.Combine(Path.GetTempPath(), $"partitioned-{Guid.NewGuid():N}.sock");
        try
        {
            await using var app = await KestrelTestApp.StartAsync(
                PartitionedTransport(),
                a => a.MapGet("/where", (IPartitionContext partition) =>
                    $"{partition.Id} {((PartitionInstance)partition).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}"),
                configure: b => b.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(path)));
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(path), cancellationToken);
                    return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
                },
            };
            using var client = new HttpClient(handler) { BaseAddress = new Uri("http://unix"), Timeout = KestrelTestApp.Timeout };
            client.DefaultRequestHeaders.ConnectionClose = true;

            var partitions = new HashSet<string>();
            for (var i = 0; i < 4; i++)
            {
                partitions.Add(await client.GetStringAsync("/where"));
            }

            // New connections took the partitions in turn, and each request ran on its partition's thread.
            Assert.Equal(["0 True", "1 True"], partitions.Order());
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class RecordThreadFilter(ConcurrentQueue<int> threads) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                threads.Enqueue(Environment.CurrentManagedThreadId);
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}

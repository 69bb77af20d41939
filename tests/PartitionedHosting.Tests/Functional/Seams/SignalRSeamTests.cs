using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.Seams;

/// <summary>
/// SignalR hubs run in the partition of the request that started their connection, with its services, and keep its
/// guarantee: over WebSockets, Server-Sent Events and long polling, with SignalR's .NET client on real Kestrel.
/// </summary>
public sealed class SignalRSeamTests
{
    public static TheoryData<string, HttpTransportType> Cases
    {
        get
        {
            var cases = new TheoryData<string, HttpTransportType>();
            foreach (var layout in SeamLayouts.All)
            {
                cases.Add(layout, HttpTransportType.WebSockets);
                cases.Add(layout, HttpTransportType.ServerSentEvents);
                cases.Add(layout, HttpTransportType.LongPolling);
            }

            return cases;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Hubs_HoldThePartitionsGuarantee_ForEveryKindOfCall(string layout, HttpTransportType transport)
    {
        await using var app = await StartAsync(layout);
        var clients = Load.Clients;

        await Load.RunAsync(clients, rounds: 1, async (_, _) =>
        {
            await using var connection = Connect(app, transport);
            await connection.StartAsync().WaitAsync(KestrelTestApp.Timeout);

            // Invocations answer once each, in order.
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(i, await connection.InvokeAsync<int>(nameof(SeamHub.Echo), i));
            }

            // Streams from the hub: an async iterator and a channel, each item once and in order.
            Assert.Equal(Enumerable.Range(0, 5), await ToListAsync(connection.StreamAsync<int>(nameof(SeamHub.Counter), 5)));
            Assert.Equal(Enumerable.Range(0, 5), await ToListAsync(connection.StreamAsync<int>(nameof(SeamHub.ChannelCounter), 5)));

            // Streams to the hub: the hub sees every item once and in order.
            Assert.Equal("0,1,2,3,4", await connection.InvokeAsync<string>(nameof(SeamHub.Upload), Produce(5)));
            var channel = Channel.CreateUnbounded<int>();
            var upload = connection.InvokeAsync<string>(nameof(SeamHub.UploadChannel), channel.Reader);
            for (var i = 0; i < 5; i++)
            {
                await channel.Writer.WriteAsync(i);
            }

            channel.Writer.Complete();
            Assert.Equal("0,1,2,3,4", await upload.WaitAsync(KestrelTestApp.Timeout));
        });

        // OnDisconnectedAsync runs after the client has gone: wait until every connection's has.
        var hub = app.Services.GetRequiredService<SeamHubStatistics>();
        await KestrelTestApp.WaitUntilAsync(() => hub.Disconnected == clients, "every connection's OnDisconnectedAsync ran");
        Assert.Equal(clients, hub.Connected);
        SeamLayouts.AssertHeld(app, $"SignalR over {transport}", everyPartition: false);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task HubContext_SendsFromOutsideAndFromEveryPartition_ToEveryClientInOrder(string layout)
    {
        await using var app = await StartAsync(layout);
        var received = new List<(string From, int Value)>[8];
        var connections = new HubConnection[received.Length];
        for (var c = 0; c < connections.Length; c++)
        {
            var messages = received[c] = [];
            connections[c] = Connect(app, HttpTransportType.WebSockets);
            connections[c].On<string, int>("tick", (from, value) =>
            {
                lock (messages)
                {
                    messages.Add((from, value));
                }
            });
            await connections[c].StartAsync().WaitAsync(KestrelTestApp.Timeout);
        }

        try
        {
            var hubContext = app.Services.GetRequiredService<IHubContext<SeamHub>>();
            var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
            for (var i = 0; i < 10; i++)
            {
                await hubContext.Clients.All.SendAsync("tick", "outside", i);
                await invoker.InvokeAllAsync(async (partition, _) =>
                {
                    // The partition's own hub context: IHubContext<T> is shared, whoever sends.
                    await partition.Services.GetRequiredService<IHubContext<SeamHub>>().Clients.All.SendAsync("tick", $"partition {partition.Id}", i);
                    return true;
                });
            }

            var senders = invoker.PartitionCount + 1;
            await KestrelTestApp.WaitUntilAsync(() => received.All(r => { lock (r) { return r.Count == 10 * senders; } }), "every client got every message");
            foreach (var messages in received)
            {
                foreach (var sender in messages.GroupBy(m => m.From))
                {
                    Assert.Equal(Enumerable.Range(0, 10), sender.Select(m => m.Value));
                }
            }
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    public static TheoryData<string> Layouts => SeamLayouts.All;

    [Fact]
    public async Task ALongPollingConnection_HoldsItsInstanceThroughARecycle_UntilTheDrainTimeoutAbortsIt()
    {
        var time = new FakeTimeProvider();
        var disposed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = Settings.Partitioned(1, "SingleThreaded");
        settings["PartitionedHosting:Recycling:DrainTimeout"] = "00:00:10";
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => a.MapHub<SeamHub>("/seam-hub"),
            partition =>
            {
                partition.Services.AddSingleton<SegmentRecorder>();
                partition.Services.AddSingleton(sp => new DisposalProbe(sp.GetRequiredService<PartitionedHosting.IPartitionContext>().Generation, disposed));
            },
            builder =>
            {
                builder.Services.AddSingleton<SeamHubStatistics>();
                builder.Services.AddSignalR();
                builder.Services.AddSingleton<TimeProvider>(time);
            });
        var old = app.Runtime.Partitions[0].Current;
        old.Services.GetRequiredService<DisposalProbe>();
        await using var connection = Connect(app, HttpTransportType.LongPolling);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += error =>
        {
            closed.TrySetResult(error);
            return Task.CompletedTask;
        };
        await connection.StartAsync().WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(1, await connection.InvokeAsync<int>(nameof(SeamHub.Echo), 1));

        // The connection's application runs on generation 1 between its polls: the recycle's drain waits for it.
        await app.Services.GetRequiredService<PartitionedHosting.IPartitionManager>().RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(2, app.Runtime.Partitions[0].Generation);
        Assert.True(old.ActiveRequests >= 1, "the long-polling connection does not count on its instance");
        Assert.Equal(1, await connection.InvokeAsync<int>(nameof(SeamHub.Echo), 1));
        Assert.False(disposed.Task.IsCompleted);

        // Past the drain timeout it is aborted, and the old instance disposed.
        await KestrelTestApp.WaitUntilAsync(() => { time.Advance(TimeSpan.FromSeconds(1)); return closed.Task.IsCompleted; }, "the connection is aborted");
        Assert.Equal(1, await disposed.Task.WaitAsync(KestrelTestApp.Timeout));
    }

    private static HubConnection Connect(KestrelTestApp app, HttpTransportType transport) =>
        new HubConnectionBuilder()
            .WithUrl(new Uri(app.Address, "/seam-hub"), transport)
            .Build();

    private static async Task<List<int>> ToListAsync(IAsyncEnumerable<int> stream)
    {
        var items = new List<int>();
        await foreach (var item in stream.WithCancellation(new CancellationTokenSource(KestrelTestApp.Timeout).Token))
        {
            items.Add(item);
        }

        return items;
    }

    private static async IAsyncEnumerable<int> Produce(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return i;
        }
    }

    private static Task<KestrelTestApp> StartAsync(string layout) =>
        KestrelTestApp.StartAsync(
            SeamLayouts.Settings(layout),
            a => a.MapHub<SeamHub>("/seam-hub"),
            partition => partition.Services.AddSingleton<SegmentRecorder>(),
            builder =>
            {
                builder.Services.AddSingleton<SeamHubStatistics>();
                builder.Services.AddSignalR(options => options.AddFilter<SeamHubFilter>());
            });
}

/// <summary>Counts connections across partitions: a shared service.</summary>
internal sealed class SeamHubStatistics
{
    private int _connected;
    private int _disconnected;

    public int Connected => Volatile.Read(ref _connected);

    public int Disconnected => Volatile.Read(ref _disconnected);

    public void OnConnected() => Interlocked.Increment(ref _connected);

    public void OnDisconnected() => Interlocked.Increment(ref _disconnected);
}

/// <summary>A hub whose constructor takes a partition-local service, and every kind of call.</summary>
internal sealed class SeamHub(SegmentRecorder recorder, SeamHubStatistics statistics) : Hub
{
    public override async Task OnConnectedAsync()
    {
        recorder.Segment("hub: OnConnectedAsync");
        await Task.Delay(1);
        recorder.Segment("hub: OnConnectedAsync after await");
        statistics.OnConnected();
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        recorder.Segment("hub: OnDisconnectedAsync");
        await Task.Delay(1);
        recorder.Segment("hub: OnDisconnectedAsync after await");
        statistics.OnDisconnected();
    }

    public async Task<int> Echo(int value)
    {
        recorder.Segment("hub: method");
        await Task.Delay(1);
        recorder.Segment("hub: method after await");
        return value;
    }

    public async IAsyncEnumerable<int> Counter(int count, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            recorder.Segment("hub: stream");
            await Task.Delay(1, cancellationToken);
            recorder.Segment("hub: stream after await");
            yield return i;
        }
    }

    public ChannelReader<int> ChannelCounter(int count)
    {
        recorder.Segment("hub: channel method");
        var channel = Channel.CreateBounded<int>(1);
        _ = WriteAsync(channel.Writer, count);
        return channel.Reader;
    }

    public async Task<string> Upload(IAsyncEnumerable<int> stream)
    {
        var items = new List<int>();
        await foreach (var item in stream)
        {
            recorder.Segment("hub: upload item");
            items.Add(item);
        }

        return string.Join(',', items);
    }

    public async Task<string> UploadChannel(ChannelReader<int> reader)
    {
        var items = new List<int>();
        while (await reader.WaitToReadAsync())
        {
            recorder.Segment("hub: channel upload");
            while (reader.TryRead(out var item))
            {
                items.Add(item);
            }
        }

        return string.Join(',', items);
    }

    private async Task WriteAsync(ChannelWriter<int> writer, int count)
    {
        for (var i = 0; i < count; i++)
        {
            recorder.Segment("hub: channel writer");
            await writer.WriteAsync(i);
            recorder.Segment("hub: channel writer after write");
            await Task.Delay(1);
        }

        writer.Complete();
    }
}

/// <summary>A hub filter activated with the partition's services.</summary>
internal sealed class SeamHubFilter(SegmentRecorder recorder) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        recorder.Segment("filter: before");
        var result = await next(invocationContext);
        recorder.Segment("filter: after");
        return result;
    }

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        recorder.Segment("filter: connected");
        await next(context);
    }
}

/// <summary>Tells which generation's partition-local services were disposed.</summary>
internal sealed class DisposalProbe(int generation, TaskCompletionSource<int> disposed) : IDisposable
{
    public void Dispose() => disposed.TrySetResult(generation);
}

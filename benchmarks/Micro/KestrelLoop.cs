using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Hosting;

/// <summary>
/// Pipelined plaintext requests through real Kestrel (its parser, its feature collection, its request loop) over an
/// in-memory transport whose pipes run every continuation inline: a connection's requests are parsed, run and answered
/// on the thread that writes them, with no socket and no thread hop. Plain Kestrel and the partitioned application
/// (FreeThreaded) run in the same process, in alternating batches, so that a loaded machine slows both alike: the
/// ratio of their times per request is what partitioning adds to Kestrel's own request path. The two share the process's
/// compiled code, its profile-guided optimisation and its garbage collections, so that ratio is "in one process", not
/// two isolated runs; one side alone (<c>plain</c> or <c>free</c>) is the one to profile.
/// <c>dotnet benchmarks/Micro/bin/Release/net10.0/Micro.dll --kestrel-loop 2000000</c>.
/// </summary>
internal static class KestrelLoop
{
    private const int Depth = 16;
    private const int Batches = 10;

    /// <summary>
    /// Measures both sides, or, with <paramref name="only"/> (<c>plain</c> or <c>free</c>), runs that one alone for a
    /// profiler.
    /// </summary>
    public static async Task RunAsync(int requests, string? only = null)
    {
        if (only is not null)
        {
            if (only is not ("plain" or "free"))
            {
                throw new ArgumentException($"'{only}' is neither plain nor free.", nameof(only));
            }

            await using var alone = await MemoryApp.StartAsync(partitioned: only == "free");
            await alone.RunAsync(200_000);
            Console.WriteLine($"{only}: {await alone.RunAsync(requests):F0} ns per request");
            return;
        }

        await using var plain = await MemoryApp.StartAsync(partitioned: false);
        await using var free = await MemoryApp.StartAsync(partitioned: true);
        var apps = new[] { plain, free };

        // Warm-up: tiered compilation settles before the measured batches.
        foreach (var app in apps)
        {
            await app.RunAsync(200_000);
        }

        var times = new List<double>[] { [], [] };
        var workItems = new long[2];
        var perBatch = Math.Max(Depth, requests / Batches / Depth * Depth);
        for (var batch = 0; batch < Batches; batch++)
        {
            // Alternating order, so that neither side always runs first.
            foreach (var i in batch % 2 == 0 ? new[] { 0, 1 } : [1, 0])
            {
                var before = ThreadPool.CompletedWorkItemCount;
                times[i].Add(await apps[i].RunAsync(perBatch));
                workItems[i] += ThreadPool.CompletedWorkItemCount - before;
            }
        }

        var ratios = times[1].Zip(times[0], (f, p) => f / p).Order().ToList();
        Console.WriteLine($"plain:        {Median(times[0]):F0} ns per request (min {times[0].Min():F0}), {(double)workItems[0] / (perBatch * Batches):F3} thread-pool work items per request");
        Console.WriteLine($"FreeThreaded: {Median(times[1]):F0} ns per request (min {times[1].Min():F0}), {(double)workItems[1] / (perBatch * Batches):F3} thread-pool work items per request");
        Console.WriteLine($"FreeThreaded / plain, per batch: median {Median(ratios):F3} (min {ratios[0]:F3}, max {ratios[^1]:F3}), {Batches} batches of {perBatch:N0}");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>An application on Kestrel over the in-memory transport, with one keep-alive connection.</summary>
    private sealed class MemoryApp : IAsyncDisposable
    {
        private static readonly byte[] s_hello = "Hello, World!"u8.ToArray();
        private static readonly byte[] s_request = Encoding.ASCII.GetBytes("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n");

        private readonly WebApplication _app;
        private readonly IDuplexPipe _client;
        private int _responseLength;

        private MemoryApp(WebApplication app, IDuplexPipe client)
        {
            _app = app;
            _client = client;
        }

        public static async Task<MemoryApp> StartAsync(bool partitioned)
        {
            var transport = new MemoryTransport();
            var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            builder.Logging.SetMinimumLevel(LogLevel.None);
            builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 1));
            builder.Services.AddRoutingCore();
            builder.Services.AddSingleton<IConnectionListenerFactory>(transport);
            if (partitioned)
            {
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["PartitionedHosting:PartitionCount"] = "2",
                    ["PartitionedHosting:Mode"] = "FreeThreaded",
                });
                builder.AddPartitionedHosting();
            }

            var app = builder.Build();
            app.UseRouting();
            app.MapGet("/plaintext", static context =>
            {
                context.Response.ContentType = "text/plain";
                context.Response.ContentLength = s_hello.Length;
                return context.Response.Body.WriteAsync(s_hello).AsTask();
            });
            await app.StartAsync();
            var memoryApp = new MemoryApp(app, await transport.ConnectAsync());
            memoryApp._responseLength = await memoryApp.MeasureResponseAsync();
            return memoryApp;
        }

        /// <summary>
        /// Sends <paramref name="requests"/> requests (rounded up to a multiple of <see cref="Depth"/>), that many at a
        /// time; returns the ns per request sent.
        /// </summary>
        public async Task<double> RunAsync(int requests)
        {
            requests = (requests + Depth - 1) / Depth * Depth;
            var batch = new byte[s_request.Length * Depth];
            for (var i = 0; i < Depth; i++)
            {
                s_request.CopyTo(batch, i * s_request.Length);
            }

            var stopwatch = Stopwatch.StartNew();
            for (var sent = 0; sent < requests; sent += Depth)
            {
                await _client.Output.WriteAsync(batch);
                await ReadResponsesAsync(Depth);
            }

            return stopwatch.Elapsed.TotalNanoseconds / requests;
        }

        private async Task<int> MeasureResponseAsync()
        {
            await _client.Output.WriteAsync(s_request);
            var result = await _client.Input.ReadAsync();
            var length = (int)result.Buffer.Length;
            if (!Encoding.ASCII.GetString(System.Buffers.BuffersExtensions.ToArray(result.Buffer)).EndsWith("Hello, World!", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("The first response was not read whole.");
            }

            _client.Input.AdvanceTo(result.Buffer.End);
            return length;
        }

        private async Task ReadResponsesAsync(int count)
        {
            long expected = (long)_responseLength * count;
            while (expected > 0)
            {
                var result = await _client.Input.ReadAsync();
                if (result.IsCompleted && result.Buffer.Length < expected)
                {
                    throw new InvalidOperationException("The server closed the connection before it answered every request.");
                }

                var take = Math.Min(expected, result.Buffer.Length);
                expected -= take;
                _client.Input.AdvanceTo(result.Buffer.GetPosition(take));
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _client.Output.CompleteAsync();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>A transport of in-memory connections whose pipes resume their readers and writers inline.</summary>
    private sealed class MemoryTransport : IConnectionListenerFactory, IConnectionListener
    {
        private readonly Channel<ConnectionContext> _accepted = Channel.CreateUnbounded<ConnectionContext>();

        public EndPoint EndPoint { get; private set; } = new IPEndPoint(IPAddress.Loopback, 1);

        public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
        {
            EndPoint = endpoint;
            return new(this);
        }

        public Task<IDuplexPipe> ConnectAsync()
        {
            var options = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);
            var pair = DuplexPipe.CreateConnectionPair(options, options);
            _accepted.Writer.TryWrite(new DefaultConnectionContext(Guid.NewGuid().ToString(), pair.Transport, pair.Application)
            {
                LocalEndPoint = EndPoint,
                RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 40000),
            });
            return Task.FromResult(pair.Application);
        }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await _accepted.Reader.ReadAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _accepted.Writer.TryComplete();
            return default;
        }

        public ValueTask DisposeAsync() => UnbindAsync();
    }

    /// <summary>Two pipes crossed: what one side writes, the other reads.</summary>
    private static class DuplexPipe
    {
        public static (IDuplexPipe Transport, IDuplexPipe Application) CreateConnectionPair(PipeOptions input, PipeOptions output)
        {
            var toServer = new Pipe(input);
            var toClient = new Pipe(output);
            return (new Pair(toServer.Reader, toClient.Writer), new Pair(toClient.Reader, toServer.Writer));
        }

        private sealed class Pair(PipeReader input, PipeWriter output) : IDuplexPipe
        {
            public PipeReader Input => input;

            public PipeWriter Output => output;
        }
    }
}

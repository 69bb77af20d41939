using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PartitionedHosting;
using PartitionedHosting.Partitions;

/// <summary>
/// One plaintext request through the whole application, as a server runs it (the host's <c>IHttpApplication</c>:
/// create the context, run the pipeline, run the response's <c>OnCompleted</c> callbacks, dispose the context), with no
/// socket: what the partitioning adds to a request, without the noise of a network and a load generator. <c>Plain</c>
/// is the same application without partitions; the partitioned ones see their connection's partition as a connection
/// feature, as behind Kestrel. A <c>SingleThreaded</c> request hops from the benchmark's thread into its partition and
/// back, as one from Kestrel's thread pool does. Its <c>Allocated</c> then includes this harness's own async state
/// machine (about 130 B), which Kestrel's connection loop allocates once per connection, not per request:
/// <c>--allocations SingleThreaded</c> (<see cref="RequestAllocations"/>) shows the types.
/// </summary>
[MemoryDiagnoser]
public class RequestBenchmarks
{
    private static readonly byte[] s_hello = "Hello, World!"u8.ToArray();

    private WebApplication _app = null!;
    private CapturingServer _server = null!;
    private RequestFeatures _request = null!;

    /// <summary>No partitioning, or two partitions in one execution mode.</summary>
    [Params("Plain", "FreeThreaded", "SingleThreaded")]
    public string Architecture { get; set; } = "Plain";

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.SetMinimumLevel(LogLevel.None);
        builder.Services.AddRouting();
        builder.Services.AddSingleton<CapturingServer.Holder>();
        builder.Services.AddSingleton<IServer, CapturingServer>();
        if (Architecture != "Plain")
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["PartitionedHosting:PartitionCount"] = "2",
                ["PartitionedHosting:Mode"] = Architecture,
            });
            builder.AddPartitionedHosting();
        }

        _app = builder.Build();
        _app.MapGet("/plaintext", static context =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = s_hello.Length;
            return context.Response.Body.WriteAsync(s_hello).AsTask();
        });

        // A keyed endpoint, as in the benchmark application: unkeyed requests look their first segment up.
        var keyed = _app.MapGet("/keyed/{key}", static (string key) => key);
        if (Architecture != "Plain")
        {
            keyed.WithPartitionKey("key");
        }

        await _app.StartAsync();
        _server = (CapturingServer)_app.Services.GetRequiredService<CapturingServer.Holder>().Server!;
        var connection = new FeatureCollection();
        if (Architecture != "Plain")
        {
            connection.Set<IPartitionFeature>(new ConnectionPartition(_app.Services.GetRequiredService<PartitionRuntime>().Partitions[0]));
        }

        _request = new RequestFeatures(connection);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    [Benchmark]
    public Task Plaintext() => _server.RunAsync(_request.Start("/plaintext"));

    /// <summary>
    /// The server's side: the features of a connection's requests, reused from one request to the next as Kestrel reuses
    /// its own, falling back to the connection's features.
    /// </summary>
    private sealed class RequestFeatures : HttpResponseFeature
    {
        private readonly Stack<(Func<object, Task> Callback, object State)> _onCompleted = new();
        private readonly HttpRequestFeature _request = new();
        private readonly StreamResponseBodyFeature _body = new(Stream.Null);

        public RequestFeatures(IFeatureCollection connection) => Features = new FeatureCollection(connection);

        public FeatureCollection Features { get; }

        /// <summary>Resets the features for the connection's next request, as Kestrel does.</summary>
        public IFeatureCollection Start(string path)
        {
            // What the last request's middleware set (the partition's, routing's) goes.
            Features.Set<IServiceProvidersFeature>(null);
            Features.Set<IPartitionFeature>(null);
            Features.Set<IEndpointFeature>(null);
            Features.Set<IRouteValuesFeature>(null);
            _request.Method = "GET";
            _request.Path = path;
            _request.Protocol = "HTTP/1.1";
            _request.Scheme = "http";
            StatusCode = 200;
            Headers.Clear();
            Features.Set<IHttpRequestFeature>(_request);
            Features.Set<IHttpResponseFeature>(this);
            Features.Set<IHttpResponseBodyFeature>(_body);
            Features.Set(this);
            return Features;
        }

        public override void OnCompleted(Func<object, Task> callback, object state) => _onCompleted.Push((callback, state));

        public override void OnStarting(Func<object, Task> callback, object state)
        {
        }

        public async Task FireOnCompletedAsync()
        {
            while (_onCompleted.TryPop(out var entry))
            {
                await entry.Callback(entry.State);
            }
        }
    }

    /// <summary>A server with no transport: it keeps the application, and runs one request at a time as Kestrel does.</summary>
    private sealed class CapturingServer : IServer
    {
        private Func<IFeatureCollection, Task>? _run;

        public CapturingServer(Holder holder) => holder.Server = this;

        public IFeatureCollection Features { get; } = new FeatureCollection();

        public Task RunAsync(IFeatureCollection features) => _run!(features);

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
            where TContext : notnull
        {
            _run = async features =>
            {
                var context = application.CreateContext(features);
                Exception? error = null;
                try
                {
                    await application.ProcessRequestAsync(context);
                }
                catch (Exception ex)
                {
                    error = ex;
                }

                await features.Get<RequestFeatures>()!.FireOnCompletedAsync();
                application.DisposeContext(context, error);
            };
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose()
        {
        }

        /// <summary>Where the server is found once the host made it (it may be wrapped by the partitioned server).</summary>
        public sealed class Holder
        {
            public IServer? Server { get; set; }
        }
    }
}

using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// The response feature of a request in a single-threaded partition: the server runs <c>OnStarting</c> and
/// <c>OnCompleted</c> callbacks on whatever thread finishes the response, so each callback is sent back to the
/// partition (or run inline when the server is already on the partition's thread).
/// </summary>
/// <remarks>Pooled with the rest of a request's state (see <see cref="InFlightRequest"/>), or made for one request.</remarks>
internal sealed class PartitionResponseFeature : IHttpResponseFeature
{
    private static readonly Func<object, Task> s_invoke = static state => ((Callback)state).Invoke();
    private IHttpResponseFeature _inner;
    private PartitionInstance _instance;

    public PartitionResponseFeature(IHttpResponseFeature inner, PartitionInstance instance)
    {
        _inner = inner;
        _instance = instance;
    }

    /// <summary>An empty feature, to be initialized for each request.</summary>
    internal PartitionResponseFeature()
    {
        _inner = null!;
        _instance = null!;
    }

    /// <summary>The server's own response feature.</summary>
    public IHttpResponseFeature Inner => _inner;

    public int StatusCode { get => _inner.StatusCode; set => _inner.StatusCode = value; }

    public string? ReasonPhrase { get => _inner.ReasonPhrase; set => _inner.ReasonPhrase = value; }

    public IHeaderDictionary Headers { get => _inner.Headers; set => _inner.Headers = value; }

    [Obsolete("Use IHttpResponseBodyFeature.Stream instead.")]
    public Stream Body { get => _inner.Body; set => _inner.Body = value; }

    public bool HasStarted => _inner.HasStarted;

    public void OnStarting(Func<object, Task> callback, object state) => _inner.OnStarting(s_invoke, new Callback(_instance, callback, state));

    public void OnCompleted(Func<object, Task> callback, object state) => _inner.OnCompleted(s_invoke, new Callback(_instance, callback, state));

    internal void Initialize(IHttpResponseFeature inner, PartitionInstance instance)
    {
        _inner = inner;
        _instance = instance;
    }

    internal void Reset()
    {
        _inner = null!;
        _instance = null!;
    }

    private sealed class Callback(PartitionInstance instance, Func<object, Task> callback, object state)
    {
        private static readonly Func<object, Task> s_run = static c => ((Callback)c).Run();

        public Task Invoke() => instance.InvokeAsync(s_run, this);

        // In the partition's log scope: the server runs the callbacks outside the request's middleware.
        private Task Run()
        {
            using (instance.Runtime.BeginLogScope(instance))
            {
                return callback(state);
            }
        }
    }
}

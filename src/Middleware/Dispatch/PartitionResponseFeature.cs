using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// The response feature of a request in a single-threaded partition: the server runs <c>OnStarting</c> and
/// <c>OnCompleted</c> callbacks on whatever thread finishes the response, so each callback is sent back to the
/// partition (or run inline when the server is already on the partition's thread).
/// </summary>
internal sealed class PartitionResponseFeature(IHttpResponseFeature inner, PartitionInstance partition) : IHttpResponseFeature
{
    private static readonly Func<object, Task> s_invoke = static state => ((Callback)state).Invoke();

    /// <summary>The server's own response feature.</summary>
    public IHttpResponseFeature Inner => inner;

    public int StatusCode { get => inner.StatusCode; set => inner.StatusCode = value; }

    public string? ReasonPhrase { get => inner.ReasonPhrase; set => inner.ReasonPhrase = value; }

    public IHeaderDictionary Headers { get => inner.Headers; set => inner.Headers = value; }

    [Obsolete("Use IHttpResponseBodyFeature.Stream instead.")]
    public Stream Body { get => inner.Body; set => inner.Body = value; }

    public bool HasStarted => inner.HasStarted;

    public void OnStarting(Func<object, Task> callback, object state) => inner.OnStarting(s_invoke, new Callback(partition, callback, state));

    public void OnCompleted(Func<object, Task> callback, object state) => inner.OnCompleted(s_invoke, new Callback(partition, callback, state));

    private sealed class Callback(PartitionInstance partition, Func<object, Task> callback, object state)
    {
        private static readonly Func<object, Task> s_run = static c => ((Callback)c).Run();

        public Task Invoke() => partition.InvokeAsync(s_run, this);

        // In the partition's log scope: the server runs the callbacks outside the request's middleware.
        private Task Run()
        {
            using (partition.Runtime.BeginLogScope(partition))
            {
                return callback(state);
            }
        }
    }
}

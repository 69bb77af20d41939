using System.Threading.Tasks.Sources;

namespace PartitionedHosting.Execution;

/// <summary>
/// An async stream whose enumeration runs on a single-threaded partition's thread, whoever drives it.
/// </summary>
/// <remarks>
/// The framework enumerates the async streams that request code returns (System.Text.Json, MVC's formatters, SignalR)
/// and awaits <c>MoveNextAsync</c> with <c>ConfigureAwait(false)</c>; when the stream completes an item on the
/// partition's thread, the runtime does not run that continuation inline there (the partition's synchronization
/// context is current) but queues it to the thread pool, which then calls <c>MoveNextAsync</c> and runs the stream's
/// code on the pool. This wrapper sends every <c>MoveNextAsync</c> and <c>DisposeAsync</c> back to the partition's
/// thread, and completes them there with no synchronization context, so that the consumer's continuation runs inline
/// on the partition's thread too and asks for the next item without leaving it.
/// </remarks>
internal sealed class PartitionAsyncEnumerable<T>(IAsyncEnumerable<T> source, PartitionThread thread) : IAsyncEnumerable<T>
{
    public IAsyncEnumerable<T> Source => source;

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new Enumerator(source, thread, cancellationToken);

    private sealed class Enumerator : IAsyncEnumerator<T>, IValueTaskSource<bool>, IValueTaskSource, IPartitionWorkItem
    {
        private static readonly ContextCallback s_run = static e => ((Enumerator)e!).Run();

        private readonly IAsyncEnumerable<T> _source;
        private readonly PartitionThread _thread;
        private readonly CancellationToken _cancellationToken;
        private readonly Action _onMoved;
        private readonly Action _onDisposed;
        private IAsyncEnumerator<T>? _inner;
        private ManualResetValueTaskSourceCore<bool> _core;
        private ExecutionContext? _executionContext;
        private ValueTask<bool> _move;
        private ValueTask _dispose;
        private bool _disposing;

        public Enumerator(IAsyncEnumerable<T> source, PartitionThread thread, CancellationToken cancellationToken)
        {
            _source = source;
            _thread = thread;
            _cancellationToken = cancellationToken;
            _onMoved = OnMoved;
            _onDisposed = OnDisposed;
        }

        public T Current => _inner is { } inner ? inner.Current : default!;

        public ValueTask<bool> MoveNextAsync()
        {
            _core.Reset();
            _disposing = false;
            if (_thread.IsCurrent)
            {
                Run();
            }
            else
            {
                _executionContext = ExecutionContext.Capture();
                _thread.Post(this);
            }

            return new ValueTask<bool>(this, _core.Version);
        }

        public ValueTask DisposeAsync()
        {
            _core.Reset();
            _disposing = true;
            if (_thread.IsCurrent)
            {
                Run();
            }
            else
            {
                _executionContext = ExecutionContext.Capture();
                _thread.Post(this);
            }

            return new ValueTask(this, _core.Version);
        }

        void IPartitionWorkItem.Execute()
        {
            var executionContext = _executionContext;
            _executionContext = null;
            if (executionContext is null)
            {
                Run();
            }
            else
            {
                ExecutionContext.Run(executionContext, s_run, this);
            }
        }

        /// <summary>Starts the source's move or disposal on the partition's thread, with its context current.</summary>
        private void Run()
        {
            using var scope = new SynchronizationContextScope(_thread.Context);
            try
            {
                if (_disposing)
                {
                    _dispose = _inner?.DisposeAsync() ?? default;
                    if (_dispose.IsCompleted)
                    {
                        OnDisposed();
                    }
                    else
                    {
                        _dispose.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onDisposed);
                    }
                }
                else
                {
                    _move = (_inner ??= _source.GetAsyncEnumerator(_cancellationToken)).MoveNextAsync();
                    if (_move.IsCompleted)
                    {
                        OnMoved();
                    }
                    else
                    {
                        _move.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onMoved);
                    }
                }
            }
            catch (Exception ex)
            {
                Complete(false, ex);
            }
        }

        private void OnMoved()
        {
            var move = _move;
            _move = default;
            try
            {
                Complete(move.GetAwaiter().GetResult(), null);
            }
            catch (Exception ex)
            {
                Complete(false, ex);
            }
        }

        private void OnDisposed()
        {
            var dispose = _dispose;
            _dispose = default;
            try
            {
                dispose.GetAwaiter().GetResult();
                Complete(false, null);
            }
            catch (Exception ex)
            {
                Complete(false, ex);
            }
        }

        /// <summary>
        /// Completes the consumer's await with no synchronization context current: a consumer that awaited with
        /// <c>ConfigureAwait(false)</c> then continues inline here, on the partition's thread, instead of on the pool.
        /// </summary>
        private void Complete(bool result, Exception? error)
        {
            using var scope = new SynchronizationContextScope(null);
            if (error is null)
            {
                _core.SetResult(result);
            }
            else
            {
                _core.SetException(error);
            }
        }

        bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}

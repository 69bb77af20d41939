using System.Runtime.CompilerServices;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Tests.Unit;

/// <summary>An async stream wrapped for a partition: enumerated on the partition's thread, whoever drives it.</summary>
public sealed class PartitionAsyncEnumerableTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AConsumerOnTheThreadPool_GetsEveryItemInOrder_ProducedOnThePartitionThread()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var producedOn = new List<(int Thread, bool Context)>();
        var stream = new PartitionAsyncEnumerable<int>(Produce(5, producedOn), thread);

        var items = await Task.Run(async () =>
        {
            var received = new List<int>();
            await foreach (var item in stream.ConfigureAwait(false))
            {
                received.Add(item);
            }

            return received;
        }).WaitAsync(s_timeout);

        Assert.Equal(Enumerable.Range(0, 5), items);
        Assert.Equal(11, producedOn.Count);
        Assert.All(producedOn, p => Assert.Equal((thread.ManagedThreadId, true), p));
    }

    [Fact]
    public async Task AConsumerThatAwaitsWithoutContext_ContinuesOnThePartitionThread_WhenTheItemCompletesThere()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var stream = new PartitionAsyncEnumerable<int>(Produce(3, []), thread);
        var consumed = 0;
        var consumedAfterWaiting = new List<int>();

        await Task.Run(async () =>
        {
            await using var enumerator = stream.GetAsyncEnumerator();
            while (true)
            {
                // An item that completed before the consumer awaited it (a consumer thread held up for the producer's
                // delay, on a loaded machine) is consumed where the consumer already is: only the others are checked.
                var next = enumerator.MoveNextAsync();
                var waited = !next.IsCompleted;
                if (!await next.ConfigureAwait(false))
                {
                    break;
                }

                consumed++;
                if (waited)
                {
                    consumedAfterWaiting.Add(Environment.CurrentManagedThreadId);
                }
            }
        }).WaitAsync(s_timeout);

        // Every item awaited a delay that resumed on the partition's thread, which then completed the consumer's await
        // inline: no hop to the pool and back per item.
        Assert.Equal(3, consumed);
        Assert.NotEmpty(consumedAfterWaiting);
        Assert.All(consumedAfterWaiting, t => Assert.Equal(thread.ManagedThreadId, t));
    }

    [Fact]
    public async Task ExceptionsAndDisposal_ReachTheConsumer_AndFinallyBlocksRunOnThePartitionThread()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var finallyOn = 0;
        var stream = new PartitionAsyncEnumerable<int>(Fail(() => finallyOn = Environment.CurrentManagedThreadId), thread);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Task.Run(async () =>
        {
            await foreach (var _ in stream)
            {
            }
        })).WaitAsync(s_timeout);

        Assert.Equal("boom", error.Message);
        Assert.Equal(thread.ManagedThreadId, finallyOn);
    }

    private static async IAsyncEnumerable<int> Produce(int count, List<(int Thread, bool Context)> producedOn)
    {
        for (var i = 0; i < count; i++)
        {
            producedOn.Add((Environment.CurrentManagedThreadId, SynchronizationContext.Current is PartitionSynchronizationContext));
            await Task.Delay(1);
            producedOn.Add((Environment.CurrentManagedThreadId, SynchronizationContext.Current is PartitionSynchronizationContext));
            yield return i;
        }

        producedOn.Add((Environment.CurrentManagedThreadId, SynchronizationContext.Current is PartitionSynchronizationContext));
    }

    private static async IAsyncEnumerable<int> Fail(Action onFinally, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        try
        {
            yield return 1;
            await Task.Delay(1, cancellationToken);
            throw new InvalidOperationException("boom");
        }
        finally
        {
            onFinally();
        }
    }
}

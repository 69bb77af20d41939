using System.Collections.Concurrent;

namespace Snippets;

// <snippet name="single-threaded-store">
// SingleThreaded: one instance per partition, touched only by the partition's thread. No lock.
public sealed class CartStore
{
    private readonly Dictionary<string, List<string>> _carts = [];

    public int Add(string cart, string item)
    {
        var items = _carts.TryGetValue(cart, out var existing) ? existing : _carts[cart] = [];
        items.Add(item);
        return items.Count;
    }
}
// </snippet>

// <snippet name="free-threaded-store">
// FreeThreaded: one instance per partition too, but its requests run in parallel on the thread pool. Lock-free
// collections, or locks.
public sealed class SharedCartStore
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<string>> _carts = new();

    public int Add(string cart, string item)
    {
        var items = _carts.GetOrAdd(cart, _ => new ConcurrentQueue<string>());
        items.Enqueue(item);
        return items.Count;
    }
}
// </snippet>

public static class ChoosingAMode
{
    // <snippet name="safe-and-unsafe">
    // Safe in a SingleThreaded partition: every await comes back to the partition's thread.
    public static async Task<int> SafeAsync(CartStore store, HttpClient prices, string cart)
    {
        var price = await prices.GetStringAsync($"/prices/{cart}");
        return store.Add(cart, price);
    }

    // Unsafe: after ConfigureAwait(false) the code runs on the thread pool, in parallel with the partition's thread,
    // and the store is not made for that. The escape detector (on in Development) logs it, once per call site.
    public static async Task<int> UnsafeAsync(CartStore store, HttpClient prices, string cart)
    {
        var price = await prices.GetStringAsync($"/prices/{cart}").ConfigureAwait(false);
        return store.Add(cart, price);
    }

    // Safe again: Task.Run leaves the partition on purpose for the work that may run anywhere; the await brings the
    // result back to the partition's thread, and the store is touched there. Touching it inside the lambda would not be.
    public static async Task<int> OffloadAsync(CartStore store, string cart, byte[] image)
    {
        var thumbnail = await Task.Run(() => Convert.ToBase64String(image.AsSpan(0, Math.Min(64, image.Length))));
        return store.Add(cart, thumbnail);
    }
    // </snippet>

    // <snippet name="configure-modes">
    public static void Configure(WebApplicationBuilder builder)
    {
        builder.AddPartitionedHosting(partition =>
        {
            // One instance per partition, whatever the mode.
            partition.Services.AddSingleton<CartStore>();
            partition.Services.AddSingleton<SharedCartStore>();
        });
    }
    // </snippet>
}

using Microsoft.AspNetCore.Mvc;
using PartitionedHosting;

namespace Snippets.Readme;

// The README's code: every C# block of README.md is one of these regions, word for word (DocsSnippetsTests).
public static class ReadmeSnippets
{
    public static void QuickStart(string[] args)
    {
        // <snippet name="readme-using-it">
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddSingleton<Clock>();              // ordinary registration: shared by every partition
        builder.AddPartitionedHosting(partition =>           // describes what each partition has of its own
        {
            partition.Services.AddSingleton<CounterStore>();  // one instance per partition
        });
        var app = builder.Build();
        app.MapGet("/count", (CounterStore store) => store.Increment());   // gets its own partition's instance
        app.Run();
        // </snippet>
    }

    public static void Keys(WebApplication app)
    {
        // <snippet name="readme-keyed-endpoints">
        app.MapPost("/carts/{id}/items", (string id, CartStore carts) => carts.Add(id)).WithPartitionKey("id");      // route value
        app.MapGet("/tenant", (TenantCache cache) => cache.Get()).WithPartitionKey(PartitionKeySource.Header, "X-Tenant");
        // also PartitionKeySource.Query and PartitionKeySource.Claim
        // </snippet>
    }

    public static async Task<long[]> CrossPartitionAsync(IPartitionInvoker partitions, CancellationToken cancellationToken)
    {
        // <snippet name="readme-cross-partition">
        var count = await partitions.InvokeForKeyAsync("apple", (p, ct) => Task.FromResult(p.Services.GetRequiredService<CounterStore>().Get("apple")), cancellationToken);
        var one = await partitions.InvokeAsync(2, (p, ct) => DoWorkAsync(p, ct), cancellationToken);
        long[] all = await partitions.InvokeAllAsync((p, ct) => Task.FromResult(p.Services.GetRequiredService<CounterStore>().Total), cancellationToken); // fan-out
        // </snippet>
        return [count, one, .. all];
    }

    public static void Dedicated(WebApplication app)
    {
        // <snippet name="readme-run-on-partition">
        app.MapGet("/reports/{id}", (int id, LegacyReports reports) => reports.Render(id)) // blocks on a synchronous driver
           .RunOnPartition(4);
        // </snippet>
    }

    private static Task<long> DoWorkAsync(IPartitionContext partition, CancellationToken cancellationToken) =>
        Task.FromResult((long)partition.Id);
}

// <snippet name="readme-keyed-controller">
[ApiController]
public sealed class OrdersController(OrderStore orders) : ControllerBase
{
    [PartitionKey("id")]                                   // controllers (on the action or the class) and Razor Pages
    [HttpGet("orders/{id}")]
    public Order Get(string id) => orders.Get(id);
}
// </snippet>

public sealed class Clock
{
    public DateTimeOffset Now => TimeProvider.System.GetUtcNow();
}

public sealed class CounterStore
{
    private readonly Dictionary<string, long> _counters = [];

    public long Total { get; private set; }

    public long Increment() => ++Total;

    public long Get(string key) => _counters.GetValueOrDefault(key);
}

public sealed class CartStore
{
    private readonly Dictionary<string, int> _items = [];

    public int Add(string cart) => _items[cart] = _items.GetValueOrDefault(cart) + 1;
}

public sealed class TenantCache
{
    public string Get() => "tenant";
}

public sealed record Order(string Id);

public sealed class OrderStore
{
    public Order Get(string id) => new(id);
}

public sealed class LegacyReports
{
    public string Render(int id) => $"report {id}";
}

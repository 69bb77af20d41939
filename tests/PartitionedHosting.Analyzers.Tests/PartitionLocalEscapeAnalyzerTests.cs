namespace PartitionedHosting.Analyzers.Tests;

public sealed class PartitionLocalEscapeAnalyzerTests
{
    private const string App = """
        using System.Net.Http;
        using System.Threading;
        using System.Threading.Tasks;
        using Microsoft.AspNetCore.Builder;
        using Microsoft.AspNetCore.Http;
        using Microsoft.AspNetCore.Mvc;
        using Microsoft.Extensions.DependencyInjection;
        using Microsoft.Extensions.Hosting;

        public sealed class CartStore
        {
            private int _count;

            public int Add(string item) => _count += item.Length;

            // A partition-local service's own code: its 'this' handed to the thread pool.
            public Task FlushLaterAsync() => Task.Run(() => {|PH0003:this|}.Add("flush"));

            // Its own work on the thread pool, touching nothing of it: fine.
            public Task<int> HashAsync(string item) => Task.Run(() => item.GetHashCode());
        }
        public sealed class PriceList { public string Currency => "EUR"; }

        public static class Setup
        {
            public static void Configure(WebApplicationBuilder builder)
            {
                builder.Services.AddSingleton<PriceList>();                       // the application's: shared
                builder.AddPartitionedHosting(partition => partition.Services.AddSingleton<CartStore>());
            }
        }

        """;

    [Fact]
    public Task ConfigureAwaitFalse_FollowedByAPartitionLocalService_IsReported()
    {
        return Verify<PartitionLocalEscapeAnalyzer>.AnalyzeAsync(App + """
            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapPost("/carts", async (CartStore store, HttpClient http) =>
                    {
                        var price = await {|PH0002:http.GetStringAsync("/price").ConfigureAwait(false)|};
                        return store.Add(price);
                    });

                    app.MapPost("/options", async (CartStore store, HttpClient http) =>
                    {
                        await {|PH0002:Task.Delay(1).ConfigureAwait(ConfigureAwaitOptions.None)|};
                        await Task.Delay(1).ConfigureAwait(ConfigureAwaitOptions.ContinueOnCapturedContext);
                        return store.Add("item");
                    });

                    app.MapPost("/resolved", async (HttpContext context, HttpClient http) =>
                    {
                        var price = await {|PH0002:http.GetStringAsync("/price").ConfigureAwait(false)|};
                        return context.RequestServices.GetRequiredService<CartStore>().Add(price);
                    });
                }
            }

            public sealed class CartsController(CartStore store, HttpClient http) : ControllerBase
            {
                [HttpPost("carts/{id}")]
                public async Task<int> Add(string id)
                {
                    await {|PH0002:http.GetStringAsync("/" + id).ConfigureAwait(false)|};
                    return store.Add(id);
                }
            }
            """);
    }

    [Fact]
    public Task ConfigureAwaitFalse_BeforeOnlySharedServices_OrAfterThePartitionsWork_OrOutsideRequestCode_IsNotReported()
    {
        return Verify<PartitionLocalEscapeAnalyzer>.AnalyzeAsync(App + """
            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    // The partition-local service is used before leaving; only shared services after.
                    app.MapPost("/carts", async (CartStore store, PriceList prices, HttpClient http) =>
                    {
                        var count = store.Add("item");
                        await http.GetStringAsync("/audit").ConfigureAwait(false);
                        return prices.Currency + count;
                    });

                    // ConfigureAwait(true), and a plain await: back on the partition's thread.
                    app.MapPost("/stay", async (CartStore store, HttpClient http) =>
                    {
                        await http.GetStringAsync("/a").ConfigureAwait(true);
                        await http.GetStringAsync("/b");
                        return store.Add("item");
                    });
                }
            }

            // A library method, not request code: ConfigureAwait(false) is right there.
            public static class Prices
            {
                public static async Task<int> LoadAsync(HttpClient http, CartStore store)
                {
                    var price = await http.GetStringAsync("/price").ConfigureAwait(false);
                    return store.Add(price);
                }
            }
            """);
    }

    [Fact]
    public Task PartitionLocalServices_CapturedByWorkOnThePool_AreReported()
    {
        return Verify<PartitionLocalEscapeAnalyzer>.AnalyzeAsync(App + """
            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapPost("/carts", (CartStore store) => Task.Run(() => {|PH0003:store|}.Add("item")));
                    app.MapPost("/timer", (CartStore store) => new Timer(_ => {|PH0003:store|}.Add("tick"), null, 10, Timeout.Infinite));
                    app.MapPost("/pool", (CartStore store) => ThreadPool.QueueUserWorkItem(_ => {|PH0003:store|}.Add("item")));

                    // Work on the pool that only computes, and the result used back on the partition's thread: fine.
                    app.MapPost("/offload", async (CartStore store, PriceList prices, string item) =>
                    {
                        var hash = await Task.Run(() => item.GetHashCode() + prices.Currency.Length);
                        return store.Add(item + hash);
                    });
                }
            }

            // Injected and kept in a field, the most common way: the field is captured through 'this'.
            public sealed class CartsController(CartStore store) : ControllerBase
            {
                private readonly CartStore _store = store;

                [HttpPost("carts/{id}/later")]
                public Task Later(string id) => Task.Run(() => {|PH0003:_store|}.Add(id));
            }
            """);
    }

    [Fact]
    public Task ConfigureAwaitFalse_InAMethodGroupHandlerOrAPartitionLocalService_IsReported()
    {
        return Verify<PartitionLocalEscapeAnalyzer>.AnalyzeAsync(App + """
            public sealed class Checkout(CartStore store)
            {
                public async Task<int> RunAsync()
                {
                    await {|PH0002:Task.Delay(1).ConfigureAwait(false)|};
                    return store.Add("checkout");
                }
            }

            public static class Handlers
            {
                public static async Task<int> AddAsync(CartStore store)
                {
                    await {|PH0002:Task.Delay(1).ConfigureAwait(false)|};
                    return store.Add("item");
                }

                // Not a handler.
                public static async Task<int> HelperAsync(CartStore store)
                {
                    await Task.Delay(1).ConfigureAwait(false);
                    return store.Add("item");
                }
            }

            public static class Registration
            {
                public static void Configure(WebApplicationBuilder builder) =>
                    builder.AddPartitionedHosting(partition => partition.Services.AddScoped<Checkout>());

                public static void Map(WebApplication app) => app.MapPost("/add", Handlers.AddAsync);
            }
            """);
    }
}

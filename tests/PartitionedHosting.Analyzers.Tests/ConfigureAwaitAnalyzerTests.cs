namespace PartitionedHosting.Analyzers.Tests;

public sealed class ConfigureAwaitAnalyzerTests
{
    private const string App = """
        using System.Net.Http;
        using System.Threading.Tasks;
        using Microsoft.AspNetCore.Builder;
        using Microsoft.AspNetCore.Http;
        using Microsoft.AspNetCore.Mvc;
        using Microsoft.Extensions.DependencyInjection;
        using Microsoft.Extensions.Hosting;

        public sealed class CartStore { public int Add(string item) => item.Length; }
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
        return Verify<ConfigureAwaitAnalyzer>.AnalyzeAsync(App + """
            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapPost("/carts", async (CartStore store, HttpClient http) =>
                    {
                        var price = await {|PH0002:http.GetStringAsync("/price").ConfigureAwait(false)|};
                        return store.Add(price);
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
        return Verify<ConfigureAwaitAnalyzer>.AnalyzeAsync(App + """
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
}

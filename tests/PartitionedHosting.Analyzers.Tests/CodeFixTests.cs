namespace PartitionedHosting.Analyzers.Tests;

public sealed class CodeFixTests
{
    private const string Usings = """
        using System.Net.Http;
        using System.Threading.Tasks;
        using Microsoft.AspNetCore.Builder;
        using Microsoft.Extensions.DependencyInjection;
        using Microsoft.Extensions.Hosting;

        """;

    [Fact]
    public Task BlockingWaits_InAsyncRequestCode_BecomeAwaits()
    {
        return Verify<BlockingCallAnalyzer>.FixAsync<AwaitInsteadCodeFixProvider>(Usings + """
            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapGet("/result", async (HttpClient http) => {|PH0001:http.GetStringAsync("/a").Result|}.Length);
                    app.MapGet("/wait", async (HttpClient http) =>
                    {
                        {|PH0001:http.GetStringAsync("/b").Wait()|};
                        return {|PH0001:http.GetStringAsync("/c").GetAwaiter().GetResult()|};
                    });
                }
            }
            """, Usings + """
            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapGet("/result", async (HttpClient http) => (await http.GetStringAsync("/a")).Length);
                    app.MapGet("/wait", async (HttpClient http) =>
                    {
                        await http.GetStringAsync("/b");
                        return await http.GetStringAsync("/c");
                    });
                }
            }
            """);
    }

    [Fact]
    public Task ABlockingWait_InASynchronousHandler_OrWhereAwaitIsNotAllowed_IsNotChanged()
    {
        // The fix would need the handler made async too, or code moved out of a lock: left to the author.
        const string code = """
            public static class Endpoints
            {
                private static readonly object s_gate = new();

                public static void Map(WebApplication app)
                {
                    app.MapGet("/result", (HttpClient http) => {|PH0001:http.GetStringAsync("/a").Result|});
                    app.MapGet("/locked", async (HttpClient http) =>
                    {
                        await Task.Yield();
                        lock (s_gate)
                        {
                            return {|PH0001:http.GetStringAsync("/b").Result|};
                        }
                    });
                }
            }
            """;
        return Verify<BlockingCallAnalyzer>.FixAsync<AwaitInsteadCodeFixProvider>(Usings + code, Usings + code);
    }

    [Fact]
    public Task ConfigureAwaitFalse_BeforeAPartitionLocalService_IsRemoved()
    {
        const string store = """
            public sealed class CartStore { public int Add(string item) => item.Length; }

            public static class Setup
            {
                public static void Configure(WebApplicationBuilder builder) =>
                    builder.AddPartitionedHosting(partition => partition.Services.AddSingleton<CartStore>());
            }

            """;
        return Verify<PartitionLocalEscapeAnalyzer>.FixAsync<RemoveConfigureAwaitCodeFixProvider>(Usings + store + """
            public static class Endpoints
            {
                public static void Map(WebApplication app) =>
                    app.MapPost("/carts", async (CartStore store, HttpClient http) =>
                    {
                        var price = await {|PH0002:http.GetStringAsync("/price").ConfigureAwait(false)|};
                        return store.Add(price);
                    });
            }
            """, Usings + store + """
            public static class Endpoints
            {
                public static void Map(WebApplication app) =>
                    app.MapPost("/carts", async (CartStore store, HttpClient http) =>
                    {
                        var price = await http.GetStringAsync("/price");
                        return store.Add(price);
                    });
            }
            """);
    }
}

namespace PartitionedHosting.Analyzers.Tests;

public sealed class RouteKeyAnalyzerTests
{
    [Fact]
    public Task AKeyOnARouteValueThePatternDoesNotHave_IsReported()
    {
        return Verify<RouteKeyAnalyzer>.AnalyzeAsync("""
            using Microsoft.AspNetCore.Builder;
            using PartitionedHosting;

            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapPost("/carts/{cartId}/items", (string cartId) => cartId).WithPartitionKey({|PH0006:"id"|});
                    app.MapGet("/orders/{orderId:int}", (int orderId) => orderId).WithPartitionKey(PartitionKeySource.Route, {|PH0006:"id"|});

                    // Keyed on what the pattern has (constraints, defaults, optional and catch-all parameters included).
                    app.MapGet("/users/{id:guid}", (System.Guid id) => id).WithPartitionKey("id");
                    app.MapGet("/files/{**path}", (string path) => path).WithPartitionKey("PATH");
                    app.MapGet("/pages/{page=home}/{section?}", (string page) => page).WithPartitionKey(PartitionKeySource.Route, "page");

                    // Not a route value, or a pattern not known at compile time: not checked.
                    app.MapGet("/tenant", () => "t").WithPartitionKey(PartitionKeySource.Header, "X-Tenant");
                    var pattern = "/dynamic/{id}";

                    // An endpoint of a route group has the group's parameters too.
                    app.MapGroup("/carts/{id}").MapGet("/items", (string id) => id).WithPartitionKey("id");
                    app.MapGet(pattern, (string id) => id).WithPartitionKey("key");
                }
            }
            """);
    }
}

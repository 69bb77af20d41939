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

    [Fact]
    public Task APartitionKeyAttributeOnAHandlerOrAnAction_IsCheckedAgainstItsRoutes()
    {
        return Verify<RouteKeyAnalyzer>.AnalyzeAsync("""
            using Microsoft.AspNetCore.Builder;
            using Microsoft.AspNetCore.Mvc;
            using PartitionedHosting;

            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapGet("/carts/{cartId}", [PartitionKey({|PH0006:"id"|})] (string cartId) => cartId);
                    app.MapGet("/carts/{id}/total", [PartitionKey("id")] (string id) => id);
                    app.MapGet("/tenant", [PartitionKey(PartitionKeySource.Header, "X-Tenant")] () => "t");
                }
            }

            [ApiController]
            [Route("orders/{orderId}")]
            public sealed class OrdersController : ControllerBase
            {
                [HttpGet]
                [PartitionKey("orderId")]
                public string Get(string orderId) => orderId;

                [HttpGet("lines/{line}")]
                [PartitionKey({|PH0006:"id"|})]
                public string Line(string orderId, int line) => orderId;

                // A template of its own ('/...') replaces the controller's.
                [HttpGet("/archive/{year}")]
                [PartitionKey(PartitionKeySource.Route, {|PH0006:"orderId"|})]
                public string Archive(int year) => "";
            }

            [Route("users")]
            [PartitionKey({|PH0006:"userId"|})]
            public sealed class UsersController : ControllerBase
            {
                [HttpGet("{id}")]
                public string Get(string id) => id;

                [HttpGet("{id}/name")]
                public string Name(string id) => id;
            }

            // The route of a base controller is inherited; [NonAction] methods and overrides are not actions.
            [Route("tenants/{tenant}/[controller]")]
            public abstract class TenantControllerBase : ControllerBase
            {
            }

            [PartitionKey("tenant")]
            public sealed class InvoicesController : TenantControllerBase
            {
                [HttpGet("{id}")]
                public string Get(string id) => id;

                [NonAction]
                public string Helper() => "";

                public override string ToString() => "invoices";
            }

            [Route("carts")]
            [PartitionKey("cartId")]
            public sealed class CartsController : ControllerBase
            {
                [HttpGet("{cartId}")]
                public string Get(string cartId) => cartId;

                [NonAction]
                public string Helper() => "";
            }

            // Conventional routing: the routes are not known at compile time.
            [PartitionKey("id")]
            public sealed class HomeController : Controller
            {
                public IActionResult Index() => View();
            }
            """);
    }

    [Fact]
    public Task AHeaderOrQueryKeyNamedAsARouteParameter_IsReported()
    {
        return Verify<RouteKeyAnalyzer>.AnalyzeAsync("""
            using Microsoft.AspNetCore.Builder;
            using Microsoft.AspNetCore.Mvc;
            using PartitionedHosting;

            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapGet("/carts/{cartId}", (string cartId) => cartId).WithPartitionKey(PartitionKeySource.Query, {|PH0007:"cartId"|});
                    app.MapGet("/tenants/{tenant}/users", (string tenant) => tenant).WithPartitionKey(PartitionKeySource.Header, {|PH0007:"TENANT"|});
                    app.MapGet("/orders/{id}", [PartitionKey(PartitionKeySource.Query, {|PH0007:"id"|})] (string id) => id);

                    // A header or query value the path does not carry: nothing to check it against.
                    app.MapGet("/carts/{cartId}/items", (string cartId) => cartId).WithPartitionKey(PartitionKeySource.Header, "X-Tenant");
                    app.MapGet("/search", (string q) => q).WithPartitionKey(PartitionKeySource.Query, "tenant");
                    app.MapGet("/users/{id}", (string id) => id).WithPartitionKey(PartitionKeySource.Claim, "id");
                }
            }

            [Route("accounts/{accountId}")]
            public sealed class AccountsController : ControllerBase
            {
                [HttpGet]
                [PartitionKey(PartitionKeySource.Header, {|PH0007:"accountId"|})]
                public string Get(string accountId) => accountId;
            }
            """);
    }
}

namespace PartitionedHosting.Analyzers.Tests;

/// <summary>
/// No false positives: a realistic partitioned application (minimal APIs, controllers, Razor Pages, a SignalR hub,
/// middleware, EF Core, a hosted service), written correctly, raises nothing from any of the analyzers.
/// </summary>
public sealed class RealisticApplicationTests
{
    private const string Application = """
        using System;
        using System.Collections.Generic;
        using System.Linq;
        using System.Net.Http;
        using System.Runtime.CompilerServices;
        using System.Threading;
        using System.Threading.Tasks;
        using Microsoft.AspNetCore.Builder;
        using Microsoft.AspNetCore.Http;
        using Microsoft.AspNetCore.Mvc;
        using Microsoft.AspNetCore.Mvc.RazorPages;
        using Microsoft.AspNetCore.SignalR;
        using Microsoft.EntityFrameworkCore;
        using Microsoft.Extensions.DependencyInjection;
        using Microsoft.Extensions.Hosting;
        using PartitionedHosting;

        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddControllers();
        builder.Services.AddRazorPages();
        builder.Services.AddSignalR();
        builder.Services.AddHttpClient();
        builder.Services.AddDbContext<ShopContext>();
        builder.Services.AddSingleton(new PriceList("EUR"));                 // an instance, shared: allowed here
        builder.Services.AddHostedService<Warmup>();
        builder.AddPartitionedHosting(partition =>
        {
            partition.Services.AddSingleton<CartStore>();
            partition.Services.AddSingleton<IRepository<Cart>, Repository<Cart>>();
            partition.Services.AddScoped(sp => new Audit(sp.GetRequiredService<CartStore>()));
        });

        var app = builder.Build();
        app.UseMiddleware<TimingMiddleware>();
        app.Use(async (context, next) =>
        {
            context.Response.Headers["X-Partition"] = context.Features.Get<IPartitionFeature>()?.Partition.Id.ToString();
            await next(context);
        });
        app.MapControllers();
        app.MapRazorPages();
        app.MapHub<CartHub>("/hubs/carts");

        app.MapPost("/carts/{cartId}/items", async (string cartId, CartStore store, HttpClient http) =>
        {
            var price = await http.GetStringAsync("/prices/" + cartId);
            return store.Add(cartId, price);
        }).WithPartitionKey("cartId");
        app.MapGet("/carts/{cartId:int}", (int cartId, CartStore store) => store.Count(cartId.ToString())).WithPartitionKey("CARTID");
        app.MapGet("/tenant", (HttpContext context) => context.Request.Headers["X-Tenant"].ToString())
            .WithPartitionKey(PartitionKeySource.Header, "X-Tenant");
        app.MapGet("/carts", async (IPartitionInvoker partitions, CancellationToken cancellationToken) =>
        {
            var counts = await partitions.InvokeAllAsync(
                (partition, _) => Task.FromResult(partition.Services.GetRequiredService<CartStore>().Total),
                cancellationToken);
            return counts.Sum();
        });
        app.MapPost("/thumbnails/{cartId}", async (string cartId, byte[] image, CartStore store) =>
        {
            // Compute on the pool, touch the store back on the partition's thread.
            var thumbnail = await Task.Run(() => Convert.ToBase64String(image.AsSpan(0, Math.Min(64, image.Length))));
            return store.Add(cartId, thumbnail);
        });
        app.MapGet("/orders", async (ShopContext db) => await db.Orders.OrderBy(o => o.Id).ToListAsync());
        app.Run();

        public sealed record Order(int Id, string Cart);

        public sealed class ShopContext(DbContextOptions<ShopContext> options) : DbContext(options)
        {
            public DbSet<Order> Orders => Set<Order>();
        }

        public sealed record PriceList(string Currency);

        public sealed class Cart;

        public interface IRepository<T>;

        public sealed class Repository<T> : IRepository<T>;

        public sealed class CartStore
        {
            private readonly Dictionary<string, List<string>> _carts = [];

            public long Total { get; private set; }

            public int Add(string cart, string item)
            {
                var items = _carts.TryGetValue(cart, out var existing) ? existing : _carts[cart] = [];
                items.Add(item);
                Total++;
                return items.Count;
            }

            public int Count(string cart) => _carts.TryGetValue(cart, out var items) ? items.Count : 0;
        }

        public sealed class Audit(CartStore store)
        {
            public long Seen => store.Total;
        }

        [ApiController]
        [Route("api/carts")]
        public sealed class CartsController(CartStore store, ShopContext db) : ControllerBase
        {
            [HttpPost("{id}")]
            [PartitionKey("id")]
            public async Task<int> Add(string id, [FromBody] string item)
            {
                db.Add(new Order(0, id));
                await db.SaveChangesAsync();
                return store.Add(id, item);
            }

            [HttpGet("{id}/items")]
            public async IAsyncEnumerable<string> Items(string id, [EnumeratorCancellation] CancellationToken cancellationToken)
            {
                foreach (var order in await db.Orders.Where(o => o.Cart == id).ToListAsync(cancellationToken))
                {
                    yield return order.Cart + store.Count(id);
                }
            }
        }

        public sealed class CartModel(CartStore store, HttpClient http) : PageModel
        {
            public int Count { get; private set; }

            public async Task OnGetAsync(string id)
            {
                await http.GetStringAsync("/ping");
                Count = store.Count(id);
            }
        }

        public sealed class CartHub(CartStore store) : Hub
        {
            public async Task Add(string cart, string item)
            {
                var count = store.Add(cart, item);
                await Clients.Caller.SendAsync("count", count);
            }

            public async IAsyncEnumerable<int> Counts(string cart, [EnumeratorCancellation] CancellationToken cancellationToken)
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    yield return store.Count(cart);
                    await Task.Delay(1000, cancellationToken);
                }
            }
        }

        public sealed class TimingMiddleware(RequestDelegate next)
        {
            public async Task InvokeAsync(HttpContext context, Audit audit)
            {
                var started = TimeProvider.System.GetTimestamp();
                await next(context);
                context.Items["elapsed"] = TimeProvider.System.GetElapsedTime(started) + " after " + audit.Seen;
            }
        }

        // Not request code: a library that rightly leaves the caller's context, and a hosted service.
        public static class PriceClient
        {
            public static async Task<decimal> GetAsync(HttpClient http, string product)
            {
                var text = await http.GetStringAsync("/prices/" + product).ConfigureAwait(false);
                return decimal.Parse(text);
            }
        }

        public sealed class Warmup : BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken) =>
                await Task.Delay(10, stoppingToken);
        }
        """;

    [Fact]
    public async Task CorrectCode_RaisesNothing()
    {
        await Verify<BlockingCallAnalyzer>.AnalyzeAsync(Application, Microsoft.CodeAnalysis.OutputKind.ConsoleApplication);
        await Verify<PartitionLocalEscapeAnalyzer>.AnalyzeAsync(Application, Microsoft.CodeAnalysis.OutputKind.ConsoleApplication);
        await Verify<StaticStateWriteAnalyzer>.AnalyzeAsync(Application, Microsoft.CodeAnalysis.OutputKind.ConsoleApplication);
        await Verify<PartitionLocalRegistrationAnalyzer>.AnalyzeAsync(Application, Microsoft.CodeAnalysis.OutputKind.ConsoleApplication);
        await Verify<RouteKeyAnalyzer>.AnalyzeAsync(Application, Microsoft.CodeAnalysis.OutputKind.ConsoleApplication);
    }
}

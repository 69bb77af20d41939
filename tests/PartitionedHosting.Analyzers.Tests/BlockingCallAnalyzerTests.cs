using Microsoft.CodeAnalysis;

namespace PartitionedHosting.Analyzers.Tests;

public sealed class BlockingCallAnalyzerTests
{
    private const string Usings = """
        using System;
        using System.Collections.Generic;
        using System.Linq;
        using System.Net.Http;
        using System.Threading;
        using System.Threading.Tasks;
        using Microsoft.AspNetCore.Builder;
        using Microsoft.AspNetCore.Http;
        using Microsoft.AspNetCore.Mvc;
        using Microsoft.AspNetCore.SignalR;

        """;

    [Fact]
    public Task EndpointHandlers_ThatBlock_AreReported_InTopLevelStatements()
    {
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync(Usings + """
            var app = WebApplication.CreateBuilder(args).Build();
            app.MapGet("/sleep", () => { {|PH0001:Thread.Sleep(10)|}; return "slept"; });
            app.MapGet("/result", (HttpClient http) => {|PH0001:http.GetStringAsync("/x").Result|});
            app.MapPost("/wait", (HttpContext context) => {|PH0001:context.Request.Body.FlushAsync().Wait()|});
            app.MapGet("/awaiter", async () => {|PH0001:Task.Delay(1).ConfigureAwait(false).GetAwaiter().GetResult()|});
            app.MapGet("/all", () => {|PH0001:Task.WaitAll(Task.Delay(1), Task.Delay(2))|});
            app.Run();
            """, OutputKind.ConsoleApplication);
    }

    [Fact]
    public Task AwaitsAndWorkSentElsewhere_AreNotReported()
    {
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync(Usings + """
            var app = WebApplication.CreateBuilder(args).Build();
            app.MapGet("/await", async (HttpClient http) => await http.GetStringAsync("/x"));

            // On the thread pool, on purpose: blocking there holds a pool thread, not the partition.
            app.MapGet("/run", () => Task.Run(() => { Thread.Sleep(10); return "slept elsewhere"; }));
            app.MapGet("/continue", () => Task.Delay(1).ContinueWith(t => { t.Wait(); return 1; }));
            app.MapGet("/pool", () => ThreadPool.QueueUserWorkItem(_ => Thread.Sleep(10)));
            app.MapGet("/thread", () => new Thread(() => Thread.Sleep(10)).Start());

            // Setup callbacks run once, at startup: not request code.
            app.Map("/branch", branch =>
            {
                Thread.Sleep(1);
                branch.Run(context => context.Response.WriteAsync("branch"));
            });
            app.Use(next =>
            {
                Thread.Sleep(1);
                return context => next(context);
            });

            // Outside request code: the program's own startup may block.
            app.StartAsync().Wait();
            Thread.Sleep(1);
            """, OutputKind.ConsoleApplication);
    }

    [Fact]
    public Task DelegatesRunInPlace_AndLocalFunctions_AreRequestCodeToo()
    {
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync(Usings + """
            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapGet("/many", (HttpClient http) =>
                    {
                        var pages = new[] { "/a", "/b" }.Select(path => {|PH0001:http.GetStringAsync(path).Result|}).ToList();
                        return Join(pages);

                        string Join(List<string> parts)
                        {
                            {|PH0001:Thread.Sleep(1)|};
                            return string.Join(",", parts);
                        }
                    });
                }
            }
            """);
    }

    [Fact]
    public Task ControllersHubsAndMiddleware_ThatBlock_AreReported()
    {
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync(Usings + """
            public sealed class OrdersController : ControllerBase
            {
                [HttpGet("orders/{id}")]
                public string Get(string id, [FromServices] HttpClient http) => {|PH0001:http.GetStringAsync("/orders/" + id).Result|};

                [HttpGet("orders")]
                public async IAsyncEnumerable<string> List([FromServices] HttpClient http)
                {
                    yield return {|PH0001:http.GetStringAsync("/first").GetAwaiter().GetResult()|};
                    yield return await http.GetStringAsync("/second");
                }
            }

            public sealed class ChatHub : Hub
            {
                public void Send(string message) => {|PH0001:Clients.All.SendAsync("message", message).Wait()|};
            }

            public sealed class TimingMiddleware(RequestDelegate next)
            {
                public Task InvokeAsync(HttpContext context)
                {
                    {|PH0001:Thread.Sleep(1)|};
                    return next(context);
                }
            }

            public static class Pipeline
            {
                public static void Configure(WebApplication app) =>
                    app.Use(async (context, next) => { {|PH0001:Task.Delay(1).Wait()|}; await next(context); });
            }

            // A gRPC service: its generated base class carries [BindServiceMethod].
            public sealed class GreeterService : Greeter.GreeterBase
            {
                public override Task<string> SayHello(string name) => Task.FromResult({|PH0001:Task.FromResult(name).Result|});
            }

            public static class Greeter
            {
                [Grpc.Core.BindServiceMethod(typeof(Greeter), "BindService")]
                public abstract class GreeterBase
                {
                    public abstract Task<string> SayHello(string name);
                }
            }

            // Not request code: a plain class, and a controller's static helper.
            public sealed class Reports
            {
                public string Render(Task<string> template) => template.Result;
            }

            namespace Grpc.Core
            {
                [System.AttributeUsage(System.AttributeTargets.Class)]
                public sealed class BindServiceMethodAttribute(System.Type bindType, string bindMethodName) : System.Attribute;
            }
            """);
    }

    [Fact]
    public Task MethodGroupHandlersAndPartitionLocalServices_AreRequestCode()
    {
        // Only the whole compilation shows that these methods are request code: reported when it ends.
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync("""
            using System.Threading;
            using System.Threading.Tasks;
            using Microsoft.AspNetCore.Builder;
            using Microsoft.AspNetCore.Http;
            using Microsoft.Extensions.DependencyInjection;
            using Microsoft.Extensions.Hosting;

            public sealed class CartStore
            {
                public int Count(Task<int> pending) => {|PH0001:pending.Result|};
            }

            public sealed class Unregistered
            {
                // Not partition-local, not a handler: not request code.
                public int Count(Task<int> pending) => pending.Result;
            }

            public static class Handlers
            {
                public static string Get(Task<string> name) => {|PH0001:name.Result|};

                public static Task Middleware(HttpContext context, RequestDelegate next)
                {
                    {|PH0001:Thread.Sleep(1)|};
                    return next(context);
                }

                // A local function of a handler runs in place, as the handler's code.
                public static string Local(Task<string> name)
                {
                    return Read();

                    string Read() => {|PH0001:name.Result|};
                }

                // Given to Map as its setup callback, which runs once at startup.
                public static void Branch(IApplicationBuilder branch) => Thread.Sleep(1);

                // Given to Task.Run: the thread pool's.
                public static void Work() => Thread.Sleep(1);
            }

            public static class Setup
            {
                public static void Configure(WebApplicationBuilder builder) =>
                    builder.AddPartitionedHosting(partition => partition.Services.AddScoped<CartStore>());

                public static void Map(WebApplication app)
                {
                    app.MapGet("/name", Handlers.Get);
                    app.MapGet("/local", Handlers.Local);
                    app.Use(Handlers.Middleware);
                    app.Map("/branch", Handlers.Branch);
                    app.MapGet("/work", () => Task.Run(Handlers.Work));
                }
            }
            """);
    }

    [Fact]
    public Task ALocalFunctionGivenAsAHandler_InTopLevelStatements_IsRequestCode()
    {
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync("""
            using System.Threading;
            using Microsoft.AspNetCore.Builder;

            var app = WebApplication.Create(args);
            app.MapGet("/slow", Slow);
            app.Run();

            string Slow()
            {
                {|PH0001:Thread.Sleep(10)|};
                return "slow";
            }

            // Not given to anything: not request code.
            static void Helper() => Thread.Sleep(10);
            """,
            Microsoft.CodeAnalysis.OutputKind.ConsoleApplication);
    }

    [Fact]
    public Task TheResultOfATaskAlreadyAwaited_IsNotABlockingWait()
    {
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync("""
            using System.Linq;
            using System.Threading.Tasks;
            using Microsoft.AspNetCore.Builder;

            public static class Endpoints
            {
                public static void Map(WebApplication app)
                {
                    app.MapGet("/both", async (Task<int> a, Task<int> b) =>
                    {
                        await Task.WhenAll(a, b);
                        return a.Result + b.GetAwaiter().GetResult();
                    });

                    app.MapGet("/all", async () =>
                    {
                        var tasks = new[] { Task.FromResult(1), Task.FromResult(2) };
                        await Task.WhenAll(tasks).ConfigureAwait(true);
                        return tasks[0].Result + tasks.Sum(t => t.Result);
                    });

                    app.MapGet("/one", async (Task<int> a) =>
                    {
                        await a;
                        return a.Result;
                    });

                    // WhenAny completes when one of them does: the other may still run.
                    app.MapGet("/any", async (Task<int> a, Task<int> b) =>
                    {
                        await Task.WhenAny(a, b);
                        return {|PH0001:a.Result|};
                    });

                    // Awaited by another handler, in a branch, before the variable changed, or another element: still waits.
                    var config = Task.FromResult(1);
                    app.MapGet("/config", async () => await config);
                    app.MapGet("/config-result", () => {|PH0001:config.Result|});
                    app.MapGet("/branch", async (Task<int> a, bool hot) =>
                    {
                        if (hot)
                        {
                            await a;
                        }

                        return {|PH0001:a.Result|};
                    });
                    app.MapGet("/reassigned", async (Task<int> a, Task<int> b) =>
                    {
                        await a;
                        a = b;
                        return {|PH0001:a.Result|};
                    });
                    app.MapGet("/element", async () =>
                    {
                        var tasks = new[] { Task.FromResult(1), Task.FromResult(2) };
                        await tasks[0];
                        return tasks[0].Result + {|PH0001:tasks[1].Result|};
                    });

                    // Awaited after, or another task: still a blocking wait.
                    app.MapGet("/before", async (Task<int> a, Task<int> b) =>
                    {
                        var early = {|PH0001:a.Result|};
                        await a;
                        return early + {|PH0001:b.Result|};
                    });
                }
            }
            """);
    }

    [Fact]
    public Task AControllerMethodOnlyGivenToTaskRun_IsNotRequestCode()
    {
        return Verify<BlockingCallAnalyzer>.AnalyzeAsync("""
            using System.Threading;
            using System.Threading.Tasks;
            using Microsoft.AspNetCore.Mvc;

            public sealed class ReportsController : ControllerBase
            {
                [HttpPost("reports")]
                public async Task<IActionResult> Build()
                {
                    await Task.Run(Render);
                    await Task.Run(Archive);
                    Archive();
                    return Ok();
                }

                // Only ever run on the thread pool.
                private void Render() => Thread.Sleep(10);

                // Also called from the action, on the partition: request code.
                private void Archive() => {|PH0001:Thread.Sleep(10)|};
            }
            """);
    }
}

using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.Seams;

/// <summary>
/// The request pipeline itself: middleware, minimal API endpoints and their filters, MVC actions and their filters,
/// Razor Pages handlers, <c>OnStarting</c> and <c>OnCompleted</c> callbacks, under 64 concurrent clients.
/// </summary>
public sealed class RequestPipelineSeamTests
{
    public static TheoryData<string> Layouts => SeamLayouts.All;

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task MiddlewareEndpointsFiltersAndResponseCallbacks_HoldThePartitionsGuarantee(string layout)
    {
        var completed = 0;
        await using var app = await KestrelTestApp.StartAsync(
            SeamLayouts.Settings(layout),
            a =>
            {
                a.Use(async (context, next) =>
                {
                    var recorder = context.RequestServices.GetRequiredService<SegmentRecorder>();
                    recorder.Segment("middleware");
                    context.Response.OnStarting(async () =>
                    {
                        recorder.Segment("OnStarting");
                        await Task.Yield();
                        recorder.Segment("OnStarting after await");
                    });
                    context.Response.OnCompleted(async () =>
                    {
                        recorder.Segment("OnCompleted");
                        await Task.Delay(1);
                        recorder.Segment("OnCompleted after await");
                        Interlocked.Increment(ref completed);
                    });
                    await Task.Yield();
                    recorder.Segment("middleware after await");
                    await next(context);
                    recorder.Segment("middleware after next");
                });
                a.MapGet("/minimal/{value:int}", async (int value, SegmentRecorder recorder) =>
                {
                    recorder.Segment("endpoint");
                    await Task.Delay(1);
                    recorder.Segment("endpoint after await");
                    return value;
                }).AddEndpointFilter(async (invocation, next) =>
                {
                    var recorder = invocation.HttpContext.RequestServices.GetRequiredService<SegmentRecorder>();
                    recorder.Segment("endpoint filter");
                    await Task.Yield();
                    var result = await next(invocation);
                    recorder.Segment("endpoint filter after next");
                    return result;
                });
                a.MapControllers();
                a.MapRazorPages();
            },
            partition => partition.Services.AddSingleton<SegmentRecorder>(),
            builder =>
            {
                builder.Services.AddControllers(options => options.Filters.Add<SeamActionFilter>()).AddApplicationPart(typeof(RequestPipelineSeamTests).Assembly);
                builder.Services.AddRazorPages().AddApplicationPart(typeof(RequestPipelineSeamTests).Assembly);
            });

        await Load.RunAsync(app, rounds: 4, async (client, round) =>
        {
            Assert.Equal(round, await client.GetFromJsonAsync<int>($"/minimal/{round}"));
            Assert.Equal(round, await client.GetFromJsonAsync<int>($"/seams/mvc/action/{round}"));
            Assert.Equal(round.ToString(System.Globalization.CultureInfo.InvariantCulture), (await client.GetStringAsync($"/seams/page/{round}")).Trim());
        });

        await KestrelTestApp.WaitUntilAsync(() => Volatile.Read(ref completed) == Load.Clients * 4 * 3, "every OnCompleted callback ran");
        SeamLayouts.AssertHeld(app, "request pipeline", everyPartition: false);
    }
}

/// <summary>An MVC action with awaits, for <see cref="RequestPipelineSeamTests"/>.</summary>
[ApiController]
[Route("seams/mvc")]
public sealed class SeamActionController : ControllerBase
{
    [HttpGet("action/{value:int}")]
    public async Task<int> Get(int value)
    {
        var recorder = HttpContext.RequestServices.GetRequiredService<SegmentRecorder>();
        recorder.Segment("action");
        await Task.Delay(1);
        recorder.Segment("action after await");
        return value;
    }
}

/// <summary>An MVC action filter activated with the partition's services.</summary>
internal sealed class SeamActionFilter(SegmentRecorder recorder) : IAsyncActionFilter, IAsyncResultFilter
{
    public async Task OnActionExecutionAsync(ActionExecutingContext context, ActionExecutionDelegate next)
    {
        recorder.Segment("action filter");
        await Task.Yield();
        await next();
        recorder.Segment("action filter after next");
    }

    public async Task OnResultExecutionAsync(ResultExecutingContext context, ResultExecutionDelegate next)
    {
        recorder.Segment("result filter");
        await next();
        recorder.Segment("result filter after next");
    }
}

using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.Seams;

/// <summary>
/// Streams the framework drives (System.Text.Json enumerating an <see cref="IAsyncEnumerable{T}"/>, Server-Sent
/// Events, push streams) keep each partition's guarantee, over real Kestrel with 64 concurrent clients.
/// </summary>
public sealed class AsyncStreamSeamTests
{
    public static TheoryData<string> Layouts => SeamLayouts.All;

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task AsyncEnumerable_FromAMinimalApi_HoldsThePartitionsGuarantee(string layout)
    {
        await using var app = await StartAsync(layout, a =>
            a.MapGet("/items/{count:int}", (int count, SegmentRecorder recorder, CancellationToken cancellationToken) => Items(count, recorder, cancellationToken)));

        await Load.RunAsync(app, rounds: 3, async (client, _) =>
            Assert.Equal(Enumerable.Range(0, 10), await client.GetFromJsonAsync<int[]>("/items/10")));

        // System.Text.Json enumerates the stream after its own ConfigureAwait(false), off the partition's thread, and a
        // minimal API gives no hook to wrap it: the stream runs one segment at a time under the partition's turn.
        SeamLayouts.AssertHeld(app, "IAsyncEnumerable<T> from a minimal API", onThread: false);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task AsyncEnumerable_FromAnMvcAction_HoldsThePartitionsGuarantee(string layout)
    {
        await using var app = await StartAsync(layout, a => a.MapControllers());

        await Load.RunAsync(app, rounds: 3, async (client, _) =>
            Assert.Equal(Enumerable.Range(0, 10), await client.GetFromJsonAsync<int[]>("/seams/mvc/items/10")));

        SeamLayouts.AssertHeld(app, "IAsyncEnumerable<T> from an MVC action");
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task ServerSentEvents_HoldThePartitionsGuarantee_AlsoWhenTheClientReadsSlowly(string layout)
    {
        await using var app = await StartAsync(layout, a =>
        {
            a.MapGet("/sse/{count:int}", (int count, SegmentRecorder recorder, CancellationToken cancellationToken) =>
                TypedResults.ServerSentEvents(Items(count, recorder, cancellationToken)));

            // Events larger than the server's response buffer, so that the formatter's writes wait for the client.
            a.MapGet("/sse-large/{count:int}", (int count, SegmentRecorder recorder, CancellationToken cancellationToken) =>
                TypedResults.ServerSentEvents(LargeItems(count, recorder, cancellationToken)));
        });

        await Load.RunAsync(app, rounds: 2, async (client, round) =>
        {
            using var response = await client.GetAsync(round == 0 ? "/sse/10" : "/sse-large/10", HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var data = new List<string>();
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Add(line[6..]);
                    await Task.Delay(round);
                }
            }

            Assert.Equal(Enumerable.Range(0, 10).Select(i => round == 0 ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) : new string((char)('a' + i), LargeItem)), data);
        });

        SeamLayouts.AssertHeld(app, "TypedResults.ServerSentEvents", onThread: false);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task PushStream_WritingPastTheResponseBuffer_HoldsThePartitionsGuarantee(string layout)
    {
        const int Chunk = 64 * 1024, Chunks = 8;
        await using var app = await StartAsync(layout, a =>
        {
            a.MapGet("/push", (SegmentRecorder recorder) => Results.Stream(async stream =>
            {
                var chunk = new byte[Chunk];
                for (var i = 0; i < Chunks; i++)
                {
                    recorder.Segment("push: before write");
                    chunk.AsSpan().Fill((byte)i);
                    await stream.WriteAsync(chunk);
                    recorder.Segment("push: after write");
                }
            }));
            a.MapGet("/writer", async (HttpContext context, SegmentRecorder recorder) =>
            {
                var writer = context.Response.BodyWriter;
                for (var i = 0; i < Chunks; i++)
                {
                    recorder.Segment("writer: before flush");
                    writer.GetSpan(Chunk)[..Chunk].Fill((byte)i);
                    writer.Advance(Chunk);
                    await writer.FlushAsync();
                    recorder.Segment("writer: after flush");
                }
            });
        });

        await Load.RunAsync(app, rounds: 2, async (client, round) =>
        {
            // A slow reader, so that the server's writes wait for the client (backpressure).
            using var response = await client.GetAsync(round == 0 ? "/push" : "/writer", HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[16 * 1024];
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                Assert.Equal((byte)(total / Chunk), buffer[0]);
                total += read;
                await Task.Delay(1);
            }

            Assert.Equal(Chunk * Chunks, total);
        });

        SeamLayouts.AssertHeld(app, "push stream");
    }

    internal static async IAsyncEnumerable<int> Items(int count, SegmentRecorder recorder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count; i++)
        {
            recorder.Segment("iterator: before await");
            await Task.Delay(1, cancellationToken);
            recorder.Segment("iterator: after await");
            yield return i;
        }

        recorder.Segment("iterator: end");
    }

    private const int LargeItem = 96 * 1024;

    private static async IAsyncEnumerable<string> LargeItems(int count, SegmentRecorder recorder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count; i++)
        {
            recorder.Segment("large iterator: before await");
            await Task.Yield();
            recorder.Segment("large iterator: after await");
            yield return new string((char)('a' + i), LargeItem);
        }
    }

    private static Task<KestrelTestApp> StartAsync(string layout, Action<WebApplication> map) =>
        KestrelTestApp.StartAsync(
            SeamLayouts.Settings(layout),
            map,
            partition => partition.Services.AddSingleton<SegmentRecorder>(),
            builder => builder.Services.AddControllers().AddApplicationPart(typeof(AsyncStreamSeamTests).Assembly));
}

/// <summary>An MVC controller whose action returns an async stream, for <see cref="AsyncStreamSeamTests"/>.</summary>
[ApiController]
[Route("seams/mvc")]
public sealed class SeamStreamingController : ControllerBase
{
    [HttpGet("items/{count:int}")]
    public IAsyncEnumerable<int> Items(int count, [FromServices] IServiceProvider services, CancellationToken cancellationToken) =>
        AsyncStreamSeamTests.Items(count, services.GetRequiredService<SegmentRecorder>(), cancellationToken);
}

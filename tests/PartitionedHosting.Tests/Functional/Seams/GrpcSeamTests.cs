using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Grpc;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.Seams;

/// <summary>
/// gRPC services (Grpc.AspNetCore) and interceptors run in their request's partition with its services, and keep its
/// guarantee, for every kind of call, with <c>Grpc.Net.Client</c> over HTTP/2 on real Kestrel.
/// </summary>
public sealed class GrpcSeamTests
{
    public static TheoryData<string> Layouts => SeamLayouts.All;

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task Services_HoldThePartitionsGuarantee_ForEveryKindOfCall(string layout)
    {
        await using var app = await KestrelTestApp.StartAsync(
            SeamLayouts.Settings(layout),
            a => a.MapGrpcService<SeamService>(),
            partition => partition.Services.AddSingleton<SegmentRecorder>(),
            builder => builder.Services.AddGrpc(options => options.Interceptors.Add<SeamInterceptor>()),
            HttpProtocols.Http2);

        await Load.RunAsync(Load.Clients, rounds: 1, async (_, _) =>
        {
            using var channel = GrpcChannel.ForAddress(app.Address);
            var client = new Seam.SeamClient(channel);
            using var timeout = new CancellationTokenSource(KestrelTestApp.Timeout);
            var options = new CallOptions(cancellationToken: timeout.Token);

            Assert.Equal(42, (await client.UnaryAsync(new Number { Value = 42 }, options)).Value);

            using (var server = client.ServerStream(new Number { Value = 5 }, options))
            {
                var items = new List<int>();
                await foreach (var item in server.ResponseStream.ReadAllAsync(timeout.Token))
                {
                    items.Add(item.Value);
                }

                Assert.Equal(Enumerable.Range(0, 5), items);
            }

            using (var upload = client.ClientStream(options))
            {
                for (var i = 0; i < 5; i++)
                {
                    await upload.RequestStream.WriteAsync(new Number { Value = i }, timeout.Token);
                }

                await upload.RequestStream.CompleteAsync();
                Assert.Equal(Enumerable.Range(0, 5), (await upload.ResponseAsync).Values);
            }

            using var duplex = client.Duplex(options);
            for (var i = 0; i < 5; i++)
            {
                await duplex.RequestStream.WriteAsync(new Number { Value = i }, timeout.Token);
                Assert.True(await duplex.ResponseStream.MoveNext(timeout.Token));
                Assert.Equal(i, duplex.ResponseStream.Current.Value);
            }

            await duplex.RequestStream.CompleteAsync();
            Assert.False(await duplex.ResponseStream.MoveNext(timeout.Token));
        });

        SeamLayouts.AssertHeld(app, "gRPC", everyPartition: false);
    }
}

/// <summary>A gRPC service whose constructor takes a partition-local service.</summary>
internal sealed class SeamService(SegmentRecorder recorder) : Seam.SeamBase
{
    public override async Task<Number> Unary(Number request, ServerCallContext context)
    {
        recorder.Segment("grpc: unary");
        await Task.Delay(1);
        recorder.Segment("grpc: unary after await");
        return request;
    }

    public override async Task ServerStream(Number request, IServerStreamWriter<Number> responseStream, ServerCallContext context)
    {
        for (var i = 0; i < request.Value; i++)
        {
            recorder.Segment("grpc: server stream");
            await responseStream.WriteAsync(new Number { Value = i });
            recorder.Segment("grpc: server stream after write");
            await Task.Delay(1);
        }
    }

    public override async Task<Numbers> ClientStream(IAsyncStreamReader<Number> requestStream, ServerCallContext context)
    {
        var numbers = new Numbers();
        while (await requestStream.MoveNext())
        {
            recorder.Segment("grpc: client stream item");
            numbers.Values.Add(requestStream.Current.Value);
        }

        return numbers;
    }

    public override async Task Duplex(IAsyncStreamReader<Number> requestStream, IServerStreamWriter<Number> responseStream, ServerCallContext context)
    {
        while (await requestStream.MoveNext())
        {
            recorder.Segment("grpc: duplex item");
            await responseStream.WriteAsync(requestStream.Current);
            recorder.Segment("grpc: duplex after write");
        }
    }
}

/// <summary>A server interceptor activated with the partition's services.</summary>
internal sealed class SeamInterceptor(SegmentRecorder recorder) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        recorder.Segment("interceptor: unary");
        var response = await continuation(request, context);
        recorder.Segment("interceptor: unary after");
        return response;
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        recorder.Segment("interceptor: duplex");
        await continuation(requestStream, responseStream, context);
        recorder.Segment("interceptor: duplex after");
    }
}

using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.Seams;

/// <summary>
/// The code after <c>AcceptWebSocketAsync</c>, its receive and send loops, keeps its partition's guarantee, with
/// <see cref="ClientWebSocket"/> on real Kestrel.
/// </summary>
public sealed class WebSocketSeamTests
{
    public static TheoryData<string> Layouts => SeamLayouts.All;

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task ReceiveAndSendLoops_HoldThePartitionsGuarantee(string layout)
    {
        await using var app = await KestrelTestApp.StartAsync(
            SeamLayouts.Settings(layout),
            a =>
            {
                a.UseWebSockets();
                a.Map("/ws", async (HttpContext context, SegmentRecorder recorder) =>
                {
                    using var socket = await context.WebSockets.AcceptWebSocketAsync();
                    recorder.Segment("websocket: accepted");

                    // A send loop of its own, next to the receive loop: both belong to the partition.
                    var ticks = SendTicksAsync(socket, recorder);
                    var buffer = new byte[1024];
                    while (true)
                    {
                        var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                        recorder.Segment("websocket: received");
                        if (received.MessageType == WebSocketMessageType.Close)
                        {
                            break;
                        }

                        await ticks;
                        await socket.SendAsync(buffer.AsMemory(0, received.Count), WebSocketMessageType.Text, endOfMessage: true, context.RequestAborted);
                        recorder.Segment("websocket: echoed");
                    }

                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                    recorder.Segment("websocket: closed");
                });
            },
            partition => partition.Services.AddSingleton<SegmentRecorder>());

        await Load.RunAsync(Load.Clients, rounds: 1, async (_, _) =>
        {
            using var socket = new ClientWebSocket();
            using var timeout = new CancellationTokenSource(KestrelTestApp.Timeout);
            await socket.ConnectAsync(new Uri($"ws://{app.Address.Authority}/ws"), timeout.Token);
            var buffer = new byte[1024];
            for (var i = 0; i < 3; i++)
            {
                var tick = await socket.ReceiveAsync(buffer, timeout.Token);
                Assert.Equal($"tick {i}", Encoding.UTF8.GetString(buffer, 0, tick.Count));
            }

            for (var i = 0; i < 10; i++)
            {
                await socket.SendAsync(Encoding.UTF8.GetBytes($"message {i}"), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
                var echo = await socket.ReceiveAsync(buffer, timeout.Token);
                Assert.Equal($"message {i}", Encoding.UTF8.GetString(buffer, 0, echo.Count));
            }

            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        });

        SeamLayouts.AssertHeld(app, "WebSockets", everyPartition: false);
    }

    private static async Task SendTicksAsync(WebSocket socket, SegmentRecorder recorder)
    {
        for (var i = 0; i < 3; i++)
        {
            recorder.Segment("websocket: tick");
            await socket.SendAsync(Encoding.UTF8.GetBytes($"tick {i}"), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            await Task.Delay(1);
        }
    }
}

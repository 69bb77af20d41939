using System.Diagnostics;
using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PartitionedHosting.Execution;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// The diagnostics endpoint and health checks, on real Kestrel: closed until told who may read them, and answering
/// outside the partitions while every one of them is stalled or full.
/// </summary>
public sealed class DiagnosticsEndpointTests
{
    [Fact]
    public async Task Diagnostics_AreClosed_UntilToldWhoMayReadThem_EvenToLoopbackClients()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(2, "SingleThreaded"), a => a.MapPartitionDiagnostics());
        using var client = app.CreateClient();

        using var response = await client.GetAsync("/_partitions");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("RequireManagementPort", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Diagnostics_ShowTheKeyMap_ItsVersionSlotsPerPartitionAndMovedSlots_AndEverySlotOnRequest()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(2, "SingleThreaded"), a => a.MapPartitionDiagnostics().RequireLoopback());
        var manager = app.Services.GetRequiredService<PartitionedHosting.IPartitionManager>();
        await manager.MoveSlotAsync(7, 1 - manager.KeyMap.GetOwner(7)).WaitAsync(KestrelTestApp.Timeout);
        using var client = app.CreateClient();

        using var summary = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/_partitions"));
        using var full = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/_partitions?slots=all"));

        var map = summary.RootElement.GetProperty("keyMap");
        Assert.Equal(manager.KeyMap.Version, map.GetProperty("version").GetInt64());
        Assert.Equal(16384, map.GetProperty("slotsByPartition").EnumerateArray().Sum(p => p.GetProperty("slots").GetInt32()));
        Assert.Equal(manager.KeyMap.CountSlots(1), map.GetProperty("slotsByPartition")[1].GetProperty("slots").GetInt32());
        Assert.Equal(7, map.GetProperty("movedByHand")[0].GetProperty("slot").GetInt32());
        Assert.False(map.TryGetProperty("ranges", out _));
        var ranges = full.RootElement.GetProperty("keyMap").GetProperty("ranges").EnumerateArray().Select(r => (Start: r[0].GetInt32(), End: r[1].GetInt32(), Partition: r[2].GetInt32())).ToList();
        Assert.Equal(16384, ranges.Sum(r => r.End - r.Start + 1));
        Assert.All(ranges, r => Assert.All(Enumerable.Range(r.Start, r.End - r.Start + 1), slot => Assert.Equal(manager.KeyMap.GetOwner(slot), r.Partition)));
    }

    [Fact]
    public async Task Diagnostics_OnAManagementPort_AnswerThereOnly_WhateverTheHostHeaderSays()
    {
        var managementPort = KestrelTestApp.FreePort();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapPartitionDiagnostics().RequireManagementPort(managementPort),
            configure: b => b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, managementPort)));
        using var public_ = app.CreateClient();
        using var management = app.CreateClient(address: app.Addresses.Single(a => a.Port == managementPort));

        using var json = JsonDocument.Parse(await management.GetStringAsync("/_partitions"));
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/_partitions");
        spoofed.Headers.Host = $"127.0.0.1:{managementPort}";
        using var refused = await public_.SendAsync(spoofed);

        var partitions = json.RootElement.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal([0, 1], partitions.Select(p => p.GetProperty("id").GetInt32()));
        Assert.All(partitions, p => Assert.Equal("SingleThreaded", p.GetProperty("mode").GetString()));
        Assert.All(partitions, p => Assert.Equal("Running", p.GetProperty("state").GetString()));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task Diagnostics_OpenToLoopback_RefuseAClientForwardedByALocalProxy()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a =>
            {
                a.UseForwardedHeaders();
                a.MapPartitionDiagnostics().RequireLoopback();
            },
            configure: b => b.Services.Configure<ForwardedHeadersOptions>(o => o.ForwardedHeaders = ForwardedHeaders.XForwardedFor));
        using var client = app.CreateClient();

        using var direct = await client.GetAsync("/_partitions");
        using var forwarded = new HttpRequestMessage(HttpMethod.Get, "/_partitions");
        forwarded.Headers.Add("X-Forwarded-For", "203.0.113.7");
        using var proxied = await client.SendAsync(forwarded);

        // A proxy on the same host connects from loopback: the client behind it is not loopback, once the forwarded
        // header is applied; without ForwardedHeaders every proxied request would look local (see the README).
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, proxied.StatusCode);
    }

    [Fact]
    public async Task Diagnostics_WithAnAuthorizationPolicy_AnswerItsUsersOnly()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapPartitionDiagnostics("/_partitions", "Operators"),
            configure: b =>
            {
                b.Services.AddAuthentication(OperatorHeader.Name).AddScheme<AuthenticationSchemeOptions, OperatorHeader>(OperatorHeader.Name, null);
                b.Services.AddAuthorizationBuilder().AddPolicy("Operators", p => p.RequireRole("operator"));
            });
        using var client = app.CreateClient();

        using var anonymous = await client.GetAsync("/_partitions");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/_partitions");
        request.Headers.Add(OperatorHeader.Header, "operator");
        using var operator_ = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, operator_.StatusCode);
    }

    [Theory]
    [InlineData("stalled")]
    [InlineData("full")]
    public async Task HealthAndDiagnostics_RunOutsideThePartitions_AndAnswerWhileEveryPartitionIsStalledOrFull(string trouble)
    {
        using var release = new ManualResetEventSlim();
        var settings = Settings.KestrelTransport(Settings.Partitioned(2, "SingleThreaded", maxQueueLength: 1));
        // Stalled at once, or never: a full queue alone is no stall, and health stays Healthy.
        settings["PartitionedHosting:Watchdog:StallThreshold"] = trouble == "stalled" ? "00:00:00.1" : "00:10:00";
        var ranOn = new List<PartitionThread?>();
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a =>
            {
                a.MapGet("/block", () => release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out");
                a.MapGet("/partition", (IPartitionContext p) => p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                a.MapGet("/where", () =>
                {
                    lock (ranOn)
                    {
                        ranOn.Add(PartitionThread.Current);
                    }

                    return "outside";
                }).WithoutPartition();
                a.MapHealthChecks("/healthz").WithoutPartition();
                a.MapPartitionDiagnostics().RequireLoopback();
            },
            configure: b => b.Services.AddHealthChecks().AddPartitionedHostingHealthCheck());
        var clients = new List<HttpClient>();
        try
        {
            // Block both partitions' threads; when testing a full queue, fill both queues behind them too.
            foreach (var id in new[] { "0", "1" })
            {
                var client = await ClientOnPartitionAsync(app, id);
                clients.Add(client);
                _ = client.GetStringAsync("/block");
            }

            // Started, not only admitted: a block still queued would make the queue look full to the next request.
            await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions.All(p => p.ActiveRequests == 1 && p.QueueLength == 0), "both partitions are blocked");
            if (trouble == "stalled")
            {
                await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions.All(p => p.State == PartitionState.Stalled), "both partitions are stalled");
            }
            else
            {
                foreach (var id in new[] { "0", "1" })
                {
                    var client = app.CreateClient();
                    clients.Add(client);
                    _ = client.GetStringAsync("/partition");
                }

                await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions.All(p => p.QueueLength == 1), "both queues are full");
                using var refused = await app.CreateClient().GetAsync("/partition");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            }

            using var probe = app.CreateClient(newConnectionPerRequest: true);
            var watch = Stopwatch.StartNew();
            var health = await probe.GetAsync("/healthz").WaitAsync(TimeSpan.FromSeconds(5));
            var diagnostics = await probe.GetAsync("/_partitions").WaitAsync(TimeSpan.FromSeconds(5));
            var where = await probe.GetStringAsync("/where").WaitAsync(TimeSpan.FromSeconds(5));
            var elapsed = watch.Elapsed;

            // Answered while both partitions still block: they did not wait behind them.
            Assert.Equal(trouble == "stalled" ? "Degraded" : "Healthy", await health.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.OK, diagnostics.StatusCode);
            Assert.Equal("outside", where);
            Assert.All(ranOn, thread => Assert.Null(thread));
            Assert.True(app.Runtime.Partitions.All(p => p.ActiveRequests >= 1), "a partition was released before the probes answered");
            Assert.True(elapsed < TimeSpan.FromSeconds(1), $"Three probes took {elapsed.TotalMilliseconds} ms.");
        }
        finally
        {
            release.Set();
            clients.ForEach(c => c.Dispose());
        }
    }

    private static async Task<HttpClient> ClientOnPartitionAsync(KestrelTestApp app, string partition)
    {
        var client = app.CreateClient();
        while (await client.GetStringAsync("/partition") != partition)
        {
            client.Dispose();
            client = app.CreateClient();
        }

        return client;
    }

    /// <summary>Authenticates a request whose <c>X-Role</c> header names a role: enough to test a policy.</summary>
    private sealed class OperatorHeader(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string Name = "RoleHeader";
        public const string Header = "X-Role";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(Request.Headers[Header] is [{ } role]
                ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Role, role)], Name)), Name))
                : AuthenticateResult.NoResult());
    }
}

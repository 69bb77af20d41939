using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>The diagnostics endpoint's dashboard, in a real browser (headless Chromium), against real Kestrel.</summary>
public sealed class DashboardTests
{
    private static readonly float s_timeout = (float)KestrelTestApp.Timeout.TotalMilliseconds;

    [Fact]
    public async Task TheDashboard_ShowsThePartitionsLive_TheirRequestsPerSecondUnderLoad_AndAStalledPartitionAsStalled()
    {
        var settings = Settings.Partitioned(2, "SingleThreaded");
        settings["PartitionedHosting:Watchdog:StallThreshold"] = "00:00:00.300";
        using var release = new ManualResetEventSlim();
        await using var app = await KestrelTestApp.StartAsync(settings, a =>
        {
            a.MapGet("/work", () => "done");

            // Blocks partition 1's thread until released: a stall.
            a.MapGet("/block", () => release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out").RunOnPartition(1);
            a.MapPartitionDiagnostics().RequireLoopback();
        });
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.Instance.NewPageAsync();
        var response = await page.GotoAsync(new Uri(app.Address, "/_partitions").ToString());
        Assert.NotNull(response);
        Assert.StartsWith("text/html", response.Headers["content-type"], StringComparison.Ordinal);

        // Both partitions, idle: 0 requests per second once a second read gives a rate.
        await page.WaitForFunctionAsync(
            "() => [...document.querySelectorAll('td[data-field=rps]')].filter(td => td.textContent === '0').length === 2",
            null,
            new() { Timeout = s_timeout });
        Assert.Equal(["SingleThreaded", "SingleThreaded"], await page.Locator("td[data-field=mode]").AllTextContentsAsync());
        Assert.Equal(["Running", "Running"], await page.Locator("td[data-field=state]").AllTextContentsAsync());

        // Under load, the page's requests per second rise, on its next refreshes.
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            using var client = app.CreateClient();
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    (await client.GetAsync("/work", stop.Token)).EnsureSuccessStatusCode();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        })).ToArray();
        try
        {
            await page.WaitForFunctionAsync(
                "() => [...document.querySelectorAll('td[data-field=rps]')].some(td => Number(td.textContent.replace(/,/g, '')) > 0)",
                null,
                new() { Timeout = s_timeout });
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(load).WaitAsync(KestrelTestApp.Timeout);
        }

        // A partition whose thread is blocked shows as stalled, then as running again once it moves on, with that turn as
        // its longest.
        using var blockingClient = app.CreateClient();
        var blocked = blockingClient.GetStringAsync("/block");
        var stalled = page.Locator("tr[data-partition='1'][data-state='Stalled'] td[data-field=state]");
        await stalled.WaitForAsync(new() { Timeout = s_timeout });
        Assert.StartsWith("Stalled for ", await stalled.TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal("Running", await page.Locator("tr[data-partition='0'] td[data-field=state]").TextContentAsync());
        await ScreenshotAsync(page);

        release.Set();
        Assert.Equal("released", await blocked.WaitAsync(KestrelTestApp.Timeout));
        await page.Locator("tr[data-partition='1'][data-state='Running']").WaitForAsync(new() { Timeout = s_timeout });
        var turn = await page.Locator("tr[data-partition='1'] td[data-field=turn]").TextContentAsync();
        Assert.True(double.Parse(turn!.Replace(" ms", "", StringComparison.Ordinal), NumberStyles.Number, CultureInfo.InvariantCulture) >= 300, $"longest turn: {turn}");
    }

    [Fact]
    public async Task TheEndpoint_StillAnswersJson_ToClientsThatDoNotAskForAPage()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(2, "SingleThreaded"), a => a.MapPartitionDiagnostics().RequireLoopback());
        using var client = app.CreateClient();

        using var response = await client.GetAsync("/_partitions");

        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>With <c>PARTITIONED_HOSTING_DASHBOARD_SCREENSHOT</c> set, saves the page there (the README's picture).</summary>
    private static async Task ScreenshotAsync(IPage page)
    {
        if (Environment.GetEnvironmentVariable("PARTITIONED_HOSTING_DASHBOARD_SCREENSHOT") is { Length: > 0 } path)
        {
            await page.SetViewportSizeAsync(1100, 420);
            await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        }
    }
}

using Microsoft.Playwright;

namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>
/// Headless Chromium from Debian's packages (<c>apt-get install chromium</c>, which <c>.ci/run</c> does), driven by
/// Playwright: no browser is downloaded. <c>PARTITIONED_HOSTING_CHROMIUM</c> names another executable.
/// </summary>
internal sealed class Browser : IAsyncDisposable
{
    private readonly IPlaywright _playwright;

    private Browser(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Instance = browser;
    }

    public IBrowser Instance { get; }

    public static async Task<Browser> LaunchAsync()
    {
        var executable = Environment.GetEnvironmentVariable("PARTITIONED_HOSTING_CHROMIUM") is { Length: > 0 } configured
            ? configured
            : new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        if (executable is null || !File.Exists(executable))
        {
            throw new InvalidOperationException(
                "The dashboard test needs Chromium: install Debian's package (apt-get install chromium; .ci/run does), or set PARTITIONED_HOSTING_CHROMIUM to a Chromium executable.");
        }

        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = executable,
                Headless = true,
                Timeout = (float)KestrelTestApp.Timeout.TotalMilliseconds,
            });
            return new Browser(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Instance.DisposeAsync();
        _playwright.Dispose();
    }
}

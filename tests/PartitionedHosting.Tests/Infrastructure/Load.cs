namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>Concurrent clients for the seam tests, each on connections of its own; every run is bounded.</summary>
internal static class Load
{
    /// <summary>The concurrency of the guarantee matrix.</summary>
    public const int Clients = 64;

    /// <summary>
    /// Runs <paramref name="client"/> <paramref name="rounds"/> times in each of <paramref name="clients"/> concurrent
    /// clients; fails after twice <see cref="KestrelTestApp.Timeout"/>.
    /// </summary>
    public static async Task RunAsync(int clients, int rounds, Func<int, int, Task> client)
    {
        var runs = Enumerable.Range(0, clients).Select(async c =>
        {
            // Start every client on the thread pool, so that no client's synchronous start delays the others.
            await Task.Yield();
            for (var round = 0; round < rounds; round++)
            {
                await client(c, round);
            }
        });
        await Task.WhenAll(runs).WaitAsync(KestrelTestApp.Timeout * 2);
    }

    /// <summary>As <see cref="RunAsync(int, int, Func{int, int, Task})"/>, each client with an HTTP client of its own.</summary>
    public static async Task RunAsync(KestrelTestApp app, int rounds, Func<HttpClient, int, Task> request)
    {
        var clients = Enumerable.Range(0, Clients).Select(_ => app.CreateClient()).ToArray();
        try
        {
            await RunAsync(Clients, rounds, (c, round) => request(clients[c], round));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}

using System.Data;
using System.Text;
using System.Text.Encodings.Web;
using Npgsql;

/// <summary>TechEmpower's database tests against the benchmark's PostgreSQL (benchmarks/postgres.sh).</summary>
internal static class Database
{
    /// <summary>
    /// The connection string of <c>BENCH_DB</c> with the pool settings of TechEmpower's ASP.NET Core entries; the
    /// pool's size is divided among the data sources that share the process (one per partition).
    /// </summary>
    public static string ConnectionString(string connectionString, int maxPoolSize) => new NpgsqlConnectionStringBuilder(connectionString)
    {
        MaxPoolSize = maxPoolSize,
        MinPoolSize = 0,
        NoResetOnClose = true,
        Enlist = false,
        MaxAutoPrepare = 4,
    }.ConnectionString + ";" + Environment.GetEnvironmentVariable("BENCH_DB_OPTIONS");

    /// <summary><c>/db</c>: one random row of <c>world</c>, as JSON.</summary>
    public static async Task<IResult> SingleQuery(NpgsqlDataSource db)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("SELECT id, randomnumber FROM world WHERE id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = Random.Shared.Next(1, 10_001) });
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow);
        await reader.ReadAsync();
        return TypedResults.Json(new World(reader.GetInt32(0), reader.GetInt32(1)), BenchJsonContext.Default.World);
    }

    /// <summary>
    /// <c>/fortunes</c>: every row of <c>fortune</c> and one added at request time, sorted by message, as an HTML
    /// table with every message encoded.
    /// </summary>
    public static async Task<IResult> Fortunes(NpgsqlDataSource db)
    {
        var fortunes = new List<Fortune>(16);
        await using (var connection = await db.OpenConnectionAsync())
        await using (var command = new NpgsqlCommand("SELECT id, message FROM fortune", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                fortunes.Add(new Fortune(reader.GetInt32(0), reader.GetString(1)));
            }
        }

        fortunes.Add(new Fortune(0, "Additional fortune added at request time."));
        fortunes.Sort(static (a, b) => string.CompareOrdinal(a.Message, b.Message));

        var html = new StringBuilder("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>", 1600);
        foreach (var fortune in fortunes)
        {
            html.Append("<tr><td>").Append(fortune.Id).Append("</td><td>");
            html.Append(HtmlEncoder.Default.Encode(fortune.Message)).Append("</td></tr>");
        }

        html.Append("</table></body></html>");
        return TypedResults.Content(html.ToString(), "text/html; charset=utf-8");
    }
}

using System.Globalization;
using System.Text.Json;
using ScottPlot;

// Renders the benchmark charts from results.json (written by benchmarks/results.py):
//   throughput.png        median requests/s per scenario, one bar per architecture, whiskers at the rounds' min–max
//   throughput-ratio.png  median ratio to plain Kestrel in the same round, per scenario and architecture
//   memory.png            median peak RSS of all the architecture's processes, per scenario and architecture
// Usage: Charts <results.json> <output folder>
if (args.Length != 2)
{
    Console.Error.WriteLine("Usage: Charts <results.json> <output folder>");
    return 2;
}

using var document = JsonDocument.Parse(File.ReadAllBytes(args[0]));
var rows = document.RootElement.EnumerateArray().Select(Row.Parse).ToList();
Directory.CreateDirectory(args[1]);

Chart.Grouped(rows, "Throughput (median of rounds; whiskers: min–max)", "Requests/s",
    row => row.Rps, row => (row.RpsMin, row.RpsMax), v => (v / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "k").SavePng(Path.Combine(args[1], "throughput.png"), 1400, 650);
Chart.Grouped(rows, "Throughput relative to plain Kestrel (median of per-round ratios; whiskers: min–max)", "× kestrel",
    row => row.Ratio, row => row.Ratio is null ? null : (row.RatioMin, row.RatioMax), v => v.ToString("0.00", CultureInfo.InvariantCulture)).SavePng(Path.Combine(args[1], "throughput-ratio.png"), 1400, 650);
Chart.Grouped(rows, "Peak memory: sum of VmRSS over all server processes (median of rounds)", "MB",
    row => row.RssMb, _ => null, v => v.ToString("0", CultureInfo.InvariantCulture)).SavePng(Path.Combine(args[1], "memory.png"), 1400, 650);
Console.WriteLine($"Charts written to {args[1]}");
return 0;

/// <summary>One line of results.json: a scenario and an architecture, aggregated over rounds.</summary>
internal sealed record Row(string Architecture, string Scenario, double Rps, double RpsMin, double RpsMax, double? Ratio, double? RatioMin, double? RatioMax, double RssMb)
{
    public static Row Parse(JsonElement e) => new(
        e.GetProperty("architecture").GetString()!,
        e.GetProperty("scenario").GetString()!,
        e.GetProperty("rps").GetDouble(),
        e.GetProperty("rps_min").GetDouble(),
        e.GetProperty("rps_max").GetDouble(),
        Nullable(e, "ratio_vs_kestrel"),
        Nullable(e, "ratio_min"),
        Nullable(e, "ratio_max"),
        e.GetProperty("rss_mb").GetDouble());

    private static double? Nullable(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}

/// <summary>Grouped bar charts: one group per scenario, one bar (and colour) per architecture.</summary>
internal static class Chart
{
    private static readonly string[] s_architectures = ["kestrel", "processes", "partitioned-single", "partitioned-single-pool", "partitioned-free", "partitioned-transport", "partitioned-transport-pool", "partitioned-dedicated", "nginx"];
    private static readonly string[] s_scenarios = ["plaintext", "pipelined", "json", "cpu", "keyed", "io", "blocking-mix", "starvation", "http2", "db", "fortunes"];
    private static readonly Color[] s_colors =
    [
        Color.FromHex("#4E79A7"), Color.FromHex("#F28E2B"), Color.FromHex("#E15759"), Color.FromHex("#FF9DA7"), Color.FromHex("#76B7B2"), Color.FromHex("#B07AA1"), Color.FromHex("#D4A6C8"), Color.FromHex("#EDC948"), Color.FromHex("#59A14F"),
    ];

    public static Plot Grouped(IReadOnlyList<Row> rows, string title, string yLabel, Func<Row, double?> value, Func<Row, (double? Low, double? High)?> range, Func<double, string> label)
    {
        var scenarios = s_scenarios.Where(s => rows.Any(r => r.Scenario == s)).ToList();
        var architectures = s_architectures.Where(a => rows.Any(r => r.Architecture == a)).ToList();
        const double BarWidth = 0.8, GroupGap = 1.0;

        var plot = new Plot();
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        var whiskers = new List<(double X, double Y, double Low, double High)>();
        var position = 0.0;
        foreach (var scenario in scenarios)
        {
            var start = position;
            foreach (var architecture in architectures)
            {
                var row = rows.FirstOrDefault(r => r.Scenario == scenario && r.Architecture == architecture);
                if (row is null || value(row) is not { } v)
                {
                    continue;
                }

                var color = s_colors[Array.IndexOf(s_architectures, architecture)];
                bars.Add(new Bar
                {
                    Position = position,
                    Value = v,
                    Size = BarWidth,
                    FillColor = color,
                });
                var top = v;
                if (range(row) is ({ } low, { } high))
                {
                    whiskers.Add((position, v, low, high));
                    top = Math.Max(v, high);
                }

                // Above the whisker, so that the two do not overlap.
                var text = plot.Add.Text(label(v), position, top);
                text.LabelAlignment = Alignment.LowerCenter;
                text.LabelFontSize = 10;
                text.LabelOffsetY = -2;

                position += 1;
            }

            ticks.Add(new Tick((start + position - 1) / 2, scenario));
            position += GroupGap;
        }

        plot.Add.Bars(bars);
        if (whiskers.Count > 0)
        {
            var errorBar = new ScottPlot.Plottables.ErrorBar(
                [.. whiskers.Select(w => w.X)],
                [.. whiskers.Select(w => w.Y)],
                null,
                null,
                [.. whiskers.Select(w => w.High - w.Y)],
                [.. whiskers.Select(w => w.Y - w.Low)])
            {
                Color = Colors.Black,
            };
            plot.Add.Plottable(errorBar);
        }
        foreach (var architecture in architectures)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = architecture, FillColor = s_colors[Array.IndexOf(s_architectures, architecture)] });
        }

        plot.ShowLegend(Edge.Right);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.HideGrid();
        return plot;
    }
}

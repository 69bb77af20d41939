using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using PartitionedHosting;

namespace WebApi;

/// <summary>OpenTelemetry for the sample, configured by <c>OpenTelemetry:Exporter</c>: <c>None</c> (the default), <c>Console</c> or <c>Otlp</c>.</summary>
public static class Telemetry
{
    /// <summary>Adds tracing (ASP.NET Core's server spans) and metrics (ASP.NET Core's and <see cref="PartitionedHostingMetrics.MeterName"/>).</summary>
    /// <param name="builder">The application's builder.</param>
    /// <returns>The builder.</returns>
    public static WebApplicationBuilder AddSampleTelemetry(this WebApplicationBuilder builder)
    {
        var exporter = builder.Configuration["OpenTelemetry:Exporter"] ?? "None";
        if (exporter.Equals("None", StringComparison.OrdinalIgnoreCase))
        {
            return builder;
        }

        var otlp = exporter.Equals("Otlp", StringComparison.OrdinalIgnoreCase);
        if (!otlp && !exporter.Equals("Console", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"OpenTelemetry:Exporter = '{exporter}' is not valid; allowed values: None, Console, Otlp.");
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Environment.ApplicationName))
            .WithTracing(tracing =>
            {
                tracing.AddAspNetCoreInstrumentation();
                _ = otlp ? tracing.AddOtlpExporter() : tracing.AddConsoleExporter();
            })
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation().AddMeter(PartitionedHostingMetrics.MeterName);
                _ = otlp ? metrics.AddOtlpExporter() : metrics.AddConsoleExporter();
            });
        return builder;
    }
}

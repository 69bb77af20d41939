namespace PartitionedHosting.Analyzers.Tests;

public sealed class StaticStateWriteAnalyzerTests
{
    [Fact]
    public Task RequestCode_ThatWritesStaticState_IsReported_AndReadsOrOtherCodeAreNot()
    {
        return Verify<StaticStateWriteAnalyzer>.AnalyzeAsync("""
            using System;
            using System.Globalization;
            using System.Threading;
            using Microsoft.AspNetCore.Builder;
            using Microsoft.AspNetCore.Mvc;

            public static class Stats
            {
                public static long Visits;
                public static string? LastPath { get; set; }
                public static readonly object Gate = new();
                [ThreadStatic] public static int PerThread;
                public const int Max = 10;
            }

            public sealed class VisitsController : ControllerBase
            {
                [HttpGet("visits")]
                public long Get()
                {
                    {|PH0004:Stats.Visits|}++;
                    {|PH0004:Stats.LastPath|} = "/visits";
                    Stats.PerThread++;
                    return Stats.Visits + Stats.Max;
                }
            }

            public static class Endpoints
            {
                static Endpoints() => Stats.Visits = 0;

                public static void Map(WebApplication app)
                {
                    app.MapGet("/count", () => Interlocked.Increment(ref {|PH0004:Stats.Visits|}));
                    app.MapGet("/read", () => Stats.Visits);

                    // The framework's ambient statics (per request or per thread) are not the application's state.
                    app.Use(async (context, next) =>
                    {
                        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("fr-FR");
                        await next(context);
                    });

                    // Startup code, not request code.
                    Stats.LastPath = "/";
                }
            }
            """);
    }

    [Fact]
    public Task AMethodGroupHandlerOrAPartitionLocalService_WritingStaticState_IsReported()
    {
        return Verify<StaticStateWriteAnalyzer>.AnalyzeAsync("""
            using Microsoft.AspNetCore.Builder;
            using Microsoft.Extensions.DependencyInjection;
            using Microsoft.Extensions.Hosting;

            public static class Totals
            {
                public static int Requests;
            }

            public sealed class Counter
            {
                public void Add() => {|PH0004:Totals.Requests|}++;
            }

            public static class Handlers
            {
                public static int Get() => {|PH0004:Totals.Requests|} = 1;

                // Not a handler: an ordinary method.
                public static void Reset() => Totals.Requests = 0;
            }

            public static class Setup
            {
                public static void Configure(WebApplicationBuilder builder) =>
                    builder.AddPartitionedHosting(partition => partition.Services.AddSingleton<Counter>());

                public static void Map(WebApplication app) => app.MapGet("/count", Handlers.Get);
            }
            """);
    }
}

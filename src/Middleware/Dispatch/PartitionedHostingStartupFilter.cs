using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// Puts <see cref="PartitionedHostingMiddleware"/> in front of the application's own pipeline, and checks the endpoints
/// pinned to partitions once that pipeline (and so its endpoints) is built.
/// </summary>
internal sealed class PartitionedHostingStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.UseMiddleware<PartitionedHostingMiddleware>();
        next(app);
        app.ApplicationServices.GetRequiredService<PartitionRuntime>().ValidatePinnedEndpoints();
    };
}

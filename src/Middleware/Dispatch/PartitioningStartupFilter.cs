using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace PartitionedHosting.Dispatch;

/// <summary>Puts <see cref="PartitioningMiddleware"/> in front of the application's own pipeline.</summary>
internal sealed class PartitioningStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.UseMiddleware<PartitioningMiddleware>();
        next(app);
    };
}

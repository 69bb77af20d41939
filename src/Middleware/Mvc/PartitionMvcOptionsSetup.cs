using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace PartitionedHosting.Mvc;

/// <summary>Adds <see cref="PartitionStreamResultFilter"/> to every MVC application.</summary>
internal sealed class PartitionMvcOptionsSetup : IConfigureOptions<MvcOptions>
{
    public void Configure(MvcOptions options) => options.Filters.Add(new PartitionStreamResultFilter());
}

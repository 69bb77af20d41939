using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace PartitionedHosting.Configuration;

/// <summary>
/// Binds <see cref="PartitionedHostingOptions"/> from the <c>PartitionedHosting</c> section with the framework's
/// configuration binder when the options are first asked for, so that configuration added later (a test's
/// <c>ConfigureAppConfiguration</c>) is seen.
/// </summary>
/// <remarks>
/// <see cref="ConfigurationCheck"/> reads the section first and records every unknown key and unreadable value;
/// validation then reports them with every other problem in one message. The binder gets the rest of the section
/// (with <see cref="BinderOptions.ErrorOnUnknownConfiguration"/> on), without the rejected keys and without empty
/// values (unset: the setting keeps its default), so that what it binds is validated too.
/// </remarks>
internal sealed class PartitionedHostingOptionsSetup(IConfiguration configuration) : IConfigureOptions<PartitionedHostingOptions>
{
    public void Configure(PartitionedHostingOptions options)
    {
        var section = configuration.GetSection(PartitionedHostingDefaults.SectionName);
        options.BindingProblems.AddRange(ConfigurationCheck.Check(section, typeof(PartitionedHostingOptions)));
        new ConfigurationBuilder().AddInMemoryCollection(ConfigurationCheck.Bindable(section, options.BindingProblems)).Build()
            .Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
    }
}

namespace PartitionedHosting.Configuration;

/// <summary>A duration longer than zero.</summary>
internal sealed class PositiveDurationAttribute : SettingAttribute
{
    public override string Describe(Type type) => "a positive duration such as 00:00:02.5";

    protected override bool IsAllowed(object value) => value is TimeSpan duration && duration > TimeSpan.Zero;
}

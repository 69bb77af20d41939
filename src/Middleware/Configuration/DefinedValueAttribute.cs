namespace PartitionedHosting.Configuration;

/// <summary>A named value of an enum (configuration names it; code may cast any number).</summary>
internal sealed class DefinedValueAttribute : SettingAttribute
{
    public override string Describe(Type type) => string.Join(", ", Enum.GetNames(Nullable.GetUnderlyingType(type) ?? type));

    protected override bool IsAllowed(object value) => Enum.IsDefined(value.GetType(), value);
}

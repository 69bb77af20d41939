using System.Globalization;

namespace PartitionedHosting.Configuration;

/// <summary>A number within bounds: <c>[SettingRange(1, int.MaxValue)]</c> is "an integer of 1 or more".</summary>
internal sealed class SettingRangeAttribute : SettingAttribute
{
    private readonly double _minimum;
    private readonly double _maximum;

    public SettingRangeAttribute(int minimum, int maximum) => (_minimum, _maximum) = (minimum, maximum);

    public SettingRangeAttribute(double minimum, double maximum) => (_minimum, _maximum) = (minimum, maximum);

    public override string Describe(Type type)
    {
        var kind = Type.GetTypeCode(Nullable.GetUnderlyingType(type) ?? type) is TypeCode.Double or TypeCode.Single or TypeCode.Decimal
            ? "a number"
            : "an integer";
        return _maximum == int.MaxValue
            ? string.Create(CultureInfo.InvariantCulture, $"{kind} of {_minimum} or more")
            : string.Create(CultureInfo.InvariantCulture, $"{kind} from {_minimum} to {_maximum}");
    }

    protected override bool IsAllowed(object value)
    {
        var number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        return number >= _minimum && number <= _maximum;
    }
}

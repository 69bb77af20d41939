using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace PartitionedHosting.Configuration;

/// <summary>
/// A validation attribute of one setting whose message names the setting by its configuration key, quotes its value
/// and says which values are allowed: <c>PartitionedHosting:Admission:MaxQueueLength = '0' is not valid; allowed
/// values: an integer of 1 or more.</c>
/// </summary>
/// <remarks>
/// The options validators run with the section's name as the options' name, so the display name the validation
/// source generator gives a member (<c>PartitionedHosting.Admission.MaxQueueLength</c>,
/// <c>PartitionedHosting.Keys[0].Name</c>) maps onto its configuration key. The same <see cref="Describe"/> text is
/// what <see cref="ConfigurationCheck"/> says of a value that does not convert.
/// </remarks>
[AttributeUsage(AttributeTargets.Property)]
internal abstract class SettingAttribute : ValidationAttribute
{
    /// <summary>The values the setting allows, in words, for a property of <paramref name="type"/>.</summary>
    public abstract string Describe(Type type);

    /// <summary>Whether <paramref name="value"/>, not <see langword="null"/>, is allowed.</summary>
    protected abstract bool IsAllowed(object value);

    protected sealed override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is null || IsAllowed(value)
            ? ValidationResult.Success
            : new ValidationResult(NotValid(ConfigurationKey(validationContext.DisplayName), value, Describe(value.GetType())));

    /// <summary>The message of a setting whose value is not allowed.</summary>
    public static string NotValid(string key, object? value, string allowed) =>
        $"{key} = '{Convert.ToString(value, CultureInfo.InvariantCulture)}' is not valid; allowed values: {allowed}.";

    /// <summary>The configuration key of a member's display name: <c>A.B[2].C</c> is <c>A:B:2:C</c>.</summary>
    public static string ConfigurationKey(string displayName) =>
        displayName.Replace('.', ':').Replace('[', ':').Replace("]", "", StringComparison.Ordinal);
}

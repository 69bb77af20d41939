using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace PartitionedHosting.Configuration;

/// <summary>
/// Walks a configuration section over the options type it binds to, before the framework's binder does, and records
/// every key the type does not have and every value that does not convert.
/// </summary>
/// <remarks>
/// The binder (with <see cref="BinderOptions.ErrorOnUnknownConfiguration"/>) stops at the first problem; this check
/// finds all of them, so that one startup failure lists everything to fix. It converts values as the binder does
/// (the type's <see cref="TypeConverter"/>, invariant culture), except that an enum must be named, not numbered, and
/// describes the allowed values with the property's <see cref="SettingAttribute"/> where it has one. An empty value (an
/// environment variable set to nothing, a <c>null</c> in JSON) is unset: the setting keeps its default.
/// </remarks>
internal static class ConfigurationCheck
{
    /// <summary>Every problem of <paramref name="section"/> as a <paramref name="type"/>, with the key it is about.</summary>
    public static List<ConfigurationProblem> Check(IConfigurationSection section, Type type)
    {
        var problems = new List<ConfigurationProblem>();
        CheckObject(section, type, section.Path, problems);
        return problems;
    }

    /// <summary>The values of <paramref name="section"/> the binder can take: set, and not at or under a rejected key.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> Bindable(IConfigurationSection section, List<ConfigurationProblem> problems) =>
        section.AsEnumerable(makePathsRelative: true)
            .Where(setting => !string.IsNullOrEmpty(setting.Value) && !problems.Exists(problem => problem.Covers($"{section.Path}:{setting.Key}")));

    /// <summary>Whether <paramref name="setting"/> is unset: no value (or an empty one) and no children.</summary>
    public static bool IsUnset(IConfigurationSection setting) => string.IsNullOrEmpty(setting.Value) && !setting.GetChildren().Any();

    private static void CheckObject(IConfigurationSection section, Type type, string path, List<ConfigurationProblem> problems)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && (p.SetMethod?.IsPublic == true || !IsValue(p.PropertyType)))
            .ToArray();
        foreach (var child in section.GetChildren())
        {
            if (IsUnset(child))
            {
                continue;
            }

            var key = $"{path}:{child.Key}";
            var property = Array.Find(properties, p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                problems.Add(new(key, $"{key} is not a known setting; known settings are {string.Join(", ", properties.Select(p => p.Name))}."));
                continue;
            }

            CheckMember(child, property.PropertyType, property.GetCustomAttribute<SettingAttribute>(), key, problems);
        }
    }

    private static void CheckMember(IConfigurationSection setting, Type type, SettingAttribute? rule, string key, List<ConfigurationProblem> problems)
    {
        if (IsValue(type))
        {
            var allowed = rule?.Describe(type) ?? Describe(type);
            if (setting.GetChildren().Any())
            {
                problems.Add(new(key, $"{key} is a section; allowed values: {allowed}."));
            }
            else if (!CanConvert(setting.Value!, type))
            {
                problems.Add(new(key, SettingAttribute.NotValid(key, setting.Value, allowed)));
            }

            return;
        }

        if (!string.IsNullOrEmpty(setting.Value))
        {
            // A value where a section belongs ("Admission": 512, a comma-separated Cluster:Nodes): the binder would throw.
            problems.Add(new(key, $"{key} = '{setting.Value}' is not valid; allowed values: a section ({Shape(type)}), not a single value."));
            return;
        }

        if (FindGeneric(type, typeof(IDictionary<,>)) is { } dictionary)
        {
            CheckEntries(setting, dictionary[0], dictionary[1], key, problems);
        }
        else if (FindGeneric(type, typeof(ICollection<>)) is { } collection)
        {
            CheckEntries(setting, typeof(int), collection[0], key, problems, isList: true);
        }
        else
        {
            CheckObject(setting, type, key, problems);
        }
    }

    private static void CheckEntries(IConfigurationSection section, Type keyType, Type valueType, string path, List<ConfigurationProblem> problems, bool isList = false)
    {
        foreach (var entry in section.GetChildren())
        {
            if (IsUnset(entry))
            {
                // An empty entry of a list would be dropped, and the entries after it would move up one place.
                if (isList)
                {
                    problems.Add(new($"{path}:{entry.Key}", $"{path}:{entry.Key} is empty; allowed values: {Shape(valueType)}."));
                }

                continue;
            }

            var key = $"{path}:{entry.Key}";
            if (keyType == typeof(int) && !int.TryParse(entry.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                problems.Add(new(key, $"{key}: '{entry.Key}' is not an index; allowed values: an integer of 0 or more."));
                continue;
            }

            CheckMember(entry, valueType, null, key, problems);
        }
    }

    // What the binder sets from one string: primitives, enums, strings, TimeSpan and the like (and their nullables).
    private static bool IsValue(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan) ||
            type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(Guid) || type == typeof(Uri);
    }

    private static bool CanConvert(string value, Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;

        // The binder's enum converter also takes numbers ("1") and lists ("A, B"); configuration should name one value.
        if (type.IsEnum)
        {
            return !value.Any(c => char.IsDigit(c) || c == ',') && Enum.TryParse(type, value.Trim(), ignoreCase: true, out _);
        }

        try
        {
            TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception error) when (error is FormatException or ArgumentException or OverflowException or NotSupportedException)
        {
            return false;
        }
    }

    private static string Describe(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsEnum ? string.Join(", ", Enum.GetNames(type))
            : type == typeof(bool) ? "true, false"
            : type == typeof(string) ? "a string"
            : type == typeof(TimeSpan) ? "a duration such as 00:00:02.5"
            : Type.GetTypeCode(type) is TypeCode.Double or TypeCode.Single or TypeCode.Decimal ? "a number"
            : type.IsPrimitive ? "an integer"
            : $"a {type.Name}";
    }

    // What a section or an entry holds, in words.
    private static string Shape(Type type) =>
        IsValue(type) ? Describe(type)
        : FindGeneric(type, typeof(IDictionary<,>)) is not null ? "entries keyed by index"
        : FindGeneric(type, typeof(ICollection<>)) is not null ? "a list, one entry per index"
        : "its settings";

    private static Type[]? FindGeneric(Type type, Type definition) =>
        (type.IsGenericType && type.GetGenericTypeDefinition() == definition ? type : null)?.GetGenericArguments()
        ?? type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition)?.GetGenericArguments();
}

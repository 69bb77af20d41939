namespace PartitionedHosting.Configuration;

/// <summary>
/// A key of the section that <see cref="ConfigurationCheck"/> rejected, and why. The binder is not given it (it keeps
/// its default), and validation reports this message instead of what the rules would say of that default.
/// </summary>
internal readonly record struct ConfigurationProblem(string Key, string Message)
{
    /// <summary>Whether <paramref name="text"/> (a key, or a message that starts with one) is about this key or a key under it.</summary>
    public bool Covers(string text) =>
        text.StartsWith(Key, StringComparison.OrdinalIgnoreCase) && (text.Length == Key.Length || text[Key.Length] is ':' or ' ');
}

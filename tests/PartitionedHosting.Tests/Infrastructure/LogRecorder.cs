using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>
/// A logger provider that records every entry with its message and the <c>PartitionId</c> and <c>PartitionGeneration</c>
/// of the innermost scope that has them (the partition instance running the code that logged).
/// </summary>
internal sealed class LogRecorder : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public IEnumerable<LogEntry> Category<T>() => Entries.Where(e => e.Category == typeof(T).FullName);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(LogRecorder provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Scopes come outermost first: the last partition scope seen is the innermost one.
            string? partition = null, generation = null;
            provider._scopes.ForEachScope(
                (scope, _) =>
                {
                    if (scope is IEnumerable<KeyValuePair<string, object?>> fields && fields.FirstOrDefault(f => f.Key == "PartitionId") is { Key: not null } field)
                    {
                        partition = field.Value?.ToString();
                        generation = fields.FirstOrDefault(f => f.Key == "PartitionGeneration").Value?.ToString();
                    }
                },
                (object?)null);
            provider.Entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), partition, generation));
        }
    }
}

/// <summary>One recorded log entry.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, string? PartitionId, string? Generation = null);

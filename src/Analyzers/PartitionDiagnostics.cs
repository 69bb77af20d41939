using Microsoft.CodeAnalysis;

namespace PartitionedHosting.Analyzers;

/// <summary>The diagnostics of the partition analyzers: one ID each, listed in the README's "Analyzers" section.</summary>
internal static class PartitionDiagnostics
{
    private const string Category = "PartitionedHosting";
    private const string HelpBase = "https://github.com/partitioned-hosting/partitioned-hosting/blob/main/README.md#";

    public static readonly DiagnosticDescriptor BlockingCall = new(
        id: "PH0001",
        title: "Do not block in request code",
        messageFormat: "'{0}' blocks the thread in request code: in a SingleThreaded partition every other request of the partition waits behind it, and waiting for a task that needs the partition's thread deadlocks; await instead",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Request code (endpoint handlers, controller and Razor Pages actions, hubs, middleware) runs on its partition's one thread in a SingleThreaded partition. .Result, .Wait(), GetAwaiter().GetResult() and Thread.Sleep hold that thread: the watchdog reports a stall, and sync-over-async deadlocks. Code passed to Task.Run or a timer runs on the thread pool and is not reported.",
        helpLinkUri: HelpBase + "ph0001-do-not-block-in-request-code");

    /// <summary>
    /// <see cref="BlockingCall"/> in a method that only the whole compilation shows to be request code (a method group
    /// given to <c>MapGet</c>, a partition-local service's method): reported when the compilation ends.
    /// </summary>
    public static readonly DiagnosticDescriptor BlockingCallInMethod = AtCompilationEnd(BlockingCall);

    public static readonly DiagnosticDescriptor ConfigureAwaitFalse = new(
        id: "PH0002",
        title: "Do not leave the partition before touching its services",
        messageFormat: "ConfigureAwait(false) leaves the partition's thread, and '{0}' (partition-local) is used after it: in a SingleThreaded partition that code then runs on the thread pool, in parallel with the partition's own; remove ConfigureAwait(false)",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "After await x.ConfigureAwait(false) the rest of the method runs on whatever thread completed x. Request code that then touches a partition-local service (a type registered on partition.Services in AddPartitionedHosting) touches it off the partition's thread, where a SingleThreaded partition's state has no lock. The escape detector reports the same at run time.",
        helpLinkUri: HelpBase + "ph0002-do-not-leave-the-partition-before-touching-its-services",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    public static readonly DiagnosticDescriptor CapturedByWorkElsewhere = new(
        id: "PH0003",
        title: "Do not hand partition-local services to the thread pool",
        messageFormat: "'{0}' ({1}, partition-local) is captured by code that runs on the thread pool, a thread or a timer, in parallel with the partition's own requests; compute there and come back with await before touching it",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A delegate given to Task.Run, Task.Factory.StartNew, ContinueWith, ThreadPool.QueueUserWorkItem, a Thread, a Timer or Parallel runs off the partition's thread. When request code or a partition-local service hands it a partition-local service (or the service's own 'this'), the service is used in parallel with the partition's requests, without the lock a SingleThreaded partition lets it do without.",
        helpLinkUri: HelpBase + "ph0003-do-not-hand-partition-local-services-to-the-thread-pool",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    public static readonly DiagnosticDescriptor StaticStateWrite = new(
        id: "PH0004",
        title: "Do not write static state in request code",
        messageFormat: "'{0}' is static: every partition of the process shares it, so request code that writes it mixes the partitions' state (and races in FreeThreaded ones); keep the state in a partition-local service",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Sub-interpreters isolate module state; a .NET process does not. A static field or property is one for all partitions, whatever their mode: a request that writes it changes what every other partition sees, and FreeThreaded requests write it in parallel. [ThreadStatic] fields, readonly fields and static constructors are not reported.",
        helpLinkUri: HelpBase + "ph0004-do-not-write-static-state-in-request-code");

    /// <summary><see cref="StaticStateWrite"/> in a method that only the whole compilation shows to be request code.</summary>
    public static readonly DiagnosticDescriptor StaticStateWriteInMethod = AtCompilationEnd(StaticStateWrite);

    public static readonly DiagnosticDescriptor UnknownRouteKey = new(
        id: "PH0006",
        title: "The partition key names a route value the pattern does not have",
        messageFormat: "The endpoint is keyed on route value '{0}', which its route pattern '{1}' does not have: every request would fail to find its key",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "WithPartitionKey(\"name\"), WithPartitionKey(PartitionKeySource.Route, \"name\") and [PartitionKey(\"name\")] read the key from the route value of that name. When the endpoint's route pattern has no such parameter, no request has a key, and each is handled by KeyFailure (503 by default).",
        helpLinkUri: HelpBase + "ph0006-the-partition-key-names-a-route-value-the-pattern-does-not-have");

    public static readonly DiagnosticDescriptor RouteValueReadElsewhere = new(
        id: "PH0007",
        title: "The partition key is a route parameter but is read from elsewhere",
        messageFormat: "The endpoint is keyed on '{0}' from {1}, but '{0}' is a parameter of its route pattern '{2}': the key is in the path, where {1} does not have it; key on the route value",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "WithPartitionKey(PartitionKeySource.Header or Query, \"name\") and [PartitionKey(PartitionKeySource.Header or Query, \"name\")] read the key from a header or the query string. When the endpoint's route pattern has a parameter of that name, the key is almost surely the route value: requests carry it in the path, and the header or query value is missing (KeyFailure handles each).",
        helpLinkUri: HelpBase + "ph0007-the-partition-key-is-a-route-parameter-but-is-read-from-elsewhere");

    public static readonly DiagnosticDescriptor InvalidPartitionLocalRegistration = new(
        id: "PH0005",
        title: "This service cannot be partition-local",
        messageFormat: "{0}",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "AddPartitionedHosting's partition callback builds one container per partition. It refuses at startup an instance (every partition must get its own), an open generic service and a keyed service; this reports them when the code is compiled.",
        helpLinkUri: HelpBase + "ph0005-this-service-cannot-be-partition-local");

    /// <summary>The same rule, for reports made when the compilation ends (which the editor needs to know of).</summary>
    private static DiagnosticDescriptor AtCompilationEnd(DiagnosticDescriptor rule) => new(
        rule.Id,
        rule.Title,
        rule.MessageFormat,
        rule.Category,
        rule.DefaultSeverity,
        rule.IsEnabledByDefault,
        rule.Description,
        rule.HelpLinkUri,
        [.. rule.CustomTags, WellKnownDiagnosticTags.CompilationEnd]);
}

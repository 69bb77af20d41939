using PartitionedHosting.Diagnostics;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Opens the partitions' diagnostics endpoint (see <c>MapPartitionDiagnostics</c>) to a chosen audience.</summary>
public static class PartitionDiagnosticsEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Answers requests that arrived on the server's local port <paramref name="port"/> only: a management port,
    /// which the application binds where only operators reach it (for example <c>http://127.0.0.1:5081</c>, or an
    /// internal interface). The port of the connection is checked, not the <c>Host</c> header, which the client chooses.
    /// </summary>
    /// <param name="builder">The diagnostics endpoint.</param>
    /// <param name="port">The management port.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not a TCP port.</exception>
    public static RouteHandlerBuilder RequireManagementPort(this RouteHandlerBuilder builder, int port)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        return builder.WithMetadata(new PartitionDiagnosticsAccess(port, Loopback: false));
    }

    /// <summary>
    /// Answers loopback clients only. Unsafe behind a reverse proxy on the same host, whose requests all come from
    /// loopback: prefer an authorization policy or <see cref="RequireManagementPort"/> there.
    /// </summary>
    /// <param name="builder">The diagnostics endpoint.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static RouteHandlerBuilder RequireLoopback(this RouteHandlerBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.WithMetadata(new PartitionDiagnosticsAccess(ManagementPort: null, Loopback: true));
    }
}

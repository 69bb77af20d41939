namespace PartitionedHosting.Diagnostics;

/// <summary>Who may read the diagnostics endpoint, besides an authorization policy: endpoint metadata.</summary>
internal sealed record PartitionDiagnosticsAccess(int? ManagementPort, bool Loopback);

using System.Buffers;
using Microsoft.Extensions.Logging;

namespace PartitionedHosting.Transport;

/// <summary>What every connection of one listener shares: its memory pool, buffer limits and logger.</summary>
internal sealed record PartitionSocketConnectionSettings(
    MemoryPool<byte> Pool,
    long MaxReadBufferSize,
    long MaxWriteBufferSize,
    bool WaitForData,
    ILogger Logger);

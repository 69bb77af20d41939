using System.Net.Sockets;
using System.Text;

namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>
/// One HTTP/1.1 connection driven by hand, for what <see cref="HttpClient"/> does not do: several requests written at
/// once (pipelining). Responses are read by their <c>Content-Length</c> or their chunks; every read is bounded.
/// </summary>
internal sealed class RawHttpClient : IDisposable
{
    private readonly TcpClient _client = new();
    private readonly StringBuilder _received = new();
    private NetworkStream? _stream;

    public static async Task<RawHttpClient> ConnectAsync(Uri address)
    {
        var client = new RawHttpClient();
        await client._client.ConnectAsync(address.Host, address.Port).WaitAsync(KestrelTestApp.Timeout);
        client._stream = client._client.GetStream();
        return client;
    }

    /// <summary>Writes GET requests for every path in one write, and returns the bodies of their responses, in order.</summary>
    public async Task<List<string>> PipelineAsync(IEnumerable<string> paths, IDictionary<string, string>? headers = null)
    {
        var extra = headers is null ? "" : string.Concat(headers.Select(h => $"{h.Key}: {h.Value}\r\n"));
        var requests = paths.Select(p => $"GET {p} HTTP/1.1\r\nHost: test\r\n{extra}\r\n").ToList();
        await _stream!.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(requests)));

        var bodies = new List<string>();
        using var timeout = new CancellationTokenSource(KestrelTestApp.Timeout);
        var buffer = new byte[8192];
        while (bodies.Count < requests.Count)
        {
            if (TryTakeResponse(out var body))
            {
                bodies.Add(body);
                continue;
            }

            var read = await _stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                throw new IOException($"The server closed the connection after {bodies.Count} of {requests.Count} responses.");
            }

            _received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return bodies;
    }

    public void Dispose() => _client.Dispose();

    private bool TryTakeResponse(out string body)
    {
        body = "";
        var text = _received.ToString();
        var headersEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (headersEnd < 0)
        {
            return false;
        }

        var headers = text[..headersEnd].Split("\r\n");
        var start = headersEnd + 4;
        if (headers.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) is { } lengthHeader)
        {
            var length = int.Parse(lengthHeader["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            if (text.Length < start + length)
            {
                return false;
            }

            body = text.Substring(start, length);
            _received.Remove(0, start + length);
            return true;
        }

        // Chunked: hexadecimal sizes, each chunk followed by CRLF, up to the chunk of size 0.
        var content = new StringBuilder();
        var position = start;
        while (true)
        {
            var sizeEnd = text.IndexOf("\r\n", position, StringComparison.Ordinal);
            if (sizeEnd < 0)
            {
                return false;
            }

            var size = int.Parse(text[position..sizeEnd], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
            if (text.Length < sizeEnd + 2 + size + 2)
            {
                return false;
            }

            content.Append(text, sizeEnd + 2, size);
            position = sizeEnd + 2 + size + 2;
            if (size == 0)
            {
                break;
            }
        }

        body = content.ToString();
        _received.Remove(0, position);
        return true;
    }
}

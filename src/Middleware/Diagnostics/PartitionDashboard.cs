using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace PartitionedHosting.Diagnostics;

/// <summary>
/// The diagnostics endpoint as a page: what a browser gets from it (it asks for <c>text/html</c>), one self-contained
/// HTML document (no external script, style, font or image) that reads the same endpoint as JSON every second and
/// shows each partition live: mode, state, generation, connections, requests per second, requests running and queued,
/// rejections, recycles and the last cause, the longest recent turn, and the key map (and the cluster, if any).
/// </summary>
/// <remarks>
/// Its script writes text only (no markup from data), and its <c>Content-Security-Policy</c> allows nothing but the
/// page's own script and style and requests to its own origin.
/// </remarks>
internal static class PartitionDashboard
{
    private const string Script = """

        const body = document.querySelector('#partitions tbody');
        const status = document.getElementById('status');
        const previous = new Map();
        let previousAt = 0;

        function cell(row, field, text, className) {
          let td = row.querySelector(`td[data-field="${field}"]`);
          if (!td) { td = document.createElement('td'); td.dataset.field = field; row.appendChild(td); }
          td.textContent = text;
          td.className = className || '';
        }

        function number(value, digits) {
          return value == null ? '–' : Number(value).toLocaleString('en-US', { maximumFractionDigits: digits || 0 });
        }

        function render(data, at) {
          const seconds = previousAt ? (at - previousAt) / 1000 : 0;
          const seen = new Set();
          for (const p of data.partitions) {
            seen.add(String(p.id));
            let row = body.querySelector(`tr[data-partition="${p.id}"]`);
            if (!row) { row = document.createElement('tr'); row.dataset.partition = p.id; body.appendChild(row); }
            row.dataset.state = p.state;
            const last = previous.get(p.id);
            const rate = last && seconds > 0
              ? Math.max(0, (last.generation === p.generation ? p.requests - last.requests : p.requests) / seconds)
              : null;
            previous.set(p.id, { requests: p.requests, generation: p.generation });
            cell(row, 'id', p.id);
            cell(row, 'mode', p.mode);
            cell(row, 'state', p.state + (p.stalledForMs != null ? ` for ${number(p.stalledForMs / 1000, 1)} s` : ''), 'state ' + p.state.toLowerCase());
            cell(row, 'generation', p.generation);
            cell(row, 'connections', number(p.activeConnections));
            cell(row, 'rps', rate == null ? '…' : number(rate));
            cell(row, 'active', number(p.activeRequests));
            cell(row, 'queue', number(p.queueLength), p.queueLength > 0 ? 'warn' : '');
            cell(row, 'rejections', number(p.rejections), p.rejections > 0 ? 'warn' : '');
            cell(row, 'recycles', p.recycles + (p.lastRecycleCause ? ` (last: ${p.lastRecycleCause})` : ''));
            cell(row, 'turn', p.longestTurnMs == null ? '–' : `${number(p.longestTurnMs, 1)} ms`, p.longestTurnMs > 100 ? 'warn' : '');
          }
          for (const row of [...body.rows]) { if (!seen.has(row.dataset.partition)) row.remove(); }
          previousAt = at;

          const map = data.keyMap;
          document.getElementById('keymap-version').textContent = map.version;
          document.getElementById('keymap-moved').textContent = map.movedByHand.length;
          const bar = document.getElementById('keymap-bar');
          bar.replaceChildren(...map.slotsByPartition.map((s, i) => {
            const part = document.createElement('span');
            part.style.flexGrow = s.slots;
            part.className = 'slot-share shade' + (i % 6);
            part.dataset.partition = s.partition;
            part.textContent = `${s.partition}: ${number(s.slots)} slots (${number(100 * s.slots / map.slotCount, 1)} %)`;
            return part;
          }));

          const cluster = document.getElementById('cluster');
          cluster.hidden = !data.cluster;
          if (data.cluster) {
            document.getElementById('cluster-misdirected').textContent = number(data.cluster.misdirected);
            document.getElementById('cluster-nodes').textContent =
              data.cluster.nodes.map(n => `${n.node}${n.self ? ' (this node)' : ''}: ${number(n.slots)} slots`).join(' · ');
          }
        }

        async function refresh() {
          try {
            const response = await fetch(location.pathname, { headers: { Accept: 'application/json' }, cache: 'no-store' });
            if (!response.ok) throw new Error(`HTTP ${response.status}`);
            render(await response.json(), performance.now());
            status.textContent = `updated ${new Date().toLocaleTimeString()}`;
            status.className = '';
          } catch (error) {
            status.textContent = `not updated: ${error.message}`;
            status.className = 'error';
          }
        }

        refresh();
        setInterval(refresh, 1000);

        """;

    private const string Style = """

        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f23; background: #fafbfc; }
        header { display: flex; align-items: baseline; gap: 1rem; }
        h1 { font-size: 1.4rem; margin: 0 0 1rem; }
        h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
        #status { color: #57606a; }
        #status.error { color: #b42318; }
        table { border-collapse: collapse; background: #fff; }
        th, td { padding: .35rem .7rem; border-bottom: 1px solid #e1e4e8; text-align: right; white-space: nowrap; }
        th:nth-child(-n+3), td:nth-child(-n+3) { text-align: left; }
        th { font-weight: 600; background: #f3f4f6; }
        td.state.running { color: #1a7f37; }
        td.state.stalled, td.state.unhealthy { color: #fff; background: #b42318; font-weight: 600; }
        td.state.recycling { color: #9a6700; }
        td.warn { color: #9a6700; font-weight: 600; }
        #keymap-bar { display: flex; width: 100%; max-width: 60rem; margin-top: .5rem; }
        .slot-share { padding: .3rem .5rem; color: #fff; overflow: hidden; white-space: nowrap; font-size: 12px; }
        .shade0 { background: #0969da; } .shade1 { background: #8250df; } .shade2 { background: #1a7f37; }
        .shade3 { background: #bf3989; } .shade4 { background: #9a6700; } .shade5 { background: #57606a; }

        """;

    // Normalized: a checkout with CRLF line endings would embed them, and browsers hash the element's text with LF.
    private static readonly string s_script = Script.ReplaceLineEndings("\n");
    private static readonly string s_style = Style.ReplaceLineEndings("\n");

    private static readonly byte[] s_page = Encoding.UTF8.GetBytes($$"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Partitions</title>
        <style>{{s_style}}</style>
        </head>
        <body>
        <header><h1>Partitions</h1><span id="status">loading…</span></header>
        <table id="partitions">
        <thead><tr>
        <th>Partition</th><th>Mode</th><th>State</th><th>Generation</th><th>Connections</th><th>Requests/s</th>
        <th>Running</th><th>Queued</th><th>Rejections</th><th>Recycles</th><th>Longest turn (10–20 s)</th>
        </tr></thead>
        <tbody></tbody>
        </table>
        <section id="keymap">
        <h2>Key map</h2>
        <div>Version <strong id="keymap-version">–</strong>, slots moved by hand: <strong id="keymap-moved">–</strong></div>
        <div id="keymap-bar"></div>
        </section>
        <section id="cluster" hidden>
        <h2>Cluster</h2>
        <div id="cluster-nodes"></div>
        <div>Requests for another node's slots (421): <strong id="cluster-misdirected">0</strong></div>
        </section>
        <script>{{s_script}}</script>
        </body>
        </html>
        """.ReplaceLineEndings("\n"));

    // Only this page's own script and style run, and it talks to its own origin only.
    private static readonly string s_contentSecurityPolicy =
        $"default-src 'none'; script-src '{Hash(s_script)}'; style-src '{Hash(s_style)}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>Whether the request asks for a page (a browser's navigation) rather than JSON.</summary>
    public static bool IsWanted(HttpRequest request)
    {
        foreach (var value in request.Headers.Accept)
        {
            if (value is not null && value.Contains("text/html", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The page, with its security policy; never cached (the endpoint also sends <c>Vary: Accept</c>, since the same
    /// URL answers JSON too).
    /// </summary>
    public static IResult Page { get; } = new PageResult();

    private static string Hash(string content) => "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(content)));

    private sealed class PageResult : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.ContentType = "text/html; charset=utf-8";
            response.ContentLength = s_page.Length;
            response.Headers.CacheControl = "no-store";
            response.Headers.ContentSecurityPolicy = s_contentSecurityPolicy;
            response.Headers.XContentTypeOptions = "nosniff";
            return response.Body.WriteAsync(s_page, httpContext.RequestAborted).AsTask();
        }
    }
}

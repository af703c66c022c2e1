using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>One request the loopback Hub received.</summary>
internal sealed record HubRequest(string Method, string Path, string? Authorization, string? Range);

/// <summary>
/// A stand-in for the Hub on 127.0.0.1 (a free port), serving what the Hub serves for downloads:
/// <c>GET /api/{models|datasets}/{repo}/revision/{rev}</c> (commit and file list), <c>HEAD|GET /[datasets/]{repo}/resolve/{rev}/{file}</c>
/// with <c>X-Repo-Commit</c> and the ETag (regular files: their git blob sha1, served directly), and for LFS files
/// (<c>*.safetensors</c>, <c>*.parquet</c>) <c>X-Linked-Etag</c>/<c>X-Linked-Size</c> with a 302 to <c>/cdn/{sha256}</c>,
/// which serves the bytes and honours <c>Range: bytes=N-</c>. It never reaches another host.
/// </summary>
internal sealed class LoopbackHub : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Dictionary<string, (string Commit, Dictionary<string, byte[]> Files)> _repos = [];
    private readonly Dictionary<string, byte[]> _cdn = [];
    private readonly Task _loop;

    public LoopbackHub()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Endpoint = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _loop = Task.Run(Serve);
    }

    public string Endpoint { get; }

    public ConcurrentQueue<HubRequest> Requests { get; } = new();

    /// <summary>When set, the CDN serves these bytes instead of the real content of the blob with this sha256 (a corrupt transfer).</summary>
    public ConcurrentDictionary<string, byte[]> CorruptCdn { get; } = new();

    /// <summary>When set, LFS redirects go to this server's /cdn/ (another origin, as the Hub's file host is).</summary>
    public LoopbackHub? FileHost { get; set; }

    /// <summary>When set, every request must carry "Authorization: Bearer {token}" or gets 401.</summary>
    public string? RequiredToken { get; set; }

    public static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    public static string GitBlobSha1(byte[] content) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));

    public static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal) || file.EndsWith(".parquet", StringComparison.Ordinal);

    /// <summary>Publishes a repository ("models/org/name" or "datasets/org/name") whose "main" is <paramref name="commit"/>.</summary>
    public void AddRepo(string kindAndRepo, string commit, Dictionary<string, byte[]> files)
    {
        lock (_repos) _repos[kindAndRepo] = (commit, files);
        foreach (var content in files.Values) lock (_cdn) _cdn[Sha256(content)] = content;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(() => Handle(context));
        }
    }

    private void Handle(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        HttpListenerResponse response = context.Response;
        string path = Uri.UnescapeDataString(request.Url!.AbsolutePath);
        Requests.Enqueue(new HubRequest(request.HttpMethod, path, request.Headers["Authorization"], request.Headers["Range"]));
        try
        {
            if (RequiredToken is not null && request.Headers["Authorization"] != $"Bearer {RequiredToken}" && !path.StartsWith("/cdn/", StringComparison.Ordinal))
            {
                response.StatusCode = 401;
                return;
            }
            if (path.StartsWith("/cdn/", StringComparison.Ordinal))
            {
                string sha = path["/cdn/".Length..];
                byte[]? content;
                lock (_cdn) _cdn.TryGetValue(sha, out content);
                if (content is null) { response.StatusCode = 404; return; }
                if (CorruptCdn.TryGetValue(sha, out byte[]? corrupt)) content = corrupt;
                WriteBody(request, response, content);
                return;
            }
            if (path.StartsWith("/api/", StringComparison.Ordinal))
            {
                // /api/{kind}/{org}/{name}/revision/{rev}
                string[] parts = path.Split('/');
                string key = $"{parts[2]}/{parts[3]}/{parts[4]}";
                if (!TryRepo(key, out var repo)) { response.StatusCode = 404; return; }
                byte[] json = JsonSerializer.SerializeToUtf8Bytes(new
                {
                    id = $"{parts[3]}/{parts[4]}",
                    sha = repo.Commit,
                    siblings = repo.Files.Keys.Select(f => new { rfilename = f }).ToArray(),
                });
                response.ContentType = "application/json";
                response.OutputStream.Write(json);
                return;
            }
            // /[datasets/]{org}/{name}/resolve/{rev}/{file...}
            string[] segments = path.TrimStart('/').Split('/');
            string kind = segments[0] == "datasets" ? "datasets" : "models";
            int at = kind == "datasets" ? 1 : 0;
            if (segments.Length < at + 5 || segments[at + 2] != "resolve") { response.StatusCode = 404; return; }
            string repoKey = $"{kind}/{segments[at]}/{segments[at + 1]}";
            string file = string.Join('/', segments[(at + 4)..]);
            if (!TryRepo(repoKey, out var found) || !found.Files.TryGetValue(file, out byte[]? bytes)) { response.StatusCode = 404; return; }
            response.Headers["X-Repo-Commit"] = found.Commit;
            if (IsLfs(file))
            {
                response.StatusCode = 302;
                response.Headers["X-Linked-Etag"] = $"\"{Sha256(bytes)}\"";
                response.Headers["X-Linked-Size"] = bytes.Length.ToString();
                response.Headers["ETag"] = $"\"{GitBlobSha1(Encoding.ASCII.GetBytes("lfs pointer " + Sha256(bytes)))}\"";
                response.RedirectLocation = $"{(FileHost ?? this).Endpoint}/cdn/{Sha256(bytes)}";
                return;
            }
            response.Headers["ETag"] = $"\"{GitBlobSha1(bytes)}\"";
            WriteBody(request, response, bytes);
        }
        finally
        {
            try { response.Close(); } catch (HttpListenerException) { }
        }
    }

    private bool TryRepo(string key, out (string Commit, Dictionary<string, byte[]> Files) repo)
    {
        lock (_repos) return _repos.TryGetValue(key, out repo);
    }

    private static void WriteBody(HttpListenerRequest request, HttpListenerResponse response, byte[] content)
    {
        int start = 0;
        string? range = request.Headers["Range"];
        if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = int.Parse(range["bytes=".Length..^1]);
            response.StatusCode = 206;
            response.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }
        response.ContentLength64 = content.Length - start;
        if (request.HttpMethod != "HEAD") response.OutputStream.Write(content, start, content.Length - start);
    }
}

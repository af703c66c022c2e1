using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PromptLossWeight.Llama.Hub;

/// <summary>
/// Downloads files of one repository revision from the Hub into the hub cache, the way the Python client lays them
/// out: the file listing from <c>{endpoint}/api/{models|datasets}/{repo}/revision/{revision}</c>; per file a HEAD on
/// <c>{endpoint}[/datasets]/{repo}/resolve/{commit}/{file}</c> for the ETag (<c>X-Linked-Etag</c> for LFS files: their
/// sha256) and size (<c>X-Linked-Size</c>); then a GET into <c>blobs/{etag}.incomplete</c>, resumed with a Range request
/// when an earlier attempt left one; the content is checked against the ETag (sha256, or the git blob sha1 of small
/// files) before it becomes <c>blobs/{etag}</c> and <c>snapshots/{commit}/{file}</c> links to it.
/// </summary>
internal sealed class HubDownloader : IDisposable
{
    private const int ReportEvery = 1 << 20;
    private readonly HubOptions _options;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly string? _token;

    public HubDownloader(HubOptions options)
    {
        _options = options;
        string endpoint = options.ResolveEndpoint();
        if (!Uri.TryCreate(endpoint + "/", UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new HubException($"The Hub endpoint '{endpoint}' (HubOptions.Endpoint or HF_ENDPOINT) is not an http(s) address.");
        _endpoint = uri;
        _token = options.ResolveToken();
        // Redirects are followed by hand: a HEAD stops at a redirect to another host (the CDN), whose response does not
        // carry the Hub's headers, and the token only goes to the endpoint's own host.
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, ConnectTimeout = TimeSpan.FromSeconds(30) };
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("PromptLossWeight/0.1");
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Downloads the files of <paramref name="repo"/> that <paramref name="wanted"/> selects (those already in the
    /// snapshot are kept), points <c>refs/{revision}</c> at the commit and returns the snapshot folder.
    /// </summary>
    public async Task<string> DownloadAsync(string cache, HubRepoId repo, HubRepoType type, Func<string, bool> wanted, CancellationToken cancel)
    {
        (string commit, IReadOnlyList<string> files) = await ListFilesAsync(repo, type, cancel).ConfigureAwait(false);
        string[] selected = files.Where(wanted).Order(StringComparer.Ordinal).ToArray();
        if (selected.Length == 0)
            throw new HubException($"{Describe(repo, type)} on {_endpoint} has none of the files needed ({files.Count} files listed at commit {commit}).");
        string repoFolder = HubCache.RepoFolder(cache, repo, type);
        string snapshot = HubCache.SnapshotFolder(repoFolder, commit);
        foreach (string file in selected)
        {
            if (HubCache.HasFile(snapshot, file)) continue;
            await DownloadFileAsync(repoFolder, snapshot, repo, type, commit, file, cancel).ConfigureAwait(false);
        }
        HubCache.WriteRef(repoFolder, repo.Revision, commit);
        return snapshot;
    }

    private async Task<(string Commit, IReadOnlyList<string> Files)> ListFilesAsync(HubRepoId repo, HubRepoType type, CancellationToken cancel)
    {
        Uri url = new(_endpoint, $"api/{HubCache.Prefix(type)}/{repo.Id}/revision/{Uri.EscapeDataString(repo.Revision)}");
        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, url, null, followAnyRedirect: false, cancel).ConfigureAwait(false);
        Ensure(response, repo, type, url);
        string json = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            string commit = doc.RootElement.GetProperty("sha").GetString() ?? "";
            if (!HubRepoId.IsCommitHash(commit)) throw new HubException($"{url}: 'sha' is '{commit}', not a commit hash.");
            var files = doc.RootElement.GetProperty("siblings").EnumerateArray()
                .Select(s => s.GetProperty("rfilename").GetString() ?? "").Where(f => f.Length > 0).ToList();
            return (commit, files);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new HubException($"{url}: the Hub's answer is not a repository listing with 'sha' and 'siblings' ({e.Message}).", e);
        }
    }

    private async Task DownloadFileAsync(string repoFolder, string snapshot, HubRepoId repo, HubRepoType type, string commit, string file, CancellationToken cancel)
    {
        string typePath = type == HubRepoType.Dataset ? "datasets/" : "";
        string escapedFile = string.Join('/', file.Split('/').Select(Uri.EscapeDataString));
        Uri url = new(_endpoint, $"{typePath}{repo.Id}/resolve/{commit}/{escapedFile}");

        string etag;
        long? size;
        using (HttpResponseMessage head = await SendAsync(HttpMethod.Head, url, null, followAnyRedirect: false, cancel).ConfigureAwait(false))
        {
            if (!IsRedirect(head.StatusCode)) Ensure(head, repo, type, url);
            etag = NormalizeEtag(Header(head, "X-Linked-Etag") ?? Header(head, "ETag") ?? head.Headers.ETag?.Tag)
                ?? throw new HubException($"{url}: the Hub sent no ETag, so the file cannot be placed in the cache (is HF_ENDPOINT a Hub?).");
            string? sizeText = Header(head, "X-Linked-Size");
            size = long.TryParse(sizeText, out long linked) ? linked : head.Content.Headers.ContentLength;
            if (Header(head, "X-Repo-Commit") is string served && served != commit)
                throw new HubException($"{url}: the Hub answered for commit {served}, not {commit}.");
        }
        if (etag.Contains('/') || etag.Contains('\\') || etag.Contains(".."))
            throw new HubException($"{url}: the ETag '{etag}' cannot name a cache file.");

        string blobs = Path.Combine(repoFolder, "blobs");
        string blob = Path.Combine(blobs, etag);
        if (!File.Exists(blob))
        {
            Directory.CreateDirectory(blobs);
            await DownloadBlobAsync(url, repo, type, file, blob, etag, size, cancel).ConfigureAwait(false);
        }
        HubCache.LinkIntoSnapshot(snapshot, file, blob);
        _options.Progress?.Report(new HubDownloadProgress(repo.Id, file, new FileInfo(blob).Length, size, Completed: true));
    }

    private async Task DownloadBlobAsync(Uri url, HubRepoId repo, HubRepoType type, string file, string blob, string etag, long? size, CancellationToken cancel)
    {
        string incomplete = blob + ".incomplete";
        FileStream stream;
        try
        {
            stream = new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new HubException($"{incomplete}: cannot open the partial download (is another process downloading {repo.Id}/{file}?): {e.Message}", e);
        }
        await using (stream.ConfigureAwait(false))
        {
            long resume = stream.Length;
            if (size is long expected && resume > expected) { stream.SetLength(0); resume = 0; }
            stream.Seek(resume, SeekOrigin.Begin);
            _options.Progress?.Report(new HubDownloadProgress(repo.Id, file, resume, size, Completed: false));
            if (size is not long known || resume < known)
            {
                using HttpResponseMessage response = await SendAsync(HttpMethod.Get, url, resume > 0 ? resume : null, followAnyRedirect: true, cancel).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK && resume > 0)
                {
                    // The server ignored the Range header and sends the whole file: start over.
                    stream.SetLength(0);
                    resume = 0;
                }
                Ensure(response, repo, type, url);
                await CopyAsync(response, stream, repo.Id, file, resume, size, cancel).ConfigureAwait(false);
            }
            await stream.FlushAsync(cancel).ConfigureAwait(false);
            Verify(stream, url, incomplete, etag, size);
        }
        File.Move(incomplete, blob, overwrite: true);
    }

    private async Task CopyAsync(HttpResponseMessage response, FileStream stream, string repo, string file, long done, long? size, CancellationToken cancel)
    {
        Stream body = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
        await using (body.ConfigureAwait(false))
        {
            byte[] buffer = new byte[81920];
            long lastReport = done;
            int read;
            while ((read = await body.ReadAsync(buffer, cancel).ConfigureAwait(false)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), cancel).ConfigureAwait(false);
                done += read;
                if (done - lastReport >= ReportEvery)
                {
                    _options.Progress?.Report(new HubDownloadProgress(repo, file, done, size, Completed: false));
                    lastReport = done;
                }
            }
        }
    }

    /// <summary>
    /// Checks the size and the content hash the ETag names: a 64-digit ETag is the sha256 of an LFS file, a 40-digit
    /// one the git blob sha1 of a regular file. A mismatch deletes the partial file, so a retry starts afresh.
    /// </summary>
    private static void Verify(FileStream stream, Uri url, string incomplete, string etag, long? size)
    {
        string? problem = null;
        if (size is long expected && stream.Length != expected)
            problem = $"{stream.Length} bytes arrived but the Hub announced {expected}";
        else
        {
            stream.Seek(0, SeekOrigin.Begin);
            if (etag.Length == 64 && IsHex(etag))
            {
                string actual = Convert.ToHexStringLower(SHA256.HashData(stream));
                if (actual != etag.ToLowerInvariant()) problem = $"its sha256 is {actual} but the Hub's ETag is {etag}";
            }
            else if (etag.Length == 40 && IsHex(etag))
            {
                using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
                sha1.AppendData(Encoding.ASCII.GetBytes($"blob {stream.Length}\0"));
                byte[] buffer = new byte[81920];
                int read;
                while ((read = stream.Read(buffer)) > 0) sha1.AppendData(buffer, 0, read);
                string actual = Convert.ToHexStringLower(sha1.GetHashAndReset());
                if (actual != etag.ToLowerInvariant()) problem = $"its git blob sha1 is {actual} but the Hub's ETag is {etag}";
            }
        }
        if (problem is null) return;
        stream.SetLength(0);
        stream.Dispose();
        File.Delete(incomplete);
        throw new HubException($"{url}: checksum mismatch, the download is corrupt ({problem}); the partial file was deleted, try again.");
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, long? rangeStart, bool followAnyRedirect, CancellationToken cancel)
    {
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            if (_token is not null && SameOrigin(url, _endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (rangeStart is long start) request.Headers.Range = new RangeHeaderValue(start, null);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new HubException($"{method} {url} failed: {e.Message} (is the network reachable, or HF_ENDPOINT right?)", e);
            }
            if (!IsRedirect(response.StatusCode) || response.Headers.Location is not Uri location) return response;
            // A relative redirect (a renamed repository) is always followed; one to another host only by a GET.
            if (location.IsAbsoluteUri && !followAnyRedirect) return response;
            if (hop >= 10)
            {
                response.Dispose();
                throw new HubException($"{url}: more than 10 redirects.");
            }
            url = new Uri(url, location);
            response.Dispose();
        }
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static bool IsRedirect(HttpStatusCode code) => (int)code is 301 or 302 or 303 or 307 or 308;

    private void Ensure(HttpResponseMessage response, HubRepoId repo, HubRepoType type, Uri url)
    {
        if (response.IsSuccessStatusCode) return;
        int code = (int)response.StatusCode;
        string hint = code switch
        {
            401 or 403 => _token is null
                ? " The repository is gated or private: accept its licence on the Hub and set HF_TOKEN (or HubOptions.Token)."
                : " The token (HF_TOKEN or HubOptions.Token) has no access to it: accept the repository's licence on the Hub, or check the token.",
            404 => $" Check the id and revision of {Describe(repo, type)}.",
            _ => "",
        };
        throw new HubException($"{url}: HTTP {code} {response.ReasonPhrase}.{hint}");
    }

    internal static string Describe(HubRepoId repo, HubRepoType type) =>
        $"{(type == HubRepoType.Model ? "model" : "dataset")} {repo.Id} (revision {repo.Revision})";

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault()
        : response.Content.Headers.TryGetValues(name, out var contentValues) ? contentValues.FirstOrDefault() : null;

    /// <summary>Removes a weak-validator prefix and the quotes, as the Python client does.</summary>
    internal static string? NormalizeEtag(string? etag)
    {
        if (string.IsNullOrWhiteSpace(etag)) return null;
        string value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal)) value = value[2..];
        value = value.Trim('"');
        return value.Length == 0 ? null : value;
    }

    private static bool IsHex(string text) => text.All(Uri.IsHexDigit);
}

namespace PromptLossWeight.Llama.Hub;

/// <summary>
/// The layout of the hub cache the Python tools share:
/// <code>
/// {cache}/models--org--name/refs/main                 the commit hash that "main" points to
/// {cache}/models--org--name/snapshots/{commit}/{file}  a link to ../../blobs/{etag}
/// {cache}/models--org--name/blobs/{etag}              the content (sha256 for LFS files, git sha1 otherwise)
/// </code>
/// Datasets use <c>datasets--org--name</c>.
/// </summary>
internal static class HubCache
{
    /// <summary>The repository's folder in the cache, e.g. <c>{cache}/models--org--name</c>.</summary>
    public static string RepoFolder(string cache, HubRepoId repo, HubRepoType type) =>
        Path.Combine(cache, $"{Prefix(type)}--{repo.Owner}--{repo.Name}");

    /// <summary>"models" or "datasets", as in cache folder names and Hub URLs.</summary>
    public static string Prefix(HubRepoType type) => type == HubRepoType.Model ? "models" : "datasets";

    /// <summary>The file holding the commit a branch or tag points to.</summary>
    public static string RefFile(string repoFolder, string revision) =>
        Path.Combine([repoFolder, "refs", .. revision.Split('/')]);

    /// <summary>The snapshot folder of <paramref name="commit"/>.</summary>
    public static string SnapshotFolder(string repoFolder, string commit) => Path.Combine(repoFolder, "snapshots", commit);

    /// <summary>
    /// The cached snapshot of a revision (branch, tag or commit), or null: a commit hash names its snapshot folder
    /// directly, a branch or tag goes through <c>refs/{revision}</c>.
    /// </summary>
    public static string? FindSnapshot(string repoFolder, string revision)
    {
        if (HubRepoId.IsCommitHash(revision))
        {
            string direct = SnapshotFolder(repoFolder, revision);
            if (Directory.Exists(direct)) return direct;
        }
        string refFile = RefFile(repoFolder, revision);
        if (!File.Exists(refFile)) return null;
        string commit = File.ReadAllText(refFile).Trim();
        if (!HubRepoId.IsCommitHash(commit)) return null;
        string snapshot = SnapshotFolder(repoFolder, commit);
        return Directory.Exists(snapshot) ? snapshot : null;
    }

    /// <summary>Points <c>refs/{revision}</c> at <paramref name="commit"/> (nothing to do when the revision is the commit).</summary>
    public static void WriteRef(string repoFolder, string revision, string commit)
    {
        if (revision == commit) return;
        string refFile = RefFile(repoFolder, revision);
        Directory.CreateDirectory(Path.GetDirectoryName(refFile)!);
        string temporary = refFile + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(temporary, commit);
        File.Move(temporary, refFile, overwrite: true);
    }

    /// <summary>
    /// Makes <c>snapshots/{commit}/{file}</c> a relative link to <paramref name="blob"/> (as the Python tools do); where
    /// links cannot be made (Windows without the privilege) the blob is copied instead.
    /// </summary>
    public static void LinkIntoSnapshot(string snapshot, string file, string blob)
    {
        string target = Path.Combine([snapshot, .. file.Split('/')]);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (File.Exists(target) || new FileInfo(target).LinkTarget is not null) File.Delete(target);
        string relative = Path.GetRelativePath(Path.GetDirectoryName(target)!, blob);
        try
        {
            File.CreateSymbolicLink(target, relative);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, target);
        }
    }

    /// <summary>True when the snapshot holds <paramref name="file"/> and, if it is a link, its blob exists.</summary>
    public static bool HasFile(string snapshot, string file)
    {
        var info = new FileInfo(Path.Combine([snapshot, .. file.Split('/')]));
        return info.LinkTarget is null ? info.Exists : info.ResolveLinkTarget(returnFinalTarget: true) is { Exists: true };
    }
}

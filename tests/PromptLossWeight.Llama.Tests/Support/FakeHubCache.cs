using System.Security.Cryptography;
using System.Text;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>
/// Builds a Hugging Face hub cache the way the Python client leaves it, written independently of the library:
/// <c>{root}/{models|datasets}--org--name/blobs/{sha256}</c>, <c>snapshots/{commit}/{file}</c> as a relative symbolic
/// link to the blob, and <c>refs/{revision}</c> holding the commit.
/// </summary>
internal sealed class FakeHubCache(string root)
{
    public string Root { get; } = root;

    /// <summary>A commit hash derived from a label, so tests read well and hashes stay distinct.</summary>
    public static string Commit(string label) => Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(label)));

    /// <summary>Adds a snapshot with <paramref name="files"/> (path in the repo → content) and points refs/{revision} at it.</summary>
    public string AddSnapshot(string kind, string repo, string commit, Dictionary<string, byte[]> files, string? revision = "main")
    {
        string repoFolder = Path.Combine(Root, $"{kind}--{repo.Replace("/", "--")}");
        string snapshot = Path.Combine(repoFolder, "snapshots", commit);
        foreach (var (file, content) in files)
        {
            string blob = Path.Combine(repoFolder, "blobs", Convert.ToHexStringLower(SHA256.HashData(content)));
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            File.WriteAllBytes(blob, content);
            string link = Path.Combine(snapshot, file);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, blob));
        }
        Directory.CreateDirectory(snapshot);
        if (revision is not null)
        {
            string refFile = Path.Combine(repoFolder, "refs", revision);
            Directory.CreateDirectory(Path.GetDirectoryName(refFile)!);
            File.WriteAllText(refFile, commit);
        }
        return snapshot;
    }

    /// <summary>Copies the files of a folder into a snapshot (through blobs and links).</summary>
    public string AddSnapshotFromFolder(string kind, string repo, string commit, string folder, string? revision = "main") =>
        AddSnapshot(kind, repo, commit, Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f).Replace('\\', '/'), File.ReadAllBytes), revision);
}

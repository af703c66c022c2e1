using System.Security.Cryptography;

namespace PromptLossWeight.Samples.Race.Pretraining;

/// <summary>
/// The pretrained small model that ships with the sample, as a finished <see cref="PretrainedModelCache"/> entry
/// under <c>assets/pretrained/{key}/</c> (config.json, model.safetensors, settings.json, history, pretrained.json),
/// with <see cref="ChecksumFileName"/> listing the SHA-256 of every file and <see cref="CommandFileName"/> the
/// command that made it (<c>scripts/ship-pretrained.sh</c>). When the sweep's pretraining settings have the shipped
/// key, the entry is checked and copied into the output folder's cache instead of pretraining again, so the embedded
/// default spends its minutes on the PLW sweep. Any other settings (or <c>--pretrain-from-scratch</c>) pretrain as before.
/// </summary>
public static class ShippedPretraining
{
    /// <summary>The file with one "sha256  name" line per shipped file.</summary>
    public const string ChecksumFileName = "SHA256SUMS";

    /// <summary>The file with the command that produced the entry.</summary>
    public const string CommandFileName = "command.txt";

    /// <summary>The shipped entries, next to the sample's binaries.</summary>
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "assets", PretrainedModelCache.FolderName);

    /// <summary>The shipped entry for <paramref name="settings"/>, or null when none has its key.</summary>
    public static string? Find(object settings, string? folder = null)
    {
        string dir = Path.Combine(folder ?? Folder, PretrainedModelCache.Key(settings));
        return File.Exists(Path.Combine(dir, PretrainedModelCache.DoneFileName)) ? dir : null;
    }

    /// <summary>
    /// Checks every file of the shipped entry <paramref name="shipped"/> against its <see cref="ChecksumFileName"/>;
    /// throws an <see cref="InvalidDataException"/> naming the first file that is missing or differs.
    /// </summary>
    public static void Verify(string shipped)
    {
        string sums = Path.Combine(shipped, ChecksumFileName);
        if (!File.Exists(sums)) throw new InvalidDataException($"{sums}: missing (the shipped pretrained model cannot be checked).");
        var lines = File.ReadAllLines(sums).Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new InvalidDataException($"{sums}: no checksums.");
        for (int i = 0; i < lines.Count; i++)
        {
            string[] parts = lines[i].Split("  ", 2);
            if (parts.Length != 2 || parts[0].Length != 64 || parts[1].Contains('/') || parts[1].Contains('\\'))
                throw new InvalidDataException($"{sums}:{i + 1}: expected \"<sha256>  <file name>\".");
            string file = Path.Combine(shipped, parts[1]);
            if (!File.Exists(file)) throw new InvalidDataException($"{file}: missing from the shipped pretrained model.");
            string actual = Sha256(file);
            if (!actual.Equals(parts[0], StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException($"{file}: SHA-256 {actual} differs from {parts[0]} in {ChecksumFileName}; restore the file from the repository, or pass --pretrain-from-scratch.");
        }
    }

    /// <summary>
    /// Copies the shipped entry <paramref name="shipped"/> (after <see cref="Verify"/>) into the cache of
    /// <paramref name="outputDirectory"/> for <paramref name="settings"/> and returns the cache's view of it.
    /// </summary>
    public static PretrainedModel Install(string shipped, string outputDirectory, object settings)
    {
        Verify(shipped);
        string target = PretrainedModelCache.EntryDirectory(outputDirectory, settings);
        Directory.CreateDirectory(target);
        // pretrained.json last: it marks the cache entry complete.
        foreach (string file in Directory.GetFiles(shipped).OrderBy(f => Path.GetFileName(f) == PretrainedModelCache.DoneFileName))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
        return PretrainedModelCache.TryGet(outputDirectory, settings) ?? throw new InvalidDataException($"{shipped}: not a complete pretrained entry.");
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

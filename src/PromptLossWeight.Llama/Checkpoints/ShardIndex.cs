using System.Text.Json;
using System.Text.Json.Nodes;

namespace PromptLossWeight.Llama.Checkpoints;

/// <summary>
/// The <c>model.safetensors.index.json</c> of a sharded checkpoint: which file holds each tensor. File names are
/// checked to stay inside the checkpoint folder (no absolute paths, no "..").
/// </summary>
internal static class ShardIndex
{
    /// <summary>
    /// Reads <paramref name="indexPath"/> and returns tensor name → full path of its shard.
    /// </summary>
    /// <exception cref="InvalidDataException">The index is malformed, or names a file outside its folder or one that does not exist.</exception>
    public static IReadOnlyDictionary<string, string> Read(string indexPath)
    {
        string folder = Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(indexPath))!);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(indexPath));
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{indexPath}: not valid JSON ({ex.Message}).", ex);
        }
        if (root is not JsonObject obj || obj["weight_map"] is not JsonObject map)
            throw new InvalidDataException($"{indexPath}: field \"weight_map\" is missing or not an object.");

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in map)
        {
            if (value is not JsonValue v || !v.TryGetValue(out string? file) || string.IsNullOrWhiteSpace(file))
                throw new InvalidDataException($"{indexPath}: weight_map[\"{name}\"] must be a file name.");
            result[name] = ResolveInside(folder, file, indexPath, name);
        }
        foreach (string file in result.Values.Distinct())
            if (!File.Exists(file))
                throw new FileNotFoundException($"{indexPath} refers to shard {Path.GetFileName(file)}, which does not exist in {folder}.", file);
        return result;
    }

    /// <summary>Writes an index for <paramref name="weightMap"/> (tensor name → shard file name) and the total byte size.</summary>
    public static void Write(string indexPath, IReadOnlyDictionary<string, string> weightMap, long totalSize)
    {
        var map = new JsonObject();
        foreach (var (name, file) in weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal)) map[name] = file;
        var root = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = totalSize },
            ["weight_map"] = map,
        };
        File.WriteAllText(indexPath, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string ResolveInside(string folder, string file, string indexPath, string tensor)
    {
        string full = Path.GetFullPath(Path.Combine(folder, file));
        string prefix = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        if (Path.IsPathRooted(file) || file.Split('/', '\\').Contains("..") || !full.StartsWith(prefix, StringComparison.Ordinal))
            throw new InvalidDataException($"{indexPath}: weight_map[\"{tensor}\"] = \"{file}\" points outside the checkpoint folder; shard files must lie inside it.");
        return full;
    }
}

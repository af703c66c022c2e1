namespace PromptLossWeight.Llama.Checkpoints;

/// <summary>
/// A checkpoint's tensors do not fit the model: some are missing, unexpected, of the wrong shape or of the wrong dtype.
/// The message names the file and the offending tensors (the first <see cref="NamesInMessage"/> of each kind, then a
/// count), plus a hint when the cause is visible (e.g. config.json's <c>num_hidden_layers</c> disagrees with the
/// weights); the full lists are available as properties.
/// </summary>
public sealed class CheckpointMismatchException : Exception
{
    /// <summary>How many names of each kind the message lists before it only counts the rest.</summary>
    public const int NamesInMessage = 8;

    /// <summary>Creates the exception from the three lists found in <paramref name="source"/>.</summary>
    /// <param name="source">The weights file (or shard index, or folder) that was read.</param>
    /// <param name="missing">Model tensors the checkpoint lacks.</param>
    /// <param name="unexpected">Checkpoint tensors the model has no place for.</param>
    /// <param name="misShaped">"name: expected .., found .. in file" for tensors of the wrong shape or dtype.</param>
    /// <param name="hint">An explanation of the likely cause, or null.</param>
    public CheckpointMismatchException(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> misShaped, string? hint = null)
        : base(Describe(source, missing, unexpected, misShaped, hint))
    {
        WeightsPath = source;
        Missing = missing;
        Unexpected = unexpected;
        MisShaped = misShaped;
    }

    /// <summary>The weights file (or shard index, or folder) that does not match.</summary>
    public string WeightsPath { get; }

    /// <summary>Names of model tensors the checkpoint does not contain.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Names of checkpoint tensors the model has no place for.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>"name: expected [..], found [..] in file" for each tensor whose shape (or dtype) differs.</summary>
    public IReadOnlyList<string> MisShaped { get; }

    private static string Describe(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> misShaped, string? hint)
    {
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add(List("missing tensors", missing, ", "));
        if (unexpected.Count > 0) parts.Add(List("unexpected tensors", unexpected, ", "));
        if (misShaped.Count > 0) parts.Add(List("mis-shaped tensors", misShaped, "; "));
        string cause = hint is null ? "" : $" ({hint})";
        return $"{source} does not match the model{cause}: {string.Join(". ", parts)}.";
    }

    private static string List(string kind, IReadOnlyList<string> names, string separator) =>
        names.Count <= NamesInMessage
            ? $"{kind}: {string.Join(separator, names)}"
            : $"{kind} ({names.Count}): {string.Join(separator, names.Take(NamesInMessage))}{separator}and {names.Count - NamesInMessage} more";
}

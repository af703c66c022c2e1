namespace PromptLossWeight.Llama.Checkpoints;

/// <summary>
/// A checkpoint's tensors do not fit the model: some are missing, unexpected or of the wrong shape. The message
/// lists every offending tensor by name; the lists are also available as properties.
/// </summary>
public sealed class CheckpointMismatchException : Exception
{
    /// <summary>Creates the exception from the three lists found in <paramref name="source"/>.</summary>
    public CheckpointMismatchException(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> misShaped)
        : base(Describe(source, missing, unexpected, misShaped))
    {
        Missing = missing;
        Unexpected = unexpected;
        MisShaped = misShaped;
    }

    /// <summary>Names of model tensors the checkpoint does not contain.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Names of checkpoint tensors the model has no place for.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>"name: expected [..], found [..] in file" for each tensor whose shape differs.</summary>
    public IReadOnlyList<string> MisShaped { get; }

    private static string Describe(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> misShaped)
    {
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing tensors: {string.Join(", ", missing)}");
        if (unexpected.Count > 0) parts.Add($"unexpected tensors: {string.Join(", ", unexpected)}");
        if (misShaped.Count > 0) parts.Add($"mis-shaped tensors: {string.Join("; ", misShaped)}");
        return $"The checkpoint in {source} does not match the model: {string.Join(". ", parts)}.";
    }
}

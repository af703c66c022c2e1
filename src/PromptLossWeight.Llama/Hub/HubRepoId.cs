using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace PromptLossWeight.Llama.Hub;

/// <summary>The two kinds of Hugging Face repositories this library reads.</summary>
public enum HubRepoType
{
    /// <summary>A model repository (cache folder <c>models--org--name</c>).</summary>
    Model,
    /// <summary>A dataset repository (cache folder <c>datasets--org--name</c>).</summary>
    Dataset,
}

/// <summary>
/// A Hugging Face repository id such as <c>meta-llama/Llama-2-7b-hf</c>, optionally pinned with
/// <c>@revision</c> (a branch, a tag or a commit hash), e.g. <c>ehovy/race@main</c>.
/// </summary>
/// <param name="Id">"org/name".</param>
/// <param name="Revision">Branch, tag or commit; "main" when the text names none.</param>
public readonly partial record struct HubRepoId(string Id, string Revision)
{
    /// <summary>The revision used when an id names none.</summary>
    public const string DefaultRevision = "main";

    /// <summary>The organisation (or user) part of <see cref="Id"/>.</summary>
    public string Owner => Id[..Id.IndexOf('/')];

    /// <summary>The name part of <see cref="Id"/>.</summary>
    public string Name => Id[(Id.IndexOf('/') + 1)..];

    /// <summary>
    /// Reads "org/name" or "org/name@revision". Only the two-part form is accepted (a one-word legacy id such as
    /// "gpt2" could not be told apart from a relative folder name); each part is letters, digits, '-', '_' and '.',
    /// starts with a letter or digit and holds no "--" or "..", as the Hub requires.
    /// </summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out HubRepoId id)
    {
        id = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string name = text, revision = DefaultRevision;
        int at = text.IndexOf('@');
        if (at >= 0)
        {
            name = text[..at];
            revision = text[(at + 1)..];
            if (!RevisionPattern().IsMatch(revision)) return false;
        }
        if (name.Length > 96 || !IdPattern().IsMatch(name) || name.Contains("--", StringComparison.Ordinal) || name.Contains("..", StringComparison.Ordinal))
            return false;
        id = new HubRepoId(name, revision);
        return true;
    }

    /// <summary>Reads "org/name" or "org/name@revision"; throws <see cref="ArgumentException"/> naming the text otherwise.</summary>
    public static HubRepoId Parse(string text) => TryParse(text, out HubRepoId id)
        ? id
        : throw new ArgumentException($"'{text}' is not a Hugging Face repo id (expected org/name or org/name@revision).", nameof(text));

    /// <summary>True when <paramref name="revision"/> is a full 40-character commit hash.</summary>
    public static bool IsCommitHash(string revision) => CommitPattern().IsMatch(revision);

    /// <summary>"org/name" or "org/name@revision" (the revision only when it is not "main").</summary>
    public override string ToString() => Revision == DefaultRevision ? Id : $"{Id}@{Revision}";

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")]
    private static partial Regex RevisionPattern();

    [GeneratedRegex(@"^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();
}

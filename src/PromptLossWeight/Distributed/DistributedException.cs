namespace PromptLossWeight.Distributed;

/// <summary>
/// A data-parallel run cannot go on: another rank failed (the message names it and carries its error), a collective
/// did not complete within <see cref="DistributedContext.Timeout"/>, or the launch environment or a native library is
/// missing. Every rank of the run ends with one; none is left waiting.
/// </summary>
public sealed class DistributedException : Exception
{
    /// <summary>Creates the exception with its one-line message.</summary>
    public DistributedException(string message) : base(message) { }

    /// <summary>Creates the exception with its one-line message and the error underneath.</summary>
    public DistributedException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The rank whose failure this reports, or null when it is about this process or the launch.</summary>
    public int? FailedRank { get; init; }
}

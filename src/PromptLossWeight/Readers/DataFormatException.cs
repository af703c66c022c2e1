namespace PromptLossWeight.Readers;

/// <summary>
/// Thrown by every dataset reader when input is malformed: it names the file, the record (line, row or question)
/// and the problem, so a user can find and fix the bad record. Readers let no other exception type escape for bad
/// input (I/O failures such as a missing file surface as <see cref="DataFormatException"/> too).
/// </summary>
public sealed class DataFormatException : FormatException
{
    /// <summary>Creates the exception for a problem in <paramref name="source"/> at <paramref name="record"/>.</summary>
    /// <param name="source">The file (or stream name) being read.</param>
    /// <param name="record">Where in it, e.g. "line 12", "row 3", "question 2"; null when the whole file is unreadable.</param>
    /// <param name="problem">What is wrong, in words.</param>
    /// <param name="inner">The underlying parser error, if any.</param>
    public DataFormatException(string source, string? record, string problem, Exception? inner = null)
        : base(record is null ? $"{source}: {problem}" : $"{source}, {record}: {problem}", inner)
    {
        FileName = source;
        Record = record;
        Problem = problem;
    }

    /// <summary>The file or stream name that holds the bad record.</summary>
    public string FileName { get; }

    /// <summary>The position of the bad record ("line 12", "row 3", …), or null when the whole file is unreadable.</summary>
    public string? Record { get; }

    /// <summary>What is wrong with the record.</summary>
    public string Problem { get; }
}

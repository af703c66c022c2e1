using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>
/// One RACE question in the flat shape of the Hugging Face dataset: an article, a question about it, four options
/// and the letter of the correct one.
/// </summary>
/// <param name="ExampleId">The id (in RACE the source file name, e.g. "high1234.txt"; shared by the questions of one article).</param>
/// <param name="Article">The passage to read.</param>
/// <param name="Question">The question (sometimes a sentence with a blank to fill).</param>
/// <param name="Options">Exactly four answer options, for the letters A–D.</param>
/// <param name="Answer">The correct letter, "A" to "D".</param>
public sealed record RaceExample(string ExampleId, string Article, string Question, IReadOnlyList<string> Options, string Answer)
{
    /// <summary>The option letters, in order.</summary>
    public static IReadOnlyList<string> Letters { get; } = ["A", "B", "C", "D"];

    /// <summary>The index (0–3) of the correct option.</summary>
    public int AnswerIndex => Answer[0] - 'A';

    /// <summary>
    /// Validates and builds an example: non-empty article and question, exactly four non-empty options and an
    /// answer that is one of A–D. Problems are reported as a record problem for the reader to skip or throw.
    /// </summary>
    internal static RaceExample Create(string exampleId, string? article, string? question, IReadOnlyList<string?> options, string? answer)
    {
        StrictText.RequireNonEmpty(article, "the article");
        StrictText.RequireNonEmpty(question, "the question");
        if (options.Count != 4)
            throw new BadRecordException($"expected 4 options but found {options.Count}");
        for (int i = 0; i < 4; i++)
            StrictText.RequireNonEmpty(options[i], $"option {Letters[i]}");
        if (answer is null || !Letters.Contains(answer, StringComparer.Ordinal))
            throw new BadRecordException($"the answer '{answer}' is not one of A, B, C, D");
        return new RaceExample(exampleId, article!, question!, options.Select(o => o!).ToArray(), answer);
    }
}

/// <summary>The RACE configurations: all questions, or only those from high-school or middle-school exams.</summary>
public enum RaceConfig
{
    /// <summary>High and middle school together.</summary>
    All,
    /// <summary>High-school exams (RACE-H).</summary>
    High,
    /// <summary>Middle-school exams (RACE-M).</summary>
    Middle,
}

/// <summary>The RACE splits (the original release calls the validation split "dev").</summary>
public enum RaceSplit
{
    /// <summary>Training split.</summary>
    Train,
    /// <summary>Validation split ("dev" in the original release).</summary>
    Validation,
    /// <summary>Test split.</summary>
    Test,
}

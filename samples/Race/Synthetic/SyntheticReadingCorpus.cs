using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Samples.Race.Synthetic;

/// <summary>Settings of the pretraining corpus: short articles about people followed by questions answered in free form.</summary>
public sealed record ReadingCorpusOptions
{
    /// <summary>Training documents (the pretraining cycles through them).</summary>
    public int Documents { get; init; } = 32768;

    /// <summary>Validation documents (one question each; their answer accuracy measures retrieval).</summary>
    public int ValidationDocuments { get; init; } = 256;

    /// <summary>Most facts per article (each "NAME lives in TOWN and likes the THING ."); validation articles have this many.</summary>
    public int FactsPerArticle { get; init; } = 2;

    /// <summary>
    /// Fewest facts per training article: training articles have between this and <see cref="FactsPerArticle"/> facts
    /// (uniformly). Articles with one fact teach "copy the town from the article" first, which the name lookup then refines.
    /// </summary>
    public int MinFactsPerArticle { get; init; } = 1;

    /// <summary>Questions after each training article (each about one fact, where the person lives or what they like).</summary>
    public int QuestionsPerArticle { get; init; } = 4;

    /// <summary>
    /// True: the questions of an article ask distinct things (each fact's town or thing at most once), so no answer can
    /// be copied from an earlier answer to the same question; the article then has at most two questions per fact.
    /// False: each question picks a fact and an attribute at random, so questions may repeat.
    /// </summary>
    public bool DistinctQuestions { get; init; }

    /// <summary>
    /// True: questions may also run from the word back to the person ("Who lives in TOWN ?", "Who likes the THING ?",
    /// answered with the name). Answering them needs the name to be carried to its town or thing in the article,
    /// the first half of the binding that "Where does NAME live ?" needs, with an easier second half (find the town
    /// named in the question).
    /// </summary>
    public bool ReverseQuestions { get; init; }

    /// <summary>Towns of the pretraining world (4 to 16): more towns than the fine-tuning task uses, so copying is learned rather than guessing.</summary>
    public int TownCount { get; init; } = 16;

    /// <summary>Filler sentences per article (no names or towns).</summary>
    public int FillerSentences { get; init; }

    /// <summary>Seed of the generator (validation uses another stream).</summary>
    public int Seed { get; init; } = 777;

    /// <summary>Throws when a value is out of range.</summary>
    public ReadingCorpusOptions Validate()
    {
        if (Documents < 1) throw new ArgumentOutOfRangeException(nameof(Documents), Documents, "Must be at least 1.");
        if (ValidationDocuments < 1) throw new ArgumentOutOfRangeException(nameof(ValidationDocuments), ValidationDocuments, "Must be at least 1.");
        if (FactsPerArticle is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(FactsPerArticle), FactsPerArticle, "Must be 1 to 4.");
        if (MinFactsPerArticle < 1 || MinFactsPerArticle > FactsPerArticle)
            throw new ArgumentOutOfRangeException(nameof(MinFactsPerArticle), MinFactsPerArticle, $"Must be 1 to FactsPerArticle ({FactsPerArticle}).");
        if (QuestionsPerArticle is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(QuestionsPerArticle), QuestionsPerArticle, "Must be 1 to 8.");
        if (TownCount < Math.Max(4, FactsPerArticle) || TownCount > SyntheticRaceGenerator.Towns.Count)
            throw new ArgumentOutOfRangeException(nameof(TownCount), TownCount, $"Must be {Math.Max(4, FactsPerArticle)} to {SyntheticRaceGenerator.Towns.Count}.");
        if (FillerSentences < 0) throw new ArgumentOutOfRangeException(nameof(FillerSentences), FillerSentences, "Must be >= 0.");
        return this;
    }
}

/// <summary>
/// The pretraining corpus of the embedded default, the stand-in for the web text a real Llama reads before anyone
/// fine-tunes it: plain documents (no chat template, no options, no answer letters) such as
/// <c>Article : Tom lives in Oslo and likes the tea . Ann lives in Rome and likes the milk . Question : Where does Ann
/// live ? Answer : Rome . Question : What does Tom like ? Answer : tea .</c>. Predicting an answer word needs the
/// name in the question, the sentence about that name in the article, and the word there: the retrieval that the
/// multiple-choice task needs, learned by next-token prediction alone. The answers are the completion tokens, so the
/// trainer's completion loss and answer accuracy measure how well the model retrieves.
/// </summary>
public static class SyntheticReadingCorpus
{
    /// <summary>Words the corpus uses beyond the multiple-choice task's (they are in the shipped vocabulary).</summary>
    public static IReadOnlyList<string> ExtraWords { get; } = ["What", "like", "Who", "likes"];

    /// <summary>Generates the training documents (several questions each) and validation documents (one "where" question each).</summary>
    public static (IReadOnlyList<MaskedExample> Train, IReadOnlyList<MaskedExample> Validation) Generate(ReadingCorpusOptions options, HfTokenizer tokenizer)
    {
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        ArgumentNullException.ThrowIfNull(tokenizer);
        var train = new List<MaskedExample>(options.Documents);
        var random = new Random(options.Seed);
        for (int i = 0; i < options.Documents; i++) train.Add(Document(options, tokenizer, random, options.QuestionsPerArticle, whereOnly: false));
        var validation = new List<MaskedExample>(options.ValidationDocuments);
        random = new Random(unchecked(options.Seed * 7919 + 1));
        for (int i = 0; i < options.ValidationDocuments; i++) validation.Add(Document(options, tokenizer, random, 1, whereOnly: true));
        return (train, validation);
    }

    /// <summary>The token ids of the towns of the corpus (the answer ids whose accuracy measures retrieval in validation).</summary>
    public static IReadOnlyList<long> TownTokenIds(ReadingCorpusOptions options, HfTokenizer tokenizer) =>
        SyntheticRaceGenerator.Towns.Take(options.TownCount).Select(t => SingleToken(tokenizer, t)).ToList();

    /// <summary>One document as text segments with their roles (answers are completion), for tests and display.</summary>
    internal static IReadOnlyList<(string Text, TokenRole Role)> Segments(ReadingCorpusOptions options, Random random, int questions, bool whereOnly)
    {
        int facts = whereOnly ? options.FactsPerArticle : random.Next(options.MinFactsPerArticle, options.FactsPerArticle + 1);
        string[] names = Pick(SyntheticRaceGenerator.Names, facts, random);
        string[] towns = Pick(SyntheticRaceGenerator.Towns.Take(options.TownCount).ToList(), facts, random);
        string[] things = Pick(SyntheticRaceGenerator.Things, facts, random);
        var sentences = new List<string>();
        for (int i = 0; i < facts; i++)
            sentences.Add($"{names[i]} lives in {towns[i]} and likes the {things[i]} .");
        foreach (string filler in Pick(SyntheticRaceGenerator.Fillers, Math.Min(options.FillerSentences, SyntheticRaceGenerator.Fillers.Count), random))
            sentences.Insert(random.Next(sentences.Count + 1), filler);
        var segments = new List<(string, TokenRole)> { ("Article : " + string.Join(' ', sentences), TokenRole.User) };
        int kinds = options.ReverseQuestions && !whereOnly ? 4 : 2;
        var asks = new List<(int Fact, int Kind)>();
        if (options.DistinctQuestions && !whereOnly)
        {
            var all = Enumerable.Range(0, facts).SelectMany(f => Enumerable.Range(0, kinds).Select(k => (f, k))).ToArray();
            random.Shuffle(all);
            asks.AddRange(all.Take(questions));
        }
        else
            for (int q = 0; q < questions; q++)
                asks.Add((random.Next(facts), whereOnly ? 0 : random.Next(kinds)));
        foreach (var (asked, kind) in asks)
        {
            var (question, answer) = kind switch
            {
                0 => ($"Question : Where does {names[asked]} live ? Answer :", towns[asked]),
                1 => ($"Question : What does {names[asked]} like ? Answer :", things[asked]),
                2 => ($"Question : Who lives in {towns[asked]} ? Answer :", names[asked]),
                _ => ($"Question : Who likes the {things[asked]} ? Answer :", names[asked]),
            };
            segments.Add((question, TokenRole.User));
            segments.Add((answer, TokenRole.Assistant));
            segments.Add((".", TokenRole.User));
        }
        return segments;
    }

    private static MaskedExample Document(ReadingCorpusOptions options, HfTokenizer tokenizer, Random random, int questions, bool whereOnly)
    {
        var ids = new List<long>();
        var roles = new List<TokenRole>();
        foreach (var (text, role) in Segments(options, random, questions, whereOnly))
        {
            IReadOnlyList<long> tokens = tokenizer.Encode(text);
            ids.AddRange(tokens);
            roles.AddRange(Enumerable.Repeat(role, tokens.Count));
        }
        return new MaskedExample([.. ids], [.. roles]);
    }

    private static long SingleToken(HfTokenizer tokenizer, string word)
    {
        IReadOnlyList<long> ids = tokenizer.Encode(word);
        if (ids.Count != 1) throw new InvalidOperationException($"'{word}' is not a single token of the vocabulary {tokenizer.Source}.");
        return ids[0];
    }

    private static string[] Pick(IReadOnlyList<string> pool, int count, Random random)
    {
        var copy = pool.ToArray();
        random.Shuffle(copy);
        return copy.Take(count).ToArray();
    }
}

using PromptLossWeight.Samples.Race.Data;

namespace PromptLossWeight.Samples.Race.Synthetic;

/// <summary>Settings of the built-in synthetic reading-comprehension set.</summary>
public sealed record SyntheticRaceOptions
{
    /// <summary>Training examples.</summary>
    public int TrainExamples { get; init; } = 16384;

    /// <summary>Validation examples.</summary>
    public int ValidationExamples { get; init; } = 256;

    /// <summary>
    /// Facts ("NAME lives in TOWN and likes the THING .") per article; the question asks about one of them. The default,
    /// one, asks the model to find the town in the article; two also need the name bound to its town (naming either
    /// of the article's towns gives 0.5), which the small model does not learn within the default's minutes on a CPU
    /// (docs/race-experiments.md).
    /// </summary>
    public int FactsPerArticle { get; init; } = 1;

    /// <summary>Sentences without names or towns added to each article (they make the prompt long and Rg small, as in RACE).</summary>
    public int FillerSentences { get; init; } = 4;

    /// <summary>
    /// True: the wrong options start with the other people's towns from the article, so the answer needs the name
    /// in the question (harder). False: the wrong options are towns the article does not mention, so the answer is
    /// the option the article talks about.
    /// </summary>
    public bool ArticleDistractors { get; init; } = true;

    /// <summary>How many towns the world has (4 to 16): the options are drawn from the first this many of <see cref="SyntheticRaceGenerator.Towns"/>.</summary>
    public int TownCount { get; init; } = 4;

    /// <summary>True: options in random order. False: options in the order of the town list (with 4 towns the option list is always the same).</summary>
    public bool ShuffleOptions { get; init; }

    /// <summary>Seed of the generator (the validation set uses a different stream).</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Throws when a value is out of range.</summary>
    public SyntheticRaceOptions Validate()
    {
        if (TrainExamples < 1) throw new ArgumentOutOfRangeException(nameof(TrainExamples), TrainExamples, "Must be at least 1.");
        if (ValidationExamples < 1) throw new ArgumentOutOfRangeException(nameof(ValidationExamples), ValidationExamples, "Must be at least 1.");
        if (FactsPerArticle is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(FactsPerArticle), FactsPerArticle, "Must be 1 to 4.");
        if (TownCount is < 4 or > 16) throw new ArgumentOutOfRangeException(nameof(TownCount), TownCount, "Must be 4 to 16.");
        if (TownCount < (ArticleDistractors ? Math.Max(4, FactsPerArticle) : FactsPerArticle + 3))
            throw new ArgumentOutOfRangeException(nameof(TownCount), TownCount, "Too few towns for the facts and three wrong options.");
        if (FillerSentences < 0) throw new ArgumentOutOfRangeException(nameof(FillerSentences), FillerSentences, "Must be >= 0.");
        return this;
    }
}

/// <summary>
/// Generates a reading-comprehension set in RACE's shape: an article of facts about people (where each lives, what
/// each likes), optionally mixed with filler sentences, the question "Where does NAME live ?", four town options and the
/// letter of the right one. Every word is in the shipped vocabulary (assets/vocab.txt). The wrong options are towns
/// the article does not mention or (with <see cref="SyntheticRaceOptions.ArticleDistractors"/>, the default) the other
/// people's towns first, so the answer needs the article and the name. By default the world has four towns listed
/// in a fixed order, so the task is "who lives where" rather than matching option texts.
/// </summary>
public static class SyntheticRaceGenerator
{
    /// <summary>People's names.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["Tom", "Ann", "Bob", "Eva", "Max", "Lia", "Sam", "Ida", "Leo", "Mia", "Ben", "Zoe", "Dan", "Amy", "Joe", "Kim"];

    /// <summary>Towns (the answer options).</summary>
    public static IReadOnlyList<string> Towns { get; } =
        ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Delhi", "Tokyo", "Quito", "Bern", "Dakar", "Hanoi", "Kyiv", "Riga", "Sofia", "Seoul", "Accra"];

    /// <summary>Things people like.</summary>
    public static IReadOnlyList<string> Things { get; } =
        ["tea", "milk", "rice", "soup", "cake", "fish", "jazz", "chess", "rain", "snow", "cats", "dogs", "books", "maps", "kites", "trains"];

    /// <summary>Filler sentences (no names, no towns).</summary>
    public static IReadOnlyList<string> Fillers { get; } =
    [
        "The weather was cold that day .", "The bus was late again .", "A small bird sat on the wall .",
        "The shop opened at nine .", "Everyone was tired after work .", "The river was quiet and wide .",
        "A long road runs near the hill .", "The old clock rang twice .", "It was a bright and windy morning .",
        "The market was full of people .", "Some children played in the park .", "The lights went out at night .",
    ];

    /// <summary>Generates the training and validation sets.</summary>
    public static (IReadOnlyList<RaceExample> Train, IReadOnlyList<RaceExample> Validation) Generate(SyntheticRaceOptions options)
    {
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        return (Generate(options, options.TrainExamples, new Random(options.Seed), "synthetic-train"),
                Generate(options, options.ValidationExamples, new Random(unchecked(options.Seed * 7919 + 1)), "synthetic-validation"));
    }

    private static List<RaceExample> Generate(SyntheticRaceOptions options, int count, Random random, string prefix)
    {
        var examples = new List<RaceExample>(count);
        for (int n = 0; n < count; n++)
        {
            string[] names = Pick(Names, options.FactsPerArticle, random);
            var pool = Towns.Take(options.TownCount).ToList();
            string[] towns = Pick(pool, options.ArticleDistractors ? Math.Max(4, options.FactsPerArticle) : options.FactsPerArticle + 3, random);
            string[] things = Pick(Things, options.FactsPerArticle, random);
            var sentences = new List<string>();
            for (int i = 0; i < options.FactsPerArticle; i++)
                sentences.Add($"{names[i]} lives in {towns[i]} and likes the {things[i]} .");
            foreach (string filler in Pick(Fillers, Math.Min(options.FillerSentences, Fillers.Count), random))
                sentences.Insert(random.Next(sentences.Count + 1), filler);
            int asked = random.Next(options.FactsPerArticle);
            // Options: the right town and three wrong ones (the other people's towns first with ArticleDistractors,
            // otherwise towns the article does not mention), in random order.
            var choices = new List<string> { towns[asked] };
            var wrong = options.ArticleDistractors
                ? towns.Where((_, i) => i != asked)
                : towns.Skip(options.FactsPerArticle);
            choices.AddRange(wrong.Take(3));
            if (options.ShuffleOptions) Shuffle(choices, random);
            else choices.Sort((a, b) => pool.IndexOf(a).CompareTo(pool.IndexOf(b)));
            int answer = choices.IndexOf(towns[asked]);
            examples.Add(new RaceExample($"{prefix}-{n}", string.Join(' ', sentences), $"Where does {names[asked]} live ?",
                choices, RaceExample.Letters[answer]));
        }
        return examples;
    }

    private static string[] Pick(IReadOnlyList<string> pool, int count, Random random)
    {
        var copy = pool.ToList();
        Shuffle(copy, random);
        return copy.Take(count).ToArray();
    }

    private static void Shuffle<T>(IList<T> list, Random random)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}

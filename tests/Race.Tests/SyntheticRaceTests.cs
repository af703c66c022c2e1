using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Masking;
using PromptLossWeight.Samples.Race.Rendering;
using PromptLossWeight.Samples.Race.Synthetic;

namespace Race.Tests;

public sealed class SyntheticRaceTests
{
    private static readonly SyntheticRaceOptions Small = new() { TrainExamples = 300, ValidationExamples = 100 };

    [Fact]
    public void The_answer_letter_points_at_the_town_the_article_gives_for_the_person_asked_about()
    {
        var (train, validation) = SyntheticRaceGenerator.Generate(Small with { ArticleDistractors = false, TownCount = 16, ShuffleOptions = true });

        foreach (RaceExample e in train.Concat(validation))
        {
            string name = e.Question.Split(' ')[2];
            e.Article.Should().Contain($"{name} lives in {e.Options[e.AnswerIndex]} ");
            e.Options.Should().OnlyHaveUniqueItems();
            e.Options.Where((o, i) => i != e.AnswerIndex).Should().NotContain(o => e.Article.Contains(o), "wrong options are towns the article does not mention");
        }
    }

    [Fact]
    public void With_article_distractors_the_other_persons_town_is_a_wrong_option()
    {
        var (train, _) = SyntheticRaceGenerator.Generate(Small with { ArticleDistractors = true, FactsPerArticle = 2 });

        foreach (RaceExample e in train)
        {
            string name = e.Question.Split(' ')[2];
            e.Article.Should().Contain($"{name} lives in {e.Options[e.AnswerIndex]} ");
            e.Options.Where((o, i) => i != e.AnswerIndex).Should().Contain(o => e.Article.Contains($" lives in {o} "));
        }
    }

    [Fact]
    public void With_four_towns_in_fixed_order_the_options_are_always_the_same_list()
    {
        var (train, _) = SyntheticRaceGenerator.Generate(Small with { TownCount = 4, ShuffleOptions = false, FactsPerArticle = 2, ArticleDistractors = true });

        train.Should().OnlyContain(e => e.Options.SequenceEqual(SyntheticRaceGenerator.Towns.Take(4)));
        train.Select(e => e.Answer).Distinct().Should().HaveCount(4);
    }

    [Fact]
    public void Answers_use_all_four_letters_about_equally()
    {
        var (train, _) = SyntheticRaceGenerator.Generate(Small with { TrainExamples = 2000 });

        var counts = train.GroupBy(e => e.Answer).ToDictionary(g => g.Key, g => g.Count());
        counts.Keys.Should().BeEquivalentTo(RaceExample.Letters);
        counts.Values.Should().OnlyContain(c => c > 400 && c < 600);
    }

    [Fact]
    public void The_same_seed_gives_the_same_data_and_validation_differs_from_training()
    {
        var a = SyntheticRaceGenerator.Generate(Small);
        var b = SyntheticRaceGenerator.Generate(Small);

        a.Train.Should().BeEquivalentTo(b.Train, o => o.WithStrictOrdering());
        a.Validation.Select(e => e.Article).Should().NotEqual(a.Train.Take(100).Select(e => e.Article));
    }

    [Fact]
    public void Every_word_of_the_synthetic_set_is_in_the_shipped_vocabulary()
    {
        var tokenizer = WordLevelTokenizer.Load();
        long unknown = tokenizer.Encode("qzxqzx").Single();
        tokenizer.Decode([unknown]).Should().Be(WordLevelTokenizer.Unknown);
        var renderer = new RaceRenderer(WordLevelTokenizer.Template(tokenizer));
        var (train, _) = SyntheticRaceGenerator.Generate(Small);

        foreach (RaceExample e in train)
            renderer.Render(e).InputIds.Should().NotContain(unknown, because: $"every word of example {e.ExampleId} is in vocab.txt");
    }

    [Fact]
    public void The_generation_ratio_of_answer_letter_to_prompt_in_tokens_is_between_one_and_two_percent_as_in_RACE()
    {
        var tokenizer = WordLevelTokenizer.Load();
        var (train, _) = SyntheticRaceGenerator.Generate(Small);

        var rg = GenerationRatio.Compute(train.Select(RacePrompt.Render), GenerationRatio.Tokens(t => tokenizer.Encode(t)));

        rg.ArithmeticMean.Should().BeInRange(0.01, 0.02);
        rg.GeometricMean.Should().BeInRange(0.01, 0.02);
    }

    [Fact]
    public void A_rendered_example_is_the_chat_prompt_then_the_answer_letter_and_end_of_turn_as_completion()
    {
        var tokenizer = WordLevelTokenizer.Load();
        var renderer = new RaceRenderer(WordLevelTokenizer.Template(tokenizer));
        var example = SyntheticRaceGenerator.Generate(Small).Train[0];

        MaskedExample m = renderer.Render(example);

        long[] completion = m.InputIds.Where((_, i) => m.Roles[i] == TokenRole.Assistant).ToArray();
        completion.Should().Equal(renderer.AnswerTokenIds[example.AnswerIndex], tokenizer.SpecialTokenId("<|im_end|>"));
        m.InputIds[0].Should().Be(tokenizer.SpecialTokenId("<|im_start|>"));
        m.Roles.Take(m.Length - 2).Should().OnlyContain(r => r == TokenRole.User);
        renderer.AnswerTokenIds.Should().Equal(RaceExample.Letters.Select(l => tokenizer.Encode(l).Single()));
    }

    [Fact]
    public void An_over_long_example_loses_the_end_of_its_article_but_keeps_question_options_and_answer()
    {
        var tokenizer = WordLevelTokenizer.Load();
        var full = new RaceRenderer(WordLevelTokenizer.Template(tokenizer));
        var example = SyntheticRaceGenerator.Generate(Small).Train[0];
        int length = full.Render(example).Length;
        var renderer = new RaceRenderer(WordLevelTokenizer.Template(tokenizer), maxLength: length - 10);

        MaskedExample m = renderer.Render(example);

        m.Length.Should().BeLessThanOrEqualTo(length - 10);
        renderer.Truncated.Should().Be(1);
        m.CompletionLength.Should().Be(2);
        string text = tokenizer.Decode(m.InputIds);
        text.Should().Contain(example.Question.TrimEnd(' ', '?')).And.Contain(example.Options[3]);
        string[] articleWords = example.Article.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        text.Should().Contain(string.Join(' ', articleWords.Take(3)), "the start of the article stays");
        m.InputIds.Should().Equal(full.Render(example).InputIds.Where((_, i) => !Enumerable.Range(ArticleEnd(full, example) - 10, 10).Contains(i)),
            "exactly the last ten article tokens go");
    }

    /// <summary>The index just after the last article token of the untruncated rendering.</summary>
    private static int ArticleEnd(RaceRenderer renderer, RaceExample example)
    {
        var tokenizer = WordLevelTokenizer.Load();
        var rendered = WordLevelTokenizer.Template(tokenizer).Render(
            [new ChatTurn(TokenRole.User, RacePrompt.Prompt(example)) { Context = example.Article.Trim() }, new ChatTurn(TokenRole.Assistant, example.Answer)]);
        rendered.Ids.Should().Equal(renderer.Render(example).InputIds);
        return rendered.Spans.TakeWhile(s => !s.IsContext).Sum(s => s.Ids.Count) + rendered.Spans.Single(s => s.IsContext).Ids.Count;
    }
}

using System.Text;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>
/// Renders a <see cref="RaceExample"/> as a prompt/completion pair: the article, the question, the four options
/// labelled A–D and an instruction to answer with the letter; the completion is the letter alone.
/// </summary>
public static class RacePrompt
{
    /// <summary>The instruction that ends the prompt.</summary>
    public const string Instruction = "Answer with the letter of the correct option (A, B, C or D).";

    /// <summary>The prompt text for <paramref name="example"/> (without any chat template).</summary>
    public static string Prompt(RaceExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        var sb = new StringBuilder();
        sb.Append("Article:\n").Append(example.Article.Trim()).Append("\n\n");
        sb.Append("Question: ").Append(example.Question.Trim()).Append('\n');
        for (int i = 0; i < example.Options.Count; i++)
            sb.Append(RaceExample.Letters[i]).Append(". ").Append(example.Options[i].Trim()).Append('\n');
        sb.Append(Instruction);
        return sb.ToString();
    }

    /// <summary>The prompt and the answer letter as a <see cref="PromptCompletionExample"/>.</summary>
    public static PromptCompletionExample Render(RaceExample example) => new(Prompt(example), example.Answer);
}

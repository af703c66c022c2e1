using PromptLossWeight.Samples.Race.Data;

namespace Race.Tests.Data;

public sealed class RacePromptTests
{
    [Fact]
    public void A_race_prompt_holds_article_question_lettered_options_and_instruction_and_the_completion_is_the_letter()
    {
        var pair = RacePrompt.Render(RaceFixtures.Examples[0]);

        pair.Completion.Should().Be("B");
        pair.Prompt.Should().Contain("Tom lives in Paris.").And.Contain("Question: Where does Tom live?")
            .And.Contain("A. Rome\nB. Paris\nC. Oslo\nD. Lima").And.EndWith(RacePrompt.Instruction);
    }
}

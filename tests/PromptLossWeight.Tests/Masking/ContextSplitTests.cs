using PromptLossWeight.Masking;

namespace PromptLossWeight.Tests.Masking;

public sealed class ContextSplitTests
{
    [Fact]
    public void Every_occurrence_of_each_context_becomes_a_piece_of_its_own_earliest_first()
    {
        var pieces = ContextSplit.Around("Q: ARTICLE then NOTE and ARTICLE.", ["ARTICLE", "NOTE"]).ToList();

        pieces.Should().Equal(
            ("Q: ", (string?)null), ("ARTICLE", "ARTICLE"), (" then ", null), ("NOTE", "NOTE"), (" and ", null), ("ARTICLE", "ARTICLE"), (".", null));
    }

    [Fact]
    public void Text_without_a_context_is_one_piece_and_no_piece_is_empty()
    {
        ContextSplit.Around("plain text", ["absent", ""]).Should().Equal([("plain text", (string?)null)]);
        ContextSplit.Around("CTX", ["CTX"]).Should().Equal([("CTX", "CTX")]);
        ContextSplit.Around("", ["CTX"]).Should().BeEmpty();
    }

    [Fact]
    public void At_the_same_position_the_context_listed_first_wins()
    {
        ContextSplit.Around("abcd", ["ab", "abc"]).Should().Equal(("ab", "ab"), ("cd", null));
    }
}

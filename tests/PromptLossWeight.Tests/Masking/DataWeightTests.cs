using PromptLossWeight.Batching;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Tests.Masking;

/// <summary>
/// Data weights (per example, per message, per segment) ride with their tokens through masks and batches and multiply
/// the role weights; an example whose completion weighs 0 everywhere is skipped, counted and logged, never a 0/0.
/// </summary>
public class DataWeightTests
{
    private static IReadOnlyList<long> Chars(string text) => text.Select(c => (long)c).ToArray();

    [Fact]
    public void An_example_weight_multiplies_every_token_and_the_eos_takes_the_completion_weight()
    {
        var builder = new MaskBuilder(Chars, new MaskBuilderOptions { BosId = 1, EosId = 2 });

        var example = builder.Build("ab", "c", weight: 0.5)!;

        example.InputIds.Should().Equal(1, 'a', 'b', 'c', 2);
        example.DataWeights.Should().Equal(0.5f, 0.5f, 0.5f, 0.5f, 0.5f);
        example.Weights(0.1).Should().Equal(0.05f, 0.05f, 0.05f, 0.5f, 0.5f);
        builder.Build("ab", "c")!.DataWeights.Should().BeNull("an example of weight 1 carries no data weights");
    }

    [Fact]
    public void Turn_weights_go_with_their_tokens_and_survive_truncation()
    {
        var builder = new MaskBuilder(Chars, new MaskBuilderOptions { MaxLength = 5 });

        var example = builder.BuildChat(
        [
            new ChatTurn(TokenRole.User, "uuu") { Weight = 3 },
            new ChatTurn(TokenRole.Assistant, "a") { Weight = 0 },
            new ChatTurn(TokenRole.User, "v") { Weight = 2 },
            new ChatTurn(TokenRole.Assistant, "bb") { Weight = 0.5 },
        ])!;

        builder.Truncated.Should().Be(1);
        example.InputIds.Should().Equal('u', 'a', 'v', 'b', 'b');
        example.Weights(new RoleWeights(0, 1, 1)).Should().Equal(3f, 0f, 2f, 0.5f, 0.5f);
    }

    [Fact]
    public void An_example_with_no_weighted_completion_token_is_skipped_counted_and_logged()
    {
        var logger = new ListLogger();
        var builder = new MaskBuilder(Chars, new MaskBuilderOptions { Logger = logger });

        var skipped = builder.BuildChat([new ChatTurn(TokenRole.User, "q"), new ChatTurn(TokenRole.Assistant, "a") { Weight = 0 }]);
        var zeroExample = builder.Build("q", "a", weight: 0);
        var kept = builder.BuildChat([new ChatTurn(TokenRole.User, "q") { Weight = 0 }, new ChatTurn(TokenRole.Assistant, "a")]);

        skipped.Should().BeNull();
        zeroExample.Should().BeNull();
        kept.Should().NotBeNull();
        builder.SkippedZeroWeight.Should().Be(2);
        builder.Built.Should().Be(1);
        logger.Warnings.Should().HaveCount(2).And.OnlyContain(w => w.Contains("weight 0"));
    }

    [Fact]
    public void A_negative_or_infinite_weight_is_refused_naming_it()
    {
        var builder = new MaskBuilder(Chars);

        FluentActions.Invoking(() => builder.Build("q", "a", weight: -1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*weight*-1*");
        FluentActions.Invoking(() => builder.BuildChat([new ChatTurn(TokenRole.User, "q"), new ChatTurn(TokenRole.Assistant, "a") { Weight = double.PositiveInfinity }]))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*turns[1].Weight*");
    }

    [Fact]
    public void Padded_and_packed_batches_carry_the_data_weights_into_the_loss_weights()
    {
        var builder = new MaskBuilder(Chars);
        var weighted = builder.Build("ab", "cd", weight: 2)!;
        var plain = builder.Build("e", "f")!;

        using Batch padded = PaddingCollator.Pad([plain, weighted]);
        using var weights = padded.Weights(0.5);
        var (packedBatch, _) = PackingCollator.Pack([plain, weighted], rowLength: 8);
        using Batch packed = packedBatch;
        using var packedWeights = packed.Weights(0.5);

        weights.data<float>().ToArray().Should().Equal(0.5f, 1f, 0f, 0f, 1f, 1f, 2f, 2f);
        packedWeights.data<float>().ToArray().Where(w => w > 0).Order().Should().Equal(new[] { 0.5f, 1f, 1f, 1f, 2f, 2f }.Order());
    }
}

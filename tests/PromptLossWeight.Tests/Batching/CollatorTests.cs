using PromptLossWeight.Batching;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Tests.Batching;

public class CollatorTests
{
    private static readonly MaskedExample Short = new([5, 6, 7], [TokenRole.User, TokenRole.User, TokenRole.Assistant]);
    private static readonly MaskedExample Long = new([1, 2, 3, 4, 8], [TokenRole.System, TokenRole.User, TokenRole.User, TokenRole.Assistant, TokenRole.Assistant]);

    [Fact]
    public void Rows_are_right_padded_with_attention_mask_0_and_ignored_labels()
    {
        using Batch batch = PaddingCollator.Pad([Short, Long], padId: 0);
        batch.InputIds.data<long>().ToArray().Should().Equal(5, 6, 7, 0, 0, 1, 2, 3, 4, 8);
        batch.DocumentIds.data<long>().ToArray().Should().Equal(1, 1, 1, 0, 0, 1, 1, 1, 1, 1);
        batch.Labels.data<long>().ToArray().Should().Equal(5, 6, 7, WeightedCrossEntropy.IgnoreIndex, WeightedCrossEntropy.IgnoreIndex, 1, 2, 3, 4, 8);
        batch.PositionIds.data<long>().ToArray().Should().Equal(0, 1, 2, 3, 4, 0, 1, 2, 3, 4);
    }

    [Fact]
    public void Masks_and_weights_follow_the_roles_and_are_zero_on_padding()
    {
        using Batch batch = PaddingCollator.Pad([Short, Long], padToMultipleOf: 4);
        batch.Length.Should().Be(8);
        batch.PromptMask().data<float>().ToArray().Should().Equal(1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0);
        batch.CompletionMask().data<float>().ToArray().Should().Equal(0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0);
        batch.Weights(new RoleWeights(0, 0.25, 1)).data<float>().ToArray()
            .Should().Equal(0.25f, 0.25f, 1, 0, 0, 0, 0, 0, 0, 0.25f, 0.25f, 1, 1, 0, 0, 0);
    }

    [Fact]
    public void An_empty_list_cannot_be_collated()
    {
        FluentActions.Invoking(() => PaddingCollator.Pad([])).Should().Throw<ArgumentException>().WithMessage("*empty*");
    }
}

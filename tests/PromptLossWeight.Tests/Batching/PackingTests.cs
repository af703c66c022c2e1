using PromptLossWeight.Batching;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Batching;

public class PackingTests
{
    public PackingTests() => TorchRuntime.EnsureLoaded();

    private static List<MaskedExample> RandomExamples(int seed, int count, int minLength, int maxLength, long vocabulary = 37)
    {
        var random = new Random(seed);
        var examples = new List<MaskedExample>();
        for (int e = 0; e < count; e++)
        {
            int length = random.Next(minLength, maxLength + 1);
            int prompt = random.Next(1, length);
            long[] ids = Enumerable.Range(0, length).Select(_ => (long)random.Next(1, (int)vocabulary)).ToArray();
            TokenRole[] roles = Enumerable.Range(0, length).Select(i => i < prompt ? TokenRole.User : TokenRole.Assistant).ToArray();
            examples.Add(new MaskedExample(ids, roles));
        }
        return examples;
    }

    [Fact]
    public void Best_fit_decreasing_fills_the_tightest_row_first()
    {
        // 5 opens row A (room 3), 4 opens row B (room 4), 3 goes to A (tightest fit, room 0), 3 goes to B (room 1), 1 to B.
        PackingPlan plan = PackingPlanner.BestFitDecreasing([3, 5, 1, 4, 3], 8);
        plan.Rows.Select(r => r.ToArray()).Should().BeEquivalentTo(new[] { new[] { 1, 0 }, new[] { 3, 4, 2 } }, o => o.WithStrictOrdering());
        plan.RealTokens.Should().Be(16);
        plan.Efficiency.Should().Be(1.0);
    }

    [Fact]
    public void Every_example_is_placed_exactly_once_and_no_row_overflows()
    {
        var random = new Random(3);
        int[] lengths = Enumerable.Range(0, 1000).Select(_ => random.Next(250, 701)).ToArray();
        PackingPlan plan = PackingPlanner.BestFitDecreasing(lengths, 1024);
        plan.Rows.SelectMany(r => r).Order().Should().Equal(Enumerable.Range(0, 1000));
        plan.Rows.Should().OnlyContain(r => r.Sum(i => lengths[i]) <= 1024);
        plan.Efficiency.Should().BeApproximately((double)lengths.Sum() / (plan.Rows.Count * 1024L), 1e-12);
        plan.Efficiency.Should().BeGreaterThan(0.97, "RACE-shaped lengths (250-700 tokens) pack tightly into 1024-token rows");
    }

    [Fact]
    public void An_example_longer_than_the_row_is_rejected_naming_it()
    {
        Action act = () => PackingPlanner.BestFitDecreasing([4, 9, 2], 8);
        act.Should().Throw<ArgumentException>().WithMessage("Example 1 has 9 tokens, more than the row length 8*");
    }

    [Fact]
    public void Packed_rows_restart_positions_number_documents_and_ignore_each_documents_first_label()
    {
        var examples = new List<MaskedExample>
        {
            new([11, 12, 13], [TokenRole.User, TokenRole.Assistant, TokenRole.Assistant]),
            new([21, 22], [TokenRole.User, TokenRole.Assistant]),
        };
        var (batch, plan) = PackingCollator.Pack(examples, 6, padId: 0);
        using (batch)
        {
            plan.Rows.Should().HaveCount(1);
            batch.InputIds.data<long>().ToArray().Should().Equal(11, 12, 13, 21, 22, 0);
            batch.DocumentIds.data<long>().ToArray().Should().Equal(1, 1, 1, 2, 2, 0);
            batch.PositionIds.data<long>().ToArray().Should().Equal(0, 1, 2, 0, 1, 0);
            batch.Labels.data<long>().ToArray().Should().Equal(-100, 12, 13, -100, 22, -100);
            batch.Weights(0.25).data<float>().ToArray().Should().Equal(0.25f, 1, 1, 0.25f, 1, 0);
            plan.Efficiency.Should().BeApproximately(5.0 / 6.0, 1e-12);
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(1.0)]
    public void The_loss_of_a_packed_batch_equals_the_loss_of_the_same_examples_padded(double plw)
    {
        using var scope = NewDisposeScope();
        var model = new TinyDocumentModel(seed: 5);
        List<MaskedExample> examples = RandomExamples(seed: 7, count: 9, minLength: 3, maxLength: 20);
        using Batch padded = PaddingCollator.Pad(examples);
        var (packed, plan) = PackingCollator.Pack(examples, 32);
        using (packed)
        {
            plan.Rows.Count.Should().BeLessThan(examples.Count, "several documents share a row");
            IWeightedLoss[] losses = [new LogitsWeightedLoss(), new ChunkedWeightedCrossEntropy(chunkSize: 8)];
            foreach (IWeightedLoss loss in losses)
            {
                float paddedLoss = loss.Compute(model, padded, padded.Weights(plw)).item<float>();
                float packedLoss = loss.Compute(model, packed, packed.Weights(plw)).item<float>();
                packedLoss.Should().BeApproximately(paddedLoss, 1e-5f, loss.GetType().Name);
            }
        }
    }

    [Fact]
    public void Tokens_of_other_documents_are_not_attended()
    {
        using var scope = NewDisposeScope();
        var model = new TinyDocumentModel(seed: 9);
        List<MaskedExample> examples = RandomExamples(seed: 13, count: 6, minLength: 4, maxLength: 12);
        var (packed, plan) = PackingCollator.Pack(examples, 32);
        using (packed)
        {
            long[] documents = packed.DocumentIds.data<long>().ToArray();
            int rowLength = plan.RowLength;
            int row = Enumerable.Range(0, plan.Rows.Count).First(r => plan.Rows[r].Count >= 2);

            Tensor before = model.Logits(packed.InputIds, packed.DocumentIds, packed.PositionIds);
            // Replace every token of document 1 in that row with other ids.
            Tensor perturbedIds = packed.InputIds.clone();
            for (int i = 0; i < rowLength; i++)
                if (documents[row * rowLength + i] == 1) perturbedIds[row, i] = (perturbedIds[row, i] + 5) % 37;
            Tensor after = model.Logits(perturbedIds, packed.DocumentIds, packed.PositionIds);

            Tensor changed = (after - before).abs().amax(2);                                        // [rows, N]
            Tensor inDocumentOne = packed.DocumentIds.eq(1) & arange(plan.Rows.Count).eq(row).unsqueeze(1);
            changed.masked_select(inDocumentOne.logical_not()).max().item<float>().Should().Be(0, "no other token may see document 1");
            changed.masked_select(inDocumentOne).max().item<float>().Should().BeGreaterThan(0, "the perturbation reaches document 1 itself");
        }
    }
}

using PromptLossWeight.Batching;
using PromptLossWeight.Masking;
using PromptLossWeight.Llama.Runtime;

namespace PromptLossWeight.Tests.Batching;

public class MicroBatchTests
{
    public MicroBatchTests() => TorchRuntime.EnsureLoaded();

    private static MaskedExample Example(int length, long firstId) =>
        new(Enumerable.Range(0, length).Select(i => firstId + i).ToArray(),
            Enumerable.Range(0, length).Select(i => i == length - 1 ? TokenRole.Assistant : TokenRole.User).ToArray());

    [Fact]
    public void A_packed_micro_batch_is_collated_exactly_as_the_rows_it_carries()
    {
        // Best-fit decreasing would put the 4-token example first; the carried plan says otherwise and is followed.
        var examples = new[] { Example(2, 10), Example(3, 20), Example(4, 30) };
        var plan = new PackingPlan([[0], [1, 2]], rowLength: 8, realTokens: 9);

        using var batch = new MicroBatch(examples, plan).Collate(padId: 0);

        batch.Size.Should().Be(2);
        batch.InputIds.data<long>().ToArray().Should().Equal(10, 11, 0, 0, 0, 0, 0, 0, 20, 21, 22, 30, 31, 32, 33, 0);
        batch.DocumentIds.data<long>().ToArray().Should().Equal(1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 0);
    }

    [Fact]
    public void A_padded_micro_batch_has_one_row_per_example()
    {
        var examples = new[] { Example(2, 10), Example(3, 20) };

        using var batch = new MicroBatch(examples).Collate(padId: 0);

        batch.Size.Should().Be(2);
        batch.InputIds.data<long>().ToArray().Should().Equal(10, 11, 0, 20, 21, 22);
    }

    [Fact]
    public void Packed_micro_batches_split_a_plan_by_rows_and_together_collate_to_the_whole_plan()
    {
        var examples = Enumerable.Range(0, 9).Select(i => Example(2 + i % 4, 100 * (i + 1))).ToList();
        PackingPlan plan = PackingPlanner.BestFitDecreasing(examples.Select(e => e.Length).ToList(), rowLength: 7);

        var batches = MicroBatch.Packed(examples, plan, rowsPerBatch: 2);

        batches.Select(b => b.RowCount).Should().Equal(Enumerable.Range(0, plan.Rows.Count).Chunk(2).Select(c => c.Length));
        using var whole = PackingCollator.Collate(examples, plan, 0, plan.Rows.Count);
        var ids = new List<long>();
        foreach (MicroBatch b in batches)
        {
            using var part = b.Collate();
            ids.AddRange(part.InputIds.data<long>().ToArray());
        }
        ids.Should().Equal(whole.InputIds.data<long>().ToArray());
    }
}

using PromptLossWeight.Batching;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Loss;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Model;

/// <summary>Per-document ("varlen") attention on packed and padded batches without a KV cache.</summary>
public class DocumentAttentionTests
{
    [Fact]
    public void Packed_rows_are_split_into_document_spans_with_one_attention_call_per_document()
    {
        using var docIds = Tiny.Ids([1, 1, 1, 2, 2, 0], [1, 1, 2, 2, 2, 3]);
        DocumentSpans? spans = DocumentSpans.Find(docIds);
        spans.Should().NotBeNull();
        spans!.Spans.Should().Equal(
            new DocumentSpans.Span(0, 0, 3), new DocumentSpans.Span(0, 3, 2),
            new DocumentSpans.Span(1, 0, 2), new DocumentSpans.Span(1, 2, 3), new DocumentSpans.Span(1, 5, 1));
        spans.OnePerRowFromStart.Should().BeFalse();
        spans.AttentionCalls.Should().Be(5, "one causal attention per document; padding gets none");
    }

    [Fact]
    public void Right_padded_rows_of_one_document_run_as_one_batched_causal_attention()
    {
        using var rightPadded = Tiny.Ids([1, 1, 1, 0], [1, 1, 1, 1]);
        DocumentSpans? spans = DocumentSpans.Find(rightPadded);
        spans!.OnePerRowFromStart.Should().BeTrue();
        spans.AttentionCalls.Should().Be(1);

        using var leftPadded = Tiny.Ids([0, 1, 1, 1], [1, 1, 1, 1]);
        DocumentSpans? left = DocumentSpans.Find(leftPadded);
        left!.OnePerRowFromStart.Should().BeFalse("padding before real tokens would be attended by a whole-row causal attention");
        left.Spans.Should().Equal(new DocumentSpans.Span(0, 1, 3), new DocumentSpans.Span(1, 0, 4));
    }

    [Fact]
    public void A_document_split_into_separate_runs_keeps_the_explicit_mask()
    {
        using var docIds = Tiny.Ids([1, 1, 2, 1]);
        DocumentSpans.Find(docIds).Should().BeNull("tokens of document 1 after the gap must still see the first run");
    }

    [Fact]
    public void Per_document_attention_equals_the_dense_document_mask()
    {
        using var docIds = Tiny.Ids([1, 1, 1, 1, 2, 2, 2, 3, 3, 0], [1, 1, 1, 2, 2, 2, 2, 2, 0, 0]);
        using var positions = Tiny.Ids([0, 1, 2, 3, 0, 1, 2, 0, 1, 0], [0, 1, 2, 0, 1, 2, 3, 4, 0, 0]);
        ShouldEqualTheDenseMaskPath(docIds, positions, seed: 5);
    }

    [Fact]
    public void Padding_before_and_between_documents_leaves_per_document_attention_equal_to_the_dense_mask()
    {
        using var docIds = Tiny.Ids([0, 0, 1, 1, 1, 0, 2, 2, 2, 0], [0, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
        using var positions = Tiny.Ids([0, 0, 0, 1, 2, 0, 0, 1, 2, 0], [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        DocumentSpans.Find(docIds)!.AttentionCalls.Should().Be(3);
        ShouldEqualTheDenseMaskPath(docIds, positions, seed: 7);
    }

    // The per-document path (no cache) and the explicit-mask path (a fresh cache) agree on every real token,
    // and padding outputs stay finite.
    private static void ShouldEqualTheDenseMaskPath(Tensor docIds, Tensor positions, long seed)
    {
        using var model = Tiny.Model();
        using var noGrad = no_grad();
        using var ids = Tiny.RandomIds(2, 10, seed: seed);
        using var spansPath = model.Logits(ids, docIds, positions);
        using var cache = model.NewCache();
        using var maskPath = model.Logits(ids, docIds, positions, cache);
        using var real = docIds.ne(0).unsqueeze(2);               // [B, N, 1]
        Tiny.MaxAbsDiff(spansPath * real, maskPath * real).Should().BeLessThan(1e-5);
        isfinite(spansPath).all().item<bool>().Should().BeTrue("padding outputs stay finite");
    }

    [Fact]
    public void Changing_one_document_leaves_the_other_documents_logits_unchanged()
    {
        using var model = Tiny.Model();
        using var noGrad = no_grad();
        long[] first = [1, 9, 14, 23, 2], middle = [1, 40, 41, 2], last = [1, 5, 6, 7, 2];
        long[] changedMiddle = [1, 50, 51, 2];
        using var docIds = Tiny.Ids([1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 0]);
        using var positions = Tiny.Ids([0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2, 3, 4, 0]);
        using var original = model.Logits(Tiny.Ids([.. first, .. middle, .. last, 0]), docIds, positions);
        using var perturbed = model.Logits(Tiny.Ids([.. first, .. changedMiddle, .. last, 0]), docIds, positions);
        Tiny.MaxAbsDiff(original.narrow(1, 0, 5), perturbed.narrow(1, 0, 5)).Should().BeLessThan(1e-6, "the first document");
        Tiny.MaxAbsDiff(original.narrow(1, 9, 5), perturbed.narrow(1, 9, 5)).Should().BeLessThan(1e-6, "the last document");
        Tiny.MaxAbsDiff(original.narrow(1, 5, 4), perturbed.narrow(1, 5, 4)).Should().BeGreaterThan(1e-3, "the changed document itself changes");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(1.0)]
    public void A_packed_batch_has_the_same_weighted_loss_and_parameter_gradients_as_the_padded_batch(double plw)
    {
        using var model = Tiny.Model();
        var examples = TinyData.ReverseExamples(examples: 7);
        using Batch padded = PaddingCollator.Pad(examples, padId: 0, device: CPU);
        var (packed, plan) = PackingCollator.Pack(examples, rowLength: 24, padId: 0, device: CPU);
        using (packed)
        {
            plan.Rows.Count.Should().BeLessThan(examples.Count, "several documents share a row");
            var (paddedLoss, paddedGrads) = LossAndGradients(model, padded, plw);
            var (packedLoss, packedGrads) = LossAndGradients(model, packed, plw);
            packedLoss.Should().BeApproximately(paddedLoss, 1e-5);
            foreach (var (name, grad) in paddedGrads)
            {
                Tiny.MaxAbsDiff(packedGrads[name], grad).Should().BeLessThan(1e-5, name);
                grad.Dispose();
                packedGrads[name].Dispose();
            }
        }
    }

    private static (double Loss, Dictionary<string, Tensor> Gradients) LossAndGradients(LlamaForCausalLM model, Batch batch, double plw)
    {
        model.zero_grad();
        using var weights = batch.Weights(plw);
        using var logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        using var loss = WeightedCrossEntropy.Compute(logits, batch.Labels, weights);
        loss.backward();
        var gradients = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        gradients.Values.Should().Contain(g => g.abs().max().item<float>() > 0, "the loss reaches the parameters");
        return (loss.item<float>(), gradients);
    }
}

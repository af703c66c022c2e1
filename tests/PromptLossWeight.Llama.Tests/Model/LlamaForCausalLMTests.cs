using PromptLossWeight.Batching;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Model;

public class LlamaForCausalLMTests
{
    [Fact]
    public void Parameters_carry_the_Hugging_Face_tensor_names()
    {
        using var model = Tiny.Model();
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        names.Should().Contain([
            "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
            "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
            "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
            "model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight",
            "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
        ]);
        names.Should().HaveCount(3 + 2 * 9);
        model.get_parameter("model.layers.0.self_attn.k_proj.weight")!.shape.Should().Equal([16L, 32L], "2 kv heads of width 8");
    }

    [Fact]
    public void Tied_embeddings_are_one_shared_parameter()
    {
        using var model = Tiny.Model(Tiny.Config(tied: true));
        model.named_parameters().Select(p => p.name).Should().NotContain("lm_head.weight");
        ReferenceEquals(model.OutputWeight, model.Model.EmbedTokens.Weight).Should().BeTrue();
        using var before = model.OutputWeight.clone();
        using (no_grad()) model.Model.EmbedTokens.Weight.mul_(2);
        Tiny.MaxAbsDiff(model.OutputWeight, before * 2).Should().Be(0, "the head reads the embedding storage itself, not a copy");
        using var ids = Tiny.RandomIds(1, 5, seed: 1);
        using var hidden = model.HiddenStates(ids);
        using var logits = model.Logits(ids);
        using var expected = hidden.matmul(model.Model.EmbedTokens.Weight.t());
        Tiny.MaxAbsDiff(logits, expected).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Logits_are_the_hidden_states_times_the_output_weight()
    {
        using var model = Tiny.Model();
        using var ids = Tiny.RandomIds(2, 6, seed: 2);
        using var hidden = model.HiddenStates(ids);
        using var logits = model.Logits(ids);
        hidden.shape.Should().Equal(2, 6, 32);
        logits.shape.Should().Equal(2, 6, 64);
        using var expected = hidden.matmul(model.OutputWeight.t());
        Tiny.MaxAbsDiff(logits, expected).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Grouped_query_attention_equals_full_attention_with_each_kv_head_repeated()
    {
        using var gqa = Tiny.Model(Tiny.Config(kvHeads: 2));
        using var mha = Tiny.Model(Tiny.Config(kvHeads: 4), seed: 99);
        using (no_grad())
        {
            foreach (var (name, target) in mha.named_parameters())
            {
                Tensor source = gqa.get_parameter(name)!;
                if (name.EndsWith("k_proj.weight", StringComparison.Ordinal) || name.EndsWith("v_proj.weight", StringComparison.Ordinal))
                {
                    // [kvHeads·H, D] → [kvHeads, H, D] → each kv head twice in a row → [heads·H, D]
                    using Tensor repeated = source.view(2, 8, 32).repeat_interleave(2, dim: 0).reshape(32, 32);
                    target.copy_(repeated);
                }
                else target.copy_(source);
            }
        }
        using var ids = Tiny.RandomIds(2, 7, seed: 3);
        using var a = gqa.Logits(ids);
        using var b = mha.Logits(ids);
        Tiny.MaxAbsDiff(a, b).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Rows_of_a_padded_batch_equal_their_unpadded_runs()
    {
        using var model = Tiny.Model();
        long[] shortRow = [1, 9, 14, 23], longRow = [1, 30, 31, 5, 6, 7, 8];
        var examples = new[]
        {
            new MaskedExample(shortRow, shortRow.Select(_ => TokenRole.User).ToArray()),
            new MaskedExample(longRow, longRow.Select(_ => TokenRole.Assistant).ToArray()),
        };
        using Batch batch = PaddingCollator.Pad(examples, padId: 0, device: CPU);
        using var batched = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        foreach (var (row, ids) in new[] { (0, shortRow), (1, longRow) })
        {
            using var alone = model.Logits(Tiny.Ids(ids));
            using var fromBatch = batched[row].narrow(0, 0, ids.Length).unsqueeze(0);
            Tiny.MaxAbsDiff(fromBatch, alone).Should().BeLessThan(1e-5, $"row {row}");
        }
    }

    [Fact]
    public void Left_padding_with_matching_positions_does_not_change_the_real_tokens()
    {
        using var model = Tiny.Model();
        using var padded = Tiny.Ids([0, 0, 0, 1, 9, 14, 23]);
        using var mask = Tiny.Ids([0, 0, 0, 1, 1, 1, 1]);
        using var positions = Tiny.Ids([0, 0, 0, 0, 1, 2, 3]);
        using var logits = model.Logits(padded, mask, positions);
        using var alone = model.Logits(Tiny.Ids([1, 9, 14, 23]));
        Tiny.MaxAbsDiff(logits.narrow(1, 3, 4), alone).Should().BeLessThan(1e-5);
        isfinite(logits).all().item<bool>().Should().BeTrue("padding rows attend to themselves and stay finite");
    }

    [Fact]
    public void Each_document_of_a_packed_row_gets_the_same_logits_as_alone()
    {
        using var model = Tiny.Model();
        long[] first = [1, 9, 14, 23, 2], second = [1, 40, 41, 2];
        using var packed = Tiny.Ids([.. first, .. second, 0]);
        using var docIds = Tiny.Ids([1, 1, 1, 1, 1, 2, 2, 2, 2, 0]);
        using var positions = Tiny.Ids([0, 1, 2, 3, 4, 0, 1, 2, 3, 0]);
        using var logits = model.Logits(packed, docIds, positions);
        using var firstAlone = model.Logits(Tiny.Ids(first));
        using var secondAlone = model.Logits(Tiny.Ids(second));
        Tiny.MaxAbsDiff(logits.narrow(1, 0, 5), firstAlone).Should().BeLessThan(1e-5);
        Tiny.MaxAbsDiff(logits.narrow(1, 5, 4), secondAlone).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void A_packed_batch_from_the_core_collator_has_the_same_weighted_loss_as_a_padded_batch()
    {
        using var model = Tiny.Model();
        var examples = TinyData.ReverseExamples(examples: 6);
        using Batch padded = PaddingCollator.Pad(examples, padId: 0, device: CPU);
        var (packed, plan) = PackingCollator.Pack(examples, rowLength: 24, padId: 0, device: CPU);
        using (packed)
        {
            plan.Rows.Count.Should().BeLessThan(examples.Count, "several documents share a row");
            using var paddedWeights = padded.Weights(0.1);
            using var packedWeights = packed.Weights(0.1);
            using var paddedLogits = model.Logits(padded.InputIds, padded.DocumentIds, padded.PositionIds);
            using var packedLogits = model.Logits(packed.InputIds, packed.DocumentIds, packed.PositionIds);
            using var paddedLoss = WeightedCrossEntropy.Compute(paddedLogits, padded.Labels, paddedWeights);
            using var packedLoss = WeightedCrossEntropy.Compute(packedLogits, packed.Labels, packedWeights);
            packedLoss.item<float>().Should().BeApproximately(paddedLoss.item<float>(), 1e-5f);
        }
    }

    [Fact]
    public void Tokens_of_other_documents_are_not_attended()
    {
        using var mask = LlamaModel.AttentionMask(Tiny.Ids([1, 1, 2, 2, 0]), past: 0, newTokens: 5);
        bool[] allowed = mask.data<bool>().ToArray();
        bool[] expected =
        [
            true, false, false, false, false,
            true, true, false, false, false,
            false, false, true, false, false,
            false, false, true, true, false,
            false, false, false, false, true, // padding sees only itself
        ];
        allowed.Should().Equal(expected);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Half_precision_models_stay_close_to_fp32(ScalarType dtype)
    {
        using var full = Tiny.Model();
        using var half = Tiny.Model(dtype: dtype);
        using (no_grad())
            foreach (var (name, p) in half.named_parameters())
                p.copy_(full.get_parameter(name)!);
        using var ids = Tiny.RandomIds(1, 6, seed: 4);
        using var a = full.Logits(ids);
        using var b = half.Logits(ids);
        b.dtype.Should().Be(dtype);
        using var scale = a.abs().max();
        (Tiny.MaxAbsDiff(a, b) / scale.item<float>()).Should().BeLessThan(0.05);
    }
}

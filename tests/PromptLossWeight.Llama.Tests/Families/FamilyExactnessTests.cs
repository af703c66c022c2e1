using PromptLossWeight.Llama.Generation;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Families;

/// <summary>
/// Each family's tiny checkpoint against the committed reference (FamilyFixtures): logits within 1e-4 at every position
/// of a sequence three times longer than the sliding window, and the greedy continuation, decoded with the KV cache,
/// token for token. The reference is the NumPy float64 forward of scripts/make-family-fixtures.py, written from
/// transformers' modeling files; its transformers re-check (<c>--check-transformers</c>) is to be re-run on a GPU machine.
/// </summary>
public class FamilyExactnessTests
{
    private const double Tolerance = 1e-4;

    [Theory]
    [MemberData(nameof(FamilyFixtures.All), MemberType = typeof(FamilyFixtures))]
    public void The_checkpoint_loads_as_its_family_and_its_logits_match_the_reference_within_1e_4(string family)
    {
        var reference = FamilyFixtures.ReadReference(family);
        using var model = FamilyFixtures.Load(family);

        reference.MadeBy.Should().StartWith("NumPy reference (float64) written from transformers' modeling files");
        model.Config.ModelType.Should().Be(reference.ModelType);
        using var logits = model.Logits(tensor(reference.InputIds).unsqueeze(0)).squeeze(0); // [N, V]
        using var expected = reference.LogitsTensor();

        logits.shape.Should().Equal(expected.shape);
        Tiny.MaxAbsDiff(logits, expected).Should().BeLessThanOrEqualTo(Tolerance);
    }

    [Theory]
    [MemberData(nameof(FamilyFixtures.All), MemberType = typeof(FamilyFixtures))]
    public void Greedy_generation_with_the_kv_cache_produces_the_reference_tokens(string family)
    {
        var reference = FamilyFixtures.ReadReference(family);
        using var model = FamilyFixtures.Load(family);

        long[] generated = LlamaGenerator.Generate(model, reference.Prompt,
            new GenerationOptions { MaxNewTokens = reference.Greedy.Length, Temperature = 0, EosTokenIds = [] });

        generated.Should().Equal(reference.Greedy);
        (reference.Prompt.Length + reference.Greedy.Length).Should().BeGreaterThan(model.Config.SlidingWindow ?? 0,
            "the continuation runs past the sliding window, where a wrong window would change it");
    }

    [Theory]
    [MemberData(nameof(FamilyFixtures.All), MemberType = typeof(FamilyFixtures))]
    public void Decoding_token_by_token_with_the_kv_cache_equals_the_full_forward_pass_past_the_window(string family)
    {
        var reference = FamilyFixtures.ReadReference(family);
        using var model = FamilyFixtures.Load(family);
        using var noGrad = no_grad();
        Tensor ids = tensor(reference.InputIds).unsqueeze(0);                           // [1, N]
        using Tensor full = model.Logits(ids);                                         // [1, N, V]

        using var cache = model.NewCache();
        var steps = new List<Tensor> { model.Logits(ids.narrow(1, 0, 3), null, null, cache) };
        for (int t = 3; t < reference.InputIds.Length; t++)
            steps.Add(model.Logits(ids.narrow(1, t, 1), null, null, cache));
        using Tensor cached = cat(steps, 1);

        Tiny.MaxAbsDiff(cached, full).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Theory]
    [MemberData(nameof(FamilyFixtures.All), MemberType = typeof(FamilyFixtures))]
    public void Packed_documents_give_each_document_the_logits_it_has_alone(string family)
    {
        var reference = FamilyFixtures.ReadReference(family);
        using var model = FamilyFixtures.Load(family);
        using var noGrad = no_grad();
        long[] first = reference.InputIds, second = reference.Prompt;
        Tensor row = tensor(first.Concat(second).ToArray()).unsqueeze(0);                                      // [1, A+B]
        Tensor documents = tensor(first.Select(_ => 1L).Concat(second.Select(_ => 2L)).ToArray()).unsqueeze(0);
        Tensor positions = tensor(Enumerable.Range(0, first.Length).Concat(Enumerable.Range(0, second.Length)).Select(i => (long)i).ToArray()).unsqueeze(0);

        using Tensor packed = model.Logits(row, documents, positions);                                          // [1, A+B, V]
        using Tensor alone1 = model.Logits(tensor(first).unsqueeze(0));
        using Tensor alone2 = model.Logits(tensor(second).unsqueeze(0));

        Tiny.MaxAbsDiff(packed.narrow(1, 0, first.Length), alone1).Should().BeLessThanOrEqualTo(1e-5);
        Tiny.MaxAbsDiff(packed.narrow(1, first.Length, second.Length), alone2).Should().BeLessThanOrEqualTo(1e-5);
    }
}

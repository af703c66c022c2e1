using PromptLossWeight.Llama.Generation;
using PromptLossWeight.Llama.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Generation;

public class GenerationTests
{
    [Fact]
    public void KV_cache_decoding_equals_full_recomputation_token_by_token()
    {
        using var model = Tiny.Model();
        using var noGrad = no_grad();
        long[] sequence = [1, 17, 33, 8, 50, 21, 9, 40];
        using var full = model.Logits(Tiny.Ids(sequence)); // [1, 8, V]
        using var cache = model.NewCache();
        using var prefill = model.Logits(Tiny.Ids(sequence[..3]), null, null, cache);
        Tiny.MaxAbsDiff(prefill, full.narrow(1, 0, 3)).Should().BeLessThan(1e-5);
        for (int t = 3; t < sequence.Length; t++)
        {
            using var step = model.Logits(Tiny.Ids([sequence[t]]), null, null, cache); // [1, 1, V]
            cache.Length.Should().Be(t + 1);
            Tiny.MaxAbsDiff(step, full.narrow(1, t, 1)).Should().BeLessThan(1e-5, $"position {t}");
        }
    }

    [Fact]
    public void Greedy_decoding_takes_the_arg_max_of_a_full_recomputation_at_every_step()
    {
        using var model = Tiny.Model();
        long[] prompt = [1, 12, 13, 14];
        long[] generated = LlamaGenerator.Generate(model, prompt, new GenerationOptions { MaxNewTokens = 6, EosTokenIds = [] });
        generated.Should().HaveCount(6);
        var sequence = prompt.ToList();
        using var noGrad = no_grad();
        foreach (long token in generated)
        {
            using var logits = model.Logits(Tiny.Ids([.. sequence]));
            logits[0, -1].argmax().item<long>().Should().Be(token);
            sequence.Add(token);
        }
    }

    [Fact]
    public void Generation_stops_at_an_eos_token_and_includes_it()
    {
        using var model = Tiny.Model();
        long[] prompt = [1, 12, 13, 14];
        long[] free = LlamaGenerator.Generate(model, prompt, new GenerationOptions { MaxNewTokens = 5, EosTokenIds = [] });
        long stop = free[2];
        int firstStop = Array.IndexOf(free, stop);
        long[] stopped = LlamaGenerator.Generate(model, prompt, new GenerationOptions { MaxNewTokens = 5, EosTokenIds = [stop] });
        stopped.Should().Equal(free[..(firstStop + 1)]);
    }

    [Fact]
    public void Prompts_of_different_lengths_generated_as_one_left_padded_batch_get_what_they_get_alone()
    {
        using var model = Tiny.Model();
        long[][] prompts = [[1, 12, 13, 14, 15, 16], [1, 40], [1, 7, 8, 9]];
        var options = new GenerationOptions { MaxNewTokens = 5, EosTokenIds = [] };
        long[][] batched = LlamaGenerator.Generate(model, prompts, options);
        for (int row = 0; row < prompts.Length; row++)
            batched[row].Should().Equal(LlamaGenerator.Generate(model, prompts[row], options), $"prompt {row}");
    }

    [Fact]
    public void In_a_batch_each_row_stops_at_its_own_eos()
    {
        using var model = Tiny.Model();
        long[][] prompts = [[1, 12, 13, 14], [1, 40, 41]];
        var free = LlamaGenerator.Generate(model, prompts, new GenerationOptions { MaxNewTokens = 6, EosTokenIds = [] });
        long stop = free[0][1];
        var stopped = LlamaGenerator.Generate(model, prompts, new GenerationOptions { MaxNewTokens = 6, EosTokenIds = [stop] });
        for (int row = 0; row < 2; row++)
        {
            int at = Array.IndexOf(free[row], stop);
            stopped[row].Should().Equal(at < 0 ? free[row] : free[row][..(at + 1)], $"row {row}");
        }
        stopped[0].Should().HaveCount(Array.IndexOf(free[0], stop) + 1);
    }

    [Fact]
    public void Sampling_is_reproducible_with_a_seed_and_top_k_of_one_is_greedy()
    {
        using var model = Tiny.Model();
        long[] prompt = [1, 5, 6];
        var sampling = new GenerationOptions { MaxNewTokens = 12, Temperature = 1.5, Seed = 42, EosTokenIds = [] };
        long[] a = LlamaGenerator.Generate(model, prompt, sampling);
        long[] b = LlamaGenerator.Generate(model, prompt, sampling);
        long[] other = LlamaGenerator.Generate(model, prompt, sampling with { Seed = 43 });
        a.Should().Equal(b);
        other.Should().NotEqual(a);

        long[] greedy = LlamaGenerator.Generate(model, prompt, new GenerationOptions { MaxNewTokens = 12, EosTokenIds = [] });
        LlamaGenerator.Generate(model, prompt, sampling with { TopK = 1 }).Should().Equal(greedy);
        LlamaGenerator.Generate(model, prompt, sampling with { TopP = 1e-6 }).Should().Equal(greedy);
    }

    [Fact]
    public void Top_k_and_top_p_only_ever_sample_from_the_kept_tokens()
    {
        TorchSharp.torch.InitializeDeviceType(DeviceType.CPU);
        using var logits = tensor(new float[] { 4f, 3f, 2.9f, 0f, -1f, -2f });
        // softmax: ≈ [0.53, 0.20, 0.18, 0.01, ...]; top-p 0.6 keeps tokens 0 and 1; top-k 3 keeps tokens 0..2.
        var generator = new Generator(1);
        var seenTopP = new HashSet<long>();
        var seenTopK = new HashSet<long>();
        for (int i = 0; i < 300; i++)
        {
            seenTopP.Add(LlamaGenerator.Pick(logits, new GenerationOptions { Temperature = 1, TopP = 0.6 }, generator));
            seenTopK.Add(LlamaGenerator.Pick(logits, new GenerationOptions { Temperature = 3, TopK = 3 }, generator));
        }
        seenTopP.Should().BeEquivalentTo(new long[] { 0, 1 });
        seenTopK.Should().BeEquivalentTo(new long[] { 0, 1, 2 });
    }

    [Fact]
    public void Invalid_options_and_prompts_are_rejected_with_the_field_named()
    {
        using var model = Tiny.Model();
        Action badTopP = () => LlamaGenerator.Generate(model, [1], new GenerationOptions { TopP = 0 });
        badTopP.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "TopP");
        Action badToken = () => LlamaGenerator.Generate(model, [1, 64]);
        badToken.Should().Throw<ArgumentException>().Where(e => e.Message.Contains("64"));
    }
}

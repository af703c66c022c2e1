using PromptLossWeight.Llama.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Generation;

/// <summary>
/// Autoregressive decoding with a key/value cache: the prompt is processed once, then each new token costs one position.
/// </summary>
public static class LlamaGenerator
{
    /// <summary>
    /// Continues <paramref name="prompt"/> and returns the new token ids (including the stop token when one was produced).
    /// The model runs in evaluation mode (no dropout) and without gradients; its training flag is restored afterwards.
    /// </summary>
    public static long[] Generate(LlamaForCausalLM model, IReadOnlyList<long> prompt, GenerationOptions? options = null)
    {
        options = (options ?? new GenerationOptions()).Validate();
        if (prompt.Count == 0) throw new ArgumentException("The prompt must contain at least one token (e.g. BOS).", nameof(prompt));
        foreach (long id in prompt)
            if (id < 0 || id >= model.Config.VocabSize)
                throw new ArgumentException($"Prompt token {id} is outside the vocabulary [0, {model.Config.VocabSize}).", nameof(prompt));
        var eos = new HashSet<long>(options.EosTokenIds ?? model.Config.EosTokenIds);
        var generator = new Generator(options.Seed is long s ? (ulong)s : (ulong)Random.Shared.NextInt64());

        bool wasTraining = model.training;
        model.eval();
        var output = new List<long>();
        try
        {
            using var noGrad = no_grad();
            using KvCache cache = model.NewCache();
            long[] next = [.. prompt];
            while (output.Count < options.MaxNewTokens)
            {
                using var scope = NewDisposeScope();
                Tensor ids = tensor(next, [1, next.Length], device: model.Device);   // [1, n]
                Tensor logits = model.Logits(ids, null, null, cache);             // [1, n, V]
                Tensor last = logits[0, -1].to(ScalarType.Float32).cpu();           // [V]
                long token = Pick(last, options, generator);
                output.Add(token);
                if (eos.Contains(token)) break;
                next = [token];
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return [.. output];
    }

    /// <summary>
    /// Chooses the next token from logits [V]: the arg-max when temperature is 0, otherwise a sample from the
    /// temperature-scaled distribution restricted by top-k and top-p.
    /// </summary>
    public static long Pick(Tensor logits, GenerationOptions options, Generator generator)
    {
        using var scope = NewDisposeScope();
        if (options.Temperature == 0) return logits.argmax().item<long>();
        Tensor scaled = logits / options.Temperature;                                       // [V]
        if (options.TopK > 0 && options.TopK < scaled.shape[0])
        {
            Tensor kth = scaled.topk(options.TopK).values[-1];                               // k-th largest logit
            scaled = scaled.masked_fill(scaled.lt(kth), double.NegativeInfinity);
        }
        if (options.TopP < 1)
        {
            var (sorted, order) = scaled.sort(descending: true);                              // [V] each
            Tensor probs = sorted.softmax(0);
            Tensor before = probs.cumsum(0) - probs;                                          // mass of strictly more likely tokens
            Tensor dropSorted = before.ge(options.TopP);                                      // the first token always stays
            Tensor drop = zeros_like(dropSorted).scatter(0, order, dropSorted);
            scaled = scaled.masked_fill(drop, double.NegativeInfinity);
        }
        Tensor distribution = scaled.softmax(0);
        return multinomial(distribution, 1, generator: generator).item<long>();
    }
}

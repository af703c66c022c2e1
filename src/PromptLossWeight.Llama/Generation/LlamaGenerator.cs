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
    public static long[] Generate(LlamaForCausalLM model, IReadOnlyList<long> prompt, GenerationOptions? options = null) =>
        Generate(model, [prompt], options)[0];

    /// <summary>
    /// Continues several prompts at once. They are left-padded to a common length (padding is masked out and positions
    /// start at 0 on each prompt's first real token), so every row gets the tokens it would get alone. Each row stops at
    /// its own stop token; the batch stops when every row has stopped or <see cref="GenerationOptions.MaxNewTokens"/> is reached.
    /// </summary>
    public static long[][] Generate(LlamaForCausalLM model, IReadOnlyList<IReadOnlyList<long>> prompts, GenerationOptions? options = null)
    {
        options = (options ?? new GenerationOptions()).Validate();
        if (prompts.Count == 0) throw new ArgumentException("Give at least one prompt.", nameof(prompts));
        for (int row = 0; row < prompts.Count; row++)
        {
            if (prompts[row].Count == 0) throw new ArgumentException($"Prompt {row} is empty; it must contain at least one token (e.g. BOS).", nameof(prompts));
            foreach (long id in prompts[row])
                if (id < 0 || id >= model.Config.VocabSize)
                    throw new ArgumentException($"Prompt {row} has token {id}, outside the vocabulary [0, {model.Config.VocabSize}).", nameof(prompts));
        }
        var eos = new HashSet<long>(options.EosTokenIds ?? model.Config.EosTokenIds);
        var generator = new Generator(options.Seed is long s ? (ulong)s : (ulong)Random.Shared.NextInt64());

        int batch = prompts.Count, width = prompts.Max(p => p.Count);
        var ids = new long[batch * width];
        var mask = new long[batch * width];
        var positions = new long[batch * width];
        for (int row = 0; row < batch; row++)
        {
            int pad = width - prompts[row].Count;
            for (int j = 0; j < width; j++)
            {
                bool real = j >= pad;
                ids[row * width + j] = real ? prompts[row][j - pad] : 0;
                mask[row * width + j] = real ? 1 : 0;
                positions[row * width + j] = real ? j - pad : 0;
            }
        }

        var outputs = Enumerable.Range(0, batch).Select(_ => new List<long>()).ToArray();
        var finished = new bool[batch];
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using KvCache cache = model.NewCache();
            Device device = model.Device;
            Tensor maskSoFar = tensor(mask, [batch, width], device: device);                 // [B, T]
            Tensor step = tensor(ids, [batch, width], device: device);                        // [B, n]
            Tensor stepPositions = tensor(positions, [batch, width], device: device);         // [B, n]
            long[] nextPosition = Enumerable.Range(0, batch).Select(r => (long)prompts[r].Count).ToArray();
            for (int produced = 0; produced < options.MaxNewTokens; produced++)
            {
                long[] next = new long[batch];
                using (var scope = NewDisposeScope())
                {
                    Tensor logits = model.Logits(step, maskSoFar, stepPositions, cache);      // [B, n, V]
                    Tensor last = logits.select(1, -1).to(ScalarType.Float32).cpu();         // [B, V]
                    for (int row = 0; row < batch; row++)
                    {
                        if (finished[row]) continue;
                        long token = Pick(last[row], options, generator);
                        outputs[row].Add(token);
                        finished[row] = eos.Contains(token);
                        next[row] = token;
                    }
                }
                step.Dispose();
                stepPositions.Dispose();
                if (finished.All(f => f) || produced + 1 == options.MaxNewTokens)
                {
                    maskSoFar.Dispose();
                    break;
                }
                step = tensor(next, [batch, 1], device: device);                              // [B, 1]
                stepPositions = tensor(nextPosition.ToArray(), [batch, 1], device: device);   // [B, 1]
                for (int row = 0; row < batch; row++) nextPosition[row]++;
                using Tensor one = ones(batch, 1, dtype: ScalarType.Int64, device: device);
                Tensor grown = cat([maskSoFar, one], dim: 1);                                  // [B, T + 1]
                maskSoFar.Dispose();
                maskSoFar = grown;
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return outputs.Select(o => o.ToArray()).ToArray();
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

using PromptLossWeight.Loss;
using static TorchSharp.torch;

namespace PromptLossWeight.Bench;

/// <summary>Random inputs of the loss benchmarks: hidden states [1, T, D], head [V, D], labels and weights [1, T].</summary>
internal sealed record LossInputs(Tensor Hidden, Tensor Head, Tensor Labels, Tensor Weights)
{
    /// <param name="tokens">T.</param>
    /// <param name="vocabulary">V.</param>
    /// <param name="dim">D.</param>
    /// <param name="completionFraction">Null: every token has weight 1. Otherwise the share of tokens with weight 1
    /// (the completion at the end of each RACE-shaped example); the rest has weight 0 (PLW = 0).</param>
    public static LossInputs Create(int tokens, int vocabulary, int dim, double? completionFraction, int seed = 1)
    {
        var g = new Generator((ulong)seed);
        Tensor hidden = randn([1, tokens, dim], generator: g).requires_grad_();
        Tensor head = (randn([vocabulary, dim], generator: g) * 0.02).requires_grad_();
        Tensor labels = randint(0, vocabulary, [1, tokens], generator: g, dtype: ScalarType.Int64);
        Tensor weights = ones([1, tokens]);
        if (completionFraction is double share)
        {
            // RACE-shaped rows: examples of ~475 tokens whose last few tokens (the answer) are the completion.
            var w = new float[tokens];
            int exampleLength = 475, completion = Math.Max(1, (int)Math.Round(share * exampleLength));
            for (int i = 0; i < tokens; i++) w[i] = i % exampleLength >= exampleLength - completion ? 1 : 0;
            weights = tensor(w, [1, tokens]);
        }
        return new LossInputs(hidden, head, labels, weights);
    }

    public void ClearGradients()
    {
        Hidden.grad?.Dispose();
        Head.grad?.Dispose();
        Hidden.grad = null;
        Head.grad = null;
    }

    /// <summary>Forward and backward of the naive loss: full logits, then <see cref="WeightedCrossEntropy"/>.</summary>
    public void NaiveStep()
    {
        using var scope = NewDisposeScope();
        Tensor loss;
        using (var forward = NewDisposeScope())
        {
            Tensor logits = Hidden.matmul(Head.t());                                   // [1, T, V]
            loss = WeightedCrossEntropy.Compute(logits, Labels, Weights).MoveToOuterDisposeScope();
        }
        loss.backward();
    }

    /// <summary>Forward and backward of <see cref="ChunkedWeightedCrossEntropy"/>.</summary>
    public void ChunkedStep(int chunkSize)
    {
        using var scope = NewDisposeScope();
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(Hidden, Head, Labels, Weights, chunkSize: chunkSize);
        loss.backward();
    }
}

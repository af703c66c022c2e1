using PromptLossWeight.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Support;

/// <summary>
/// A one-layer causal transformer for tests that honours the attention-mask convention: token i attends to token j
/// only when j ≤ i and both carry the same document id. Positions come from the position ids (learned embedding).
/// </summary>
internal sealed class TinyDocumentModel : nn.Module, IHiddenStateLanguageModel
{
    private readonly Embedding tokens, positions;
    private readonly Linear query, key, value, output, head;
    private readonly LayerNorm norm;
    private readonly long dim;

    public TinyDocumentModel(int seed, long vocabulary = 37, long dim = 16, long maxPositions = 64) : base(nameof(TinyDocumentModel))
    {
        manual_seed(seed);
        this.dim = dim;
        tokens = nn.Embedding(vocabulary, dim);
        positions = nn.Embedding(maxPositions, dim);
        query = nn.Linear(dim, dim, hasBias: false);
        key = nn.Linear(dim, dim, hasBias: false);
        value = nn.Linear(dim, dim, hasBias: false);
        output = nn.Linear(dim, dim, hasBias: false);
        norm = nn.LayerNorm(dim);
        head = nn.Linear(dim, vocabulary, hasBias: false);
        RegisterComponents();
    }

    public nn.Module Module => this;

    public Tensor OutputWeight => head.weight!;

    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], n = inputIds.shape[1];
        attentionMask ??= ones_like(inputIds);
        positionIds ??= arange(n, dtype: ScalarType.Int64).expand(b, n);
        Tensor x = tokens.call(inputIds) + positions.call(positionIds);                          // [B, N, D]
        Tensor q = query.call(x), k = key.call(x), v = value.call(x);                          // [B, N, D]
        Tensor scores = q.matmul(k.transpose(1, 2)) / Math.Sqrt(dim);                          // [B, N, N]
        Tensor sameDocument = attentionMask.unsqueeze(2).eq(attentionMask.unsqueeze(1));       // [B, N, N]
        Tensor causal = ones(n, n, dtype: ScalarType.Bool).tril();                             // [N, N]
        scores = scores.masked_fill((sameDocument & causal).logical_not(), double.NegativeInfinity);
        Tensor attended = output.call(scores.softmax(-1).matmul(v));                           // [B, N, D]
        return norm.call(x + attended).MoveToOuterDisposeScope();
    }

    public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        return head.call(HiddenStates(inputIds, attentionMask, positionIds)).MoveToOuterDisposeScope();
    }
}

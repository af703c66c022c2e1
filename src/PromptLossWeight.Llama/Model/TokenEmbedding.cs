using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// The token embedding table: row i of <see cref="Weight"/> [V, D] is the vector of token i. The same
/// <see cref="Parameter"/> object serves as the LM head when the model ties its embeddings.
/// </summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field name is the Hugging Face tensor name
    private readonly Parameter weight; // [V, D]
#pragma warning restore IDE1006

    /// <summary>Allocates an uninitialised [<paramref name="vocabSize"/>, <paramref name="dim"/>] table.</summary>
    public TokenEmbedding(long vocabSize, long dim, ScalarType dtype, Device device) : base(nameof(TokenEmbedding))
    {
        weight = new Parameter(empty(vocabSize, dim, dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>The table [V, D].</summary>
    public Parameter Weight => weight;

    /// <summary>Token ids [B, N] int64 → vectors [B, N, D].</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        Tensor rows = weight.index_select(0, ids.flatten());                  // [B·N, D]
        return rows.view([.. ids.shape, weight.shape[1]]).MoveToOuterDisposeScope(); // [B, N, D]
    }
}

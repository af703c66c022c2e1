using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// A block whose linear projections can be listed by their Hugging Face names (q_proj, …, down_proj) and replaced,
/// so that LoRA can wrap them without knowing the block's type.
/// </summary>
public interface IProjectionOwner
{
    /// <summary>The projections by name (e.g. "q_proj"), each mapping [.., in] → [.., out].</summary>
    IReadOnlyDictionary<string, nn.Module<Tensor, Tensor>> Projections { get; }

    /// <summary>Replaces the projection called <paramref name="name"/> (re-registering it under the same name).</summary>
    void SetProjection(string name, nn.Module<Tensor, Tensor> projection);
}

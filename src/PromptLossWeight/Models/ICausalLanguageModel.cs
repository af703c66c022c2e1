using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Models;

/// <summary>
/// What the training loop needs from a model: the TorchSharp module that owns the parameters, and a forward pass
/// from token ids to next-token logits. Any TorchSharp model can be adapted with <see cref="CausalLanguageModel.FromModule"/>.
/// </summary>
/// <remarks>
/// <para><b>Attention mask convention</b> ([B, N] int64): 0 marks padding; any other value is a document id. A token
/// attends only to earlier tokens of the same document, so a padded batch passes all ones on real tokens and a packed
/// row passes 1, 2, 3, … per document.</para>
/// <para><b>Position ids</b> ([B, N] int64): the position of each token within its own document (they restart at 0 for
/// each packed document). Null means 0..N-1 for every row.</para>
/// </remarks>
public interface ICausalLanguageModel
{
    /// <summary>The module whose parameters are trained, saved and moved between devices.</summary>
    nn.Module Module { get; }

    /// <summary>Next-token logits [B, N, V] for token ids [B, N].</summary>
    Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null);
}

/// <summary>
/// A model that can also return its final hidden states and LM-head weight, so that a loss can project only the
/// tokens it needs, chunk by chunk, without ever building [B, N, V] logits.
/// </summary>
public interface IHiddenStateLanguageModel : ICausalLanguageModel
{
    /// <summary>
    /// Final (normalised) hidden states [B, N, D]; <c>Logits = HiddenStates · OutputWeightᵀ</c>, soft-capped as
    /// <c>c · tanh(logits / c)</c> when <see cref="LogitSoftcap"/> is set.
    /// </summary>
    Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null);

    /// <summary>The LM-head weight [V, D] (shared with the embedding when the model ties them).</summary>
    Tensor OutputWeight { get; }

    /// <summary>The final logit soft-cap c (Gemma 2's <c>final_logit_softcapping</c>), or null when the logits are used as projected.</summary>
    double? LogitSoftcap => null;
}

/// <summary>Adapters that turn plain TorchSharp modules into <see cref="ICausalLanguageModel"/>s.</summary>
internal static class CausalLanguageModel
{
    /// <summary>
    /// Wraps a module that maps token ids [B, N] to logits [B, N, V]. Such a module sees no attention mask, so use
    /// it with right-padded batches only (padding after the real tokens cannot influence them in a causal model).
    /// </summary>
    public static ICausalLanguageModel FromModule(nn.Module<Tensor, Tensor> module) => new ModuleAdapter(module);

    private sealed class ModuleAdapter(nn.Module<Tensor, Tensor> module) : ICausalLanguageModel
    {
        public nn.Module Module => module;

        public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
        {
            if (attentionMask is not null)
            {
                using var noGrad = no_grad();
                using var maxId = attentionMask.max();
                if (maxId.item<long>() > 1)
                    throw new NotSupportedException(
                        "This model was adapted from a plain Module<Tensor, Tensor> and cannot isolate packed documents; " +
                        "implement ICausalLanguageModel to accept an attention mask, or disable packing.");
            }
            return module.call(inputIds);
        }
    }
}

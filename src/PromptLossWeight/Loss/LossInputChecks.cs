using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// Shape, dtype and device checks of the loss inputs: model outputs (logits, hidden states, the LM-head weight) against the labels,
/// shared by the losses and the evaluation statistics so both report the same one-line errors.
/// </summary>
internal static class LossInputChecks
{
    /// <summary>Checks model outputs against the labels; <paramref name="what"/> names them in errors ("logits" or "hidden states").</summary>
    internal static void ValidateLogitsAndLabels(Tensor logits, Tensor labels, string what = "logits")
    {
        string shape = what == "logits" ? "[B, N, V]" : "[B, N, D]";
        if (logits.dim() != 3)
            throw new ArgumentException($"{what} must be {shape}; got shape {Shape(logits)}.", nameof(logits));
        if (!is_floating_point(logits))
            throw new ArgumentException($"{what} must be floating point (fp32, bf16 or fp16); got {logits.dtype}.", nameof(logits));
        if (labels.dim() != 2 || labels.shape[0] != logits.shape[0] || labels.shape[1] != logits.shape[1])
            throw new ArgumentException($"labels must be [B, N] = [{logits.shape[0]}, {logits.shape[1]}] to match {what} {Shape(logits)}; got {Shape(labels)}.", nameof(labels));
        if (labels.dtype != ScalarType.Int64)
            throw new ArgumentException($"labels must be int64; got {labels.dtype}.", nameof(labels));
        if (!SameDevice(labels, logits))
            throw new ArgumentException($"labels are on {labels.device} but {what} are on {logits.device}.", nameof(labels));
        if (logits.shape[1] < 2)
            throw new ArgumentException($"sequences need at least 2 tokens for a next-token loss; {what} have shape {Shape(logits)}.", nameof(logits));
    }

    internal static void ValidateHiddenAndHead(Tensor hidden, Tensor outputWeight, Tensor labels)
    {
        if (hidden.dim() != 3)
            throw new ArgumentException($"hidden states must be [B, N, D]; got shape {Shape(hidden)}.", nameof(hidden));
        if (!is_floating_point(hidden))
            throw new ArgumentException($"hidden states must be floating point; got {hidden.dtype}.", nameof(hidden));
        if (outputWeight.dim() != 2 || outputWeight.shape[1] != hidden.shape[2])
            throw new ArgumentException($"the output weight must be [V, D] with D = {hidden.shape[2]} (the hidden size); got {Shape(outputWeight)}.", nameof(outputWeight));
        if (outputWeight.dtype != hidden.dtype)
            throw new ArgumentException($"the output weight is {outputWeight.dtype} but the hidden states are {hidden.dtype}; they must match.", nameof(outputWeight));
        if (!SameDevice(outputWeight, hidden))
            throw new ArgumentException($"the output weight is on {outputWeight.device} but the hidden states are on {hidden.device}.", nameof(outputWeight));
        if (labels.dim() != 2 || labels.shape[0] != hidden.shape[0] || labels.shape[1] != hidden.shape[1])
            throw new ArgumentException($"labels must be [B, N] = [{hidden.shape[0]}, {hidden.shape[1]}] to match the hidden states; got {Shape(labels)}.", nameof(labels));
    }

    internal static void ValidateTargets(Tensor targets, long vocabularySize)
    {
        if (targets.numel() == 0) return;
        using var scope = NewDisposeScope();
        long[] range = stack([targets.min(), targets.max()]).cpu().data<long>().ToArray(); // one host read
        long min = range[0], max = range[1];
        if (min < 0 || max >= vocabularySize)
            throw new ArgumentException(
                $"labels must be token ids in [0, {vocabularySize}) or {Masking.TokenLabels.IgnoreIndex}; found {(min < 0 ? min : max)}.", "labels");
    }

    internal static int ValidateChunkSize(int chunkSize) =>
        chunkSize >= 1 ? chunkSize : throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "The chunk size must be at least 1 token row.");

    internal static bool SameDevice(Tensor a, Tensor b) => a.device_type == b.device_type && a.device_index == b.device_index;

    internal static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}

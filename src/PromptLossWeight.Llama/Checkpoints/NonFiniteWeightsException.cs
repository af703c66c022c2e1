using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Checkpoints;

/// <summary>
/// A loaded weight holds NaN or infinite values — a damaged file, or a value too large for the dtype it was converted
/// to. Training such a model would skip every step, so loaders refuse it unless told otherwise
/// (<c>requireFiniteWeights: false</c>). The message names the file, the tensor and how many values are affected.
/// </summary>
public sealed class NonFiniteWeightsException : Exception
{
    /// <summary>Creates the exception for tensor <paramref name="tensorName"/> of <paramref name="file"/>.</summary>
    public NonFiniteWeightsException(string file, string tensorName, long nonFiniteCount, string message) : base(message)
    {
        File = file;
        TensorName = tensorName;
        NonFiniteCount = nonFiniteCount;
    }

    /// <summary>The safetensors file the tensor came from.</summary>
    public string File { get; }

    /// <summary>The tensor's name in that file.</summary>
    public string TensorName { get; }

    /// <summary>How many of its values are NaN or infinite after loading.</summary>
    public long NonFiniteCount { get; }

    /// <summary>
    /// Throws when <paramref name="loaded"/> (the tensor as loaded, in the model's dtype) holds a non-finite value. The
    /// stored tensor is only re-read on that error path, to tell a damaged file from an overflow in the conversion.
    /// </summary>
    internal static void ThrowIfNonFinite(Tensor loaded, PromptLossWeight.IO.SafeTensorsHeader header, string name, string optOut)
    {
        if (!is_floating_point(loaded)) return;
        long bad;
        using (Tensor finite = isfinite(loaded))
        {
            if (finite.all().item<bool>()) return;
            using Tensor count = finite.logical_not().sum();
            bad = count.item<long>();
        }
        string file = header.Path;
        string shape = "[" + string.Join(", ", loaded.shape) + "]";
        using Tensor stored = PromptLossWeight.IO.SafeTensors.LoadTensor(header, name);
        using Tensor storedFinite = isfinite(stored);
        string dtype = header.Find(name)?.DType ?? stored.dtype.ToString();
        string message = storedFinite.all().item<bool>()
            ? $"{file}: tensor '{name}' ({dtype} {shape}) overflows {loaded.dtype}: {bad} of {loaded.numel()} values become infinite; load it in Float32 or BFloat16, or {optOut}."
            : $"{file}: tensor '{name}' ({dtype} {shape}) holds {bad} NaN or infinite values of {loaded.numel()}; the weights are damaged (to load them anyway, {optOut}).";
        throw new NonFiniteWeightsException(file, name, bad, message);
    }
}

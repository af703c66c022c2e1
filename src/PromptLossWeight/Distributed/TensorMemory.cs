using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace PromptLossWeight.Distributed;

/// <summary>The address of a tensor's data, for the engines that read and write it in place (TorchSharp's own export).</summary>
internal static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>The first element's address of a contiguous tensor (device memory for CUDA tensors).</summary>
    public static IntPtr Address(Tensor tensor)
    {
        if (!tensor.is_contiguous()) throw new ArgumentException("A collective needs a contiguous tensor.", nameof(tensor));
        return THSTensor_data(tensor.Handle);
    }
}

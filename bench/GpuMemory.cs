using System.Runtime.InteropServices;

namespace PromptLossWeight.Bench;

/// <summary>
/// Memory in use on GPU 0, read through NVML (libnvidia-ml, part of the NVIDIA driver): TorchSharp 0.107 exposes no
/// CUDA allocator statistics. PyTorch's caching allocator keeps freed blocks, so "used after a step − used before" is the
/// step's peak reserved memory, the figure the PyTorch anchor prints as max_memory_reserved.
/// </summary>
internal static class GpuMemory
{
    [StructLayout(LayoutKind.Sequential)]
    private struct NvmlMemory
    {
        public ulong Total, Free, Used;
    }

    [DllImport("libnvidia-ml.so.1", EntryPoint = "nvmlInit_v2")]
    private static extern int Init();

    [DllImport("libnvidia-ml.so.1", EntryPoint = "nvmlDeviceGetHandleByIndex_v2")]
    private static extern int DeviceByIndex(uint index, out IntPtr device);

    [DllImport("libnvidia-ml.so.1", EntryPoint = "nvmlDeviceGetMemoryInfo")]
    private static extern int MemoryInfo(IntPtr device, out NvmlMemory memory);

    /// <summary>Bytes in use on GPU 0 (by every process).</summary>
    public static long UsedBytes()
    {
        int status = Init();
        if (status != 0) throw new InvalidOperationException($"nvmlInit failed (status {status}).");
        status = DeviceByIndex(0, out IntPtr device);
        if (status != 0) throw new InvalidOperationException($"NVML found no GPU 0 (status {status}).");
        status = MemoryInfo(device, out NvmlMemory memory);
        if (status != 0) throw new InvalidOperationException($"NVML could not read GPU 0's memory (status {status}).");
        return (long)memory.Used;
    }
}

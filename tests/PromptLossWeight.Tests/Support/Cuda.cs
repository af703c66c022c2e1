using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Testing;

/// <summary>
/// The device of the CUDA tests. Each one is a <c>[SkippableFact]</c> with <c>[Trait("Category", "Cuda")]</c> that starts
/// with <see cref="Device"/>: where CUDA is not available the test is reported as skipped, with the reason, and on a GPU
/// machine it runs. <c>dotnet test PromptLossWeight.sln --filter Category=Cuda</c> runs them all
/// (scripts/gpu-check.sh does it on a machine with PyTorch but without .NET).
/// </summary>
/// <remarks>
/// Environment variables: <c>PLW_REQUIRE_CUDA=1</c> turns a missing CUDA into a failure (so a GPU run cannot pass by
/// skipping); <c>PLW_CUDA_TESTS_DEVICE=cpu</c> runs the CUDA tests' code on the CPU, to check the tests themselves on a
/// machine without a GPU (CPU-against-CPU comparisons prove nothing about CUDA).
/// </remarks>
internal static class Cuda
{
    /// <summary>The trait value of the CUDA tests: <c>--filter Category=Cuda</c>.</summary>
    public const string Category = "Cuda";

    private static readonly Lazy<(Device? Device, string Reason)> Probe = new(Find);

    /// <summary>The CUDA device; skips the calling test (or fails it under PLW_REQUIRE_CUDA=1) when there is none.</summary>
    public static Device Device()
    {
        var (device, reason) = Probe.Value;
        if (device is not null) return device;
        if (Environment.GetEnvironmentVariable("PLW_REQUIRE_CUDA") == "1")
            throw new InvalidOperationException($"PLW_REQUIRE_CUDA=1 but {reason}");
        Skip.If(true, reason);
        throw new InvalidOperationException("unreachable: Skip.If throws");
    }

    /// <summary>True when the tests run on the CPU in place of CUDA (PLW_CUDA_TESTS_DEVICE=cpu).</summary>
    public static bool OnCpuStandIn => Environment.GetEnvironmentVariable("PLW_CUDA_TESTS_DEVICE") == "cpu";

    private static (Device? Device, string Reason) Find()
    {
        TorchRuntime.EnsureLoaded();
        if (OnCpuStandIn) return (CPU, string.Empty);
        const string how = " The CUDA tests run on a GPU machine: see the README's GPU section (scripts/gpu-check.sh).";
        if (!cuda.is_available())
            return (null, "CUDA is not available (torch.cuda.is_available() is false: no GPU, or TorchSharp loaded a CPU-only libtorch)." + how);
        try
        {
            TorchRuntime.EnsureLoaded(DeviceType.CUDA);
            return (new Device(DeviceType.CUDA, 0), string.Empty);
        }
        catch (InvalidOperationException ex)
        {
            return (null, "CUDA is present but TorchSharp's CUDA backend did not initialise: " + ex.Message + how);
        }
    }
}

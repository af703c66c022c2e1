using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Runtime;

public class TorchSharpLoadTests
{
    [Fact]
    public void A_tensor_operation_runs_on_the_cpu_backend()
    {
        TorchRuntime.EnsureLoaded();
        using var a = tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        using var product = a.matmul(a);
        product.data<float>().ToArray().Should().Equal(7, 10, 15, 22);
    }

    [Fact]
    public void The_native_library_is_loaded_from_the_build_output_not_from_a_runtime_fallback_copy()
    {
        TorchRuntime.EnsureLoaded();
        // TorchSharp copies natives into a "cpu" folder next to the app only when the regular load failed.
        string fallback = Path.Combine(AppContext.BaseDirectory, "cpu");
        Directory.Exists(fallback).Should().BeFalse("the regular load must succeed, so TorchSharp's fallback copy never runs");
    }

    [Fact]
    public void On_a_system_without_GLIBCXX_3_4_32_the_output_copy_is_patched_and_the_package_cache_is_not()
    {
        if (!OperatingSystem.IsLinux()) return;
        string output = Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).Single();
        string cached = Path.Combine(NuGetPackageRoot(), "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        bool systemHasVersion = File.Exists("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
            && ContainsAscii(File.ReadAllBytes("/usr/lib/x86_64-linux-gnu/libstdc++.so.6"), "GLIBCXX_3.4.32\0");
        if (!File.Exists(cached) || systemHasVersion) return;
        File.ReadAllBytes(output).Should().NotEqual(File.ReadAllBytes(cached), "the output copy carries the weak version flag");
        File.ReadAllBytes(output).Length.Should().Be(File.ReadAllBytes(cached).Length, "only one flag changes");
    }

    private static string NuGetPackageRoot() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static bool ContainsAscii(byte[] haystack, string text)
    {
        byte[] needle = System.Text.Encoding.ASCII.GetBytes(text);
        return haystack.AsSpan().IndexOf(needle) >= 0;
    }
}

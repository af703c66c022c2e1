using System.Runtime.InteropServices;
using TorchSharp;

namespace PromptLossWeight.Runtime;

/// <summary>
/// Makes sure TorchSharp's native backend is loaded, and when it cannot be, reports the real reason
/// (for example a missing <c>GLIBCXX_3.4.32</c>) instead of TorchSharp's generic message about libtorch packages.
/// </summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _loaded;

    /// <summary>Loads the CPU backend (and CUDA when <paramref name="device"/> asks for it). Safe to call many times.</summary>
    /// <exception cref="InvalidOperationException">The native library cannot be loaded; the message names the cause.</exception>
    public static void EnsureLoaded(DeviceType device = DeviceType.CPU)
    {
        lock (Gate)
        {
            if (_loaded && device == DeviceType.CPU) return;
            try
            {
                torch.InitializeDeviceType(device);
                _loaded = true;
            }
            catch (Exception ex) when (ex is NotSupportedException or DllNotFoundException or TypeInitializationException or InvalidOperationException)
            {
                throw new InvalidOperationException(DescribeLoadFailure(ex), ex);
            }
        }
    }

    /// <summary>Picks CUDA when it is available, the CPU otherwise.</summary>
    public static torch.Device DefaultDevice()
    {
        EnsureLoaded();
        return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
    }

    private static string DescribeLoadFailure(Exception original)
    {
        string? path = FindLibTorchSharp();
        if (path is null)
            return "TorchSharp's native library libLibTorchSharp could not be found next to the application. " +
                   "Reference a runtime package (TorchSharp-cpu, or TorchSharp-cuda-linux / TorchSharp-cuda-windows). " +
                   $"TorchSharp said: {original.Message}";
        try
        {
            // Ask the system loader directly: its error names the missing library or symbol version.
            IntPtr handle = NativeLibrary.Load(path);
            NativeLibrary.Free(handle);
        }
        catch (Exception loadError)
        {
            string hint = loadError.Message.Contains("GLIBCXX", StringComparison.Ordinal)
                ? " The system libstdc++ is older than the one TorchSharp was built with. The PromptLossWeight build " +
                  "patches a copy of libLibTorchSharp.so for this; make sure the application was built with the " +
                  "PromptLossWeight package's build targets (PromptLossWeightSkipLibStdCxxFix not set), or install " +
                  "GCC 13's libstdc++ (Ubuntu 24.04 / Debian 13 have it)."
                : string.Empty;
            return $"TorchSharp's native library could not be loaded from {path}: {loadError.Message}.{hint}";
        }
        return $"TorchSharp failed to initialise although {path} loads: {original.Message}";
    }

    private static string? FindLibTorchSharp()
    {
        string fileName = OperatingSystem.IsWindows() ? "LibTorchSharp.dll" : OperatingSystem.IsMacOS() ? "libLibTorchSharp.dylib" : "libLibTorchSharp.so";
        string baseDir = AppContext.BaseDirectory;
        string? torchDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        foreach (string dir in new[] { baseDir, torchDir ?? baseDir })
        {
            string direct = Path.Combine(dir, fileName);
            if (File.Exists(direct)) return direct;
            string runtimes = Path.Combine(dir, "runtimes");
            if (Directory.Exists(runtimes))
            {
                string? found = Directory.EnumerateFiles(runtimes, fileName, SearchOption.AllDirectories)
                    .FirstOrDefault(p => p.Contains(RuntimeInformation.RuntimeIdentifier.Split('-')[0], StringComparison.Ordinal)
                                         || p.Contains(RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(), StringComparison.Ordinal));
                if (found is not null) return found;
            }
        }
        return null;
    }
}

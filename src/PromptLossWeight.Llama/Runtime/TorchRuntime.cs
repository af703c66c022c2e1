using System.Runtime.InteropServices;
using TorchSharp;

namespace PromptLossWeight.Llama.Runtime;

/// <summary>
/// Makes sure TorchSharp's native backend is loaded, and when it cannot be, reports the real reason
/// (for example a missing <c>GLIBCXX_3.4.32</c>) instead of TorchSharp's generic message about libtorch packages.
/// </summary>
/// <remarks>
/// <para>Two ways to CUDA: reference a TorchSharp CUDA runtime package (<c>TorchSharp-cuda-linux</c>,
/// <c>TorchSharp-cuda-windows</c>) instead of <c>TorchSharp-cpu</c>; or, on Linux where PyTorch with CUDA is installed, set
/// <see cref="LibTorchDirectoryVariable"/> to PyTorch's <c>torch/lib</c> folder and build the application with
/// <c>-p:PromptLossWeightExternalLibTorch=true</c> (so that no TorchSharp-cpu libtorch sits beside it). The first call then
/// checks that PyTorch's libtorch provides every symbol TorchSharp imports, names what is missing if it does not, and
/// loads it before TorchSharp does.</para>
/// </remarks>
public static class TorchRuntime
{
    /// <summary>
    /// The environment variable naming an existing libtorch folder (PyTorch's <c>site-packages/torch/lib</c>) for
    /// TorchSharp to use instead of a libtorch runtime package; <c>scripts/use-pytorch-libtorch.sh</c> prints it.
    /// </summary>
    public const string LibTorchDirectoryVariable = "PLW_LIBTORCH_DIR";

    private static readonly object Gate = new();
    private static bool _loaded;
    private static bool _externalLoaded;

    /// <summary>Loads the CPU backend (and CUDA when <paramref name="device"/> asks for it). Safe to call many times.</summary>
    /// <exception cref="InvalidOperationException">The native library cannot be loaded; the message names the cause.</exception>
    public static void EnsureLoaded(DeviceType device = DeviceType.CPU)
    {
        lock (Gate)
        {
            if (_loaded && device == DeviceType.CPU) return;
            if (!_externalLoaded)
            {
                LoadExternalLibTorch();
                _externalLoaded = true;
            }
            try
            {
                torch.InitializeDeviceType(device);
                _loaded = true;
            }
            catch (Exception ex) when (ex is NotSupportedException or DllNotFoundException or TypeInitializationException or InvalidOperationException)
            {
                bool backendLoads = _loaded || TryLoadCpu();
                throw new InvalidOperationException(device == DeviceType.CUDA && backendLoads ? DescribeCudaFailure() : DescribeLoadFailure(ex), ex);
            }
        }
    }

    /// <summary>Picks CUDA when it is available, the CPU otherwise.</summary>
    public static torch.Device DefaultDevice()
    {
        EnsureLoaded();
        return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
    }

    private static bool TryLoadCpu()
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            _loaded = true;
            return true;
        }
        catch (Exception ex) when (ex is NotSupportedException or DllNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// With <see cref="LibTorchDirectoryVariable"/> set: checks that folder against libLibTorchSharp and loads its libtorch
    /// (c10, torch_cpu, the CUDA parts when present, torch) by full path, so that TorchSharp binds to it.
    /// </summary>
    private static void LoadExternalLibTorch()
    {
        string? folder = Environment.GetEnvironmentVariable(LibTorchDirectoryVariable);
        if (string.IsNullOrWhiteSpace(folder)) return;
        string? libTorchSharp = FindLibTorchSharp();
        IReadOnlyList<string> libraries = ExternalLibTorchPlan(folder, libTorchSharp, AppContext.BaseDirectory);
        // By full path, libLibTorchSharp last: a library that does not load fails here, with its name, rather than
        // inside TorchSharp's generic loader; TorchSharp's own load by name then finds them loaded.
        foreach (string library in libraries.Append(libTorchSharp!))
        {
            try
            {
                NativeLibrary.Load(library);
            }
            catch (DllNotFoundException ex)
            {
                throw new InvalidOperationException($"{LibTorchDirectoryVariable}={folder}: the loader could not load {library}: {ex.Message}", ex);
            }
        }
    }

    /// <summary>
    /// The libraries to load, in order, for the libtorch in <paramref name="folder"/>; throws an
    /// <see cref="InvalidOperationException"/> naming the file, symbol or version that would block the load.
    /// </summary>
    internal static IReadOnlyList<string> ExternalLibTorchPlan(string folder, string? libTorchSharp, string applicationFolder)
    {
        string setting = $"{LibTorchDirectoryVariable}={folder}";
        const string remedy = "Point it at the torch/lib folder of a PyTorch install (eval \"$(scripts/use-pytorch-libtorch.sh)\" sets it).";
        if (!OperatingSystem.IsLinux())
            throw new InvalidOperationException($"{setting}: an external libtorch is supported on Linux only; reference a TorchSharp runtime package instead.");
        if (!Directory.Exists(folder))
            throw new InvalidOperationException($"{setting} is not a folder. {remedy}");
        string[] core = ["libc10.so", "libtorch_cpu.so", "libtorch.so"];
        foreach (string name in core)
            if (!File.Exists(Path.Combine(folder, name)))
                throw new InvalidOperationException($"{setting} has no {name}. {remedy}");
        if (libTorchSharp is null)
            throw new InvalidOperationException($"{setting}, but TorchSharp's libLibTorchSharp.so is not beside the application: reference the TorchSharp package.");
        foreach (string dir in new[] { applicationFolder, Path.GetDirectoryName(libTorchSharp)! }.Distinct())
        {
            string bundled = Path.Combine(dir, "libtorch_cpu.so");
            if (File.Exists(bundled) && !SameFile(bundled, Path.Combine(folder, "libtorch_cpu.so")))
                throw new InvalidOperationException($"{setting}, but the application also carries a libtorch of its own ({bundled}, from TorchSharp-cpu), " +
                    "and two libtorch copies cannot share a process. Build or publish it with -p:PromptLossWeightExternalLibTorch=true, " +
                    "which leaves the TorchSharp-cpu natives out.");
        }
        var folders = new List<string> { folder };
        folders.AddRange((Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries));
        LibTorchReport report = LibTorchCompatibility.Check(libTorchSharp, folders);
        if (!report.Ok)
            throw new InvalidOperationException($"{setting}: TorchSharp cannot load this libtorch. " + string.Join(" ", report.Problems));
        var order = new List<string> { Path.Combine(folder, "libc10.so"), Path.Combine(folder, "libtorch_cpu.so") };
        foreach (string cudaPart in new[] { "libc10_cuda.so", "libtorch_cuda.so" })
            if (File.Exists(Path.Combine(folder, cudaPart))) order.Add(Path.Combine(folder, cudaPart));
        order.Add(Path.Combine(folder, "libtorch.so"));
        return order;
    }

    private static bool SameFile(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal) ||
        (File.ResolveLinkTarget(a, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(a)) ==
        (File.ResolveLinkTarget(b, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(b));

    /// <summary>Why CUDA did not initialise although TorchSharp's CPU backend loads, and what to install or set.</summary>
    private static string DescribeCudaFailure()
    {
        string? cudaLibrary = LoadedLibrary("libtorch_cuda");
        if (cudaLibrary is null)
            return "CUDA was asked for, but the loaded libtorch is CPU-only (libtorch_cuda is not loaded). Either reference " +
                   "TorchSharp-cuda-linux (or TorchSharp-cuda-windows) in the application instead of TorchSharp-cpu, or, where PyTorch " +
                   $"with CUDA is installed, set {LibTorchDirectoryVariable} to its torch/lib folder (eval \"$(scripts/use-pytorch-libtorch.sh)\") " +
                   "and build the application with -p:PromptLossWeightExternalLibTorch=true. See the README's GPU section.";
        return $"CUDA was asked for and libtorch_cuda is loaded ({cudaLibrary}), but torch.cuda.is_available() is false: no GPU or " +
               "driver is visible to this process (check nvidia-smi and CUDA_VISIBLE_DEVICES), or the NVIDIA driver is older than " +
               "the CUDA version this libtorch was built for.";
    }

    /// <summary>The path of a loaded shared library whose file name starts with <paramref name="prefix"/> (Linux), or null.</summary>
    private static string? LoadedLibrary(string prefix)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/maps")) return null;
        return File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/') is int at && at >= 0 ? line[at..] : null)
            .FirstOrDefault(path => path is not null && Path.GetFileName(path).StartsWith(prefix, StringComparison.Ordinal));
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

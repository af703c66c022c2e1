using System.Reflection;
using System.Runtime.InteropServices;

namespace PromptLossWeight.Distributed;

/// <summary>
/// Finds the native engines this assembly calls (<c>[DllImport]</c> names <see cref="Mpi"/> and <see cref="Nccl"/>): an
/// explicit path from the environment first (<c>PLW_MPI_PATH</c>, <c>PLW_NCCL_PATH</c>), then the usual sonames, then (for
/// NCCL) the copies that ship beside a PyTorch or TorchSharp CUDA install. A missing library is a one-line
/// <see cref="DistributedException"/> that says what to install.
/// </summary>
internal static class NativeLibraries
{
    public const string Mpi = "plw-mpi";
    public const string Nccl = "plw-nccl";
    private const int RtldNow = 2, RtldGlobal = 0x100;

    private static readonly Lazy<IntPtr> MpiHandle = new(LoadMpi);
    private static readonly Lazy<IntPtr> NcclHandle = new(LoadNccl);

    static NativeLibraries() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);

    /// <summary>Installs the resolver (idempotent; the static constructor does the work).</summary>
    public static void EnsureResolver() { }

    public static IntPtr MpiLibrary => MpiHandle.Value;

    public static IntPtr NcclLibrary => NcclHandle.Value;

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name switch
    {
        Mpi => MpiHandle.Value,
        Nccl => NcclHandle.Value,
        _ => IntPtr.Zero,
    };

    [DllImport("libc.so.6", EntryPoint = "dlopen")]
    private static extern IntPtr DlOpen(string file, int mode);

    private static IntPtr LoadMpi()
    {
        string[] candidates = Environment.GetEnvironmentVariable("PLW_MPI_PATH") is { Length: > 0 } explicitPath
            ? [explicitPath]
            : ["libmpi.so.40", "libmpi.so"];
        foreach (string candidate in candidates)
        {
            // Open MPI loads its components with dlopen and they expect libmpi's symbols to be global.
            if (OperatingSystem.IsLinux()) DlOpen(candidate, RtldNow | RtldGlobal);
            if (NativeLibrary.TryLoad(candidate, out IntPtr handle)) return handle;
        }
        throw new DistributedException(
            $"Open MPI's library was not found (tried {string.Join(", ", candidates)}): install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin) " +
            "or set PLW_MPI_PATH to its libmpi.so.");
    }

    private static IntPtr LoadNccl()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("PLW_NCCL_PATH") is { Length: > 0 } explicitPath) candidates.Add(explicitPath);
        else
        {
            candidates.Add("libnccl.so.2");
            // Beside the libtorch in use: PyTorch's wheel keeps NCCL in site-packages/nvidia/nccl/lib next to torch/lib.
            foreach (string dir in (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                candidates.Add(Path.Combine(dir, "libnccl.so.2"));
                candidates.Add(Path.GetFullPath(Path.Combine(dir, "..", "..", "nvidia", "nccl", "lib", "libnccl.so.2")));
            }
            candidates.Add(Path.Combine(AppContext.BaseDirectory, "libnccl.so.2"));
            candidates.Add(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libnccl.so.2"));
        }
        foreach (string candidate in candidates.Distinct())
            if (NativeLibrary.TryLoad(candidate, out IntPtr handle)) return handle;
        throw new DistributedException(
            "NCCL's libnccl.so.2 was not found: install it with the CUDA runtime you train on (PyTorch's wheel has it in " +
            "site-packages/nvidia/nccl/lib; NVIDIA's libnccl2 package), or set PLW_NCCL_PATH to the file.");
    }

    /// <summary>The address of an exported global of Open MPI (its predefined handles are the addresses of such globals).</summary>
    public static IntPtr MpiGlobal(string symbol) =>
        NativeLibrary.TryGetExport(MpiLibrary, symbol, out IntPtr address)
            ? address
            : throw new DistributedException($"The MPI library has no '{symbol}': PromptLossWeight's MPI backend needs Open MPI 4 or 5 (libmpi.so.40).");
}

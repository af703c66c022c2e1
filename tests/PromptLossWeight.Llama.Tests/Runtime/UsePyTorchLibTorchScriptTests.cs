using System.Diagnostics;

namespace PromptLossWeight.Llama.Tests.Runtime;

/// <summary>
/// scripts/use-pytorch-libtorch.sh against a fake PyTorch install (a site-packages folder with torch/lib and nvidia/*/lib,
/// and a "python" that reports it), as on a machine with PyTorch.
/// </summary>
public sealed class UsePyTorchLibTorchScriptTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "plw-pytorch-" + Guid.NewGuid().ToString("N"));

    public UsePyTorchLibTorchScriptTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "scripts", "use-pytorch-libtorch.sh");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("scripts/use-pytorch-libtorch.sh not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A site-packages folder with torch/lib (the given files) and two NVIDIA library folders, and a fake python.</summary>
    private string FakePython(params string[] libraries)
    {
        string torch = Path.Combine(_dir, "site-packages", "torch");
        Directory.CreateDirectory(Path.Combine(torch, "lib"));
        foreach (string library in libraries) File.WriteAllText(Path.Combine(torch, "lib", library), "");
        foreach (string nvidia in new[] { "cublas", "cudnn" }) Directory.CreateDirectory(Path.Combine(_dir, "site-packages", "nvidia", nvidia, "lib"));
        string python = Path.Combine(_dir, "python");
        File.WriteAllText(python, $"#!/bin/sh\ncase \"$2\" in *__file__*) echo '{torch}' ;; *__version__*) echo '2.11.0+cu130' ;; esac\n");
        MakeExecutable(python);
        return python;
    }

    private static void MakeExecutable(string path)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static (int Code, string Output, string Error) Run(string python)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Script());
        start.ArgumentList.Add(python);
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd(), error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error);
    }

    [SkippableFact]
    public void It_prints_the_exports_of_PLW_LIBTORCH_DIR_and_LD_LIBRARY_PATH_with_torch_lib_and_the_nvidia_folders()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "a Linux shell script");
        string python = FakePython("libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_cuda.so");
        string site = Path.Combine(_dir, "site-packages");

        var (code, output, _) = Run(python);

        code.Should().Be(0);
        output.Should().Contain($"# PyTorch 2.11.0+cu130 at {site}/torch (CUDA libtorch: yes)");
        output.Should().Contain($"export PLW_LIBTORCH_DIR='{site}/torch/lib'");
        output.Should().Contain($"export LD_LIBRARY_PATH='{site}/torch/lib:{site}/nvidia/cublas/lib:{site}/nvidia/cudnn/lib'${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}");
    }

    [SkippableFact]
    public void A_torch_without_a_shared_libtorch_is_a_one_line_error_naming_the_missing_library()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "a Linux shell script");
        string python = FakePython("libc10.so");

        var (code, output, error) = Run(python);

        code.Should().Be(1);
        output.Should().BeEmpty();
        error.Trim().Should().Match("use-pytorch-libtorch: */torch/lib has no libtorch_cpu.so; this PyTorch install has no shared libtorch");
    }

    [SkippableFact]
    public void A_python_without_torch_is_a_one_line_error_saying_what_to_install()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "a Linux shell script");
        string python = Path.Combine(_dir, "python");
        File.WriteAllText(python, "#!/bin/sh\nexit 1\n");
        MakeExecutable(python);

        var (code, _, error) = Run(python);

        code.Should().Be(1);
        error.Trim().Should().Be($"use-pytorch-libtorch: '{python}' cannot import torch; install PyTorch (pip install torch) or pass the python that has it");
    }
}

using PromptLossWeight.Llama.Runtime;

namespace PromptLossWeight.Llama.Tests.Runtime;

/// <summary>
/// The check behind <c>PLW_LIBTORCH_DIR</c>, run against the CPU libtorch that TorchSharp-cpu put beside this test
/// assembly: the real libLibTorchSharp.so and the real libtorch, and folders made from them with one piece wrong.
/// </summary>
public sealed class LibTorchCompatibilityTests : IDisposable
{
    private static readonly string Natives = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
    private static readonly string LibTorchSharp = Path.Combine(Natives, "libLibTorchSharp.so");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "plw-libtorch-" + Guid.NewGuid().ToString("N"));

    public LibTorchCompatibilityTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// A copy of libLibTorchSharp.so in a folder of its own, as in an application built without the libtorch natives
    /// (its RUNPATH, $ORIGIN, then finds no libtorch beside it).
    /// </summary>
    private string LibTorchSharpAlone()
    {
        string app = Directory.CreateDirectory(Path.Combine(_dir, "app")).FullName;
        string copy = Path.Combine(app, "libLibTorchSharp.so");
        File.Copy(LibTorchSharp, copy);
        return copy;
    }

    /// <summary>A folder of links to the bundled natives, with <paramref name="replace"/> pointing elsewhere (or absent when null).</summary>
    private string LibTorchFolder(string? name = null, string? replace = null)
    {
        foreach (string file in Directory.EnumerateFiles(Natives, "*.so*").Where(f => Path.GetFileName(f) != "libLibTorchSharp.so"))
        {
            string fileName = Path.GetFileName(file);
            if (fileName == name)
            {
                if (replace is not null) File.CreateSymbolicLink(Path.Combine(_dir, fileName), replace);
                continue;
            }
            File.CreateSymbolicLink(Path.Combine(_dir, fileName), file);
        }
        return _dir;
    }

    [SkippableFact]
    public void The_elf_reader_lists_the_soname_needed_libraries_imports_exports_and_versions_of_libtorch()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(LibTorchSharp), "needs Linux and the linux-x64 natives of TorchSharp-cpu");

        ElfLibrary c10 = ElfLibrary.Read(Path.Combine(Natives, "libc10.so"));
        ElfLibrary sharp = ElfLibrary.Read(LibTorchSharp);

        c10.SoName.Should().Be("libc10.so");
        c10.Exports.Should().Contain(e => e.StartsWith("_ZN3c10", StringComparison.Ordinal));
        sharp.Needed.Should().Contain(["libtorch.so", "libc10.so"]);
        sharp.Imports.Should().Contain(i => i.Version == null && i.Name.StartsWith("_ZN3c10", StringComparison.Ordinal));
        sharp.Imports.Should().Contain(i => i.VersionLibrary == "libc.so.6" && i.Version!.StartsWith("GLIBC_", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void TorchSharps_library_checked_against_the_libtorch_it_ships_with_finds_every_symbol()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(LibTorchSharp), "needs Linux and the linux-x64 natives of TorchSharp-cpu");

        LibTorchReport report = LibTorchCompatibility.Check(LibTorchSharp, [Natives]);

        report.Problems.Should().BeEmpty();
        report.CheckedSymbols.Should().BeGreaterThan(1000, "libLibTorchSharp imports over a thousand libtorch symbols");
        report.Libraries.Select(Path.GetFileName).Should().Contain(["libtorch.so", "libc10.so", "libtorch_cpu.so"]);
    }

    [SkippableFact]
    public void A_libtorch_folder_without_libc10_is_reported_by_the_missing_file_and_who_needs_it()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(LibTorchSharp), "needs Linux and the linux-x64 natives of TorchSharp-cpu");
        string folder = LibTorchFolder("libc10.so");

        LibTorchReport report = LibTorchCompatibility.Check(LibTorchSharpAlone(), [folder]);

        report.Ok.Should().BeFalse();
        report.Problems.Should().Contain(p => p.StartsWith("libc10.so, needed by libLibTorchSharp.so, is in none of " + folder, StringComparison.Ordinal));
    }

    [SkippableFact]
    public void A_libtorch_whose_torch_cpu_lacks_the_symbols_is_reported_with_the_count_and_examples_of_the_missing_ones()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(LibTorchSharp), "needs Linux and the linux-x64 natives of TorchSharp-cpu");
        // libtorch_cpu.so replaced by another library (libshm), as a libtorch of another version would lack symbols.
        string folder = LibTorchFolder("libtorch_cpu.so", replace: Path.Combine(Natives, "libshm.so"));

        LibTorchReport report = LibTorchCompatibility.Check(LibTorchSharpAlone(), [folder]);

        report.Problems.Should().ContainSingle(p => p.Contains("libtorch symbols that libLibTorchSharp.so imports are exported by none of"))
            .Which.Should().MatchRegex(@"^\d+ of the \d+ libtorch symbols").And.Contain("for example _Z").And.Contain("TorchSharp 0.107");
    }

    [SkippableFact]
    public void A_required_symbol_version_that_the_library_found_first_does_not_define_is_reported()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(LibTorchSharp), "needs Linux and the linux-x64 natives of TorchSharp-cpu");
        // A "libc.so.6" found before the system's (LD_LIBRARY_PATH order) that is really libc10.so: it defines no GLIBC_* version.
        File.CreateSymbolicLink(Path.Combine(_dir, "libc.so.6"), Path.Combine(Natives, "libc10.so"));

        LibTorchReport report = LibTorchCompatibility.Check(LibTorchSharp, [_dir, Natives]);

        report.Problems.Should().Contain(p => p.StartsWith("libLibTorchSharp.so needs symbol version GLIBC_", StringComparison.Ordinal)
                                              && p.Contains(" of libc.so.6 (for ") && p.Contains(Path.Combine(_dir, "libc.so.6") + " does not define"));
    }

    [SkippableFact]
    public void On_a_system_whose_libstdcxx_lacks_GLIBCXX_3_4_32_the_unpatched_package_library_is_reported_with_the_newest_version_there()
    {
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string original = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        string systemLibStdCxx = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(original) && File.Exists(systemLibStdCxx), "needs Linux x64 and TorchSharp 0.107 in the NuGet cache");
        Skip.If(ElfLibrary.Read(systemLibStdCxx).DefinedVersions.Contains("GLIBCXX_3.4.32"), "the system libstdc++ has GLIBCXX_3.4.32");

        LibTorchReport report = LibTorchCompatibility.Check(original, [Natives]);

        report.Problems.Should().ContainSingle().Which.Should()
            .Match("libLibTorchSharp.so needs symbol version GLIBCXX_3.4.32 of libstdc++.so.6 (for *), which */libstdc++.so.6 does not define (its newest is GLIBCXX_3.4.*).");
    }

    [Fact]
    public void PLW_LIBTORCH_DIR_pointing_at_no_folder_or_a_folder_without_libtorch_is_a_one_line_error_saying_what_to_set()
    {
        var missing = () => TorchRuntime.ExternalLibTorchPlan(Path.Combine(_dir, "nope"), LibTorchSharp, AppContext.BaseDirectory);
        var empty = () => TorchRuntime.ExternalLibTorchPlan(_dir, LibTorchSharp, AppContext.BaseDirectory);

        if (!OperatingSystem.IsLinux()) return;
        missing.Should().Throw<InvalidOperationException>().WithMessage("PLW_LIBTORCH_DIR=*nope is not a folder. Point it at the torch/lib folder*");
        empty.Should().Throw<InvalidOperationException>().WithMessage("PLW_LIBTORCH_DIR=* has no libc10.so. Point it at the torch/lib folder*");
    }

    [SkippableFact]
    public void PLW_LIBTORCH_DIR_beside_a_bundled_libtorch_says_to_build_without_the_TorchSharp_cpu_natives()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(LibTorchSharp), "needs Linux and the linux-x64 natives of TorchSharp-cpu");
        string folder = LibTorchFolder();
        File.Delete(Path.Combine(folder, "libtorch_cpu.so"));
        File.Copy(Path.Combine(Natives, "libtorch_cpu.so"), Path.Combine(folder, "libtorch_cpu.so")); // another copy of libtorch

        var plan = () => TorchRuntime.ExternalLibTorchPlan(folder, LibTorchSharp, AppContext.BaseDirectory);

        plan.Should().Throw<InvalidOperationException>().WithMessage("*also carries a libtorch of its own*-p:PromptLossWeightExternalLibTorch=true*");
    }

    [SkippableFact]
    public void PLW_LIBTORCH_DIR_at_a_matching_libtorch_loads_c10_torch_cpu_and_torch_in_that_order()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists(LibTorchSharp), "needs Linux and the linux-x64 natives of TorchSharp-cpu");
        string folder = LibTorchFolder();

        // The application folder holds no libtorch of its own here (a folder without one stands for it).
        IReadOnlyList<string> order = TorchRuntime.ExternalLibTorchPlan(folder, LibTorchSharp, _dir + "-app");

        order.Select(Path.GetFileName).Should().Equal("libc10.so", "libtorch_cpu.so", "libtorch.so");
    }
}

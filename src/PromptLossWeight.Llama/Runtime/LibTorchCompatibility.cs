namespace PromptLossWeight.Llama.Runtime;

/// <summary>The outcome of <see cref="LibTorchCompatibility.Check"/>.</summary>
/// <param name="Problems">What would stop the loader, one sentence each; empty when the load can succeed.</param>
/// <param name="CheckedSymbols">How many unversioned (libtorch) symbols of libLibTorchSharp were looked up.</param>
/// <param name="Libraries">The libraries found, in load order (path of each).</param>
internal sealed record LibTorchReport(IReadOnlyList<string> Problems, int CheckedSymbols, IReadOnlyList<string> Libraries)
{
    /// <summary>True when nothing blocks the load.</summary>
    public bool Ok => Problems.Count == 0;
}

/// <summary>
/// Checks, without loading anything, whether TorchSharp's <c>libLibTorchSharp.so</c> can be loaded against the libtorch
/// in given folders (for example PyTorch's <c>torch/lib</c>): every library it needs (and they need) is found, every
/// libtorch symbol it imports is exported by one of them, and every symbol version it requires (e.g. <c>GLIBCXX_3.4.32</c>)
/// is defined. The search follows the loader's order: the needing library's RPATH, the given folders (LD_LIBRARY_PATH),
/// its RUNPATH, then the system library folders.
/// </summary>
internal static class LibTorchCompatibility
{
    private static readonly string[] SystemFolders =
    [
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
        "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    ];

    /// <summary>
    /// Checks <paramref name="libTorchSharp"/> against the libraries in <paramref name="folders"/>. Touches no TorchSharp
    /// type that would load the native backend (this runs before it loads).
    /// </summary>
    public static LibTorchReport Check(string libTorchSharp, IReadOnlyList<string> folders)
    {
        var problems = new List<string>();
        ElfLibrary root = ElfLibrary.Read(libTorchSharp);
        string rootName = Path.GetFileName(libTorchSharp);

        // Breadth-first over DT_NEEDED, as the loader builds its search scope; a name is loaded once.
        var loaded = new Dictionary<string, ElfLibrary>(StringComparer.Ordinal);
        var order = new List<ElfLibrary>();
        var queue = new Queue<ElfLibrary>([root]);
        while (queue.Count > 0)
        {
            ElfLibrary library = queue.Dequeue();
            foreach (string needed in library.Needed)
            {
                if (loaded.ContainsKey(needed)) continue;
                string? path = Find(needed, library, folders);
                if (path is null)
                {
                    problems.Add($"{needed}, needed by {Path.GetFileName(library.Path)}, is in none of {Describe(folders)} nor the system library folders.");
                    loaded[needed] = null!;
                    continue;
                }
                ElfLibrary found;
                try
                {
                    found = ElfLibrary.Read(path);
                }
                catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    problems.Add($"{path} (needed by {Path.GetFileName(library.Path)}) cannot be read as a shared library: {ex.Message}");
                    loaded[needed] = null!;
                    continue;
                }
                loaded[needed] = found;
                order.Add(found);
                queue.Enqueue(found);
            }
        }

        // Symbol versions (libc, libstdc++, libgcc): the named library must define each non-weak version.
        foreach (var group in root.Imports.Where(i => i.Version is not null && !i.WeakVersion).GroupBy(i => (i.VersionLibrary!, i.Version!)))
        {
            var (file, version) = group.Key;
            if (!loaded.TryGetValue(file, out ElfLibrary? provider) || provider is null) continue; // reported as missing above
            if (provider.DefinedVersions.Contains(version)) continue;
            string newest = NewestOfFamily(provider.DefinedVersions, version);
            problems.Add($"{rootName} needs symbol version {version} of {file} (for {group.First().Name}), which {provider.Path} does not define" +
                         (newest.Length > 0 ? $" (its newest is {newest})" : string.Empty) + ".");
        }

        // Unversioned imports: libtorch's own symbols. Each must be exported by a library in the scope.
        var unversioned = root.Imports.Where(i => i.Version is null && !i.WeakSymbol).Select(i => i.Name).Distinct(StringComparer.Ordinal).ToList();
        var missing = unversioned.Where(name => !order.Any(l => l.Exports.Contains(name))).ToList();
        if (missing.Count > 0)
            problems.Add($"{missing.Count} of the {unversioned.Count} libtorch symbols that {rootName} imports are exported by none of " +
                         $"{string.Join(", ", order.Select(l => Path.GetFileName(l.Path)))}; for example {string.Join(", ", missing.Take(3))} " +
                         "(c++filt decodes them). This libtorch does not match the one TorchSharp " +
                         $"{typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(3)} was built against (TorchSharp 0.107: libtorch 2.10): " +
                         "use a PyTorch whose libtorch exports these symbols, or TorchSharp's own runtime package.");
        return new LibTorchReport(problems, unversioned.Count, order.Select(l => l.Path).ToList());
    }

    private static string? Find(string name, ElfLibrary needer, IReadOnlyList<string> folders)
    {
        if (name.Contains('/')) return File.Exists(name) ? name : null;
        IEnumerable<string> search = (needer.RunPath.Count == 0 ? needer.RPath : [])
            .Concat(folders).Concat(needer.RunPath).Concat(SystemFolders);
        return search.Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);
    }

    /// <summary>The highest defined version with the same prefix (GLIBCXX_3.4.30 for GLIBCXX_3.4.32), or "".</summary>
    private static string NewestOfFamily(IEnumerable<string> defined, string wanted)
    {
        int cut = wanted.IndexOf('_');
        string family = cut > 0 ? wanted[..(cut + 1)] : wanted;
        return defined.Where(v => v.StartsWith(family, StringComparison.Ordinal))
            .OrderBy(v => v[family.Length..].Split('.').Select(p => int.TryParse(p, out int n) ? n : 0).ToArray(), VersionOrder.Instance)
            .LastOrDefault() ?? string.Empty;
    }

    private static string Describe(IReadOnlyList<string> folders) => folders.Count == 0 ? "(no folders given)" : string.Join(", ", folders);

    private sealed class VersionOrder : IComparer<int[]>
    {
        public static readonly VersionOrder Instance = new();

        public int Compare(int[]? x, int[]? y)
        {
            x ??= [];
            y ??= [];
            for (int i = 0; i < Math.Max(x.Length, y.Length); i++)
            {
                int c = (i < x.Length ? x[i] : 0).CompareTo(i < y.Length ? y[i] : 0);
                if (c != 0) return c;
            }
            return 0;
        }
    }
}

using System.Text;
using Microsoft.Win32.SafeHandles;

namespace PromptLossWeight.Llama.Runtime;

/// <summary>A symbol a shared library imports: its name, and the version and library the version comes from, if versioned.</summary>
/// <param name="Name">The (mangled) symbol name.</param>
/// <param name="Version">The required version (e.g. <c>GLIBCXX_3.4.32</c>); null for an unversioned symbol.</param>
/// <param name="VersionLibrary">The library file that must provide <paramref name="Version"/> (e.g. <c>libstdc++.so.6</c>).</param>
/// <param name="WeakSymbol">The symbol is bound weakly: the loader accepts its absence.</param>
/// <param name="WeakVersion">The version requirement is marked weak (VER_FLG_WEAK): the loader accepts its absence.</param>
internal readonly record struct ElfImport(string Name, string? Version, string? VersionLibrary, bool WeakSymbol, bool WeakVersion);

/// <summary>
/// What the dynamic loader sees of a 64-bit little-endian ELF shared library: its SONAME, the libraries it needs, its
/// RPATH/RUNPATH, the symbols it imports and exports (from <c>.dynsym</c>) and the symbol versions it defines. Only the
/// section headers and those sections are read, so multi-gigabyte libraries (libtorch_cuda, cuBLAS) cost milliseconds.
/// </summary>
internal sealed class ElfLibrary
{
    private const uint ShtDynamic = 6, ShtDynsym = 11, ShtVerdef = 0x6ffffffd, ShtVerneed = 0x6ffffffe, ShtVersym = 0x6fffffff;
    private const long DtNeeded = 1, DtSoname = 14, DtRpath = 15, DtRunpath = 29;

    private ElfLibrary(string path) => Path = path;

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>DT_SONAME, if any.</summary>
    public string? SoName { get; private set; }

    /// <summary>DT_NEEDED entries, in order.</summary>
    public List<string> Needed { get; } = [];

    /// <summary>DT_RPATH entries (used only when there is no RUNPATH), <c>$ORIGIN</c> expanded.</summary>
    public List<string> RPath { get; } = [];

    /// <summary>DT_RUNPATH entries, <c>$ORIGIN</c> expanded.</summary>
    public List<string> RunPath { get; } = [];

    /// <summary>Undefined global or weak symbols.</summary>
    public List<ElfImport> Imports { get; } = [];

    /// <summary>Defined global or weak symbols (names without versions).</summary>
    public HashSet<string> Exports { get; } = new(StringComparer.Ordinal);

    /// <summary>The symbol versions this library defines (verdef), e.g. <c>GLIBCXX_3.4.30</c>.</summary>
    public HashSet<string> DefinedVersions { get; } = new(StringComparer.Ordinal);

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a 64-bit little-endian ELF file, or is truncated.</exception>
    public static ElfLibrary Read(string path)
    {
        using SafeFileHandle file = File.OpenHandle(path);
        var library = new ElfLibrary(path);
        library.Parse(file);
        return library;
    }

    private void Parse(SafeFileHandle file)
    {
        byte[] header = ReadAt(file, 0, 64);
        if (header[0] != 0x7f || header[1] != 'E' || header[2] != 'L' || header[3] != 'F')
            throw new InvalidDataException($"{Path} is not an ELF file.");
        if (header[4] != 2 || header[5] != 1)
            throw new InvalidDataException($"{Path} is not a 64-bit little-endian ELF file (class {header[4]}, data {header[5]}).");
        long shoff = (long)BitConverter.ToUInt64(header, 0x28);
        int shentsize = BitConverter.ToUInt16(header, 0x3A), shnum = BitConverter.ToUInt16(header, 0x3C);
        byte[] table = ReadAt(file, shoff, shentsize * shnum);
        var sections = Enumerable.Range(0, shnum).Select(i => new Section(table, i * shentsize)).ToArray();
        byte[] Load(Section s) => ReadAt(file, s.Offset, checked((int)s.Size));

        string origin = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path)) ?? ".";
        foreach (Section dynamic in sections.Where(s => s.Type == ShtDynamic))
        {
            byte[] entries = Load(dynamic), strings = Load(sections[dynamic.Link]);
            for (int at = 0; at + 16 <= entries.Length; at += 16)
            {
                long tag = BitConverter.ToInt64(entries, at);
                if (tag == 0) break;
                string Value() => CString(strings, (long)BitConverter.ToUInt64(entries, at + 8));
                switch (tag)
                {
                    case DtNeeded: Needed.Add(Value()); break;
                    case DtSoname: SoName = Value(); break;
                    case DtRpath: RPath.AddRange(SearchPath(Value(), origin)); break;
                    case DtRunpath: RunPath.AddRange(SearchPath(Value(), origin)); break;
                }
            }
        }

        Section? dynsym = sections.FirstOrDefault(s => s.Type == ShtDynsym);
        if (dynsym is null) return;
        byte[] symbols = Load(dynsym), names = Load(sections[dynsym.Link]);
        int count = (int)(dynsym.Size / 24);

        // Version index → (name, library, weak) for requirements; index → name for definitions.
        var required = new Dictionary<int, (string Name, string Library, bool Weak)>();
        foreach (Section need in sections.Where(s => s.Type == ShtVerneed))
        {
            byte[] data = Load(need), text = Load(sections[need.Link]);
            int at = 0;
            for (int n = 0; n < need.Info; n++)
            {
                int auxCount = BitConverter.ToUInt16(data, at + 2);
                string library = CString(text, BitConverter.ToUInt32(data, at + 4));
                int aux = at + (int)BitConverter.ToUInt32(data, at + 8);
                for (int k = 0; k < auxCount; k++)
                {
                    bool weak = (BitConverter.ToUInt16(data, aux + 4) & 0x2) != 0;
                    int index = BitConverter.ToUInt16(data, aux + 6) & 0x7fff;
                    required[index] = (CString(text, BitConverter.ToUInt32(data, aux + 8)), library, weak);
                    aux += (int)BitConverter.ToUInt32(data, aux + 12);
                }
                at += (int)BitConverter.ToUInt32(data, at + 12);
            }
        }
        foreach (Section def in sections.Where(s => s.Type == ShtVerdef))
        {
            byte[] data = Load(def), text = Load(sections[def.Link]);
            int at = 0;
            for (int n = 0; n < def.Info; n++)
            {
                int aux = at + (int)BitConverter.ToUInt32(data, at + 12);
                DefinedVersions.Add(CString(text, BitConverter.ToUInt32(data, aux)));
                at += (int)BitConverter.ToUInt32(data, at + 16);
            }
        }
        Section? versym = sections.FirstOrDefault(s => s.Type == ShtVersym);
        byte[]? versions = versym is null ? null : Load(versym);

        for (int i = 1; i < count; i++)
        {
            int at = i * 24;
            int bind = symbols[at + 4] >> 4;
            if (bind != 1 && bind != 2 && bind != 10) continue;             // global, weak, GNU unique
            string name = CString(names, BitConverter.ToUInt32(symbols, at));
            if (name.Length == 0) continue;
            bool defined = BitConverter.ToUInt16(symbols, at + 6) != 0;      // st_shndx != SHN_UNDEF
            if (defined)
            {
                Exports.Add(name);
                continue;
            }
            int versionIndex = versions is null ? 0 : BitConverter.ToUInt16(versions, i * 2) & 0x7fff;
            if (required.TryGetValue(versionIndex, out var version))
                Imports.Add(new ElfImport(name, version.Name, version.Library, bind == 2, version.Weak));
            else
                Imports.Add(new ElfImport(name, null, null, bind == 2, false));
        }
    }

    private static IEnumerable<string> SearchPath(string value, string origin) =>
        value.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Replace("${ORIGIN}", origin, StringComparison.Ordinal).Replace("$ORIGIN", origin, StringComparison.Ordinal));

    private static string CString(byte[] table, long offset)
    {
        if (offset < 0 || offset >= table.Length) return string.Empty;
        int end = Array.IndexOf(table, (byte)0, (int)offset);
        return Encoding.UTF8.GetString(table, (int)offset, (end < 0 ? table.Length : end) - (int)offset);
    }

    private byte[] ReadAt(SafeFileHandle file, long offset, int length)
    {
        var buffer = new byte[length];
        int done = 0;
        while (done < length)
        {
            int read = RandomAccess.Read(file, buffer.AsSpan(done), offset + done);
            if (read == 0) throw new InvalidDataException($"{Path} is truncated (wanted {length} bytes at offset {offset}).");
            done += read;
        }
        return buffer;
    }

    /// <summary>One section header.</summary>
    private sealed class Section(byte[] table, int at)
    {
        public uint Type { get; } = BitConverter.ToUInt32(table, at + 4);
        public long Offset { get; } = (long)BitConverter.ToUInt64(table, at + 24);
        public long Size { get; } = (long)BitConverter.ToUInt64(table, at + 32);
        public int Link { get; } = (int)BitConverter.ToUInt32(table, at + 40);
        public uint Info { get; } = BitConverter.ToUInt32(table, at + 44);
    }
}

namespace PromptLossWeight.Bench;

/// <summary>
/// Peak resident memory of this process from Linux's /proc: VmHWM is the high-water mark of the resident set, and
/// writing 5 to /proc/self/clear_refs resets it to the current resident size.
/// </summary>
internal static class PeakMemory
{
    public static bool Supported => OperatingSystem.IsLinux() && File.Exists("/proc/self/clear_refs");

    public static long ResidentBytes() => ReadStatus("VmRSS:");

    public static long PeakBytes() => ReadStatus("VmHWM:");

    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    private static long ReadStatus(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {field} line.");
    }
}

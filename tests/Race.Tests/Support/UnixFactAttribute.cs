namespace Race.Tests.Support;

/// <summary>A fact about Unix file modes: skipped, with that reason, on Windows where they do not exist.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class UnixFactAttribute : FactAttribute
{
    public UnixFactAttribute()
    {
        if (OperatingSystem.IsWindows()) Skip = "Unix file modes (chmod) do not exist on Windows.";
    }
}

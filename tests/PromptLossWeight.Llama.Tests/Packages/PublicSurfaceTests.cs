using System.Reflection;
using System.Text.RegularExpressions;
using FluentAssertions;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Training;
using Xunit;

namespace PromptLossWeight.Llama.Tests.Packages;

/// <summary>The public surface is deliberate: the README's "Public types" list and the two assemblies agree.</summary>
public sealed class PublicSurfaceTests
{
    private static readonly Assembly[] Packages = [typeof(Trainer).Assembly, typeof(LlamaForCausalLM).Assembly];

    [Fact]
    public void Every_public_type_of_both_packages_is_listed_in_the_readme_and_every_listed_type_is_public()
    {
        HashSet<string> listed = ListedTypes();
        string[] exported = Packages.SelectMany(a => a.GetExportedTypes()).Select(DisplayName).ToArray();

        exported.Where(name => !listed.Contains(name)).Should().BeEmpty("a public type is either listed in the README or internal");
        listed.Except(exported).Should().BeEmpty("every type the README lists is public in one of the packages");
    }

    /// <summary>The names of the README's "### Public types" section, one `Name`: per line.</summary>
    private static HashSet<string> ListedTypes()
    {
        string readme = File.ReadAllText(Path.Combine(ReferenceTools.RepositoryRoot, "README.md"));
        int start = readme.IndexOf("\n### Public types", StringComparison.Ordinal);
        start.Should().BeGreaterThan(0, "the README has a Public types section");
        int end = readme.IndexOf("\n## ", start, StringComparison.Ordinal);
        string section = end < 0 ? readme[start..] : readme[start..end];
        return Regex.Matches(section, @"^\s+- `([\w.]+)`:", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();
    }

    /// <summary>A type's name as the README writes it: nested types as Outer.Inner, generic arity dropped.</summary>
    private static string DisplayName(Type type)
    {
        string name = Regex.Replace(type.Name, "`\\d+$", "");
        return type.DeclaringType is null ? name : DisplayName(type.DeclaringType) + "." + name;
    }
}

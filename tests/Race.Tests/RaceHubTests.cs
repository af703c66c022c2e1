using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Llama.Tests.Support;

namespace Race.Tests;

public sealed class RaceHubTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private HubOptions Options => new()
    {
        CacheDirectory = _dir.File("hub"),
        DatasetsCacheDirectory = _dir.File("datasets"),
        Environment = _ => null,
    };

    private static RaceExample[] Validation { get; } =
    [
        new("middle9.txt", "Bo has a cat.", "What does Bo have?", ["a dog", "a cat", "a cow", "a fox"], "B"),
    ];

    [Fact]
    public void A_dataset_id_reads_the_parquet_files_of_the_cached_dataset_repository()
    {
        string staging = _dir.File("staging");
        Directory.CreateDirectory(Path.Combine(staging, "all"));
        Directory.CreateDirectory(Path.Combine(staging, "high"));
        RaceParquet.Write(Path.Combine(staging, "all", "train-00000-of-00001.parquet"), RaceFixtures.Examples);
        RaceParquet.Write(Path.Combine(staging, "all", "validation-00000-of-00001.parquet"), Validation);
        RaceParquet.Write(Path.Combine(staging, "high", "train-00000-of-00001.parquet"), RaceFixtures.Examples[..2]);
        new FakeHubCache(_dir.File("hub")).AddSnapshotFromFolder("datasets", "ehovy/race", FakeHubCache.Commit("race"), staging);

        RaceDataset.Load("ehovy/race", RaceConfig.All, RaceSplit.Train, hub: Options).Records.Should().BeEquivalentTo(RaceFixtures.Examples, o => o.WithStrictOrdering());
        RaceDataset.Load("ehovy/race", RaceConfig.All, RaceSplit.Validation, hub: Options).Records.Should().BeEquivalentTo(Validation, o => o.WithStrictOrdering());
        RaceDataset.Load("ehovy/race", RaceConfig.High, RaceSplit.Train, hub: Options).Records.Should().BeEquivalentTo(RaceFixtures.Examples[..2], o => o.WithStrictOrdering());
    }

    [Fact]
    public void A_dataset_id_reads_the_arrow_files_the_datasets_library_cached()
    {
        DatasetsArrowCache.Write(_dir.File("datasets"), "ehovy/race", "all",
            new Dictionary<string, RaceExample[]> { ["train"] = RaceFixtures.Examples, ["validation"] = Validation });

        RaceDataset.Load("ehovy/race", RaceConfig.All, RaceSplit.Train, hub: Options).Records.Should().BeEquivalentTo(RaceFixtures.Examples, o => o.WithStrictOrdering());
        RaceDataset.Load("ehovy/race", RaceConfig.All, RaceSplit.Validation, hub: Options).Records.Should().BeEquivalentTo(Validation, o => o.WithStrictOrdering());
        RaceDataset.Load("ehovy/race", RaceConfig.All, RaceSplit.Train, new DataReadOptions { MaxRecords = 2 }, Options)
            .Records.Should().BeEquivalentTo(RaceFixtures.Examples[..2], o => o.WithStrictOrdering());
    }

    [Fact]
    public void An_arrow_ipc_file_with_its_footer_reads_like_a_stream()
    {
        string file = _dir.File("race.arrow");
        DatasetsArrowCache.WriteStream(file, RaceFixtures.Examples, rowsPerBatch: 2, fileFormat: true);
        File.ReadAllBytes(file).Take(6).Should().Equal("ARROW1"u8.ToArray());

        RaceArrow.Read(file).Records.Should().BeEquivalentTo(RaceFixtures.Examples, o => o.WithStrictOrdering());
    }

    [Fact]
    public void An_arrow_row_with_three_options_is_named_by_file_and_row_or_skipped()
    {
        RaceExample bad = RaceFixtures.Examples[1] with { Options = ["tea", "milk", "rice"] };
        string folder = DatasetsArrowCache.Write(_dir.File("datasets"), "ehovy/race", "all",
            new Dictionary<string, RaceExample[]> { ["train"] = [RaceFixtures.Examples[0], RaceFixtures.Examples[2], bad] });
        string file = Path.Combine(folder, "race-train.arrow");

        var load = () => RaceDataset.Load("ehovy/race", hub: Options);
        load.Should().Throw<DataFormatException>().WithMessage($"{file}, row 3: expected 4 options but found 3");

        var skipped = RaceDataset.Load("ehovy/race", options: new DataReadOptions { BadRecords = BadRecordPolicy.Skip }, hub: Options);
        skipped.Records.Should().BeEquivalentTo(new[] { RaceFixtures.Examples[0], RaceFixtures.Examples[2] }, o => o.WithStrictOrdering());
        skipped.Skipped.Should().ContainSingle().Which.Record.Should().Be("row 3");
    }

    [Fact]
    public void A_file_that_is_not_arrow_is_named_in_the_error()
    {
        string folder = DatasetsArrowCache.Folder(_dir.File("datasets"), "ehovy/race", "all");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "race-train.arrow"), "this is not an arrow stream, but text long enough to read a header");

        var load = () => RaceDataset.Load("ehovy/race", hub: Options);

        load.Should().Throw<DataFormatException>().WithMessage($"{Path.Combine(folder, "race-train.arrow")}*not a readable Arrow file*");
    }

    [Fact]
    public void An_uncached_dataset_id_names_both_caches_and_the_commands_that_fill_them()
    {
        var load = () => RaceDataset.Load("ehovy/race", RaceConfig.Middle, RaceSplit.Validation, hub: Options);

        load.Should().Throw<HubException>().WithMessage(
            $"*'ehovy/race' is neither a folder nor a cached dataset with middle/validation*{Path.Combine(_dir.File("hub"), "datasets--ehovy--race")}*" +
            $"{Path.Combine(_dir.File("datasets"), "ehovy___race", "middle")}*" +
            "`huggingface-cli download ehovy/race --repo-type dataset`*load_dataset('ehovy/race', 'middle')*");
    }
}

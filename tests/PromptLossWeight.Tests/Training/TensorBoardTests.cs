using System.Text.RegularExpressions;
using PromptLossWeight.Logging;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class TensorBoardTests
{
    [Fact]
    public void The_test_readers_crc32c_matches_the_standard_check_value()
    {
        TensorBoardEventReader.Crc32C("123456789"u8).Should().Be(0xE3069283);
        TensorBoardEventReader.Crc32C([]).Should().Be(0u);
    }

    [Fact]
    public void Every_event_file_starts_with_the_file_version_record()
    {
        using var dir = new TempDir();
        string path;
        using (var writer = new TensorBoardWriter(dir.File("run")))
            path = writer.FilePath;

        Path.GetDirectoryName(path).Should().Be(dir.File("run"));
        Regex.IsMatch(Path.GetFileName(path), @"^events\.out\.tfevents\.\d+\..+$")
            .Should().BeTrue($"TensorBoard reads files named events.out.tfevents.*, not '{Path.GetFileName(path)}'");

        var events = TensorBoardEventReader.ReadFile(path);
        events.Should().ContainSingle();
        events[0].FileVersion.Should().Be("brain.Event:2");
        events[0].Step.Should().Be(0);
        events[0].Scalars.Should().BeEmpty();
    }

    [Fact]
    public void A_scalar_record_is_byte_for_byte_what_other_tensorboard_writers_produce()
    {
        using var dir = new TempDir();
        string path;
        using (var writer = new TensorBoardWriter(dir.Path))
        {
            writer.AddScalar("v/1", 1.5, step: 1, wallTime: 256.75);
            path = writer.FilePath;
        }

        byte[] bytes = File.ReadAllBytes(path);
        int headerRecord = 16 + 24; // wall_time (9 bytes) + file_version "brain.Event:2" (15 bytes), framed
        byte[] length = [0x19, 0, 0, 0, 0, 0, 0, 0];                // data length 25
        byte[] data =
        [
            0x09, 0, 0, 0, 0, 0, 0, 0x70, 0x40,                  // wall_time (field 1, fixed64) = 256.0 (whole seconds)
            0x10, 0x01,                                         // step (field 2, varint) = 1
            0x2A, 0x0C,                                         // summary (field 5), 12 bytes
            0x0A, 0x0A,                                         //   value (field 1), 10 bytes
            0x0A, 0x03, (byte)'v', (byte)'/', (byte)'1',        //     tag (field 1) = "v/1"
            0x15, 0x00, 0x00, 0xC0, 0x3F,                       //     simple_value (field 2, fixed32) = 1.5f
        ];
        // The CRCs come from the test reader's own bitwise CRC-32C, not from the writer.
        byte[] expected = [.. length, .. Le(TensorBoardEventReader.Masked(TensorBoardEventReader.Crc32C(length))), .. data,
            .. Le(TensorBoardEventReader.Masked(TensorBoardEventReader.Crc32C(data)))];
        bytes.Skip(headerRecord).Should().Equal(expected);
    }

    [Fact]
    public void A_training_run_logs_every_evaluation_with_the_values_of_the_metric_history()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.File("out")) with
        {
            MaxSteps = 6, EvalSteps = 2, WarmupSteps = 3, LearningRateSchedule = LearningRateScheduleKind.Linear,
            PromptLossWeightSchedule = PromptLossWeightSchedule.Linear(1.0, 0.0, 6),
        };
        using var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(16, seed: 3), TrainerTestData.Examples(6, seed: 4));
        var stepLosses = new List<(long Step, double Loss)>();
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => stepLosses.Add((s.Step, s.StepLoss)) });
        using var tensorBoard = new TensorBoardCallback(dir.File("tb"));
        trainer.Callbacks.Add(tensorBoard);
        double before = UnixNow();

        TrainResult result = trainer.Train();

        double after = UnixNow();
        Directory.GetFiles(dir.File("tb")).Should().Equal(tensorBoard.FilePath);
        var events = TensorBoardEventReader.ReadFile(tensorBoard.FilePath!);
        events[0].FileVersion.Should().Be("brain.Event:2");
        events.Skip(1).Select(e => e.WallTime).Should().BeInAscendingOrder().And.OnlyContain(t => t >= Math.Floor(before) && t <= after);
        events.Skip(1).Should().OnlyContain(e => e.FileVersion == null && e.Scalars.Count == 1, "TorchSharp writes one event per scalar");

        var stepEvents = events.Where(e => e.Scalars.Any(s => s.Tag == TensorBoardCallback.StepLossTag)).ToList();
        stepEvents.Select(e => e.Step).Should().Equal(1, 2, 3, 4, 5, 6);
        stepEvents.Select(e => e.Scalar(TensorBoardCallback.StepLossTag)).Should().Equal(stepLosses.Select(s => (float)s.Loss));

        var evalEvents = events.Skip(1).Where(e => e.Scalars[0].Tag != TensorBoardCallback.StepLossTag)
            .GroupBy(e => e.Step).Select(g => new TensorBoardEventRecord(g.First().WallTime, g.Key, null, g.SelectMany(e => e.Scalars).ToList())).ToList();
        result.History.Select(r => r.Step).Should().Equal(2, 4, 6);
        evalEvents.Select(e => e.Step).Should().Equal(result.History.Select(r => r.Step));
        foreach (var (ev, record) in evalEvents.Zip(result.History))
        {
            var expected = new List<(string, float)>
            {
                ("train/loss", (float)record.TrainLoss),
                ("train/learning_rate", (float)record.LearningRate),
                ("train/prompt_loss_weight", (float)record.PromptLossWeight),
            };
            expected.AddRange(record.Metrics.Select(kv => ("eval/" + kv.Key, (float)kv.Value)));
            ev.Scalars.Should().BeEquivalentTo(expected, $"the event at step {record.Step} mirrors its history row");
        }
        evalEvents.Select(e => e.Scalar("eval/" + MetricNames.CompletionLoss)).Should().OnlyContain(v => float.IsFinite(v) && v > 0);
        evalEvents.Select(e => e.Scalar("train/prompt_loss_weight")).Should().BeInDescendingOrder("the PLW schedule decays from 1 to 0");
        events.Should().HaveCount(1 + 6 + evalEvents.Sum(e => e.Scalars.Count), "a header, one event per step loss and one per evaluation scalar");
    }

    [Fact]
    public void Each_evaluation_is_on_disk_before_training_continues()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.File("out")) with { MaxSteps = 4, EvalSteps = 2 };
        using var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(8, seed: 5), TrainerTestData.Examples(4, seed: 6));
        using var tensorBoard = new TensorBoardCallback(dir.File("tb"), stepLossInterval: 0);
        trainer.Callbacks.Add(tensorBoard);
        var seenOnDisk = new List<long[]>();
        // Runs right after the TensorBoard callback, while its file is still open: what a killed run would leave behind.
        trainer.Callbacks.Add(new LambdaCallback
        {
            Evaluate = (_, _, _) => seenOnDisk.Add(TensorBoardEventReader.ReadFile(tensorBoard.FilePath!).Skip(1).Select(e => e.Step).Distinct().ToArray()),
        });

        trainer.Train();

        seenOnDisk.Should().HaveCount(2);
        seenOnDisk[0].Should().Equal(2);
        seenOnDisk[1].Should().Equal(2, 4);
    }

    [Theory]
    [InlineData(0, "length CRC")]   // a length byte
    [InlineData(9, "length CRC")]   // the length's CRC
    [InlineData(20, "data CRC")]    // a byte inside the event
    [InlineData(38, "data CRC")]    // the data's CRC (bytes 37..40 of the 41-byte record)
    public void A_corrupted_byte_fails_the_crc_check(int offsetInSecondRecord, string failure)
    {
        using var dir = new TempDir();
        string path;
        using (var writer = new TensorBoardWriter(dir.Path))
        {
            writer.AddScalar("v/1", 1.5, step: 1, wallTime: 256.5);
            path = writer.FilePath;
        }
        byte[] bytes = File.ReadAllBytes(path);
        TensorBoardEventReader.ReadRecords(bytes).Should().HaveCount(2, "the intact file reads");

        bytes[40 + offsetInSecondRecord] ^= 0x04;

        var read = () => TensorBoardEventReader.ReadRecords(bytes);
        read.Should().Throw<InvalidDataException>().WithMessage($"record 1: {failure} mismatch");
    }

    [Fact]
    public void Two_writers_started_together_write_separate_files()
    {
        using var dir = new TempDir();
        using var first = new TensorBoardWriter(dir.Path);
        using var second = new TensorBoardWriter(dir.Path);
        first.AddScalar("a", 1, step: 1);
        second.AddScalar("b", 2, step: 1);

        second.FilePath.Should().NotBe(first.FilePath);
        TensorBoardEventReader.ReadFile(first.FilePath)[1].Scalars.Should().Equal([("a", 1f)]);
        TensorBoardEventReader.ReadFile(second.FilePath)[1].Scalars.Should().Equal([("b", 2f)]);
    }

    [Fact]
    public void A_resumed_run_with_the_same_callback_adds_a_new_file_that_continues_the_steps()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.File("out")) with { MaxSteps = 4, EvalSteps = 2 };
        var train = TrainerTestData.Examples(8, seed: 5);
        var eval = TrainerTestData.Examples(4, seed: 6);
        using var tensorBoard = new TensorBoardCallback(dir.File("tb"), stepLossInterval: 2);
        using (var first = new Trainer(new TinyCausalModel(), options with { MaxSteps = 2 }, train, eval))
        {
            first.Callbacks.Add(tensorBoard);
            first.Train();
        }
        string firstFile = tensorBoard.FilePath!;
        using (var second = new Trainer(new TinyCausalModel(), options with { ResumeFrom = TrainerOptions.Latest }, train, eval))
        {
            second.Callbacks.Add(tensorBoard);
            second.Train();
        }

        tensorBoard.FilePath.Should().NotBe(firstFile);
        Directory.GetFiles(dir.File("tb")).Should().BeEquivalentTo([firstFile, tensorBoard.FilePath]);
        TensorBoardEventReader.ReadFile(firstFile).Skip(1).Select(e => e.Step).Distinct().Should().Equal(2);
        TensorBoardEventReader.ReadFile(tensorBoard.FilePath!).Skip(1).Select(e => e.Step).Distinct().Should().Equal(4);
    }

    [Fact]
    public void Bad_input_is_rejected_with_a_clear_message()
    {
        using var dir = new TempDir();
        string file = dir.File("not-a-folder");
        File.WriteAllText(file, "x");

        var onFile = () => new TensorBoardWriter(file);
        onFile.Should().Throw<IOException>().WithMessage($"*'{file}'*");

        var writer = new TensorBoardWriter(dir.File("run"));
        var emptyTag = () => writer.AddScalar(" ", 1, step: 3);
        emptyTag.Should().Throw<ArgumentException>().WithMessage("*non-empty tag (step 3)*");
        var hugeStep = () => writer.AddScalar("a", 1, step: 1L << 31);
        hugeStep.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*0 to 2147483647*");
        writer.Dispose();
        var afterDispose = () => writer.AddScalar("a", 1, step: 1);
        afterDispose.Should().Throw<ObjectDisposedException>().WithMessage($"*{writer.FilePath}*");

        var negative = () => new TensorBoardCallback(dir.Path, stepLossInterval: -1);
        negative.Should().Throw<ArgumentOutOfRangeException>();
    }

    private static byte[] Le(uint value) => BitConverter.IsLittleEndian ? BitConverter.GetBytes(value) : [.. BitConverter.GetBytes(value).Reverse()];

    private static double UnixNow() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).TotalSeconds;
}

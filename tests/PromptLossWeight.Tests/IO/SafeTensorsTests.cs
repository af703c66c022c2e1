using PromptLossWeight.IO;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.IO;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("plw-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Tensors_of_every_supported_dtype_round_trip_bit_exactly()
    {
        manual_seed(1);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 4),
            ["bf16"] = randn(2, 5).to(ScalarType.BFloat16),
            ["f16"] = randn(7).to(ScalarType.Float16),
            ["i64"] = arange(6, dtype: ScalarType.Int64).reshape(2, 3),
            ["u8"] = tensor(new byte[] { 1, 2, 255 }),
            ["bool"] = tensor(new[] { true, false }),
            ["empty"] = zeros(0, 3),
        };
        string path = Path.Combine(_dir, "model.safetensors");
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        SafeTensorsHeader header = SafeTensors.ReadHeader(path);
        header.Metadata.Should().ContainKey("format").WhoseValue.Should().Be("pt");
        header.DataStart.Should().Be(header.DataStart / 8 * 8, "the data section is 8-byte aligned");
        var loaded = SafeTensors.Load(path);
        loaded.Keys.Should().BeEquivalentTo(tensors.Keys);
        foreach (var (name, original) in tensors)
        {
            loaded[name].dtype.Should().Be(original.dtype, name);
            loaded[name].shape.Should().Equal(original.shape, name);
            loaded[name].bytes.ToArray().Should().Equal(original.bytes.ToArray(), name);
        }
    }

    [Fact]
    public void Loading_can_convert_floating_point_tensors_to_another_dtype_and_leaves_integers_alone()
    {
        string path = Path.Combine(_dir, "a.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = ones(2, 2), ["ids"] = arange(3) });
        var loaded = SafeTensors.Load(path, dtype: ScalarType.BFloat16);
        loaded["w"].dtype.Should().Be(ScalarType.BFloat16);
        loaded["ids"].dtype.Should().Be(ScalarType.Int64);
    }

    [Fact]
    public void A_truncated_file_is_rejected_with_the_file_name_before_allocating()
    {
        string path = Path.Combine(_dir, "t.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = ones(64, 64) });
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var act = () => SafeTensors.Load(path);
        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*'w'*outside*");
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "*needs 8 bytes*")]
    [InlineData("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", "*unsupported dtype 'Q4'*")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "*invalid dimension*")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", "*overlap*")]
    [InlineData("[1,2]", "*not a JSON object*")]
    [InlineData("{\"w\":", "*not valid JSON*")]
    public void Malformed_headers_are_rejected_with_a_reason(string header, string expected)
    {
        string path = Path.Combine(_dir, "bad.safetensors");
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. new byte[8]]);
        var act = () => SafeTensors.ReadHeader(path);
        act.Should().Throw<InvalidDataException>().WithMessage(expected);
    }

    [Fact]
    public void A_header_length_larger_than_the_file_is_rejected()
    {
        string path = Path.Combine(_dir, "huge.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(50_000_000UL), .. new byte[16]]);
        var act = () => SafeTensors.ReadHeader(path);
        act.Should().Throw<InvalidDataException>().WithMessage("*truncated*");
    }

    [Fact]
    public void A_tensor_name_that_is_not_valid_UTF8_is_rejected_naming_the_file_and_the_byte()
    {
        string path = Path.Combine(_dir, "latin1.safetensors");
        byte[] before = System.Text.Encoding.UTF8.GetBytes("{\"w");
        byte[] after = System.Text.Encoding.UTF8.GetBytes("\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
        byte[] json = [.. before, 0xE9, .. after]; // "wé" written as Latin-1, not UTF-8
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, 0]);

        var act = () => SafeTensors.ReadHeader(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"{path}: *not valid UTF-8*byte {8 + before.Length} *");
    }

    [Fact]
    public void A_tensor_name_with_an_escaped_lone_surrogate_is_rejected_naming_the_file()
    {
        string path = Path.Combine(_dir, "surrogate.safetensors");
        byte[] json = System.Text.Encoding.UTF8.GetBytes("{\"w\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, 0]);

        var act = () => SafeTensors.ReadHeader(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"{path}: *not valid Unicode*");
    }
}

using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;

namespace PromptLossWeight.Llama.Tests.Model;

public class LlamaConfigTests
{
    private const string Llama31 = """
        {
          "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
          "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
          "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
          "rope_theta": 500000.0,
          "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 8192, "rope_type": "llama3"},
          "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": false,
          "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16"
        }
        """;

    [Fact]
    public void A_Llama_3_1_config_is_read_with_grouped_query_heads_rope_scaling_and_several_eos_ids()
    {
        LlamaConfig config = LlamaConfig.Parse(Llama31);
        config.HiddenSize.Should().Be(4096);
        config.NumKeyValueHeads.Should().Be(8);
        config.HeadDim.Should().Be(128);
        config.RopeTheta.Should().Be(500000);
        config.RopeScaling.Should().Be(new Llama3RopeScaling(8, 1, 4, 8192));
        config.EosTokenIds.Should().Equal(128001, 128008, 128009);
        config.BosTokenId.Should().Be(128000);
        config.ScalarType.Should().Be(TorchSharp.torch.ScalarType.BFloat16);
    }

    [Fact]
    public void A_config_written_back_reads_the_same()
    {
        LlamaConfig config = LlamaConfig.Parse(Llama31);
        string dir = Tiny.TempDir();
        config.Save(dir);
        LlamaConfig again = LlamaConfig.Load(dir);
        again.Should().BeEquivalentTo(config, o => o.Excluding(c => c.HeadDimOverride));
    }

    [Theory]
    [InlineData("\"hidden_size\": 4096,", "hidden_size", "missing")]
    [InlineData("\"rope_type\": \"llama3\"", "rope_scaling.rope_type", "only \"llama3\"")]
    [InlineData("\"torch_dtype\": \"bfloat16\"", "torch_dtype", "unsupported dtype")]
    [InlineData("\"num_key_value_heads\": 8,", "num_key_value_heads", "does not divide")]
    public void A_missing_or_unsupported_field_is_reported_with_the_file_and_field(string original, string field, string problem)
    {
        string replacement = field switch
        {
            "hidden_size" => "",
            "rope_scaling.rope_type" => "\"rope_type\": \"yarn\"",
            "torch_dtype" => "\"torch_dtype\": \"int8\"",
            _ => "\"num_key_value_heads\": 5,",
        };
        string dir = Tiny.TempDir();
        string file = Path.Combine(dir, "config.json");
        File.WriteAllText(file, Llama31.Replace(original, replacement));
        Action load = () => LlamaConfig.Load(dir);
        load.Should().Throw<ArgumentException>().Where(e => e.Message.Contains(file) && e.Message.Contains($"\"{field}\"") && e.Message.Contains(problem));
    }
}

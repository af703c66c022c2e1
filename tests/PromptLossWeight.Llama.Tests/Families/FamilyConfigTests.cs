using PromptLossWeight.Llama.Model;

namespace PromptLossWeight.Llama.Tests.Families;

/// <summary>
/// config.json selects the family by <c>model_type</c> (or <c>architectures</c>), and each family's options are read
/// as transformers reads them, with its defaults where a field is left out.
/// </summary>
public class FamilyConfigTests
{
    // The architecture fields of published configs (Qwen2.5-0.5B, Qwen3-0.6B, Mistral-7B-v0.1, gemma-2-2b, gemma-3-1b).
    private const string Qwen25 = """
        { "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu", "hidden_size": 896,
          "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "use_sliding_window": false,
          "max_window_layers": 21, "tie_word_embeddings": true, "vocab_size": 151936, "max_position_embeddings": 32768,
          "bos_token_id": 151643, "eos_token_id": 151643, "torch_dtype": "bfloat16" }
        """;

    private const string Qwen3 = """
        { "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": false, "head_dim": 128,
          "hidden_act": "silu", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
          "num_attention_heads": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null,
          "rope_theta": 1000000, "sliding_window": null, "use_sliding_window": false, "max_window_layers": 28,
          "tie_word_embeddings": true, "vocab_size": 151936, "max_position_embeddings": 40960, "torch_dtype": "bfloat16" }
        """;

    private const string Mistral = """
        { "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_act": "silu", "hidden_size": 4096,
          "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
          "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
          "vocab_size": 32000, "max_position_embeddings": 32768, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16" }
        """;

    private const string Gemma2 = """
        { "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "attn_logit_softcapping": 50.0,
          "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
          "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "intermediate_size": 9216,
          "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4, "query_pre_attn_scalar": 256,
          "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096, "vocab_size": 256000,
          "max_position_embeddings": 8192, "bos_token_id": 2, "eos_token_id": [1, 107], "torch_dtype": "float32" }
        """;

    private const string Gemma3 = """
        { "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "attn_logit_softcapping": null,
          "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
          "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1,
          "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000, "rope_scaling": null,
          "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6, "vocab_size": 262144,
          "max_position_embeddings": 32768, "bos_token_id": 2, "eos_token_id": [1, 106], "torch_dtype": "bfloat16" }
        """;

    private static int[] SlidingLayers(LlamaConfig c) => Enumerable.Range(0, c.NumHiddenLayers).Where(c.IsSlidingLayer).ToArray();

    [Fact]
    public void Qwen2_5_has_q_k_v_biases_tied_embeddings_and_no_window_while_use_sliding_window_is_false()
    {
        var c = LlamaConfig.Parse(Qwen25);
        c.Family.Should().Be(ModelFamily.Qwen2);
        (c.QkvBias, c.QkNorm, c.TieWordEmbeddings, c.HeadDim).Should().Be((true, false, true, 64));
        c.SlidingWindow.Should().BeNull();
        SlidingLayers(c).Should().BeEmpty();
    }

    [Fact]
    public void Qwen_with_use_sliding_window_slides_the_layers_from_max_window_layers_on()
    {
        var c = LlamaConfig.Parse(Qwen25.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true"));
        c.SlidingWindow.Should().Be(32768);
        SlidingLayers(c).Should().Equal(21, 22, 23);
    }

    [Fact]
    public void Qwen3_normalises_each_heads_q_and_k_and_takes_head_dim_from_the_config()
    {
        var c = LlamaConfig.Parse(Qwen3);
        c.Family.Should().Be(ModelFamily.Qwen3);
        (c.QkNorm, c.QkvBias, c.HeadDim, c.NormUnitOffset).Should().Be((true, false, 128, false));
        c.AttentionScale.Should().Be(1 / Math.Sqrt(128));
    }

    [Fact]
    public void Mistral_slides_every_layer_within_its_window()
    {
        var c = LlamaConfig.Parse(Mistral);
        c.Family.Should().Be(ModelFamily.Mistral);
        c.SlidingWindow.Should().Be(4096);
        SlidingLayers(c).Should().HaveCount(32);
        LlamaConfig.Parse(Mistral.Replace("\"sliding_window\": 4096", "\"sliding_window\": null")).LayerTypes.Should().BeEmpty();
    }

    [Fact]
    public void Gemma2_scales_by_query_pre_attn_scalar_soft_caps_and_slides_the_even_layers()
    {
        var c = LlamaConfig.Parse(Gemma2);
        c.Family.Should().Be(ModelFamily.Gemma2);
        (c.Activation, c.NormUnitOffset, c.ScaleEmbeddings, c.SandwichNorms, c.TieWordEmbeddings)
            .Should().Be((HiddenActivation.GeluTanh, true, true, true, true));
        (c.AttnLogitSoftcapping, c.FinalLogitSoftcapping).Should().Be((50.0, 30.0));
        c.AttentionScale.Should().Be(1 / 16.0);
        SlidingLayers(c).Should().Equal(Enumerable.Range(0, 13).Select(i => 2 * i));
    }

    [Fact]
    public void Gemma2_without_soft_capping_fields_gets_the_transformers_defaults_and_null_switches_them_off()
    {
        string without = Gemma2.Replace("\"attn_logit_softcapping\": 50.0,", "").Replace("\"final_logit_softcapping\": 30.0,", "");
        var defaults = LlamaConfig.Parse(without);
        (defaults.AttnLogitSoftcapping, defaults.FinalLogitSoftcapping).Should().Be((50.0, 30.0));
        var off = LlamaConfig.Parse(Gemma2.Replace("\"final_logit_softcapping\": 30.0", "\"final_logit_softcapping\": null"));
        off.FinalLogitSoftcapping.Should().BeNull();
    }

    [Fact]
    public void Gemma3_has_q_k_norms_five_sliding_layers_to_one_global_and_a_local_rope_base()
    {
        var c = LlamaConfig.Parse(Gemma3);
        c.Family.Should().Be(ModelFamily.Gemma3Text);
        (c.QkNorm, c.NormUnitOffset, c.AttnLogitSoftcapping, c.FinalLogitSoftcapping).Should().Be((true, true, (double?)null, (double?)null));
        c.RopeLocalTheta.Should().Be(10000);
        c.RopeTheta.Should().Be(1_000_000);
        SlidingLayers(c).Should().NotContain([5, 11, 17, 23]).And.HaveCount(22);
    }

    [Fact]
    public void Gemma3_refuses_an_attention_soft_cap_that_transformers_would_not_apply()
    {
        var act = () => LlamaConfig.Parse(Gemma3.Replace("\"attn_logit_softcapping\": null", "\"attn_logit_softcapping\": 50.0"), "g/config.json");
        act.Should().Throw<ArgumentException>().WithMessage("g/config.json: field \"attn_logit_softcapping\" must be null for gemma3_text*");
    }

    [Fact]
    public void Without_model_type_the_architectures_name_the_family()
    {
        var c = LlamaConfig.Parse(Qwen3.Replace("\"model_type\": \"qwen3\",", ""));
        c.Family.Should().Be(ModelFamily.Qwen3);
    }

    [Theory]
    [InlineData("\"model_type\": \"qwen3\"", "\"model_type\": \"phi3\"", "field \"model_type\" \"phi3\" is not supported (supported: llama, mistral, qwen2, qwen3, gemma2, gemma3_text)")]
    [InlineData("\"model_type\": \"qwen3\",", "", "field \"architectures\"")]
    public void An_unsupported_family_is_a_one_line_error_naming_the_file_and_listing_the_supported_ones(string from, string to, string expected)
    {
        string json = Qwen3.Replace(from, to).Replace("Qwen3ForCausalLM", "Phi3ForCausalLM");
        var act = () => LlamaConfig.Parse(json, "/models/x/config.json");
        act.Should().Throw<ArgumentException>()
            .Which.Message.Should().StartWith("/models/x/config.json: ").And.Contain(expected).And.NotContain("\n");
    }

    [Fact]
    public void A_sliding_layer_without_a_window_and_layer_types_of_the_wrong_length_name_their_field()
    {
        var noWindow = () => LlamaConfig.Parse(Gemma3.Replace("\"sliding_window\": 512", "\"sliding_window\": null"), "g/config.json");
        noWindow.Should().Throw<ArgumentException>().WithMessage("g/config.json: field \"sliding_window\" is required*");
        var wrongLength = () => LlamaConfig.Parse(Gemma3.Replace("\"sliding_window_pattern\": 6", "\"layer_types\": [\"full_attention\"]"), "g/config.json");
        wrongLength.Should().Throw<ArgumentException>().WithMessage("g/config.json: field \"layer_types\" has 1 entries but num_hidden_layers = 26.");
    }

    [Theory]
    [InlineData(Qwen25)]
    [InlineData(Qwen3)]
    [InlineData(Mistral)]
    [InlineData(Gemma2)]
    [InlineData(Gemma3)]
    public void Every_family_config_written_back_reads_the_same(string json)
    {
        var config = LlamaConfig.Parse(json);
        var again = LlamaConfig.Parse(config.ToJson());
        again.ToJson().Should().Be(config.ToJson());
        (again.Family, again.SlidingWindow, again.QueryPreAttnScalar, again.RopeLocalTheta).Should()
            .Be((config.Family, config.SlidingWindow, config.QueryPreAttnScalar, config.RopeLocalTheta));
        again.LayerTypes.Should().Equal(config.LayerTypes);
    }
}

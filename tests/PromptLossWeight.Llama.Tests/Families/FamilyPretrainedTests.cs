using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Llama.Tests.Tokenizers;
using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Families;

/// <summary>
/// <see cref="LlamaPretrained.Load"/> for every family: a checkpoint saved by <see cref="LlamaCheckpoint.Save"/> with a
/// tokenizer and the family's own chat template loads back as the same model, with that template.
/// </summary>
public class FamilyPretrainedTests
{
    // The shape of each family's chat template (the real ones are checked in Chat/ChatTemplateExactnessTests).
    private static string TemplateOf(string family) => family switch
    {
        "gemma2" or "gemma3_text" => "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}",
        "mistral" => "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]{% else %}{{ m.content }}{{ eos_token }}{% endif %}{% endfor %}",
        _ => "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
    };

    [Theory]
    [MemberData(nameof(FamilyFixtures.All), MemberType = typeof(FamilyFixtures))]
    public void One_call_loads_the_familys_model_tokenizer_and_own_chat_template(string family)
    {
        LlamaConfig config = LlamaConfig.Load(FamilyFixtures.Folder(family)) with { VocabSize = 512 };
        using var folder = new TempFolder();
        using var saved = new LlamaForCausalLM(config, CPU, ScalarType.Float32).InitializeWeights(seed: 1, std: 0.2);
        LlamaCheckpoint.Save(saved, folder.Path);
        TestTokenizers.LoadSentencePiece(folder);
        folder.Write("tokenizer_config.json",
            $$"""{ "bos_token": "<s>", "eos_token": "</s>", "chat_template": {{System.Text.Json.JsonSerializer.Serialize(TemplateOf(family))}} }""");

        var loaded = LlamaPretrained.Load(folder.Path, CPU);
        using var model = loaded.Model;

        model.Config.ModelType.Should().Be(family);
        model.Config.ToJson().Should().Be(config.ToJson());
        using var noGrad = no_grad();
        Tensor ids = Tiny.RandomIds(1, 10, seed: 2, vocab: 512);
        Tiny.MaxAbsDiff(model.Logits(ids), saved.Logits(ids)).Should().Be(0);
        loaded.Template.Name.Should().NotBeNullOrEmpty();
        string text = loaded.Template.Render([new(TokenRole.User, "hi"), new(TokenRole.Assistant, "hello")]).Text;
        text.Should().Contain("hi").And.Contain("hello").And.Contain(family.StartsWith("gemma") ? "<start_of_turn>model" : family == "mistral" ? "[INST]" : "<|im_start|>assistant");
    }
}

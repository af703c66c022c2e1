using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Llama.Tests.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Tests.Checkpoints;

public class LlamaPretrainedTests
{
    private static TempFolder ModelFolder(string? chatTemplate, int vocabSize = 512)
    {
        var folder = new TempFolder();
        using var model = Tiny.Model(Tiny.Config() with { VocabSize = vocabSize });
        LlamaCheckpoint.Save(model, folder.Path);
        TestTokenizers.LoadSentencePiece(folder);
        string template = chatTemplate is null ? "" : $", \"chat_template\": {System.Text.Json.JsonSerializer.Serialize(chatTemplate)}";
        folder.Write("tokenizer_config.json", $$"""{ "bos_token": "<s>", "eos_token": "</s>"{{template}} }""");
        return folder;
    }

    [Fact]
    public void One_call_loads_the_model_the_tokenizer_and_the_folders_own_chat_template()
    {
        using var folder = ModelFolder("{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}");

        var loaded = LlamaPretrained.Load(folder.Path);
        using var model = loaded.Model;

        model.Config.VocabSize.Should().Be(512);
        loaded.Tokenizer.Kind.Should().Be(Llama.Tokenizers.TokenizerKind.SentencePiece);
        loaded.Template.Should().BeOfType<JinjaChatTemplate>();
        loaded.Template.Render([new(TokenRole.User, " hi "), new(TokenRole.Assistant, "hello")]).Text.Should().Be("<s>user: hi\nassistant: hello\n");
        loaded.Notes.Should().Contain(n => n.Contains("chat template"));
    }

    [Fact]
    public void Without_a_chat_template_the_builtin_template_that_fits_the_tokenizer_is_used_and_noted()
    {
        using var folder = ModelFolder(chatTemplate: null);

        var loaded = LlamaPretrained.Load(folder.Path);
        using var model = loaded.Model;

        loaded.Template.Name.Should().Be("llama-2");
        loaded.Notes.Should().Contain(n => n.Contains("built-in llama-2"));
    }

    [Fact]
    public void A_repo_id_loads_model_tokenizer_and_template_from_the_hugging_face_cache()
    {
        using var folder = ModelFolder("{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}");
        string hub = Tiny.TempDir();
        new FakeHubCache(hub).AddSnapshotFromFolder("models", "org/tiny-chat", FakeHubCache.Commit("chat"), folder.Path);
        var options = new HubOptions { CacheDirectory = hub };

        var loaded = LlamaPretrained.Load("org/tiny-chat", hub: options);
        using var model = loaded.Model;

        model.Config.VocabSize.Should().Be(512);
        loaded.Template.Should().BeOfType<JinjaChatTemplate>();
        Llama.Tokenizers.TokenizerLoader.Load("org/tiny-chat", options).Tokenizer.Kind.Should().Be(Llama.Tokenizers.TokenizerKind.SentencePiece);
        FluentActions.Invoking(() => Llama.Tokenizers.TokenizerLoader.Load("org/absent", options)).Should().Throw<HubException>()
            .WithMessage("*huggingface-cli download org/absent*");
    }

    [Fact]
    public void The_tokenizer_and_template_load_without_reading_the_weights()
    {
        using var folder = ModelFolder("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}");
        foreach (string weights in Directory.GetFiles(folder.Path, "*.safetensors")) File.Delete(weights);

        var loaded = LlamaPretrained.LoadTokenizer(folder.Path);

        loaded.Tokenizer.Kind.Should().Be(Llama.Tokenizers.TokenizerKind.SentencePiece);
        loaded.Template.Should().BeOfType<JinjaChatTemplate>();
        loaded.TokenizerFile.Should().EndWith("tokenizer.model");
    }

    [Fact]
    public void A_tokenizer_larger_than_the_models_vocabulary_is_refused_naming_both_files()
    {
        using var folder = ModelFolder(chatTemplate: null, vocabSize: 64);

        FluentActions.Invoking(() => LlamaPretrained.Load(folder.Path)).Should().Throw<InvalidDataException>()
            .WithMessage("*tokenizer.model*config.json*vocab_size 64*");
    }
}

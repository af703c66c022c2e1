using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Tests.Tokenizers;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Chat;

public class ChatTemplateFactoryTests
{
    [Fact]
    public void Templates_are_created_by_name()
    {
        var sentencePiece = HfTokenizer.LoadSentencePiece(TestTokenizers.SentencePieceModelBytes(), "tiny sentencepiece");
        var gpt2 = TestTokenizers.Gpt2WithChatML();
        using var folder = new TempFolder();

        ChatTemplate.Create("llama-2", sentencePiece).Should().BeOfType<Llama2ChatTemplate>().Which.Name.Should().Be("llama-2");
        ChatTemplate.Create("Llama-3", TestTokenizers.LoadLlama3(folder)).Should().BeOfType<Llama3ChatTemplate>();
        ChatTemplate.Create("chatml", gpt2).Should().BeOfType<ChatMLTemplate>();
        FluentActions.Invoking(() => ChatTemplate.Create("vicuna", gpt2)).Should().Throw<ArgumentException>().WithMessage("*vicuna*llama-2, llama-3, chatml*");
    }
}

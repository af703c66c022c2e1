namespace PromptLossWeight.Llama.Hub;

/// <summary>
/// A repository could not be found in the local Hugging Face cache or downloaded from the Hub. The message is one
/// paragraph that says what was asked for, where the library looked (or which request failed) and how to fix it.
/// </summary>
public sealed class HubException : IOException
{
    /// <summary>Creates the exception with its full message.</summary>
    /// <param name="message">What failed, where the library looked and what fills the gap.</param>
    /// <param name="inner">The underlying I/O or HTTP error, if any.</param>
    public HubException(string message, Exception? inner = null) : base(message, inner) { }
}

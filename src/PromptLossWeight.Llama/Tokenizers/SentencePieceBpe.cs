using System.Text;

namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// SentencePiece's own BPE encoding of a <c>tokenizer.model</c>, written for this library so that ids equal
/// SentencePiece's: the text is normalized (dummy prefix, spaces to '\u2581'), split into characters (user-defined
/// pieces whole and never merged), then the adjacent pair whose concatenation is a piece with the highest score is
/// merged, the leftmost pair first among equal scores, until no pair is a piece. Unused pieces are split back into
/// the pieces they were merged from; characters without a piece become byte pieces (byte fallback) or the unknown id.
/// </summary>
internal sealed class SentencePieceBpe : ITextEncoder
{
    private const char Space = '\u2581';
    private readonly SentencePieceModel _model;
    private readonly Dictionary<string, int> _mergeable = new(StringComparer.Ordinal);
    private readonly string[] _userDefined;
    private readonly int[] _byteIds = new int[256];

    public SentencePieceBpe(SentencePieceModel model)
    {
        _model = model;
        if (model.HasCharsMap || (model.NormalizerName.Length > 0 && model.NormalizerName != "identity"))
            throw new InvalidDataException(
                $"{model.Source}: normalizer '{model.NormalizerName}' with a compiled character map is not supported; only the identity normalizer (Llama, Mistral, Gemma) is.");
        if (model.TreatWhitespaceAsSuffix)
            throw new InvalidDataException($"{model.Source}: trainer_spec.treat_whitespace_as_suffix is not supported.");
        Array.Fill(_byteIds, -1);
        var userDefined = new List<string>();
        for (int i = 0; i < model.Pieces.Count; i++)
        {
            var (piece, _, type) = model.Pieces[i];
            if (type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused)
                _mergeable[piece] = i;
            if (type == PieceType.UserDefined)
                userDefined.Add(piece);
            if (type == PieceType.Byte)
                _byteIds[SentencePieceModel.ByteValue(piece)] = i;
        }
        _userDefined = userDefined.OrderByDescending(p => p.Length).ToArray();
        if (model.ByteFallback && _byteIds.Any(id => id < 0))
            throw new InvalidDataException($"{model.Source}: byte_fallback is set but the model lacks byte pieces for {_byteIds.Count(id => id < 0)} byte values.");
    }

    /// <summary>Normalizes as SentencePiece's identity normalizer does (whitespace handling only).</summary>
    public string Normalize(string text, bool atStart)
    {
        string body = text;
        if (_model.RemoveExtraWhitespaces)
        {
            var collapsed = new StringBuilder(text.Length);
            foreach (char c in text.Trim(' '))
            {
                if (c != ' ' || collapsed.Length == 0 || collapsed[^1] != ' ')
                    collapsed.Append(c);
            }
            body = collapsed.ToString();
        }
        if (body.Length == 0)
            return "";
        if (_model.AddDummyPrefix && atStart)
            body = " " + body;
        return _model.EscapeWhitespaces ? body.Replace(' ', Space) : body;
    }

    public IReadOnlyList<int> Encode(string text, bool atStart)
    {
        string normalized = Normalize(text, atStart);
        var ids = new List<int>();
        if (normalized.Length == 0)
            return ids;
        var symbols = Split(normalized);
        var unusedSplits = Merge(normalized, symbols);
        bool previousUnknown = false;
        for (int i = 0; i >= 0; i = symbols[i].Next)
        {
            string piece = normalized.Substring(symbols[i].Start, symbols[i].Length);
            Resegment(piece, unusedSplits, ids, ref previousUnknown);
        }
        return ids;
    }

    private void Resegment(string piece, Dictionary<string, (string Left, string Right)> unusedSplits, List<int> ids, ref bool previousUnknown)
    {
        if (_mergeable.TryGetValue(piece, out int id))
        {
            if (_model.Pieces[id].Type == PieceType.Unused && unusedSplits.TryGetValue(piece, out var parts))
            {
                Resegment(parts.Left, unusedSplits, ids, ref previousUnknown);
                Resegment(parts.Right, unusedSplits, ids, ref previousUnknown);
                return;
            }
            ids.Add(id);
            previousUnknown = false;
            return;
        }
        if (_model.ByteFallback)
        {
            foreach (byte b in Encoding.UTF8.GetBytes(piece))
                ids.Add(_byteIds[b]);
            previousUnknown = false;
            return;
        }
        // SentencePiece joins a run of unknown characters into one unknown id.
        if (!previousUnknown)
            ids.Add(_model.UnkId);
        previousUnknown = true;
    }

    private struct Symbol
    {
        public int Start, Length, Prev, Next;
        public bool Frozen;
    }

    private List<Symbol> Split(string normalized)
    {
        var symbols = new List<Symbol>();
        int position = 0;
        while (position < normalized.Length)
        {
            int length = 0;
            bool frozen = false;
            foreach (string user in _userDefined)
            {
                if (position + user.Length <= normalized.Length && string.CompareOrdinal(normalized, position, user, 0, user.Length) == 0)
                {
                    length = user.Length;
                    frozen = true;
                    break;
                }
            }
            if (length == 0)
                length = char.IsHighSurrogate(normalized[position]) && position + 1 < normalized.Length && char.IsLowSurrogate(normalized[position + 1]) ? 2 : 1;
            int index = symbols.Count;
            symbols.Add(new Symbol { Start = position, Length = length, Prev = index - 1, Next = position + length < normalized.Length ? index + 1 : -1, Frozen = frozen });
            position += length;
        }
        return symbols;
    }

    /// <summary>Merges in place; returns how each unused piece that was formed splits back.</summary>
    private Dictionary<string, (string Left, string Right)> Merge(string normalized, List<Symbol> symbols)
    {
        var unusedSplits = new Dictionary<string, (string Left, string Right)>(StringComparer.Ordinal);
        // Highest score first; among equal scores the leftmost pair.
        var agenda = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(
            Comparer<(float Score, int Left)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left)));
        void MaybeAdd(int left, int right)
        {
            if (left < 0 || right < 0 || symbols[left].Frozen || symbols[right].Frozen)
                return;
            int size = symbols[left].Length + symbols[right].Length;
            string piece = normalized.Substring(symbols[left].Start, size);
            if (!_mergeable.TryGetValue(piece, out int id))
                return;
            agenda.Enqueue((left, right, size), (_model.Pieces[id].Score, left));
            if (_model.Pieces[id].Type == PieceType.Unused)
                unusedSplits[piece] = (normalized.Substring(symbols[left].Start, symbols[left].Length), normalized.Substring(symbols[right].Start, symbols[right].Length));
        }
        for (int i = 1; i < symbols.Count; i++)
            MaybeAdd(i - 1, i);
        while (agenda.TryDequeue(out var top, out _))
        {
            var left = symbols[top.Left];
            var right = symbols[top.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != top.Size)
                continue;
            left.Length += right.Length;
            left.Next = right.Next;
            if (right.Next >= 0)
            {
                var after = symbols[right.Next];
                after.Prev = top.Left;
                symbols[right.Next] = after;
            }
            right.Length = 0;
            symbols[top.Left] = left;
            symbols[top.Right] = right;
            MaybeAdd(left.Prev, top.Left);
            MaybeAdd(top.Left, left.Next);
        }
        return unusedSplits;
    }

    public string Decode(IReadOnlyList<int> ids, bool atStart)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            var (piece, _, type) = _model.Pieces[id];
            if (type == PieceType.Byte)
                bytes.Add((byte)SentencePieceModel.ByteValue(piece));
            else
                bytes.AddRange(Encoding.UTF8.GetBytes(piece.Replace(Space, ' ')));
        }
        string text = Encoding.UTF8.GetString(bytes.ToArray());
        bool stripPrefix = atStart && _model.AddDummyPrefix && ids.Count > 0 && _model.Pieces[ids[0]].Piece.StartsWith(Space);
        return stripPrefix ? text[1..] : text;
    }
}

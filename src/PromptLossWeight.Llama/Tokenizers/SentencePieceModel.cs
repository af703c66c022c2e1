using Google.Protobuf;

namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>The type of a SentencePiece vocabulary entry (field 3 of <c>ModelProto.SentencePiece</c>).</summary>
internal enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// A SentencePiece <c>tokenizer.model</c> (a protobuf <c>ModelProto</c>) read far enough to validate it, list its
/// pieces and special ids, and to write the copy that <see cref="ChatTokenizer"/> encodes with: in that copy the
/// reserved pieces (control, unknown and byte pieces) carry a prefix character that occurs in no other piece, so
/// no merge of ordinary text can ever produce them. Microsoft.ML.Tokenizers merges text into any vocabulary entry,
/// so without this the text "&lt;/s&gt;" would come out as the EOS id.
/// </summary>
internal sealed class SentencePieceModel
{
    // Field numbers of sentencepiece_model.proto.
    private const int PiecesField = 1, TrainerSpecField = 2;
    private const int PieceStringField = 1, PieceScoreField = 2, PieceTypeField = 3;
    private const int ModelTypeField = 3, UnkIdField = 40, BosIdField = 41, EosIdField = 42;

    private readonly byte[] _bytes;
    private readonly List<(int Start, int End)> _pieceFields = [];

    private SentencePieceModel(byte[] bytes, string source)
    {
        _bytes = bytes;
        Source = source;
    }

    /// <summary>Where the model came from (a file path or a description), used in error messages.</summary>
    public string Source { get; }

    /// <summary>The pieces in id order.</summary>
    public List<(string Piece, float Score, PieceType Type)> Pieces { get; } = [];

    /// <summary>trainer_spec.model_type: 1 unigram, 2 BPE, 3 word, 4 char.</summary>
    public int ModelType { get; private set; } = 1;

    /// <summary>trainer_spec.unk_id (default 0).</summary>
    public int UnkId { get; private set; }

    /// <summary>trainer_spec.bos_id (default 1; -1 for none).</summary>
    public int BosId { get; private set; } = 1;

    /// <summary>trainer_spec.eos_id (default 2; -1 for none).</summary>
    public int EosId { get; private set; } = 2;

    /// <summary>Reads and validates a model; <paramref name="source"/> names it in errors.</summary>
    public static SentencePieceModel Parse(byte[] bytes, string source)
    {
        var model = new SentencePieceModel(bytes, source);
        try
        {
            model.ReadTopLevel();
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{source}: not a valid SentencePiece model (protobuf error: {e.Message}).", e);
        }
        model.Validate();
        return model;
    }

    private void ReadTopLevel()
    {
        var input = new CodedInputStream(_bytes);
        while (true)
        {
            int start = (int)input.Position;
            uint tag = input.ReadTag();
            if (tag == 0)
                break;
            int field = WireFormat.GetTagFieldNumber(tag);
            var wire = WireFormat.GetTagWireType(tag);
            if (field == PiecesField && wire == WireFormat.WireType.LengthDelimited)
            {
                Pieces.Add(ReadPiece(input.ReadBytes(), Pieces.Count));
                _pieceFields.Add((start, (int)input.Position));
            }
            else if (field == TrainerSpecField && wire == WireFormat.WireType.LengthDelimited)
            {
                ReadTrainerSpec(input.ReadBytes());
            }
            else
            {
                input.SkipLastField();
            }
        }
    }

    private (string, float, PieceType) ReadPiece(ByteString bytes, int index)
    {
        var input = bytes.CreateCodedInput();
        string? piece = null;
        float score = 0;
        var type = PieceType.Normal;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case PieceStringField: piece = input.ReadString(); break;
                case PieceScoreField: score = input.ReadFloat(); break;
                case PieceTypeField: type = (PieceType)input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        if (string.IsNullOrEmpty(piece))
            throw new InvalidDataException($"{Source}: piece {index} has no text.");
        if (!Enum.IsDefined(type))
            throw new InvalidDataException($"{Source}: piece {index} ('{piece}') has unknown type {(int)type}.");
        return (piece, score, type);
    }

    private void ReadTrainerSpec(ByteString bytes)
    {
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case ModelTypeField: ModelType = input.ReadEnum(); break;
                case UnkIdField: UnkId = input.ReadInt32(); break;
                case BosIdField: BosId = input.ReadInt32(); break;
                case EosIdField: EosId = input.ReadInt32(); break;
                default: input.SkipLastField(); break;
            }
        }
    }

    private void Validate()
    {
        if (Pieces.Count == 0)
            throw new InvalidDataException($"{Source}: not a SentencePiece model (no vocabulary pieces found).");
        if (ModelType != 2)
            throw new InvalidDataException(
                $"{Source}: SentencePiece model_type {ModelType} is not supported; only BPE (2), the type of the Llama tokenizers, is.");
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Pieces.Count; i++)
        {
            if (!seen.TryAdd(Pieces[i].Piece, i))
                throw new InvalidDataException($"{Source}: piece '{Pieces[i].Piece}' appears twice (ids {seen[Pieces[i].Piece]} and {i}).");
            if (Pieces[i].Type == PieceType.Byte && ByteValue(Pieces[i].Piece) < 0)
                throw new InvalidDataException($"{Source}: byte piece {i} is '{Pieces[i].Piece}', not of the form <0xNN>.");
        }
        CheckId(UnkId, "unk_id", mustExist: true);
        CheckId(BosId, "bos_id", mustExist: false);
        CheckId(EosId, "eos_id", mustExist: false);
    }

    /// <summary>The byte a "&lt;0xNN&gt;" piece stands for, or -1.</summary>
    public static int ByteValue(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
        && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte value)
            ? value
            : -1;

    private void CheckId(int id, string name, bool mustExist)
    {
        if ((id < 0 && mustExist) || id >= Pieces.Count)
            throw new InvalidDataException($"{Source}: trainer_spec.{name} is {id}, outside the vocabulary of {Pieces.Count} pieces.");
    }

    /// <summary>
    /// The model bytes with every control, unknown and byte piece (except &lt;0x00&gt;, which
    /// Microsoft.ML.Tokenizers uses to locate the byte pieces) renamed so that no text can merge into it.
    /// </summary>
    public byte[] WithUnreachableReservedPieces()
    {
        char prefix = UnusedPrivateUseCharacter();
        using var output = new MemoryStream(_bytes.Length + 4 * Pieces.Count);
        int position = 0;
        for (int i = 0; i < Pieces.Count; i++)
        {
            var (start, end) = _pieceFields[i];
            output.Write(_bytes, position, start - position);
            var (piece, score, type) = Pieces[i];
            bool rename = type is PieceType.Control or PieceType.Unknown || (type == PieceType.Byte && piece != "<0x00>");
            if (rename)
                output.Write(PieceField(prefix + piece, score, type));
            else
                output.Write(_bytes, start, end - start);
            position = end;
        }
        output.Write(_bytes, position, _bytes.Length - position);
        return output.ToArray();
    }

    private static byte[] PieceField(string piece, float score, PieceType type)
    {
        using var body = new MemoryStream();
        var inner = new CodedOutputStream(body, leaveOpen: true);
        inner.WriteTag(PieceStringField, WireFormat.WireType.LengthDelimited);
        inner.WriteString(piece);
        inner.WriteTag(PieceScoreField, WireFormat.WireType.Fixed32);
        inner.WriteFloat(score);
        inner.WriteTag(PieceTypeField, WireFormat.WireType.Varint);
        inner.WriteEnum((int)type);
        inner.Flush();
        using var field = new MemoryStream();
        var outer = new CodedOutputStream(field, leaveOpen: true);
        outer.WriteTag(PiecesField, WireFormat.WireType.LengthDelimited);
        outer.WriteBytes(ByteString.CopyFrom(body.ToArray()));
        outer.Flush();
        return field.ToArray();
    }

    private char UnusedPrivateUseCharacter()
    {
        var used = new HashSet<char>(Pieces.SelectMany(p => p.Piece));
        for (char c = '\uE000'; c <= '\uF8FF'; c++)
        {
            if (!used.Contains(c))
                return c;
        }
        throw new InvalidDataException($"{Source}: every private-use character occurs in the vocabulary; cannot protect the control pieces.");
    }
}

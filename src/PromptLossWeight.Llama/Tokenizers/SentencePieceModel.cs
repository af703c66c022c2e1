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
/// A SentencePiece <c>tokenizer.model</c> (a protobuf <c>ModelProto</c>) read far enough to validate it and to
/// encode with it (<see cref="SentencePieceBpe"/>): its pieces with scores and types, the special ids, the trainer
/// flags that change encoding and the normalizer settings.
/// </summary>
internal sealed class SentencePieceModel
{
    // Field numbers of sentencepiece_model.proto.
    private const int PiecesField = 1, TrainerSpecField = 2, NormalizerSpecField = 3;
    private const int PieceStringField = 1, PieceScoreField = 2, PieceTypeField = 3;
    private const int ModelTypeField = 3, TreatWhitespaceAsSuffixField = 24, ByteFallbackField = 35, UnkIdField = 40, BosIdField = 41, EosIdField = 42;
    private const int NormalizerNameField = 1, CharsMapField = 2, AddDummyPrefixField = 3, RemoveExtraWhitespacesField = 4, EscapeWhitespacesField = 5;

    private readonly byte[] _bytes;

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

    /// <summary>trainer_spec.byte_fallback: characters without a piece become their UTF-8 byte pieces.</summary>
    public bool ByteFallback { get; private set; }

    /// <summary>trainer_spec.treat_whitespace_as_suffix: the whitespace mark ends a piece instead of starting it.</summary>
    public bool TreatWhitespaceAsSuffix { get; private set; }

    /// <summary>normalizer_spec.name ("identity", "nmt_nfkc", ...).</summary>
    public string NormalizerName { get; private set; } = "";

    /// <summary>Whether normalizer_spec carries a compiled character map (a normalization other than identity).</summary>
    public bool HasCharsMap { get; private set; }

    /// <summary>normalizer_spec.add_dummy_prefix (default true): a space is put before the text.</summary>
    public bool AddDummyPrefix { get; private set; } = true;

    /// <summary>normalizer_spec.remove_extra_whitespaces (default true): leading, trailing and repeated spaces are dropped.</summary>
    public bool RemoveExtraWhitespaces { get; private set; } = true;

    /// <summary>normalizer_spec.escape_whitespaces (default true): spaces become '\u2581'.</summary>
    public bool EscapeWhitespaces { get; private set; } = true;

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
            uint tag = input.ReadTag();
            if (tag == 0)
                break;
            int field = WireFormat.GetTagFieldNumber(tag);
            var wire = WireFormat.GetTagWireType(tag);
            if (field == PiecesField && wire == WireFormat.WireType.LengthDelimited)
            {
                Pieces.Add(ReadPiece(input.ReadBytes(), Pieces.Count));
            }
            else if (field == TrainerSpecField && wire == WireFormat.WireType.LengthDelimited)
            {
                ReadTrainerSpec(input.ReadBytes());
            }
            else if (field == NormalizerSpecField && wire == WireFormat.WireType.LengthDelimited)
            {
                ReadNormalizerSpec(input.ReadBytes());
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
                case TreatWhitespaceAsSuffixField: TreatWhitespaceAsSuffix = input.ReadBool(); break;
                case ByteFallbackField: ByteFallback = input.ReadBool(); break;
                case UnkIdField: UnkId = input.ReadInt32(); break;
                case BosIdField: BosId = input.ReadInt32(); break;
                case EosIdField: EosId = input.ReadInt32(); break;
                default: input.SkipLastField(); break;
            }
        }
    }

    private void ReadNormalizerSpec(ByteString bytes)
    {
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case NormalizerNameField: NormalizerName = input.ReadString(); break;
                case CharsMapField: HasCharsMap = input.ReadBytes().Length > 0; break;
                case AddDummyPrefixField: AddDummyPrefix = input.ReadBool(); break;
                case RemoveExtraWhitespacesField: RemoveExtraWhitespaces = input.ReadBool(); break;
                case EscapeWhitespacesField: EscapeWhitespaces = input.ReadBool(); break;
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
}

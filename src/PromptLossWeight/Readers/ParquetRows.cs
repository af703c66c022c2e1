using System.Collections;
using Parquet.Serialization;

namespace PromptLossWeight.Readers;

/// <summary>Reads a Parquet file into untyped rows; any parser failure becomes a <see cref="DataFormatException"/>.</summary>
public static class ParquetRows
{
    /// <summary>All rows of the file, after checking that the required columns exist.</summary>
    public static IList<Dictionary<string, object>> Read(Stream stream, string source, IReadOnlyList<string> requiredColumns)
    {
        DeserializationResult<Dictionary<string, object>> result;
        try
        {
            if (!stream.CanSeek)
            {
                var copy = new MemoryStream();
                stream.CopyTo(copy);
                copy.Position = 0;
                stream = copy;
            }
            if (ParquetFooterCheck.Problem(stream) is string problem)
                throw new DataFormatException(source, null, problem);
            result = ParquetSerializer.DeserializeUntypedAsync(stream).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OutOfMemoryException and not DataFormatException)
        {
            // Parquet.Net reports damaged files with many exception types (I/O, format, index, overflow): all mean "unreadable".
            throw new DataFormatException(source, null, $"is not a readable Parquet file ({e.GetType().Name}: {e.Message})", e);
        }
        var columns = result.Schema.Fields.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string column in requiredColumns)
        {
            if (!columns.Contains(column))
                throw new DataFormatException(source, null,
                    $"has no column '{column}' (columns: {string.Join(", ", columns.Order(StringComparer.Ordinal))})");
        }
        return result.Data;
    }

    /// <summary>A required, non-empty string cell.</summary>
    public static string RequireString(Dictionary<string, object> row, string column)
    {
        if (!row.TryGetValue(column, out object? value) || value is null)
            throw new BadRecordException($"column '{column}' is null");
        string? text = AsString(value) ?? throw new BadRecordException($"column '{column}' must be a string but is {value.GetType().Name}");
        return StrictText.RequireNonEmpty(text, $"column '{column}'");
    }

    /// <summary>A required list-of-strings cell (an empty list reads as no items).</summary>
    public static IReadOnlyList<string?> RequireStringList(Dictionary<string, object> row, string column)
    {
        if (!row.TryGetValue(column, out object? value) || value is null)
            return [];
        if (value is string || value is not IEnumerable items)
            throw new BadRecordException($"column '{column}' must be a list of strings but is {value.GetType().Name}");
        var list = new List<string?>();
        foreach (object? item in items)
        {
            if (item is null)
            {
                list.Add(null);
                continue;
            }
            list.Add(AsString(item) ?? throw new BadRecordException($"column '{column}' must hold strings but holds {item.GetType().Name}"));
        }
        return list;
    }

    /// <summary>
    /// An optional loss weight column: 1 when the file has no such column; otherwise every cell must be a number
    /// (any integer or floating-point type), finite and ≥ 0, or the row is bad (a null cell included).
    /// </summary>
    public static double OptionalWeight(Dictionary<string, object> row, string column)
    {
        if (!row.TryGetValue(column, out object? value))
            return 1.0;
        if (value is null)
            throw new BadRecordException($"column '{column}' is null");
        double? weight = value switch
        {
            double d => d,
            float f => f,
            decimal m => (double)m,
            long l => l,
            int i => i,
            short h => h,
            sbyte b => b,
            byte b => b,
            ushort u => u,
            uint u => u,
            ulong u => u,
            _ => null,
        };
        if (weight is null)
            throw new BadRecordException($"column '{column}' must be a number but is {value.GetType().Name}");
        if (!Masking.RoleWeights.IsValid(weight.Value))
            throw new BadRecordException($"column '{column}' must be {Masking.RoleWeights.Requirement} but is {weight.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        return weight.Value;
    }

    private static string? AsString(object value) => value switch
    {
        string s => s,
        ReadOnlyMemory<char> m => m.ToString(),
        _ => null,
    };
}

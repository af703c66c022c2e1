using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// Checks of tensor values (finite, non-negative weights) that would each cost a device-to-host copy: inside a
/// <see cref="Begin"/> scope they are collected as bool scalars on the device and read back together, once, by
/// <see cref="Scope.Verify"/> (the trainer does so once per optimizer step, with the step's loss and gradient norm).
/// Outside a scope every check is read at once. A failed check throws its own message either way.
/// </summary>
internal static class DeferredChecks
{
    [ThreadStatic] private static Scope? _current;

    /// <summary>Starts collecting checks on this thread until the returned scope is disposed.</summary>
    public static Scope Begin() => _current = new Scope(_current);

    /// <summary>
    /// Requires each bool scalar to be true; a failed one throws an <see cref="ArgumentException"/> with its message, for <paramref name="parameter"/>.
    /// Outside a scope all are read at once (one host copy).
    /// </summary>
    public static void Require(string parameter, params (Tensor Holds, string Message)[] checks)
    {
        if (_current is Scope scope)
        {
            foreach (var (holds, message) in checks) scope.Add(holds, message, parameter);
            return;
        }
        using var dispose = NewDisposeScope();
        bool[] read = stack(checks.Select(c => c.Holds.reshape([])).ToList()).cpu().data<bool>().ToArray();
        for (int i = 0; i < read.Length; i++)
            if (!read[i]) throw new ArgumentException(checks[i].Message, parameter);
    }

    /// <summary>A set of pending checks.</summary>
    public sealed class Scope : IDisposable
    {
        private readonly Scope? _outer;
        private readonly List<(Tensor Holds, string Message, string Parameter)> _pending = [];

        internal Scope(Scope? outer) => _outer = outer;

        internal void Add(Tensor holds, string message, string parameter) => _pending.Add((holds.detach().DetachFromDisposeScope(), message, parameter)); // kept until Verify or Dispose

        /// <summary>
        /// Reads every pending check and <paramref name="values"/> (scalars) to the host in one copy; throws the first
        /// failed check's error, else returns the values as doubles in order.
        /// </summary>
        public double[] Verify(params Tensor[] values)
        {
            using var scope = NewDisposeScope();
            var all = _pending.Select(p => p.Holds.to(ScalarType.Float64).reshape(1))
                .Concat(values.Select(v => v.detach().to(ScalarType.Float64).reshape(1))).ToList();
            double[] read = all.Count == 0 ? [] : cat(all, 0).cpu().data<double>().ToArray();
            for (int i = 0; i < _pending.Count; i++)
                if (read[i] == 0) throw new ArgumentException(_pending[i].Message, _pending[i].Parameter);
            int checks = _pending.Count;
            Clear();
            return read[checks..];
        }

        private void Clear()
        {
            foreach (var (holds, _, _) in _pending) holds.Dispose();
            _pending.Clear();
        }

        /// <summary>Stops collecting (pending checks that were never verified are dropped).</summary>
        public void Dispose()
        {
            Clear();
            _current = _outer;
        }
    }
}

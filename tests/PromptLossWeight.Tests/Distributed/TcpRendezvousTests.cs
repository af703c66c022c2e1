using System.Net;
using System.Net.Sockets;
using PromptLossWeight.Distributed;

namespace PromptLossWeight.Tests.Distributed;

/// <summary>The TCP rendezvous that hands the NCCL id from rank 0 to the other ranks (no GPU needed).</summary>
public class TcpRendezvousTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Every_rank_receives_rank_0s_bytes_whichever_starts_first()
    {
        int port = FreePort();
        byte[] id = Enumerable.Range(0, 128).Select(i => (byte)(i * 7)).ToArray();
        // Ranks 1 and 2 start before rank 0 listens: they retry until it does.
        Task<byte[]>[] joins = [Task.Run(() => TcpRendezvous.Join("127.0.0.1", port, 1, Limit)), Task.Run(() => TcpRendezvous.Join("127.0.0.1", port, 2, Limit))];
        await Task.Delay(300);
        await Task.Run(() => TcpRendezvous.Serve(port, worldSize: 3, id, Limit));

        foreach (Task<byte[]> join in joins) (await join).Should().Equal(id);
    }

    [Fact]
    public async Task Rank_0_names_the_ranks_that_never_came_when_the_rendezvous_times_out()
    {
        int port = FreePort();
        // Own threads, and a timeout that leaves rank 1 time to join on a loaded machine (the test suite runs in parallel).
        Task<byte[]> one = Task.Factory.StartNew(() => TcpRendezvous.Join("127.0.0.1", port, 1, Limit), TaskCreationOptions.LongRunning);

        Func<Task> serve = () => Task.Factory.StartNew(() => TcpRendezvous.Serve(port, worldSize: 4, new byte[128], TimeSpan.FromSeconds(6)), TaskCreationOptions.LongRunning);

        await serve.Should().ThrowAsync<DistributedException>().WithMessage("rank 0: the rendezvous on port * timed out after 6 s; ranks missing: 2, 3.");
        (await one).Should().HaveCount(128);
    }

    [Fact]
    public async Task Two_processes_with_the_same_rank_are_refused()
    {
        int port = FreePort();
        Task[] joins = [Task.Run(() => TcpRendezvous.Join("127.0.0.1", port, 1, TimeSpan.FromSeconds(5))), Task.Run(() => TcpRendezvous.Join("127.0.0.1", port, 1, TimeSpan.FromSeconds(5)))];

        Func<Task> serve = () => Task.Run(() => TcpRendezvous.Serve(port, worldSize: 3, new byte[128], Limit));

        await serve.Should().ThrowAsync<DistributedException>().WithMessage("rank 0: rank 1 joined the rendezvous twice (two processes with the same RANK).");
        await Task.WhenAll(joins.Select(j => j.ContinueWith(_ => { }, TaskScheduler.Default)));
    }

    [Fact]
    public void A_rank_that_cannot_reach_rank_0_says_where_it_looked()
    {
        int port = FreePort();

        Action join = () => TcpRendezvous.Join("127.0.0.1", port, 3, TimeSpan.FromSeconds(1));

        join.Should().Throw<DistributedException>().WithMessage($"rank 3: could not reach rank 0 at 127.0.0.1:{port} within 1 s*check MASTER_ADDR and MASTER_PORT*");
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

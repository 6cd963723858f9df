namespace MountHotplug;

/// <summary>What happened to a mount, as fanotify reports it.</summary>
public enum MountEventKind
{
    /// <summary>A mount appeared (mounted, bind-mounted, hot-plugged, propagated in).</summary>
    Attached,

    /// <summary>A mount went away (unmounted, lazily detached, propagated out).</summary>
    Detached,

    /// <summary>A mount moved to another mount point (FAN_MNT_ATTACH and FAN_MNT_DETACH together).</summary>
    Moved,

    /// <summary>The kernel's queue overflowed: events were lost, and the watcher says so instead of going on silently.</summary>
    Overflow,
}

/// <summary>One mount event. <see cref="Entry"/> is the mount as statmount showed it when the event was read (for a
/// detached mount, as it was last seen); null when it was gone before it could be looked up.</summary>
public sealed record MountWatchEvent(DateTimeOffset Time, MountEventKind Kind, ulong MountId, int ProcessId, MountEntry? Entry);

/// <summary>
/// Watches one mount namespace with fanotify mount notifications (Linux 6.15: FAN_MARK_MNTNS on the namespace's nsfs
/// descriptor): no thread enters the namespace. Each event names a mount by its unique id, which statmount resolves; a
/// detached mount can no longer be asked, so the watcher keeps the table it saw (read right after the mark, then kept
/// up to date by the events) to describe it.
/// </summary>
public sealed class MountWatcher : IDisposable
{
    private const int MetadataLength = 24;
    private readonly SafeFanotifyHandle _group;
    private readonly ulong _namespaceId;
    private readonly string? _root;
    private readonly Dictionary<ulong, MountEntry> _known = new();
    private readonly byte[] _buffer = new byte[64 * 1024];

    /// <exception cref="SyscallException">The process has exited, or the kernel refused the group or the mark.</exception>
    public MountWatcher(ContainerNamespace container) : this(container.Pidfd, container.ProcessId)
    {
    }

    internal MountWatcher(SafePidfdHandle pidfd, int pid)
    {
        using (SafeNamespaceHandle ns = MountSyscalls.OpenMountNamespace(pidfd, pid))
        {
            int errno = MountSyscalls.TryGetMountNamespaceId(ns, out _namespaceId);
            if (errno != 0)
            {
                throw SyscallException.Create("ioctl(NS_GET_MNTNS_ID)", errno, $"/proc/{pid}/ns/mnt");
            }

            _group = MountSyscalls.WatchMountNamespace(ns, $"mount namespace of PID {pid}");
        }

        try
        {
            // Marked first, then read: a mount made in between is both in the table and an event, never in neither.
            _root = MountTable.ProcessRoot(pidfd, pid);
            foreach (MountEntry entry in MountTable.Read(pidfd, pid, MountTableSource.ListMount))
            {
                _known[entry.MountId] = entry;
            }
        }
        catch
        {
            _group.Dispose();
            throw;
        }
    }

    /// <summary>The events that arrive within <paramref name="timeout"/> (none when nothing happened), in the kernel's order.</summary>
    public IReadOnlyList<MountWatchEvent> Wait(TimeSpan timeout)
    {
        if (!MountSyscalls.WaitReadable(_group, timeout))
        {
            return Array.Empty<MountWatchEvent>();
        }

        var events = new List<MountWatchEvent>();
        int length;
        while ((length = MountSyscalls.ReadAvailable(_group, _buffer)) > 0)
        {
            Decode(_buffer.AsSpan(0, length), events);
        }

        return events;
    }

    public void Dispose() => _group.Dispose();

    private void Decode(ReadOnlySpan<byte> data, List<MountWatchEvent> events)
    {
        DateTimeOffset now = DateTimeOffset.Now;
        for (int offset = 0; offset + MetadataLength <= data.Length;)
        {
            uint eventLength = BitConverter.ToUInt32(data[offset..]);
            ushort metadataLength = BitConverter.ToUInt16(data[(offset + 6)..]);
            ulong mask = BitConverter.ToUInt64(data[(offset + 8)..]);
            int pid = BitConverter.ToInt32(data[(offset + 20)..]);
            if (eventLength < MetadataLength || offset + eventLength > data.Length)
            {
                break;
            }

            if ((mask & MountSyscalls.FanQueueOverflow) != 0)
            {
                events.Add(new MountWatchEvent(now, MountEventKind.Overflow, 0, pid, null));
            }
            else if (MountIdOf(data.Slice(offset + metadataLength, (int)eventLength - metadataLength)) is { } id)
            {
                bool attach = (mask & MountSyscalls.FanMntAttach) != 0, detach = (mask & MountSyscalls.FanMntDetach) != 0;
                MountEventKind kind = attach && detach ? MountEventKind.Moved : attach ? MountEventKind.Attached : MountEventKind.Detached;
                events.Add(new MountWatchEvent(now, kind, id, pid, Describe(kind, id)));
            }

            offset += (int)eventLength;
        }
    }

    private MountEntry? Describe(MountEventKind kind, ulong id)
    {
        if (kind == MountEventKind.Detached)
        {
            return _known.Remove(id, out MountEntry? gone) ? gone : null;
        }

        // A mount that moved or appeared and is already gone again is described as it was last seen, if ever.
        MountEntry? now = MountTable.StatOne(id, _namespaceId, _root);
        if (now is not null)
        {
            _known[id] = now;
            return now;
        }

        return _known.GetValueOrDefault(id);
    }

    private static ulong? MountIdOf(ReadOnlySpan<byte> info)
    {
        for (int offset = 0; offset + 4 <= info.Length;)
        {
            byte type = info[offset];
            ushort length = BitConverter.ToUInt16(info[(offset + 2)..]);
            if (length < 4)
            {
                break;
            }

            if (type == MountSyscalls.FanEventInfoTypeMnt && length >= 16)
            {
                return BitConverter.ToUInt64(info[(offset + 8)..]);
            }

            offset += length;
        }

        return null;
    }
}

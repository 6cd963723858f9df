// Finds a running container, hot-plugs a host directory into it read-only, and lists the container's mounts, through the
// MountHotplug.Core library alone: no PowerShell. Run as root:
//
//   dotnet run --project examples/HotplugConsole -- --name ct101 --source /srv/data --target /mnt/data
//   dotnet run --project examples/HotplugConsole -- --pid 4242 --source /srv/data --target /mnt/data --unplug
//
// Exit codes: 0 done, 1 the container or the hot-plug failed (the message says why; nothing is left mounted), 2 bad usage.
using MountHotplug;
using MountHotplug.Runtimes;
using MountHotplug.Staging;

var options = new Dictionary<string, string?>(StringComparer.Ordinal);
for (int i = 0; i < args.Length; i++)
{
    string key = args[i];
    bool isSwitch = key is "--unplug" or "--read-write";
    options[key] = isSwitch ? null : i + 1 < args.Length ? args[++i] : null;
}

if (!options.TryGetValue("--source", out string? source) || source is null
    || !options.TryGetValue("--target", out string? target) || target is null
    || (!options.ContainsKey("--pid") && !options.ContainsKey("--name")))
{
    Console.Error.WriteLine("usage: HotplugConsole (--pid PID | --name NAME [--runtime RUNTIME]) --source HOSTDIR --target PATH [--read-write] [--unplug]");
    return 2;
}

try
{
    // 1. Find and pin the container: by PID, or by name through the runtimes (LXC, LXD, runc, crun, podman, docker, nspawn).
    using ContainerNamespace container = options.TryGetValue("--pid", out string? pid) && pid is not null
        ? ContainerNamespace.Open(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture))
        : ContainerLookup.For(options.TryGetValue("--runtime", out string? runtime) && runtime is not null ? Enum.Parse<ContainerRuntime>(runtime, ignoreCase: true) : null,
            lxcPath: null).Open(options["--name"]!);
    Console.WriteLine($"container: {container}");

    // 2. Stage a detached clone of the source with its attributes, then attach it inside the container's own root.
    using StagedMount staged = StagedMount.Clone(Path.GetFullPath(source), new CloneOptions
    {
        Attributes = options.ContainsKey("--read-write") ? MountAttributes.None : MountAttributes.ReadOnly | MountAttributes.NoSuid | MountAttributes.NoDev,
    });
    AttachResult attached = container.Session.Attach(staged, target, new AttachOptions { CreateTarget = true }, trace: Console.WriteLine);
    Console.WriteLine($"attached: mount {attached.MountId} at {attached.Target}" + (attached.CreatedPaths.Count > 0 ? $" (created {string.Join(", ", attached.CreatedPaths)})" : string.Empty));

    // 3. List the container's mounts as it sees them.
    foreach (MountEntry mount in container.Session.ReadMountTable())
    {
        Console.WriteLine($"mount: {mount.MountPoint} {mount.FileSystemType} {mount.Options}");
    }

    // 4. Optionally take it away again, with what was created to reach it.
    if (options.ContainsKey("--unplug"))
    {
        UnmountResult removed = container.Session.Unmount(staged, lazy: false);
        container.Session.RemoveCreatedPaths(staged, attached.CreatedPaths);
        Console.WriteLine($"unplugged: mount {removed.MountId} from {removed.Target}");
    }

    return 0;
}
catch (Exception ex) when (ex is HotplugException or SyscallException or ContainerLookupException or StageException or SealException or FormatException)
{
    Console.Error.WriteLine($"{ex.GetType().Name}: {ex.Message}{(ex.InnerException is SyscallException s ? " " + s.Message : string.Empty)}");
    return 1;
}

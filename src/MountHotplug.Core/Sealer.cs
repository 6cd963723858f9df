using System.Diagnostics;
using System.Globalization;

namespace MountHotplug;

/// <summary>Which step of sealing failed; each has its own error id in the cmdlets.</summary>
public enum SealFailure
{
    /// <summary>The helper program (mhp-seal next to this assembly) is missing, or anyone but its owner may change it.</summary>
    HelperMissing,

    /// <summary>The helper could not be started, crashed, or answered something that is not its protocol.</summary>
    HelperFailed,

    /// <summary>pidfd_getfd between this process and the helper was refused (ptrace restrictions, a security module).</summary>
    TransferFailed,

    /// <summary>Cloning the staged mount failed.</summary>
    CloneFailed,

    /// <summary>Setting up the helper's private mount namespace and carrier failed.</summary>
    PrivateNamespaceFailed,

    /// <summary>setns into the container's user namespace failed.</summary>
    EnterUserNamespaceFailed,

    /// <summary>The container exited meanwhile.</summary>
    ContainerExited,

    /// <summary>unshare(CLONE_NEWNS) inside the container's user namespace, or cloning there, failed.</summary>
    CopyFailed,

    /// <summary>The copy was made, but clearing read-only on it was not refused: this kernel did not lock it.</summary>
    NotLocked,
}

/// <summary>Sealing failed; the staged mount is unchanged. The system call failure, if any, is the inner exception.</summary>
public sealed class SealException : Exception
{
    public SealException(SealFailure failure, string message, SyscallException? syscall = null) : base(message, syscall) => Failure = failure;

    public SealFailure Failure { get; }

    public SyscallException? Syscall => InnerException as SyscallException;
}

/// <summary>
/// Seals a staged mount for a container with its own user namespace: a clone whose read-only, nosuid, nodev, noexec
/// and atime flags carry the kernel's lock bits (MNT_LOCK_*), which root inside that user namespace cannot clear.
/// <para>
/// The kernel sets those bits only when it copies a mount namespace into one owned by a less privileged user namespace
/// (copy_mnt_ns → lock_mnt_tree), and clones keep them. Getting there needs setns(CLONE_NEWUSER), which the kernel refuses
/// to a multithreaded process, so the work is done by mhp-seal, a small static C program shipped next to this assembly
/// (built from seal/mhp-seal.c): no shell, nothing loaded at run time, and it never enters the container's mount namespace.
/// Descriptors cross with pidfd_getfd in both directions, so nothing of ours is ever inherited by another child.
/// </para>
/// <para>
/// What a seal does NOT do: the top of the sealed mount can still be unmounted or moved by the container's root
/// (lock_mnt_tree leaves the root of a copied tree unlocked, and clones drop MNT_LOCKED); only the flags are locked.
/// </para>
/// </summary>
public static class Sealer
{
    private const string HelperName = "mhp-seal";

    /// <summary>Where the helper is expected: next to this assembly (the module's directory, or a test's output).</summary>
    public static string HelperPath => Path.Combine(Path.GetDirectoryName(typeof(Sealer).Assembly.Location) ?? ".", HelperName);

    /// <summary>
    /// A sealed clone of <paramref name="staged"/> (which stays as it is, still staged) for the container whose init
    /// <paramref name="container"/> pins. The caller moves it into the container and disposes it.
    /// </summary>
    /// <exception cref="SealException">A step failed; nothing is left behind.</exception>
    public static SafeMountHandle Seal(SafeMountHandle staged, SafePidfdHandle container, string description)
    {
        string helper = RequireHelper();
        using var mount = DescriptorLease.Of(staged);
        using var pidfd = DescriptorLease.Of(container);
        using Process process = StartHelper(helper, "seal", Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            mount.Fd.ToString(CultureInfo.InvariantCulture), pidfd.Fd.ToString(CultureInfo.InvariantCulture));
        try
        {
            string? answer = process.StandardOutput.ReadLine();
            if (answer is not null && answer.StartsWith("sealed ", StringComparison.Ordinal)
                && int.TryParse(answer.AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out int helperFd))
            {
                // The helper waits on its stdin until we have taken the descriptor, so its PID cannot be reused here.
                using SafePidfdHandle helperPidfd = MountSyscalls.PidfdOpen(process.Id);
                try
                {
                    return MountSyscalls.PidfdGetMount(helperPidfd, helperFd, description);
                }
                catch (SyscallException ex)
                {
                    throw new SealException(SealFailure.TransferFailed,
                        $"Could not take the sealed mount of {description} from the helper (PID {process.Id}).", ex);
                }
            }

            throw Failure(answer, description, process);
        }
        finally
        {
            process.StandardInput.Close();
            process.WaitForExit();
        }
    }

    /// <summary>
    /// Whether this kernel locks a copied mount: mhp-seal seals a read-only tmpfs in a throwaway user namespace of its
    /// own and tries to clear read-only on it. True: refused (sealing works); false: not refused; null: could not tell.
    /// </summary>
    public static KernelFeatureProbe Probe()
    {
        const string Call = "mhp-seal probe: unshare(CLONE_NEWUSER), unshare(CLONE_NEWNS), mount_setattr(clear RDONLY) on the copy";
        try
        {
            using Process process = StartHelper(RequireHelper(), "probe");
            string? answer = process.StandardOutput.ReadLine();
            process.StandardInput.Close();
            process.WaitForExit();
            return answer switch
            {
                "probe locked" => new KernelFeatureProbe(KernelFeature.Seal, true, $"{Call} = EPERM (locked)"),
                "probe unlocked" => new KernelFeatureProbe(KernelFeature.Seal, false, $"{Call} = 0 (not locked)"),
                _ => new KernelFeatureProbe(KernelFeature.Seal, null, $"{Call}: {Describe(answer, process.ExitCode)}"),
            };
        }
        catch (SealException ex)
        {
            return new KernelFeatureProbe(KernelFeature.Seal, null, ex.Message);
        }
    }

    private static string RequireHelper()
    {
        string path = HelperPath;
        if (!File.Exists(path))
        {
            throw new SealException(SealFailure.HelperMissing, $"The -Seal helper {path} is missing; it is built with the module (dotnet build needs gcc and libc-dev).");
        }

        // Root runs it with every capability: a helper that others could replace would be theirs to run as root.
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Sealing needs Linux.");
        }

        UnixFileMode mode = File.GetUnixFileMode(path);
        if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0 || (mode & UnixFileMode.UserExecute) == 0)
        {
            string problem = (mode & UnixFileMode.UserExecute) == 0 ? "not executable" : "writable by group or others";
            throw new SealException(SealFailure.HelperMissing, $"The -Seal helper {path} is {problem} (mode {Convert.ToString((int)mode, 8)}); it is not run.");
        }

        return path;
    }

    private static Process StartHelper(string helper, params string[] arguments)
    {
        // Started directly (no shell), with an empty environment: the static helper reads none, and none should reach it.
        var start = new ProcessStartInfo(helper)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            WorkingDirectory = "/",
        };
        start.Environment.Clear();
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            return Process.Start(start) ?? throw new SealException(SealFailure.HelperFailed, $"Could not start the -Seal helper {helper}.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new SealException(SealFailure.HelperFailed, $"Could not start the -Seal helper {helper}: {ex.Message}.");
        }
    }

    private static SealException Failure(string? answer, string description, Process process)
    {
        string[] parts = answer?.Split(' ') ?? [];
        if (parts.Length != 3 || parts[0] != "error" || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int errno))
        {
            process.StandardInput.Close();
            process.WaitForExit();
            return new SealException(SealFailure.HelperFailed, $"The -Seal helper failed for {description}: {Describe(answer, process.ExitCode)}.");
        }

        string step = parts[1];
        if (step == "not-locked")
        {
            return new SealException(SealFailure.NotLocked,
                $"This kernel did not lock the copy of {description}: clearing read-only on it was allowed inside the container's user namespace, so it is not sealed.");
        }

        (SealFailure failure, string syscall, string what) = step switch
        {
            "parent" => (SealFailure.TransferFailed, "getppid", "find the process that started it"),
            "pidfd_open-parent" or "pidfd_getfd" => (SealFailure.TransferFailed, step.Split('-')[0], "take the staged mount and the container's pidfd from this process"),
            "open_tree-staged" or "fstat" => (SealFailure.CloneFailed, step.Split('-')[0], "clone the staged mount"),
            "setns-user" when errno == (int)Errno.ESRCH => (SealFailure.ContainerExited, "setns", "enter the container's user namespace"),
            "setns-user" => (SealFailure.EnterUserNamespaceFailed, "setns", "enter the container's user namespace"),
            "unshare-locked" => (SealFailure.CopyFailed, "unshare", "copy its mount namespace into one owned by the container's user namespace"),
            "open_tree-sealed" or "open_tree-verify" or "mount_setattr-verify" => (SealFailure.CopyFailed, step.Split('-')[0], "clone the locked copy"),
            _ => (SealFailure.PrivateNamespaceFailed, step.Split('-')[0], "prepare its private mount namespace"),
        };
        return new SealException(failure, $"The -Seal helper could not {what} for {description}.", SyscallException.Create(syscall, errno));
    }

    private static string Describe(string? answer, int exitCode) =>
        answer is null ? $"no answer (exit code {exitCode})" : $"unexpected answer '{answer}' (exit code {exitCode})";
}

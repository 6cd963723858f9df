using System.Runtime.InteropServices;

namespace MountHotplug;

/// <summary>System call numbers for the architectures .NET runs Linux on.</summary>
internal static class SyscallNumbers
{
    private static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    // The calls added since 5.0 share one number on every architecture; the older ones do not.
    internal const long PidfdSendSignal = 424;
    internal const long OpenTree = 428;
    internal const long MoveMount = 429;
    internal const long FsOpen = 430;
    internal const long FsConfig = 431;
    internal const long FsMount = 432;
    internal const long FsPick = 433;
    internal const long PidfdOpen = 434;
    internal const long PidfdGetFd = 438;
    internal const long OpenAt2 = 437;
    internal const long MountSetAttr = 442;
    internal const long StatMount = 457;
    internal const long ListMount = 458;
    internal const long OpenTreeAttr = 467;

    internal static readonly long Close = IsArm64 ? 57 : 3;
    internal static readonly long Read = IsArm64 ? 63 : 0;
    internal static readonly long Ioctl = IsArm64 ? 29 : 16;
    internal static readonly long GetPid = IsArm64 ? 172 : 39;
    internal static readonly long GetTid = IsArm64 ? 178 : 186;
    internal static readonly long CapGet = IsArm64 ? 90 : 125;
    internal static readonly long Fchdir = IsArm64 ? 50 : 81;
    internal static readonly long Umount2 = IsArm64 ? 39 : 166;
    internal static readonly long Unshare = IsArm64 ? 97 : 272;
    internal static readonly long SetNs = IsArm64 ? 268 : 308;
    internal static readonly long OpenAt = IsArm64 ? 56 : 257;
    internal static readonly long MkdirAt = IsArm64 ? 34 : 258;
    internal static readonly long UnlinkAt = IsArm64 ? 35 : 263;
    internal static readonly long Statx = IsArm64 ? 291 : 332;
    internal static readonly long FchownAt = IsArm64 ? 54 : 260;
    internal static readonly long Flock = IsArm64 ? 32 : 73;
    internal static readonly long FanotifyInit = IsArm64 ? 262 : 300;
    internal static readonly long FanotifyMark = IsArm64 ? 263 : 301;
    internal static readonly long Ppoll = IsArm64 ? 73 : 271;
}

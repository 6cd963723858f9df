using System.Runtime.InteropServices;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// The numbers the interop gives the kernel for each O_* flag, on both architectures SyscallNumbers knows: checked against
/// the uapi headers' values (asm-generic/fcntl.h, and arch/arm64/include/uapi/asm/fcntl.h for the two arm64 renumbers:
/// kernel-notes N1), and on the kernel of the machine the tests run on.
/// </summary>
public sealed class OpenFlagValuesTests
{
    public static TheoryData<OpenFlags, ulong, ulong> KernelValues => new()
    {
        { OpenFlags.ReadOnly, 0x0, 0x0 },
        { OpenFlags.WriteOnly, 0x1, 0x1 },
        { OpenFlags.ReadWrite, 0x2, 0x2 },
        { OpenFlags.Create, 0x40, 0x40 },
        { OpenFlags.Exclusive, 0x80, 0x80 },
        { OpenFlags.NonBlock, 0x800, 0x800 },
        { OpenFlags.Directory, 0x10000, 0x4000 },
        { OpenFlags.NoFollow, 0x20000, 0x8000 },
        { OpenFlags.CloseOnExec, 0x80000, 0x80000 },
        { OpenFlags.Path, 0x200000, 0x200000 },
    };

    [Theory]
    [MemberData(nameof(KernelValues))]
    public void EachFlagHasTheKernelsValueOnEachArchitecture(OpenFlags flag, ulong x64, ulong arm64)
    {
        Assert.Equal(x64, OpenFlagValues.ForKernel(flag, Architecture.X64));
        Assert.Equal(arm64, OpenFlagValues.ForKernel(flag, Architecture.Arm64));
    }

    [Fact]
    public void EveryFlagOfTheEnumIsInTheTable()
    {
        // A flag added to the enum without its arm64 value looked up would otherwise pass as x86_64's.
        var listed = KernelValues.Select(row => (OpenFlags)row[0]).ToHashSet();

        Assert.DoesNotContain(Enum.GetValues<OpenFlags>(), f => !listed.Contains(f));
    }

    [Fact]
    public void CombinationsAreRenumberedFlagByFlag()
    {
        OpenFlags lastComponent = OpenFlags.Path | OpenFlags.NoFollow | OpenFlags.CloseOnExec;
        OpenFlags directory = OpenFlags.Path | OpenFlags.Directory | OpenFlags.CloseOnExec;
        OpenFlags lockFile = OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.NoFollow | OpenFlags.CloseOnExec;

        Assert.Equal(0x200000UL | 0x8000 | 0x80000, OpenFlagValues.ForKernel(lastComponent, Architecture.Arm64));
        Assert.Equal(0x200000UL | 0x4000 | 0x80000, OpenFlagValues.ForKernel(directory, Architecture.Arm64));
        Assert.Equal(0x2UL | 0x40 | 0x8000 | 0x80000, OpenFlagValues.ForKernel(lockFile, Architecture.Arm64));
        Assert.Equal((ulong)lastComponent, OpenFlagValues.ForKernel(lastComponent, Architecture.X64));
    }

    [Fact]
    public void TheKernelOfThisMachineChecksADirectoryAndDoesNotFollowALink()
    {
        // With another architecture's numbers both opens below succeed quietly: O_DIRECT and O_LARGEFILE mean nothing to O_PATH.
        string dir = Directory.CreateTempSubdirectory("mhp-flags-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "file"), "x");
            File.CreateSymbolicLink(Path.Combine(dir, "link"), dir);

            using (SafePathHandle? file = MountSyscalls.TryOpen(Path.Combine(dir, "file"), OpenFlags.Path | OpenFlags.Directory, out int errno))
            {
                Assert.Null(file);
                Assert.Equal((int)Errno.ENOTDIR, errno);
            }

            using SafePathHandle link = MountSyscalls.Open(Path.Combine(dir, "link"), OpenFlags.Path | OpenFlags.NoFollow);
            Assert.True(MountSyscalls.Statx(link).IsSymlink);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

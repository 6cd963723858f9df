using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// StagedMount.Clone makes its clone with one open_tree_attr where the kernel has it (6.15) and with open_tree and
/// mount_setattr where it has not (kernel-notes N15). Both ways must make the same mount: each combination is cloned
/// both ways, attached into a real container, and the two rows of its mount table compared.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class CloneTests
{
    public static TheoryData<MountAttributes, MountPropagation, bool> Combinations => new()
    {
        { MountAttributes.None, MountPropagation.Private, false },
        { MountAttributes.ReadOnly | MountAttributes.NoSuid, MountPropagation.Private, true },
        { MountAttributes.NoDev | MountAttributes.NoExec | MountAttributes.NoSymFollow, MountPropagation.Shared, false },
        { MountAttributes.ReadOnly | MountAttributes.NoAtime, MountPropagation.Unbindable, true },
        { MountAttributes.NoSuid | MountAttributes.StrictAtime, MountPropagation.Slave, true },
        { MountAttributes.ReadOnly | MountAttributes.NoDirAtime, MountPropagation.Shared, true },
    };

    [SkippableTheory]
    [MemberData(nameof(Combinations))]
    public void OpenTreeAttrAndTheStepsMakeTheSameMount(MountAttributes attributes, MountPropagation propagation, bool recurse)
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);
        Skip.IfNot(KernelFeatures.Probe(KernelFeature.OpenTreeAttr).Supported == true, "this kernel has no open_tree_attr (6.15) to compare with");

        // A mount below the source, so that the recursive clone has a second mount for the attributes to reach.
        string sub = Path.Combine(tree.Data, "sub");
        Directory.CreateDirectory(sub);
        Run("mount", "-t", "tmpfs", "mhp-clone-sub", sub);
        try
        {
            using ContainerNamespace ns = ContainerNamespace.Open(container.Pid);
            var options = new CloneOptions { Attributes = attributes, Propagation = propagation, Recurse = recurse };

            var inOne = new List<string>();
            using (StagedMount staged = StagedMount.Clone(tree.Data, options, inOne.Add))
            {
                ns.Session.Attach(staged, "/one", new AttachOptions { CreateTarget = true });
            }

            var inSteps = new List<string>();
            using (KernelFeatures.OverrideForTesting(KernelFeature.OpenTreeAttr, supported: false))
            using (StagedMount staged = StagedMount.Clone(tree.Data, options, inSteps.Add))
            {
                ns.Session.Attach(staged, "/steps", new AttachOptions { CreateTarget = true });
            }

            // What each way asked the kernel: one call, or the clone and then its attributes.
            Assert.StartsWith("open_tree_attr(", Assert.Single(inOne));
            Assert.EndsWith(") = fd " + inOne[0].Split("= fd ")[1], inOne[0]);
            Assert.Equal(["open_tree(", "mount_setattr("], inSteps.Select(t => t[..(t.IndexOf('(') + 1)]));

            foreach (string below in recurse ? new[] { string.Empty, "/sub" } : [string.Empty])
            {
                MountInfo one = ContainerView.MountAt(container, "/one" + below) ?? throw new Xunit.Sdk.XunitException($"nothing mounted at /one{below}");
                MountInfo steps = ContainerView.MountAt(container, "/steps" + below) ?? throw new Xunit.Sdk.XunitException($"nothing mounted at /steps{below}");
                Assert.Equal(steps.Options, one.Options);
                Assert.Equal(steps.Propagation, one.Propagation);
                Assert.Equal(steps.Master != 0, one.Master != 0);
                Assert.Equal(steps.FileSystemType, one.FileSystemType);
            }

            // And what was asked for is what is there (not two ways of getting it equally wrong).
            MountInfo top = ContainerView.MountAt(container, "/one")!;
            Assert.Equal((attributes & MountAttributes.ReadOnly) != 0, top.IsReadOnly);
            Assert.Equal((attributes & MountAttributes.NoSuid) != 0, top.Options.Split(',').Contains("nosuid"));
            Assert.Equal((attributes & MountAttributes.NoExec) != 0, top.Options.Split(',').Contains("noexec"));
            Assert.Equal(propagation == MountPropagation.Unbindable, (top.Propagation & PropagationState.Unbindable) != 0);
            Assert.Equal(propagation == MountPropagation.Shared, (top.Propagation & PropagationState.Shared) != 0);
            Assert.Equal(recurse, ContainerView.MountAt(container, "/one/sub") is not null);
        }
        finally
        {
            Run("umount", "-l", sub);
        }
    }

    [SkippableFact]
    public void AMissingSourceIsOpenTreesEnoentEitherWay()
    {
        using var scenario = Scenario.Start(containers: [], sessions: 0);
        string missing = Path.Combine(scenario.Tree.Root, "no-such-dir");
        foreach (bool withOpenTreeAttr in new[] { true, false })
        {
            var trace = new List<string>();
            using (KernelFeatures.OverrideForTesting(KernelFeature.OpenTreeAttr, withOpenTreeAttr))
            {
                SyscallException ex = Assert.ThrowsAny<SyscallException>(() => StagedMount.Clone(missing, new CloneOptions { Attributes = MountAttributes.ReadOnly }, trace.Add));
                Assert.Equal(("open_tree", Errno.ENOENT, missing), (ex.Syscall, ex.Errno, ex.Path));
            }

            Assert.Equal(withOpenTreeAttr, trace.Any(t => t.StartsWith("open_tree_attr(", StringComparison.Ordinal) && t.Contains("= ENOENT; the same again in steps")));
        }
    }

    private static void Run(params string[] command)
    {
        ExecResult result = ChildProcess.Run(command, TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, $"{string.Join(' ', command)}: {result.StandardError}");
    }
}

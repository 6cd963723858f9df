using System.Reflection;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>The line between the core and the cmdlets (docs/architecture.md), checked on the built assemblies.</summary>
public sealed class LayerTests
{
    [Fact]
    public void TheCoreReferencesNoPowerShell()
    {
        Assembly core = typeof(ContainerSession).Assembly;
        Assert.Equal("MountHotplug.Core", core.GetName().Name);
        Assert.DoesNotContain(core.GetReferencedAssemblies(), a => a.Name!.StartsWith("System.Management.Automation", StringComparison.Ordinal));
    }

    [Fact]
    public void TheCmdletsSeeNeitherTheSystemCallsNorTheNamespaceThread()
    {
        Assembly core = typeof(ContainerSession).Assembly;
        foreach (string hidden in new[] { "MountHotplug.MountSyscalls", "MountHotplug.NamespaceWorker", "MountHotplug.ContainerTarget", "MountHotplug.InRootPath" })
        {
            Type type = core.GetType(hidden, throwOnError: true)!;
            Assert.False(type.IsVisible, $"{hidden} is public");
        }

        string friends = string.Join(",", core.GetCustomAttributes<System.Runtime.CompilerServices.InternalsVisibleToAttribute>().Select(a => a.AssemblyName));
        Assert.Equal("MountHotplug.Tests,MountHotplug.Bench", friends);
        string cmdlets = Path.Combine(Mhp.RepositoryRoot, "src", "MountHotplug");
        var uses = Directory.EnumerateFiles(cmdlets, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f) is var text && (text.Contains("MountSyscalls", StringComparison.Ordinal) || text.Contains("NamespaceWorker", StringComparison.Ordinal)))
            .ToList();
        Assert.Empty(uses);
    }
}

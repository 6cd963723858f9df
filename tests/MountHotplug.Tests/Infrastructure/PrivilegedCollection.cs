using Xunit;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// Privileged tests run one at a time, after the parallel unit tests: they compare descriptor counts and the
/// namespace of every thread of the process, which other tests running beside them would disturb.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PrivilegedCollection
{
    public const string Name = "Privileged";
}

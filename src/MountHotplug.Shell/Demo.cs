using System.Management.Automation.Runspaces;
using MountHotplug.Sandbox;

namespace MountHotplug.Shell;

/// <summary>
/// mhp demo: starts a throwaway busybox container, hot-plugs a host directory into it read-only with the real
/// cmdlets, shows what the container sees, and removes everything again.
/// </summary>
internal static class Demo
{
    public static int Run()
    {
        if (Environment.UserName != "root")
        {
            return Program.Fail("mhp demo needs root (it starts a container and mounts into it): sudo ./mhp demo");
        }

        Busybox.EnsureInstalled();
        string hostTableBefore = File.ReadAllText("/proc/self/mountinfo");
        DirectoryInfo source = Directory.CreateTempSubdirectory("mhp-demo-");
        string data = Path.Combine(source.FullName, "data");
        Directory.CreateDirectory(data);
        File.WriteAllText(Path.Combine(data, "hello.txt"), $"Hello from the host ({Environment.MachineName}), written {DateTime.UtcNow:u}\n");

        try
        {
            using SandboxContainer container = SandboxContainer.Start(SandboxKind.PivotRoot);
            Section($"Started container {container.Name}: init PID {container.Pid}, own mount/pid/uts namespaces, busybox rootfs, pivot_root'ed");
            Console.Out.WriteLine($"Inside, /mnt holds: [{container.Exec("ls", "/mnt").StandardOutput.Trim()}]");

            var host = new ConsoleHost();
            using Runspace runspace = Program.OpenRunspace(host);
            string script = $"""
                $ct = Get-ContainerNamespace -ProcessId {container.Pid}
                $ct
                New-StagedMount -Path {data} -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget -PassThru
                """;
            Section("Hot-plug, in PowerShell");
            foreach (string line in script.Split('\n'))
            {
                Console.Out.WriteLine($"PS> {line}");
            }

            // One Out-Default per statement, as at a prompt, so that each object type gets its own table view.
            foreach (string statement in script.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                int rc = Program.Execute(runspace, host, statement, Array.Empty<string>());
                if (rc != 0)
                {
                    return rc;
                }
            }

            Program.Execute(runspace, host, "$ct.Dispose()", Array.Empty<string>());
            Section("What the container sees (commands run inside it)");
            Show(container, "grep", " /mnt/data ", "/proc/self/mountinfo");
            Show(container, "ls", "-l", "/mnt/data");
            Show(container, "cat", "/mnt/data/hello.txt");
            Show(container, "sh", "-c", "echo overwrite > /mnt/data/hello.txt");

            Section("The host");
            bool unchanged = hostTableBefore == File.ReadAllText("/proc/self/mountinfo");
            Console.Out.WriteLine($"Host mount table unchanged by the hot-plug: {(unchanged ? "yes" : "NO")}");
            Console.Out.WriteLine($"Stopping {container.Name} and removing {source.FullName}.");
            return unchanged ? 0 : 1;
        }
        finally
        {
            source.Delete(recursive: true);
        }
    }

    private static void Section(string title) => Console.Out.WriteLine($"\n== {title}");

    private static void Show(SandboxContainer container, params string[] argv)
    {
        Console.Out.WriteLine($"{container.Name}# {string.Join(' ', argv.Select(a => a.Contains(' ') ? $"'{a}'" : a))}");
        ExecResult result = container.Exec(argv);
        Console.Out.Write(result.StandardOutput);
        Console.Out.Write(result.StandardError);
        if (result.ExitCode != 0)
        {
            Console.Out.WriteLine($"(exit code {result.ExitCode})");
        }
    }
}

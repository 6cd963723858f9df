# Lists here are comma lists, not @( ) blocks: Import-Module evaluates this file, and a multi-line @( ) is compiled by
# the engine's interpreter, whose code a one-shot pwsh JIT-compiles (about 55 methods; docs/performance.md).
@{
    RootModule           = 'MountHotplug.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1d8c2e-4b7a-4e52-9a3c-2d5e8b7f9a10'
    Author               = 'MountHotplug contributors'
    CompanyName          = 'MountHotplug'
    Copyright            = '(c) 2026 MountHotplug contributors. MIT License.'
    Description          = 'Hot-plug mounts into running Linux containers with the new mount API (open_tree, fsopen, move_mount, mount_setattr): bind host paths or new filesystems, replace them atomically (MOVE_MOUNT_BENEATH), unplug them, and join mounts into peer groups (MOVE_MOUNT_SET_GROUP).'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = 'Core'
    RequiredAssemblies   = 'MountHotplug.Core.dll'
    FormatsToProcess     = 'MountHotplug.Format.ps1xml'
    CmdletsToExport      =
        'New-StagedMount',
        'Get-ContainerNamespace',
        'Move-MountIntoNamespace',
        'Set-MountGroup',
        'Remove-Mount',
        'Get-MountApiSupport',
        'Get-Mount',
        'Set-MountAttribute',
        'Export-MountTopology',
        'Restore-MountTopology',
        'Get-StagedMount',
        'Remove-StagedMount',
        'Watch-Mount',
        'Sync-ContainerMount'
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = 'Linux', 'Mount', 'Container', 'Namespace', 'LXC', 'Proxmox', 'Podman', 'Docker', 'CRIU', 'PSEdition_Core'
            LicenseUri = 'https://opensource.org/licenses/MIT'
            ProjectUri = 'https://github.com/MountHotplug/MountHotplug'
            ReleaseNotes = '0.1.0: hot-plug host paths and new filesystems into running containers (LXC/Proxmox, LXD/Incus, runc, crun, podman, docker, nspawn), sealed read-only hot-plugs (-Seal), Watch-Mount (fanotify mount events), Sync-ContainerMount (converging hot-plugs from a list, with -Prune), atomic replace, unplug, peer groups across namespaces, Get-Mount, Set-MountAttribute, mount topology export and restore, staged mounts per container for LXC hooks; name lookups that a hostile container cannot steer.'
        }
    }
}

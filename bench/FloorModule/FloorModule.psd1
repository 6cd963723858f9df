@{
    RootModule        = 'FloorModule.dll'
    ModuleVersion     = '0.1.0'
    GUID              = '0b1f5d2a-6c3e-4f7b-9d8a-5e2c1a7b3f64'
    Description       = 'bench/cold.sh: the least a binary module is, to measure what any binary module costs a one-shot pwsh.'
    CmdletsToExport   = @('Test-FloorModule')
    FunctionsToExport = @()
    VariablesToExport = @()
    AliasesToExport   = @()
}

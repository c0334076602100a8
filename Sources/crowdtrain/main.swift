import CrowdCLI

// The executable only hands the arguments to the CLI library (thin executable, STYLE rule 2).
await CrowdTrainCommand.runFromCommandLine()

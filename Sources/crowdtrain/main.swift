// The executable only composes the command tree (CrowdTrainCommand: the CLI's commands and the benchmarks) and
// hands it the arguments (thin executable, STYLE rule 2).
await CrowdTrainCommand.runFromCommandLine()

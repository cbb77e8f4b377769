import ArgumentParser
import Fluxion
import Foundation

struct FluxionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fluxion",
        abstract: "Differentiable programming and generative models in Swift.",
        subcommands: [Demo.self, DiffusionStudy.self, Train.self, Reflow.self, Sample.self, Eval.self, Generate.self, Bench.self, CalculusCommand.self, RandomWalkCommand.self, HiPPOCommand.self, SSMScalingCommand.self])
}

// Exit codes: 64 (EX_USAGE) for a bad command line or option value, including a model option
// the library rejects (FluxionError.invalidArgument); 1 for a failure while working (an unreadable
// or damaged file, a diverged loss); 130 after Ctrl-C. A failure prints one line, no usage text.
do {
    var command = try FluxionCommand.parseAsRoot()
    try command.run()
} catch let error as FluxionError {
    printError("Error: \(error)")
    exit(error.kind == .invalidArgument ? 64 : 1)
} catch {
    FluxionCommand.exit(withError: error)
}

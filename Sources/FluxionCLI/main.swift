import ArgumentParser
import Fluxion
import Foundation

struct FluxionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fluxion",
        abstract: "Differentiable programming and generative models in Swift.",
        subcommands: [Demo.self, DiffusionStudy.self, Train.self, Reflow.self, Sample.self, Eval.self, Generate.self, Bench.self, CalculusCommand.self, RandomWalkCommand.self])
}

FluxionCommand.main()

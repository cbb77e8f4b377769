import ArgumentParser
import Fluxion
import Foundation

/// `fluxion generate RUN`: samples text from a character language-model run (`train rnn|lstm|
/// gru|transformer --task chars --text FILE`). The model and its vocabulary come from the run
/// folder alone: the training text is not needed.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a character language-model run (train ... --task chars).")

    @Argument(help: "The run folder.") var folder: String
    @Option(help: "Characters to generate.") var count = 400
    @Option(help: "Text to start from (characters outside the vocabulary are dropped).") var prompt = ""
    @Option(help: "Sampling temperature (> 0).") var temperature = 0.8
    @Option(help: "Keep only the k most likely characters (0: all).") var topK = 0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Use the last checkpoint, not the best-validation model.") var last = false

    func run() throws {
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be a positive number, got \(temperature)") }
        guard (0...1_000_000).contains(count) else { throw ValidationError("--count must be in 0...1000000, got \(count)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be non-negative, got \(topK)") }
        let config = try TrainingRun<SequenceRunModel>.readConfiguration(folder: folder)
        guard RunModels.registry[config.model]!.trainsOnSequenceTasks, config.data == "chars" else {
            throw ValidationError("\(folder) is a \(config.model) run on '\(config.data)', not a character language model (--task chars)")
        }
        let run = try TrainingRun<SequenceRunModel>.load(folder: folder, best: !last, requireData: false)
        for notice in run.notices { printError("notice: \(notice)") }
        guard let task = run.data.task as? CharacterTask else { throw ValidationError("\(folder) is not a character-level run") }
        var rng = SeededGenerator(seed: seed)
        var context = try task.encode(prompt)
        if context.isEmpty { context = [Int32(rng.next() % UInt64(task.characters.count))] }
        let output = try run.model.generate(context: context, count: count, temperature: temperature, topK: topK, using: &rng)
        print(task.decode(output))
    }
}

import XCTest
import FluxionGenerative
import FluxionNN
import FluxionOptim
import FluxionData

/// Recurrent sequence models must learn: these fail if training does not reach well above chance.
final class SequenceModelTests: XCTestCase {
    func testLSTMLearnsInductionHeadsOnShortSequences() {
        var rng = SeededGenerator(seed: 1)
        let task = InductionHeadsTask(length: 8, vocabulary: 6)
        var model = RecurrentSequenceModel(.lstm, vocabularySize: 6, width: 16, hiddenSize: 48, outputSize: 6, using: &rng)
        var opt = Adam(learningRate: 1e-2)
        SequenceTrainer(batchSize: 64).train(&model, on: task, steps: 300, using: &rng, optimizer: &opt)
        let (_, accuracy) = SequenceObjective.evaluate(model, task.evaluationBatch(size: 512, using: &rng), task.target)
        XCTAssertGreaterThan(accuracy!, 0.8, "chance is 0.25")
    }

    func testGRULearnsTheAddingProblemOnShortSequences() {
        var rng = SeededGenerator(seed: 2)
        let task = AddingTask(length: 12)
        var model = RecurrentSequenceModel(.gru, vocabularySize: nil, featureCount: 2, width: 8, hiddenSize: 24, outputSize: 1, using: &rng)
        var opt = Adam(learningRate: 1e-2)
        SequenceTrainer(batchSize: 64).train(&model, on: task, steps: 300, using: &rng, optimizer: &opt)
        let (mse, _) = SequenceObjective.evaluate(model, task.evaluationBatch(size: 512, using: &rng), task.target)
        XCTAssertLessThan(mse, 0.02, "predicting the mean gives ≈ 0.167")
    }
}

import Foundation
import FluxionNN
import FluxionData

// DDPM, rectified flow and CNF as `RunModel`s: `fluxion train ddpm|rectified-flow|cnf --data NAME`,
// `fluxion sample RUN --solver S --steps N`, `fluxion eval RUN`, `fluxion reflow RUN`.
// Every option lands in config.json (string values), so a run rebuilds exactly.

/// The velocity/noise network of the three models from the shared options `hidden`, `layers`,
/// `time_frequencies`, `activation` (silu, tanh, relu, gelu, softplus).
private func makeNetwork(_ c: RunConfiguration, dimension: Int) throws -> TimeConditionedMLP {
    let hidden = try c.integer("hidden", default: 128), layers = try c.integer("layers", default: 3)
    let frequencies = try c.integer("time_frequencies", default: 0)
    guard hidden >= 1, hidden <= 4096, layers >= 1, layers <= 16, frequencies >= 0, frequencies <= 32 else {
        throw FluxionError(.invalidArgument, "hidden must be in 1...4096, layers in 1...16, time_frequencies in 0...32")
    }
    let activation: Activation.Kind
    switch c.options["activation"] ?? "silu" {
    case "silu": activation = .silu
    case "tanh": activation = .tanh
    case "relu": activation = .relu
    case "gelu": activation = .gelu
    case "softplus": activation = .softplus
    case let other: throw FluxionError(.invalidArgument, "activation must be silu, tanh, relu, gelu or softplus, got '\(other)'")
    }
    var rng = SeededGenerator(seed: c.seed)
    return TimeConditionedMLP(dimension: dimension, hiddenSizes: Array(repeating: hidden, count: layers), activation: activation,
                              timeFrequencies: frequencies, using: &rng)
}

private func requirePoints(_ data: RunDataset, _ model: String) throws {
    guard data.eventShape == [2] else { throw FluxionError(.invalidArgument, "\(model) runs on the 2-D data sets, not \(data.name)") }
}

func odeMethod(_ name: String) throws -> ODEMethod {
    guard let m = ODEMethod(rawValue: name) else {
        throw FluxionError(.invalidArgument, "unknown solver '\(name)'; known: \(ODEMethod.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return m
}

/// `count` held-out points (the first ones) and the energy distance of `samples` to them.
private func quality(_ samples: Tensor, _ test: Tensor) -> Double {
    energyDistance(samples, test[0..<Swift.min(test.shape[0], samples.shape[0])])
}

/// Exact −mean log p(x) in nats of the flow dx/dt = v (data at t = 0, prior N(0, I) at t = 1):
/// CNF change of variables, exact trace, Dopri5 (rtol = atol = 1e-5), in blocks of 1000.
func exactNegativeLogLikelihood<M: TimeConditionedModel>(_ model: M, _ x: Tensor, using rng: inout SeededGenerator) throws -> Double {
    let cnf = ContinuousNormalizingFlow(model: model)
    let solver = ODESolver(method: .dopri5, relativeTolerance: 1e-5, absoluteTolerance: 1e-5)
    var total = 0.0
    var start = 0
    while start < x.shape[0] {
        let end = Swift.min(start + 1000, x.shape[0])
        let logp = try cnf.logDensity(x[start..<end], solver: solver, using: &rng)
        total += logp.sum().item
        start = end
    }
    return -total / Double(x.shape[0])
}

/// DDPM (`fluxion train ddpm`): options `schedule` (linear|cosine), `diffusion_steps` (T, 1000),
/// `prediction` (epsilon|velocity|data), network options, `sampler` (ancestral|ddim|euler|heun|rk4|
/// dopri5: the last four integrate the probability-flow ODE), `sample_steps` (ancestral: T; else 50).
/// Evaluation: energy distance to held-out data with 1000 ancestral and 50 DDIM steps.
public struct DDPMRunModel: RunModel {
    /// The noise-prediction network f(x_t, t) (input 2-D points and the time).
    public var network: TimeConditionedMLP
    /// The variance schedule β₁…β_T (option `schedule`, `diffusion_steps`).
    public let schedule: NoiseSchedule
    /// What the network predicts: ε, the velocity or the data (option `prediction`).
    public let prediction: DiffusionPrediction
    /// The default sampler: `ancestral`, `ddim` or an ODE solver for the probability-flow ODE.
    public let sampler: String
    /// The default number of sampling steps (T for ancestral, else 50).
    public let sampleSteps: Int

    /// Visits the network's parameters under `network.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        network.visitParameters(prefix: Self.join(prefix, "network"), body)
    }

    /// Requires 2-D point data; fills defaults (hidden 128, layers 3, time_frequencies 2, silu, linear
    /// schedule, T = 1000, epsilon, ancestral) and checks them by building the model.
    public static func resolve(_ c: inout RunConfiguration, data: RunDataset) throws {
        try requirePoints(data, "ddpm")
        c.setDefault("hidden", "128"); c.setDefault("layers", "3"); c.setDefault("time_frequencies", "2"); c.setDefault("activation", "silu")
        c.setDefault("schedule", "linear"); c.setDefault("diffusion_steps", "1000"); c.setDefault("prediction", "epsilon")
        c.setDefault("sampler", "ancestral")
        _ = try Self(configuration: c, data: data)
    }

    /// Builds the model from `c.options`; throws `invalidArgument` naming a bad option.
    public init(configuration c: RunConfiguration, data: RunDataset) throws {
        network = try makeNetwork(c, dimension: 2)
        guard let kind = NoiseSchedule.Kind(rawValue: c.options["schedule"] ?? "linear") else {
            throw FluxionError(.invalidArgument, "schedule must be linear or cosine")
        }
        let steps = try c.integer("diffusion_steps", default: 1000)
        guard steps >= 2, steps <= 100_000 else { throw FluxionError(.invalidArgument, "diffusion_steps must be in 2...100000") }
        schedule = NoiseSchedule(kind: kind, stepCount: steps)
        guard let p = DiffusionPrediction(rawValue: c.options["prediction"] ?? "epsilon") else {
            throw FluxionError(.invalidArgument, "prediction must be epsilon, velocity or data")
        }
        prediction = p
        sampler = c.options["sampler"] ?? "ancestral"
        guard ["ancestral", "ddim"].contains(sampler) || ODEMethod(rawValue: sampler) != nil else {
            throw FluxionError(.invalidArgument, "sampler must be ancestral, ddim or an ODE solver for the PF-ODE, got '\(sampler)'")
        }
        sampleSteps = try c.integer("sample_steps", default: sampler == "ancestral" ? steps : 50)
        guard (1...1_000_000).contains(sampleSteps) else { throw FluxionError(.invalidArgument, "sample_steps must be in 1...1000000, got \(sampleSteps)") }
    }

    /// The DDPM objective (Ho et al. 2020) on `batch.data` [B, 2]: the mean squared error of the
    /// network's prediction at a random step t with noise drawn from `rng`.
    public func loss(_ batch: RunBatch, using rng: inout SeededGenerator) -> Tensor {
        diffusionLoss(network, data: batch.data, schedule: schedule, prediction: prediction, using: &rng)
    }

    /// `count` samples [count, 2] from Gaussian noise with `options.solver` (else `sampler`):
    /// ancestral (all T steps), DDIM (Song et al. 2021) or a probability-flow ODE solve.
    public func sample(count: Int, options: SampleOptions, using rng: inout SeededGenerator) throws -> Tensor {
        let name = options.solver ?? sampler
        guard ["ancestral", "ddim"].contains(name) || ODEMethod(rawValue: name) != nil else {
            throw FluxionError(.invalidArgument, "--solver for ddpm must be ancestral, ddim or an ODE solver (\(ODEMethod.allCases.map(\.rawValue).joined(separator: ", "))), got '\(name)'")
        }
        if name == "ancestral", options.steps != nil {
            throw FluxionError(.invalidArgument, "--steps does not apply to the ancestral sampler (it takes all \(schedule.stepCount) steps); use --solver ddim")
        }
        let noise = Tensor.randomNormal(shape: [count, 2], using: &rng)
        switch name {
        case "ancestral":
            return ddpmSample(network, noise: noise, schedule: schedule, prediction: prediction, using: &rng)
        case "ddim":
            let k = Swift.min(schedule.stepCount, options.steps ?? (sampler == "ddim" ? sampleSteps : 50))
            return ddimSample(network, noise: noise, schedule: schedule, timesteps: schedule.timesteps(count: k), prediction: prediction, using: &rng)
        default:
            let solver = ODESolver(method: try odeMethod(name), steps: options.steps ?? 50)
            return try probabilityFlowSample(network, noise: noise, schedule: schedule, prediction: prediction, solver: solver).samples
        }
    }

    /// Energy distances to up to 4,000 test points of ancestral and 50-step DDIM samples, and the count.
    public func evaluate(_ test: RunBatch, data: RunDataset, using rng: inout SeededGenerator) throws -> [(name: String, value: Double)] {
        let test = test.data
        let n = Swift.min(4000, test.shape[0])
        let ancestral = try sample(count: n, options: SampleOptions(solver: "ancestral"), using: &rng)
        let ddim = try sample(count: n, options: SampleOptions(steps: 50, solver: "ddim"), using: &rng)
        return [("energy_distance_ancestral", quality(ancestral, test)), ("energy_distance_ddim50", quality(ddim, test)),
                ("test_count", Double(n))]
    }
}

/// Rectified flow / conditional flow matching (`fluxion train rectified-flow`): options network
/// (`time_frequencies` 0: input [x, t] as the rectflow2d benchmark), `timesteps` (uniform,
/// logit-normal:M,S, mode:S, cosmap), `shift` (α), `sigma_min`, `solver` and `sample_steps`
/// (euler, 100), and for reflow `reflow_pairs` (a safetensors file with `data` and `noise`),
/// `init_from` (the k-RF's model.safetensors) and `rectification` (k + 1).
/// Evaluation: exact NLL, energy distance at 1, 2, 4, 8, 100 Euler steps, straightness.
public struct RectifiedFlowRunModel: RunModel {
    /// The velocity network v(x_t, t) (input 2-D points and the time).
    public var network: TimeConditionedMLP
    /// The distribution of training times t (option `timesteps`).
    public let timesteps: TimestepSampler
    /// The timestep shift α (option `shift`, 1 = none).
    public let shift: Double
    /// The noise floor σ_min of the interpolation (option `sigma_min`, 0 by default).
    public let sigmaMin: Double
    /// The default sampling solve (option `solver`, `sample_steps`: Euler, 100 steps).
    public let solver: ODESolver
    /// Reflow pairs (data, noise) when this is a (k+1)-rectified flow.
    public let pairs: (data: Tensor, noise: Tensor)?

    /// Visits the network's parameters under `network.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        network.visitParameters(prefix: Self.join(prefix, "network"), body)
    }

    /// Requires 2-D point data; fills defaults (hidden 128, layers 3, time_frequencies 0, silu, uniform
    /// timesteps, shift 1, sigma_min 0, Euler with 100 steps) and checks them by building the model.
    public static func resolve(_ c: inout RunConfiguration, data: RunDataset) throws {
        try requirePoints(data, "rectified-flow")
        c.setDefault("hidden", "128"); c.setDefault("layers", "3"); c.setDefault("time_frequencies", "0"); c.setDefault("activation", "silu")
        c.setDefault("timesteps", "uniform"); c.setDefault("shift", "1"); c.setDefault("sigma_min", "0")
        c.setDefault("solver", "euler"); c.setDefault("sample_steps", "100"); c.setDefault("rectification", "1")
        _ = try Self(configuration: c, data: data)
    }

    /// Builds the model from `c.options` (loading `reflow_pairs` and `init_from` when given); throws
    /// naming a bad option or file.
    public init(configuration c: RunConfiguration, data: RunDataset) throws {
        network = try makeNetwork(c, dimension: 2)
        guard let t = TimestepSampler(parsing: c.options["timesteps"] ?? "uniform") else {
            throw FluxionError(.invalidArgument, "timesteps must be uniform, logit-normal:M,S, mode:S or cosmap")
        }
        timesteps = t
        shift = try c.number("shift", default: 1)
        sigmaMin = try c.number("sigma_min", default: 0)
        guard shift > 0, sigmaMin >= 0, sigmaMin < 1 else { throw FluxionError(.invalidArgument, "shift must be positive and sigma_min in [0, 1)") }
        let steps = try c.integer("sample_steps", default: 100)
        guard (1...1_000_000).contains(steps) else { throw FluxionError(.invalidArgument, "sample_steps must be in 1...1000000, got \(steps)") }
        solver = ODESolver(method: try odeMethod(c.options["solver"] ?? "euler"), steps: steps)
        if let path = c.options["reflow_pairs"] {
            let file = try SafeTensors.read(path)
            guard let d = file.tensors["data"], let n = file.tensors["noise"], d.shape == n.shape, d.rank == 2, d.shape[1] == 2 else {
                throw FluxionError(.malformed, file: path, "reflow pairs need tensors 'data' and 'noise' of one shape [N, 2]")
            }
            pairs = (d, n)
        } else {
            pairs = nil
        }
        if let path = c.options["init_from"] {
            try network.load(from: SafeTensors.read(path).entries(withPrefix: "network."), path: path, strict: true)
        }
    }

    /// The flow-matching loss (Liu et al. 2022; Lipman et al. 2022) on `batch.data` [B, 2], or on a
    /// random batch of the reflow pairs when there are some.
    public func loss(_ batch: RunBatch, using rng: inout SeededGenerator) -> Tensor {
        let batch = batch.data
        guard let pairs else {
            return rectifiedFlowLoss(network, data: batch, sampler: timesteps, shift: shift, sigmaMin: sigmaMin, using: &rng)
        }
        // Reflow: a random batch of the generated pairs, trained on their straight lines.
        let n = pairs.data.shape[0]
        let index = Tensor((0..<batch.shape[0]).map { _ in Int32(rng.next() % UInt64(n)) })
        return rectifiedFlowLoss(network, data: pairs.data.indexSelect(axis: 0, indices: index),
                                 noise: pairs.noise.indexSelect(axis: 0, indices: index), sampler: timesteps, shift: shift,
                                 sigmaMin: sigmaMin, using: &rng)
    }

    /// `count` samples [count, 2]: Gaussian noise integrated by the ODE solver (overridable by `options`).
    public func sample(count: Int, options: SampleOptions, using rng: inout SeededGenerator) throws -> Tensor {
        var s = solver
        if let name = options.solver { s.method = try odeMethod(name) }
        if let steps = options.steps { s.steps = steps }
        let noise = Tensor.randomNormal(shape: [count, 2], using: &rng)
        return try sampleFlow(network, noise: noise, solver: s).state[0]
    }

    /// log p(x) [N] by the instantaneous change of variables (RK4, 20 steps, exact trace); nil if the solve fails.
    public func logDensity(_ x: Tensor) -> Tensor? {
        var rng = SeededGenerator(seed: 0)
        return try? ContinuousNormalizingFlow(model: network).logDensity(x, solver: ODESolver(method: .rk4, steps: 20), using: &rng)
    }

    /// Exact NLL (nats) on up to 2,000 test points, energy distances after 1, 2, 4, 8 and 100 Euler
    /// steps, straightness, and the count.
    public func evaluate(_ test: RunBatch, data: RunDataset, using rng: inout SeededGenerator) throws -> [(name: String, value: Double)] {
        let test = test.data
        let n = Swift.min(4000, test.shape[0])
        let noise = Tensor.randomNormal(shape: [n, 2], using: &rng)
        var out: [(name: String, value: Double)] = [("nll_nats", try exactNegativeLogLikelihood(network, test[0..<Swift.min(2000, test.shape[0])], using: &rng))]
        for steps in [1, 2, 4, 8, 100] {
            let x = try sampleFlow(network, noise: noise, solver: ODESolver(method: .euler, steps: steps)).state[0]
            out.append(("energy_distance_euler\(steps)", quality(x, test)))
        }
        out.append(("straightness", straightness(network, noise: noise, steps: 100).value))
        out.append(("test_count", Double(n)))
        return out
    }
}

/// A continuous normalizing flow trained by maximum likelihood, FFJORD-style (`fluxion train cnf`):
/// network options (defaults hidden 64, tanh), `train_solver`/`train_steps` (rk4, 4: the solve
/// that is differentiated), `trace` (exact, rademacher, gaussian: Hutchinson), `probes` (1).
/// Evaluation: exact NLL (Dopri5, exact trace) and energy distance of Dopri5 samples.
public struct CNFRunModel: RunModel {
    /// The CNF around its time-conditioned velocity network.
    public var flow: ContinuousNormalizingFlow<TimeConditionedMLP>
    /// The fixed-step solve differentiated in training (option `train_solver`, `train_steps`: RK4, 4).
    public let trainSolver: ODESolver

    /// Visits the flow's parameters (the network's, under `model.`).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        flow.visitParameters(prefix: prefix, body)
    }

    /// Requires 2-D point data; fills defaults (hidden 64, layers 3, time_frequencies 0, tanh, RK4 with
    /// 4 steps, exact trace, 1 probe) and checks them by building the model.
    public static func resolve(_ c: inout RunConfiguration, data: RunDataset) throws {
        try requirePoints(data, "cnf")
        c.setDefault("hidden", "64"); c.setDefault("layers", "3"); c.setDefault("time_frequencies", "0"); c.setDefault("activation", "tanh")
        c.setDefault("train_solver", "rk4"); c.setDefault("train_steps", "4"); c.setDefault("trace", "exact"); c.setDefault("probes", "1")
        _ = try Self(configuration: c, data: data)
    }

    /// Builds the model from `c.options`; throws `invalidArgument` naming a bad option.
    public init(configuration c: RunConfiguration, data: RunDataset) throws {
        let trace: TraceEstimator
        let probes = try c.integer("probes", default: 1)
        guard (1...64).contains(probes) else { throw FluxionError(.invalidArgument, "probes must be in 1...64, got \(probes)") }
        switch c.options["trace"] ?? "exact" {
        case "exact": trace = .exact
        case "rademacher": trace = .hutchinson(probes: probes, distribution: .rademacher)
        case "gaussian": trace = .hutchinson(probes: probes, distribution: .gaussian)
        case let other: throw FluxionError(.invalidArgument, "trace must be exact, rademacher or gaussian, got '\(other)'")
        }
        flow = ContinuousNormalizingFlow(model: try makeNetwork(c, dimension: 2), trace: trace)
        let steps = try c.integer("train_steps", default: 4)
        guard (1...100_000).contains(steps) else { throw FluxionError(.invalidArgument, "train_steps must be in 1...100000, got \(steps)") }
        let method = try odeMethod(c.options["train_solver"] ?? "rk4")
        guard method != .dopri5 else { throw FluxionError(.invalidArgument, "train_solver must be a fixed-step method (dopri5 is for evaluation)") }
        trainSolver = ODESolver(method: method, steps: steps)
    }

    /// The negative log-likelihood (nats) of `batch.data` through `trainSolver`; NaN when the solve fails.
    public func loss(_ batch: RunBatch, using rng: inout SeededGenerator) -> Tensor {
        // A failed solve (non-finite state) becomes a NaN loss, which stops the run with a message.
        (try? flow.negativeLogLikelihood(batch.data, solver: trainSolver, using: &rng)) ?? Tensor(Double.nan, dtype: batch.data.dtype)
    }

    /// `count` samples [count, 2]: Gaussian noise integrated backwards (Dopri5 unless `options.solver`).
    public func sample(count: Int, options: SampleOptions, using rng: inout SeededGenerator) throws -> Tensor {
        let method = try options.solver.map(odeMethod) ?? .dopri5
        let solver = ODESolver(method: method, steps: options.steps ?? 20, relativeTolerance: 1e-5, absoluteTolerance: 1e-5)
        let noise = Tensor.randomNormal(shape: [count, 2], using: &rng)
        return try flow.sample(noise: noise, solver: solver).state[0]
    }

    /// log p(x) [N] (RK4, 20 steps, exact trace); nil if the solve fails.
    public func logDensity(_ x: Tensor) -> Tensor? {
        var rng = SeededGenerator(seed: 0)
        return try? ContinuousNormalizingFlow(model: flow.model).logDensity(x, solver: ODESolver(method: .rk4, steps: 20), using: &rng)
    }

    /// Exact NLL (nats) on up to 2,000 test points, the energy distance of Dopri5 samples, and the count.
    public func evaluate(_ test: RunBatch, data: RunDataset, using rng: inout SeededGenerator) throws -> [(name: String, value: Double)] {
        let test = test.data
        let n = Swift.min(4000, test.shape[0])
        let samples = try sample(count: n, options: SampleOptions(), using: &rng)
        return [("nll_nats", try exactNegativeLogLikelihood(flow.model, test[0..<Swift.min(2000, test.shape[0])], using: &rng)),
                ("energy_distance_dopri5", quality(samples, test)), ("test_count", Double(n))]
    }
}

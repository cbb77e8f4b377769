import ArgumentParser
import Fluxion
import Foundation

/// `fluxion calculus`: directional derivatives (SPEC §12) and quadratic minimisation (SPEC §11).
struct CalculusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calculus",
        abstract: "Directional derivatives and quadratic minimisation.",
        subcommands: [CalculusExample.self, CalculusMinimize.self],
        defaultSubcommand: CalculusExample.self)
}

/// `fluxion calculus example`: the seed's worked example f = x² + y² at (1, 2).
struct CalculusExample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "example", abstract: "The worked example: f = x² + y² at (1, 2).")

    func run() throws {
        let f: (Tensor) -> Tensor = { p in (p * p).sum() }
        let p = Tensor([1.0, 2.0])
        let g = gradient(at: p, of: f)
        print("f(x, y) = x² + y² at P0 = (1, 2); ∇f = (\(fmt(g.scalars[0])), \(fmt(g.scalars[1])))")
        for (name, v) in [("w = (3, 4)", [3.0, 4.0]), ("u = (1, 0)", [1.0, 0.0])] {
            let d = try directionalDerivative(of: f, at: p, along: Tensor(v)).item
            print("D_v f along \(name): \(fmt(d))")
        }
        let maximum = try directionalDerivative(of: f, at: p, along: g).item
        print("maximum along ∇f/‖∇f‖ = (1, 2)/√5: \(fmt(maximum)) = ‖∇f‖ = 2√5 = \(fmt(2 * 5.0.squareRoot()))")
        let h = hessian(of: f, at: p).scalars
        print("Hessian: [[\(fmt(h[0])), \(fmt(h[1]))], [\(fmt(h[2])), \(fmt(h[3]))]]")
    }
}

/// `fluxion calculus minimize`: minimise f(x) = ½xᵀAx + bᵀx + c and print the trace.
struct CalculusMinimize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minimize",
        abstract: "Minimise f(x) = ½xᵀAx + bᵀx + c and print the trace (iterates, f, ‖∇f‖).",
        discussion: """
            A is given row by row, rows separated by ';' ("2,0;0,1"); a non-symmetric A is replaced by \
            (A + Aᵀ)/2. A JSON file holds {"matrix": [[...], ...], "vector": [...], "constant": c}.
            """)

    @Option(help: "The matrix A, rows separated by ';', entries by ',' (e.g. \"2,0;0,1\").") var matrix: String?
    @Option(help: "The vector b, entries separated by ',' (e.g. \"1,1\").") var vector: String?
    @Option(help: "The constant c.") var constant: Double = 0
    @Option(help: "A JSON file with matrix, vector and optional constant (instead of --matrix/--vector).") var file: String?
    @Option(help: "closed-form, gd, steepest, cg or newton.") var method: String = "closed-form"
    @Option(help: "Fixed step for gd (default: the optimal 2/(λmin + λmax)).") var step: Double?
    @Option(help: "Starting point, entries separated by ',' (default: 0).") var start: String?
    @Option(help: "Stop when ‖∇f‖ ≤ tolerance.") var tolerance: Double = 1e-10
    @Option(help: "Maximum number of iterations.") var maxIterations: Int = 10_000
    @Option(help: "Print at most this many trace rows (first and last halves).") var rows: Int = 20

    func run() throws {
        let (a, b, c, n) = try readProblem()
        let q: QuadraticForm
        do { q = try QuadraticForm(matrix: a, vector: b, dimension: n, constant: c) } catch { throw ValidationError("\(error)") }
        let chosen: QuadraticMethod
        switch method {
        case "closed-form": chosen = .closedForm
        case "gd": chosen = .gradientDescent(step: step)
        case "steepest": chosen = .steepestDescent
        case "cg": chosen = .conjugateGradient
        case "newton": chosen = .newton
        default: throw ValidationError("unknown --method '\(method)'; use closed-form, gd, steepest, cg or newton")
        }
        if step != nil && method != "gd" { throw ValidationError("--step applies only to --method gd") }
        guard tolerance > 0 else { throw ValidationError("--tolerance must be positive, got \(tolerance)") }
        guard rows >= 0 else { throw ValidationError("--rows must be non-negative, got \(rows)") }
        guard constant.isFinite else { throw ValidationError("--constant must be a finite number, got \(constant)") }
        if let step, !(step.isFinite && step > 0) { throw ValidationError("--step must be a positive number, got \(step)") }
        guard maxIterations >= 0 else { throw ValidationError("--max-iterations must be non-negative") }
        let startTensor = try start.map { Tensor(try parseVector($0, name: "--start"), shape: [n], dtype: .float64) }
        if let s = startTensor, s.count != n { throw ValidationError("--start has \(s.count) entries; A is \(n)×\(n)") }

        print("f(x) = ½xᵀAx + bᵀx + c, n = \(n)\(q.wasSymmetrized ? " (A was not symmetric: using (A + Aᵀ)/2)" : "")")
        print("A = \(matrixString(q.matrixValues, n)), b = \(vectorString(b)), c = \(fmt(c))")
        print("eigenvalues of A: \(vectorString(q.eigen.eigenvalues))")
        print("classification: \(q.classification)")
        if q.classification.hasMinimum {
            print("stability bound 2/λmax = \(fmt(q.stabilityBound))" + (q.optimalStep.map { ", optimal step 2/(λmin + λmax) = \(fmt($0))" } ?? "")
                  + (q.conditionNumber.map { ", κ = \(fmt($0))" } ?? ""))
        }
        let trace: MinimizationTrace
        do {
            trace = try q.minimize(using: chosen, from: startTensor, tolerance: tolerance, maxIterations: maxIterations)
        } catch let error as MinimizationError {
            throw ValidationError("\(error)")
        }
        print("method: \(trace.method)")
        print(pad("k", 6, right: true) + "  " + pad("x", 30) + pad("f(x)", 15) + "‖∇f‖")
        let count = trace.iterates.count
        let shown = count <= rows ? Array(0..<count) : Array(0..<(rows / 2)) + Array((count - rows / 2)..<count)
        var previous = -1
        for k in shown {
            if k != previous + 1 { print("   ...") }
            previous = k
            print(pad(String(k), 6, right: true) + "  " + pad(vectorString(trace.iterates[k].scalars), 30)
                  + pad(fmt(trace.values[k]), 15) + fmt(trace.gradientNorms[k]))
        }
        print("\(trace.converged ? "converged" : "NOT converged") after \(trace.iterationCount) iteration(s): x* = \(vectorString(trace.solution.scalars)), f* = \(fmt(trace.values.last!)), ‖∇f‖ = \(fmt(trace.gradientNorms.last!))")
    }

    private func readProblem() throws -> ([Double], [Double], Double, Int) {
        if let file {
            if matrix != nil || vector != nil { throw ValidationError("give either --file or --matrix/--vector, not both") }
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let rows = object["matrix"] as? [[Double]], let b = object["vector"] as? [Double] else {
                throw ValidationError("\(file): expected {\"matrix\": [[numbers]], \"vector\": [numbers], \"constant\": number}")
            }
            let n = rows.count
            guard n > 0, rows.allSatisfy({ $0.count == n }) else { throw ValidationError("\(file): the matrix must be square and non-empty") }
            return (rows.flatMap { $0 }, b, (object["constant"] as? Double) ?? constant, n)
        }
        guard let matrix, let vector else { throw ValidationError("give --matrix and --vector (or --file)") }
        let rows = try matrix.split(separator: ";", omittingEmptySubsequences: false).map { try parseVector(String($0), name: "--matrix") }
        let n = rows.count
        guard rows.allSatisfy({ $0.count == n }) else {
            throw ValidationError("--matrix must be square: \(n) rows with \(rows.map(\.count)) entries")
        }
        let b = try parseVector(vector, name: "--vector")
        guard b.count == n else { throw ValidationError("--vector has \(b.count) entries; A is \(n)×\(n)") }
        return (rows.flatMap { $0 }, b, constant, n)
    }
}

func parseVector(_ text: String, name: String) throws -> [Double] {
    try text.split(separator: ",", omittingEmptySubsequences: false).map {
        let t = $0.trimmingCharacters(in: .whitespaces)
        guard let v = Double(t), v.isFinite else { throw ValidationError("\(name): '\(t)' is not a finite number") }
        return v
    }
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(width - s.count, 1))
    return right ? fill + s : s + fill
}

func fmt(_ v: Double) -> String { String(format: "%.6g", v) }
func vectorString(_ v: [Double]) -> String { "(" + v.map(fmt).joined(separator: ", ") + ")" }
func matrixString(_ a: [Double], _ n: Int) -> String {
    "[" + (0..<n).map { i in "[" + (0..<n).map { fmt(a[i * n + $0]) }.joined(separator: ", ") + "]" }.joined(separator: ", ") + "]"
}

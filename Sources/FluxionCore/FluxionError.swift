/// An error from reading or writing a file, or from a model/file mismatch. Its description names
/// the file, the tensor (when there is one) and the problem, in one line.
public struct FluxionError: Error, CustomStringConvertible, Equatable {
    /// What went wrong: an I/O failure, a truncated or malformed file, a missing or unexpected tensor,
    /// a shape or dtype mismatch, an invalid argument, or a diverged run.
    public enum Kind: String, Sendable {
        case io, truncated, malformed, missingTensor, unexpectedTensor, shapeMismatch, dtypeMismatch, invalidArgument
        /// Training produced a non-finite loss.
        case diverged
    }
    /// The kind of problem.
    public let kind: Kind
    /// The file concerned, when there is one.
    public let file: String?
    /// The tensor concerned, when there is one.
    public let tensor: String?
    /// What went wrong, in words.
    public let message: String

    /// An error of `kind` about `file` and `tensor` (each optional).
    public init(_ kind: Kind, file: String? = nil, tensor: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        self.message = message
    }

    /// `file: tensor 'name': message`, the parts that are present joined by `: `.
    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let tensor { parts.append("tensor '\(tensor)'") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}

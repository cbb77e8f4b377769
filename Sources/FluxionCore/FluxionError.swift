/// An error from reading or writing a file, or from a model/file mismatch. Its description names
/// the file, the tensor (when there is one) and the problem, in one line.
public struct FluxionError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case io, truncated, malformed, missingTensor, unexpectedTensor, shapeMismatch, dtypeMismatch, invalidArgument
        /// Training produced a non-finite loss.
        case diverged
    }
    public let kind: Kind
    public let file: String?
    public let tensor: String?
    public let message: String

    public init(_ kind: Kind, file: String? = nil, tensor: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let tensor { parts.append("tensor '\(tensor)'") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}

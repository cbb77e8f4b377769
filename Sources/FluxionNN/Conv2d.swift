/// 2-D convolution (cross-correlation) over [N, C, H, W] inputs, as PyTorch's `nn.Conv2d`:
/// y[n, o] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o, c, i, j] · x[n, c, s·h − p + d·i, s·w − p + d·j].
///
/// Shapes: x [N, inputChannels, H, W] → [N, outputChannels, OH, OW] with OH = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1;
/// W [outputChannels, inputChannels/groupCount, kh, kw], b [outputChannels] (PyTorch's `groups` is `groupCount`).
/// Initialisation (PyTorch's default): W, b ~ U(−1/√fan_in, 1/√fan_in), fan_in = inputChannels/groupCount·kh·kw.
/// Implemented as im2col (`Tensor.unfolded`) followed by one batched GEMM.
public struct Conv2d: Layer {
    public var weight: Tensor
    public var bias: Tensor?
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)
    public var groupCount: Int

    public init(inputChannels: Int, outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groupCount: Int = 1, bias: Bool = true,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(groupCount > 0 && inputChannels % groupCount == 0 && outputChannels % groupCount == 0,
                     "Conv2d: \(inputChannels) → \(outputChannels) channels do not split into \(groupCount) groups")
        let fanIn = inputChannels / groupCount * kernelSize.0 * kernelSize.1
        let bound = 1 / Double(fanIn).squareRoot()
        weight = uniformInit([outputChannels, inputChannels / groupCount, kernelSize.0, kernelSize.1], bound: bound, dtype: dtype, using: &rng)
        self.bias = bias ? uniformInit([outputChannels], bound: bound, dtype: dtype, using: &rng) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groupCount = groupCount
    }

    /// The convolution with the given W [outputChannels, inputChannels/groupCount, kh, kw] and
    /// b [outputChannels] (or no bias).
    public init(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groupCount: Int = 1) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groupCount = groupCount
    }

    /// The convolution of x [N, inputChannels, H, W] → [N, outputChannels, OH, OW].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groupCount)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "weight"), &weight)
        if bias != nil { body(Self.join(prefix, "bias"), &bias!) }
    }
}

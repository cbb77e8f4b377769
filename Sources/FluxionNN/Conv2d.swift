/// 2-D convolution (cross-correlation) over [N, C, H, W] inputs, as PyTorch's `nn.Conv2d`:
/// y[n, o] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o, c, i, j] · x[n, c, s·h − p + d·i, s·w − p + d·j].
///
/// Shapes: x [N, inChannels, H, W] → [N, outChannels, OH, OW] with OH = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1;
/// W [outChannels, inChannels/groups, kh, kw], b [outChannels].
/// Initialisation (PyTorch's default): W, b ~ U(−1/√fan_in, 1/√fan_in), fan_in = inChannels/groups·kh·kw.
/// Implemented as im2col (`Tensor.unfolded`) followed by one batched GEMM.
public struct Conv2d: Layer {
    public var weight: Tensor
    public var bias: Tensor?
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int

    public init(inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: \(inChannels) → \(outChannels) channels do not split into \(groups) groups")
        let fanIn = inChannels / groups * kernelSize.0 * kernelSize.1
        let bound = 1 / Double(fanIn).squareRoot()
        weight = uniformInit([outChannels, inChannels / groups, kernelSize.0, kernelSize.1], bound: bound, dtype: dtype, using: &rng)
        self.bias = bias ? uniformInit([outChannels], bound: bound, dtype: dtype, using: &rng) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public init(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "weight"), &weight)
        if bias != nil { body(Self.join(prefix, "bias"), &bias!) }
    }
}

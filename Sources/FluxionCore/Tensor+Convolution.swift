import FluxionKernels

/// Geometry of a 2-D sliding window (as PyTorch's `unfold`/`fold`/`conv2d`).
public struct Window2D: Equatable, Sendable {
    /// Kernel size (height, width).
    public var kernel: (Int, Int)
    /// Step between windows (rows, columns); (1, 1) by default.
    public var stride: (Int, Int)
    /// Zeros added on each side (rows, columns); (0, 0) by default.
    public var padding: (Int, Int)
    /// Spacing between kernel taps (rows, columns); (1, 1) by default.
    public var dilation: (Int, Int)

    /// A window of `kernel` taps; PyTorch's defaults: stride 1, padding 0, dilation 1. Stops with a
    /// message unless kernel, stride and dilation are positive and padding is non-negative.
    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) {
        precondition(kernel.0 > 0 && kernel.1 > 0 && stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0
                     && padding.0 >= 0 && padding.1 >= 0, "Window2D: kernel \(kernel), stride \(stride), dilation \(dilation) must be positive, padding \(padding) non-negative")
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
    }

    /// Equal when kernel, stride, padding and dilation all match.
    public static func == (a: Window2D, b: Window2D) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
    }

    /// Output size along one axis: ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1.
    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        ((height + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1,
         (width + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1)
    }
}

@inline(__always)
func unfoldKernel<T: TensorFloat>(_ x: UnsafePointer<T>, _ cols: UnsafeMutablePointer<T>, channels: Int, height: Int, width: Int,
                                  outH: Int, outW: Int, _ w: Window2D, fold: Bool) {
    let (kh, kw) = w.kernel
    let l = outH * outW
    for c in 0..<channels {
        let plane = x + c * height * width
        for i in 0..<kh {
            for j in 0..<kw {
                let row = cols + ((c * kh + i) * kw + j) * l
                for oh in 0..<outH {
                    let h = oh * w.stride.0 - w.padding.0 + i * w.dilation.0
                    let dst = row + oh * outW
                    if h < 0 || h >= height {
                        if !fold { dst.update(repeating: 0, count: outW) }
                        continue
                    }
                    let src = plane + h * width
                    for ow in 0..<outW {
                        let wc = ow * w.stride.1 - w.padding.1 + j * w.dilation.1
                        if fold {
                            if wc >= 0 && wc < width { UnsafeMutablePointer(mutating: src)[wc] += dst[ow] }
                        } else {
                            dst[ow] = (wc >= 0 && wc < width) ? src[wc] : 0
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Sliding-window patches (im2col): x [N, C, H, W] → [N, C·kh·kw, OH·OW], row c·kh·kw + i·kw + j,
    /// column oh·OW + ow (PyTorch's `F.unfold`). Positions in the padding read 0.
    public func unfolded(_ window: Window2D) -> Tensor {
        precondition(rank == 4 && dtype.isFloatingPoint, "unfolded: input must be a float [N, C, H, W], got \(dtype) \(shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (oh, ow) = window.outputSize(height: h, width: w)
        precondition(oh > 0 && ow > 0, "unfolded: window \(window.kernel) with padding \(window.padding), dilation \(window.dilation) does not fit input \(shape)")
        let rows = c * window.kernel.0 * window.kernel.1
        var y = Tensor(uninitializedShape: [n, rows, oh * ow], dtype: dtype)
        func run<T: TensorFloat>(_ t: T.Type) {
            withUnsafeBufferPointer(as: T.self) { px in y.withUnsafeMutableBufferPointer(as: T.self) { py in
                let (src, dst) = (px.baseAddress!, py.baseAddress!)
                parallelRanges(n, grain: 1) { s, e in
                    for b in s..<e {
                        unfoldKernel(src + b * c * h * w, dst + b * rows * oh * ow, channels: c, height: h, width: w,
                                     outH: oh, outW: ow, window, fold: false)
                    }
                }
            } }
        }
        if dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return Rules.unfold(self, window, y)
    }

    /// The adjoint of `unfolded` (col2im, PyTorch's `F.fold`): [N, C·kh·kw, OH·OW] → [N, C, H, W],
    /// summing the patches that overlap.
    public func folded(outputSize: (Int, Int), _ window: Window2D) -> Tensor {
        let (h, w) = outputSize
        let (oh, ow) = window.outputSize(height: h, width: w)
        let kk = window.kernel.0 * window.kernel.1
        precondition(rank == 3 && shape[1] % kk == 0 && shape[2] == oh * ow && dtype.isFloatingPoint,
                     "folded: input \(dtype) \(shape) does not match window \(window.kernel) and output size \(outputSize) (expected [N, C·\(kk), \(oh * ow)])")
        let (n, c) = (shape[0], shape[1] / kk)
        var y = Tensor.zeros(shape: [n, c, h, w], dtype: dtype)
        func run<T: TensorFloat>(_ t: T.Type) {
            withUnsafeBufferPointer(as: T.self) { px in y.withUnsafeMutableBufferPointer(as: T.self) { py in
                let (src, dst) = (px.baseAddress!, py.baseAddress!)
                parallelRanges(n, grain: 1) { s, e in
                    for b in s..<e {
                        unfoldKernel(UnsafePointer(dst + b * c * h * w), UnsafeMutablePointer(mutating: src + b * shape[1] * oh * ow),
                                     channels: c, height: h, width: w, outH: oh, outW: ow, window, fold: true)
                    }
                }
            } }
        }
        if dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return Rules.fold(self, outputSize, window, y)
    }

    /// 2-D convolution (cross-correlation, as PyTorch's `conv2d`) through im2col and one batched GEMM:
    /// x [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], bias [Cout] → [N, Cout, OH, OW].
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
                              padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4, "conv2d: input \(x.shape) and weight \(weight.shape) must both be rank 4")
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups > 0 && cin % groups == 0 && cout % groups == 0 && cg == cin / groups,
                     "conv2d: input \(x.shape) and weight \(weight.shape) do not agree with groups = \(groups)")
        let window = Window2D(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        let (oh, ow) = window.outputSize(height: h, width: w)
        let cols = x.unfolded(window).reshaped(to: [n, groups, cg * kh * kw, oh * ow])
        let wm = weight.reshaped(to: [groups, cout / groups, cg * kh * kw])
        var y = Tensor.matmul(wm, cols).reshaped(to: [n, cout, oh, ow])
        if let bias {
            precondition(bias.shape == [cout], "conv2d: bias \(bias.shape) must be [\(cout)]")
            y = y + bias.reshaped(to: [1, cout, 1, 1])
        }
        return y
    }
}

#!/usr/bin/env bash
# Fluxion as a versioned dependency: makes a bare clone of this repository's committed HEAD,
# tags it 0.1.0, builds a fresh downstream package that depends on it by URL and version
# (`.package(url: "file://…/fluxion.git", from: "0.1.0")`), runs the README's first snippet and
# the design document's training-loop snippet through it, and checks that `Fluxion.Tensor`
# compiles while FluxionKernels' symbols (ThreadPool, gemm) are not visible through `import Fluxion`.
# Usage: bash Tools/check_downstream.sh   (CI runs it; needs only the Swift toolchain and git)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fluxion-downstream-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PATH="/opt/swift/usr/bin:$PATH"

git clone -q --bare "$ROOT" "$WORK/fluxion.git"
for t in $(git -C "$WORK/fluxion.git" tag); do git -C "$WORK/fluxion.git" tag -d "$t" > /dev/null; done
git -C "$WORK/fluxion.git" tag 0.1.0 HEAD

APP="$WORK/app"
mkdir -p "$APP/Sources/App" "$APP/Sources/Leak"
cat > "$APP/Package.swift" <<EOF
// swift-tools-version:6.2
import PackageDescription
let package = Package(
    name: "app",
    dependencies: [.package(url: "file://$WORK/fluxion.git", from: "0.1.0")],
    targets: [
        .executableTarget(name: "App", dependencies: [.product(name: "Fluxion", package: "fluxion")]),
        .executableTarget(name: "Leak", dependencies: [.product(name: "Fluxion", package: "fluxion")]),
    ]
)
EOF
cat > "$APP/Sources/App/main.swift" <<'EOF'
import Fluxion
import Foundation

// README: gradient, directional derivative, Hessian-vector product.
let p = Tensor([1.0, 2.0])
let f: (Tensor) -> Tensor = { q in (q * q).sum() }                 // f = x² + y²
let g = gradient(at: p, of: f)                                       // [2, 4]
let d = jvp(at: p, along: Tensor([0.6, 0.8]), of: f).differential    // 4.4, the directional derivative
let hv = jvp(at: p, along: Tensor([1.0, 0.0])) { gradient(at: $0, of: f) }.differential  // H·v = [2, 0]
print("gradient", g.scalars)
print("directional", (d.item * 1000).rounded() / 1000)
print("hessian-vector", hv.scalars)

// The module-qualified name works (no type shadows the module).
let q: Fluxion.Tensor = Fluxion.Tensor.zeros(shape: [2])
print("qualified", q.shape)

// DESIGN.md: a training loop on any ParameterTree, and a PyTorch-named state dict.
var rng = SeededGenerator(seed: 0)
var model = MLP(sizes: [2, 16, 1], activation: .tanh, using: &rng)
var optimizer = Adam(learningRate: 1e-2)
let x = Tensor.randomNormal(shape: [64, 2], using: &rng)
let y = (x * x).sum(axes: [1], keepDims: true)
var first = 0.0, last = 0.0
for step in 0..<200 {
    let (loss, gradients) = valueWithGradient(at: model) { m in (m(x) - y).squared().mean() }
    optimizer.update(&model, along: gradients)
    if step == 0 { first = loss.item }
    last = loss.item
}
print("loss fell", last < first / 4)
let file = NSTemporaryDirectory() + "fluxion-downstream-\(getpid()).safetensors"
try model.save(to: file)
print("saved", try SafeTensors.read(file).names)
try? FileManager.default.removeItem(atPath: file)
EOF
cat > "$APP/Sources/Leak/main.swift" <<'EOF'
import Fluxion
let pool = ThreadPool.shared   // FluxionKernels is not API: this must not compile
print(pool)
EOF

cd "$APP"
echo "== building a downstream package against fluxion 0.1.0 (file://$WORK/fluxion.git)"
swift build --product App 2>&1 | tail -3
OUT=$(swift run --skip-build App)
echo "$OUT"
expect() { grep -qF -- "$1" <<< "$OUT" || { echo "FAIL: expected '$1' in the program's output"; exit 1; }; }
expect "gradient [2.0, 4.0]"
expect "directional 4.4"
expect "hessian-vector [2.0, 0.0]"
expect "qualified [2]"
expect "loss fell true"
expect 'saved ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]'
if LEAK=$(swift build --product Leak 2>&1); then
    echo "FAIL: FluxionKernels' ThreadPool is visible through 'import Fluxion'"; exit 1
fi
grep -q "cannot find 'ThreadPool' in scope" <<< "$LEAK" || { echo "FAIL: unexpected error building Leak:"; echo "$LEAK" | tail -5; exit 1; }
echo "downstream: 1 passed, 0 failed"

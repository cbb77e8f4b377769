#!/usr/bin/env bash
# Builds every libFuzzer target (one folder per target under Fuzz/Sources/, except FuzzSupport) and
# runs each for SECONDS (default 20) on a scratch copy of its seed corpus Fuzz/corpus/<target>/
# (the committed corpus is never modified). Exits non-zero if any target crashes, traps, breaks an
# invariant, leaks, times out or gets a sanitizer report; crash inputs are kept in
# Fuzz/artifacts/<target>/. Prints libFuzzer's final "Done N runs" line per target.
#
#   Fuzz/run.sh [SECONDS] [TARGET...]
#
# Environment: FUZZ_BUILD_JOBS (swift build -j, default 1), FUZZ_FLAGS (extra libFuzzer flags,
# e.g. "-runs=1000000"; a -runs limit ends a target before SECONDS if reached first).
set -euo pipefail

duration="${1:-20}"
shift $(( $# > 0 ? 1 : 0 ))
case "$duration" in ''|*[!0-9]*) echo "usage: Fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

cd "$(dirname "$0")"
export PATH="/opt/swift/usr/bin:$PATH"
# Swift's crash backtracer misbehaves under AddressSanitizer; a plain trap is what libFuzzer needs.
export SWIFT_BACKTRACE=enable=no

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for dir in Sources/*/; do
        name="$(basename "$dir")"
        [ "$name" = FuzzSupport ] || targets+=("$name")
    done
fi

flags=(-c release -j "${FUZZ_BUILD_JOBS:-1}" --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
echo "== building ${targets[*]} (swift build ${flags[*]})"
start=$(date +%s)
# (gold warns once per ASan helper symbol: "Cannot export local symbol"; those lines are dropped)
swift build "${flags[@]}" 2>&1 | { grep -v "Cannot export local symbol" || true; }
echo "== build took $(( $(date +%s) - start )) s"
bin="$(swift build "${flags[@]}" --show-bin-path)"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/fluxion-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
summary=()
failed=0
for t in "${targets[@]}"; do
    [ -x "$bin/$t" ] || { echo "no fuzz target '$t' was built: is it in fuzzTargets in Fuzz/Package.swift?" >&2; exit 2; }
    mkdir -p "$scratch/$t" "artifacts/$t"
    [ -d "corpus/$t" ] && cp -R "corpus/$t/." "$scratch/$t/"
    args=(-max_total_time="$duration" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="artifacts/$t/")
    [ -f "dict/$t.dict" ] && args+=(-dict="dict/$t.dict")
    # shellcheck disable=SC2206
    extra=(${FUZZ_FLAGS:-})
    echo "== fuzzing $t for ${duration} s: $bin/$t ${args[*]} ${extra[*]} <copy of corpus/$t>"
    log="$scratch/$t.log"
    set +e
    "$bin/$t" "${args[@]}" "${extra[@]}" "$scratch/$t" >"$log" 2>&1
    rc=$?
    set -e
    done_line="$(grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true)"
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "!! $t FAILED (exit $rc); last lines of its log:"
        tail -n 60 "$log"
        summary+=("$t: FAILED (exit $rc), inputs saved under Fuzz/artifacts/$t/")
    else
        grep -E '^#[0-9]+.*(INITED|DONE)|stat::number_of_executed_units|^INFO: Running with' "$log" || true
        summary+=("$t: ${done_line:-no Done line}")
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"

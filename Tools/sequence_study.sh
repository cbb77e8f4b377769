#!/usr/bin/env bash
# Issues 7 and 13's study: synthetic tasks for RNN, LSTM, GRU, Transformer, Mamba (and its
# time-invariant ablation) and S4D at about equal parameter counts (~30k), the adding problem at
# length 100, sequential digits, and a character LM sample.
# Usage: bash Tools/sequence_study.sh [OUT] (after swift build -c release --product fluxion)
set -u
OUT=${1:-runs/study}
F=.build/release/fluxion
mkdir -p "$OUT"
export FLUXION_THREADS=${FLUXION_THREADS:-1}
run() { name=$1; shift; echo "== $name: $*"; "$F" train "$@" --out "$OUT/$name" --no-pictures > /dev/null && "$F" eval "$OUT/$name" | tail -1; }
for task in copying selective-copying induction-heads; do
  run "rnn-$task" rnn --task $task --state-size 150 --steps 1500
  run "lstm-$task" lstm --task $task --state-size 64 --steps 1500
  run "gru-$task" gru --task $task --state-size 74 --steps 1500
  run "transformer-$task" transformer --task $task --width 48 --blocks 1 --heads 4 --steps 1500
  run "mamba-$task" mamba --task $task --width 40 --blocks 2 --steps 1500
  run "mamba-lti-$task" mamba --task $task --width 40 --blocks 2 --steps 1500 --set selective=false
  run "s4d-$task" s4d --task $task --width 56 --blocks 2 --steps 1500
done
run lstm-adding100 lstm --task adding --length 100 --state-size 64 --steps 3000
run gru-adding100 gru --task adding --length 100 --state-size 74 --steps 3000
run mamba-adding100 mamba --task adding --length 100 --width 40 --blocks 2 --steps 3000
run s4d-adding100 s4d --task adding --length 100 --width 56 --blocks 2 --steps 3000
run lstm-digits lstm --task digits --state-size 128 --steps 3000
run mamba-digits mamba --task digits --width 40 --blocks 2 --steps 3000
run s4d-digits s4d --task digits --width 56 --blocks 2 --steps 3000
if [ -f "${TEXT:-}" ]; then
  run lstm-chars lstm --task chars --text "$TEXT" --length 64 --state-size 256 --steps 3000
  "$F" generate "$OUT/lstm-chars" --count 300 --prompt "The " --temperature 0.7
fi

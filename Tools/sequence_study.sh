#!/usr/bin/env bash
# Issue 7's study: synthetic tasks for RNN, LSTM, GRU and Transformer at about equal parameter
# counts (~30k), the adding problem at length 100, sequential digits, and a character LM sample.
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
done
run lstm-adding100 lstm --task adding --length 100 --state-size 64 --steps 3000
run gru-adding100 gru --task adding --length 100 --state-size 74 --steps 3000
run lstm-digits lstm --task digits --state-size 128 --steps 3000
if [ -f "${TEXT:-}" ]; then
  run lstm-chars lstm --task chars --text "$TEXT" --length 64 --state-size 256 --steps 3000
  "$F" generate "$OUT/lstm-chars" --count 300 --prompt "The " --temperature 0.7
fi

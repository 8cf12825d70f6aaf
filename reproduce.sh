#!/usr/bin/env bash
# One entry point for tf-varattn. Usage: ./reproduce.sh SUBCOMMAND [extra train.py flags]
#   setup    create .venv and install the package (editable) into it, if missing
#   test     run the test suite (the README's test command; what .ci/run runs)
#   smoke    whole chain on 2,000 pairs, 1 epoch, 2 models, into a temporary directory
#   table2   train + evaluate the six Table 2 models (qgen) and the Eq. (8) row, render results/table2.md
#   table4   train + evaluate the three Table 4 models (dialogue), render results/table4.md
#   figure4  the Table 2 runs' validation curves -> results/figure4.png
#   figure5  VED+VAttn-h̄ for each gamma_a in $VARATTN_GAMMAS -> results/figure5.png (0.1 is the Table 2 run)
#   latents  the collapse study: VED+DAttn and VED+VAttn-h̄, each with no remedy, free bits, a bag-of-words
#            loss, cyclical and logistic KL weights (qgen, 10 runs) -> results/latents.md, latents-study*.png
#   plan     TABLE: the runs `TABLE` trains, one "MODEL RUN_DIR [flags]" line each (nothing is trained)
#   tables   every table, figure (latents.png too) and the case study from the committed results/runs (no training)
#   all      table2, table4, figure4, figure5, tables
#   model    TASK PRESET: train + evaluate one model into $VARATTN_RUNS/TASK/PRESET
#   bypass   latent diagnostics + bypass probe of every trained run under $VARATTN_RUNS that lacks
#            them (evaluate.py --diagnostics_only) -> results/runs/.../test_diagnostics.json, results/bypass.md
#   likelihood  the negative ELBO and importance-weighted NLL of every trained run under $VARATTN_RUNS
#            that lacks them (evaluate.py --likelihood_only) -> results/runs/.../test_likelihood.json,
#            results/latents.md (after table2: the Table 2 models' rows beside the collapse study's)
#   attention  the attention of the paper's two Table 3 sources -> results/attention-*.png, one row per
#            run directory given (default: $VARATTN_RUNS/qgen/ved_vattn_mean and .../ved_dattn)
#   bench    speed benchmark -> results/benchmarks.md (appends the printed tables)
# Environment:
#   VARATTN_RUNS      run root (default runs/; runs/trial/ for a trial, see VARATTN_FLAGS)
#   VARATTN_RESULTS   results root (default results/; results/trial/ for a trial)
#   VARATTN_EPOCHS    epochs (default: the paper's 10; another value makes a trial)
#   VARATTN_FLAGS     extra train.py flags, e.g. "--max_examples=5000" (makes a trial)
#   VARATTN_GAMMAS    gamma_a values of figure5 (default "0.01 0.1 1")
#   VARATTN_REMEDIES  remedies of latents (default all: bow free_bits logistic cyclical none)
#   VARATTN_SEEDS     training seeds of latents (default 0, the study's runs; seed k > 0 trains into
#                     runs/qgen/latents/seeds/<preset>-<remedy>-seed<k>), e.g. VARATTN_SEEDS="1 2"
#   VARATTN_JOBS      models trained side by side (default 1); each gets cores/jobs TensorFlow
#                     threads and logs to RUN_DIR.log
#   VARATTN_RUN_DIR   run directory of `model` (default RUNS/TASK/PRESET)
#   VARATTN_DATA_DIR  data directory (default ./data, then ../shared/data)
#   VARATTN_CACHE_DIR word2vec cache, shared by all runs (default ~/.cache/tf_varattn)
#   VARATTN_TF_LOGS   1 shows TensorFlow's start-up messages (hidden by default)
#   VARATTN_VENV      virtual environment (default .venv); PYTHON the interpreter that creates it
#   VARATTN_LAUNCHER  a command put before the Python of every script (the tests use it to fork the
#                     scripts from a server that has TensorFlow imported: tests/script_server.py)
# Every subcommand runs `setup` first, so a fresh clone needs no other step. A run is skipped only if
# it holds exactly the asked config, trained for all its epochs, and is evaluated.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${VARATTN_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
# Settings other than the paper's (a quick trial) never touch the paper's runs and results.
TRIAL=
if [ -n "${VARATTN_FLAGS:-}" ] || { [ -n "${VARATTN_EPOCHS:-}" ] && [ "$VARATTN_EPOCHS" != 10 ]; }; then TRIAL=/trial; fi
RUNS=$(realpath -m "${VARATTN_RUNS:-$ROOT/runs$TRIAL}")
RESULTS=$(realpath -m "${VARATTN_RESULTS:-$ROOT/results$TRIAL}")
GAMMAS=${VARATTN_GAMMAS:-0.01 0.1 1}
JOBS=${VARATTN_JOBS:-1}
[ "${VARATTN_TF_LOGS:-0}" != 0 ] || export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

setup() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import tf_varattn, pytest" 2>/dev/null; then
    echo "[setup] creating $VENV and installing tf-varattn (a few minutes, once)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[test]"
  fi
}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

py() { ${VARATTN_LAUNCHER:-} "$VENV/bin/python" "$@"; }

# published_dir TASK RUN_DIR (absolute): where a run's small outputs go, the same place under
# $RESULTS/runs as the run under $RUNS; a run directory outside $RUNS (VARATTN_RUN_DIR) goes to <task>/<its name>.
published_dir() {
  if [ "${2#"$RUNS"/}" != "$2" ]; then echo "$RESULTS/runs/${2#"$RUNS"/}"; else echo "$RESULTS/runs/$1/$(basename "$2")"; fi
}

# run_model TASK MODEL RUN_DIR [flags...]: train (or resume), evaluate, copy the small results.
run_model() {
  local task=$1 model=$2 run
  run=$(realpath -m "$3")  # absolute, so that its place under $RUNS names its place under $RESULTS/runs
  shift 3
  local flags=("$@")
  [ -n "${VARATTN_EPOCHS:-}" ] && flags+=("--epochs=$VARATTN_EPOCHS")
  # shellcheck disable=SC2206
  [ -n "${VARATTN_FLAGS:-}" ] && flags+=($VARATTN_FLAGS)
  if finished "$task" "$model" "$run" "${flags[@]}"; then
    echo "[$task/$model] finished earlier with these settings, skipped ($run/test_metrics.json)"
  else
    echo "[$task/$model] training into $run"
    py experiments/train.py --task "$task" --model "$model" --output_dir "$run" "${flags[@]}"
    echo "[$task/$model] evaluating"
    py experiments/evaluate.py --run_dir "$run"
  fi
  local published
  published=$(published_dir "$task" "$run")
  mkdir -p "$published"
  cp "$run"/{config.json,history.json,test_metrics.json,test_samples.txt} "$published"/
  local extra
  for extra in test_outputs.jsonl.gz test_diagnostics.json test_likelihood.json data_sources.json; do
    if [ -f "$run/$extra" ]; then cp "$run/$extra" "$published"/; fi
  done
}

# in_parallel TASK "MODEL RUN_DIR [flags]"...: run_model for each, VARATTN_JOBS at a time.
in_parallel() {
  local task=$1 spec
  shift
  if [ "$JOBS" -le 1 ]; then
    for spec in "$@"; do
      # shellcheck disable=SC2086
      run_model "$task" $spec
    done
    return
  fi
  local threads=$(( $(nproc) / JOBS )) failed=0 running=0
  [ "$threads" -ge 1 ] || threads=1
  for spec in "$@"; do
    if [ "$running" -ge "$JOBS" ]; then wait -n || failed=1; running=$((running - 1)); fi
    # shellcheck disable=SC2086
    set -- $spec
    mkdir -p "$(dirname "$2")"
    echo "[$task/$1] started in the background, $threads TensorFlow thread(s); log: $2.log"
    # shellcheck disable=SC2086
    TF_NUM_INTRAOP_THREADS=$threads TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=$threads \
      run_model "$task" $spec > "$2.log" 2>&1 &
    running=$((running + 1))
  done
  while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
  [ "$failed" -eq 0 ] || { echo "error: a model failed; see the logs above." >&2; exit 1; }
}

# finished TASK MODEL RUN_DIR [flags]: trained with exactly this config for all its epochs, and evaluated.
# A run directory holding another config stops the script (train.py names the differing fields).
finished() {
  local status=0
  py experiments/train.py --check_finished --task "$1" --model "$2" --output_dir "$3" "${@:4}" || status=$?
  if [ "$status" -eq 1 ] || [ "$status" -eq 2 ]; then exit 1; fi
  [ "$status" -eq 0 ] && [ -f "$3/test_metrics.json" ] && evaluated_at_its_epoch "$3"
}

# evaluated_at_its_epoch RUN_DIR: its test_metrics.json is of the run's evaluation epoch (an older
# version could write it from the newest checkpoint while the run was still training).
evaluated_at_its_epoch() {
  "$VENV/bin/python" -c '
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
config, metrics = (json.loads((run / name).read_text()) for name in ("config.json", "test_metrics.json"))
expected = min(config.get("eval_epoch", 7), config.get("epochs", 10))
found = metrics.get("checkpoint_epoch")
if found != expected:
    print(f"[{run}] test_metrics.json is of epoch {found}, not the evaluation epoch of the run "
          f"({expected}): evaluating it again", file=sys.stderr)
    sys.exit(1)
' "$1"
}

# table_specs NAME [flags]: "MODEL RUN_DIR [flags]" per run of the table, from the package
# (tf_varattn/reporting/paper.py: the table's models, then its extra rows such as Eq. (8) as written).
table_specs() {
  local name=$1 task lines preset dir flags
  shift
  task=$(py tf_varattn/reporting/paper.py task "$name")
  if [ "$name" = latents ]; then
    lines=$(py tf_varattn/reporting/paper.py runs latents --remedies="${VARATTN_REMEDIES:-}" --seeds="${VARATTN_SEEDS:-}")
  else
    lines=$(py tf_varattn/reporting/paper.py runs "$name")
  fi
  while read -r preset dir flags; do echo "$preset $RUNS/$task/$dir $flags $*"; done <<< "$lines"
}

# table NAME [flags]: train + evaluate the table's runs (table_specs), render it.
table() {
  local name=$1 task specs=() spec
  shift
  task=$(py tf_varattn/reporting/paper.py task "$name")
  while IFS= read -r spec; do specs+=("$spec"); done < <(table_specs "$name" "$@")
  [ ${#specs[@]} -gt 0 ] || { echo "error: no runs listed for $name" >&2; exit 1; }
  in_parallel "$task" "${specs[@]}"
  py experiments/make_tables.py --runs_root "$RUNS" --output_dir "$RESULTS" --tables "$name"
}

# figure5 [flags]: VED+VAttn-h̄ for each gamma_a; the preset's own gamma_a is the Table 2 run.
figure5() {
  local default specs=() gamma
  default=$(py -c "from tf_varattn.config import get_config; print(get_config('ved_vattn_mean').gamma_a)")
  for gamma in $GAMMAS; do
    if py -c "import sys; sys.exit(float(sys.argv[1]) != float(sys.argv[2]))" "$gamma" "$default"; then
      specs+=("ved_vattn_mean $RUNS/qgen/ved_vattn_mean $*")
    else
      specs+=("ved_vattn_mean $RUNS/qgen/gamma_a/$gamma --gamma_a=$gamma $*")
    fi
  done
  in_parallel qgen "${specs[@]}"
  py experiments/plot_curves.py --runs_root "$RUNS" --output_dir "$RESULTS" --figures figure5
}

# tables: every table, figure and the case study from the committed run outputs (no training).
tables() {
  py experiments/make_tables.py --runs_root "$RESULTS/runs" --output_dir "$RESULTS"
  py experiments/plot_curves.py --runs_root "$RESULTS/runs" --output_dir "$RESULTS"
}

# backfill FILE FLAG [ROOT]: evaluate.py FLAG (--diagnostics_only, --likelihood_only, --diversity_sources) on
# every trained, evaluated run under ROOT (default $RUNS) without FILE; then FILE of every such run copied
# to its place under $RESULTS/runs.
backfill() {
  local file=$1 flag=$2 root=${3:-$RUNS} run published
  while IFS= read -r run; do
    run=$(dirname "$run")
    [ -f "$run/test_metrics.json" ] && [ -d "$run/checkpoints" ] || continue
    published=$(published_dir "$(basename "$(dirname "$run")")" "$run")
    if [ ! -f "$run/$file" ]; then
      echo "[$flag] $run"
      py experiments/evaluate.py --run_dir "$run" "$flag"
    fi
    mkdir -p "$published"
    cp "$run/$file" "$published"/
  done < <(find "$root" -name config.json -not -path "*/trial/*" | sort)
}

# latents [flags]: the collapse study's runs (paper.py), where their diversity comes from, its report.
latents() {
  local specs=() spec
  while IFS= read -r spec; do specs+=("$spec"); done < <(table_specs latents "$@")
  [ ${#specs[@]} -gt 0 ] || exit 2  # paper.py said why (an unknown remedy, a seed that is no integer)
  in_parallel qgen "${specs[@]}"
  backfill test_diversity_sources.json --diversity_sources "$RUNS/qgen/latents"
  py experiments/make_tables.py --runs_root "$RESULTS/runs" --output_dir "$RESULTS" --tables latents
  py experiments/plot_curves.py --runs_root "$RESULTS/runs" --output_dir "$RESULTS" --figures latents_study,latents_study_curves
}

# likelihood: the likelihood of every trained, evaluated run without it; then results/latents.md (its
# table of the other models' likelihood beside the collapse study's).
likelihood() {
  backfill test_likelihood.json --likelihood_only
  py experiments/make_tables.py --runs_root "$RESULTS/runs" --output_dir "$RESULTS" --tables latents
}

# bypass: diagnostics for every trained, evaluated run without them; then results/bypass.md.
bypass() {
  backfill test_diagnostics.json --diagnostics_only
  py experiments/make_tables.py --runs_root "$RESULTS/runs" --output_dir "$RESULTS" --tables bypass
}

# attention [RUN_DIR...]: the attention of the paper's two Table 3 sources, one row per run.
attention() {
  local runs=("$@") flags=() run name sentence
  [ ${#runs[@]} -gt 0 ] || runs=("$RUNS/qgen/ved_vattn_mean" "$RUNS/qgen/ved_dattn")
  for run in "${runs[@]}"; do flags+=("--run_dir=$run"); done
  for name in 1783 mianyang; do
    if [ "$name" = 1783 ]; then
      sentence="when the british forces evacuated at the close of the war in 1783 they transported 3000 freedmen for resettlement in nova scotia"
    else
      sentence="downstream more than 200000 people were evacuated from mianyang by june 1 in anticipation of the dam bursting"
    fi
    py experiments/plot_attention.py "${flags[@]}" --output "$RESULTS/attention-$name.png" "$sentence"
  done
}

smoke() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/varattn-smoke.XXXXXX")
  echo "[smoke] into $dir"
  RUNS="$dir/runs" RESULTS="$dir/results" VARATTN_EPOCHS=1 \
    VARATTN_FLAGS="--max_examples=${SMOKE_EXAMPLES:-2000} --eval_subset=200 --word2vec_epochs=5 ${VARATTN_FLAGS:-}" \
    smoke_chain
  echo "[smoke] done: $dir/results"
  ls "$dir/results"
}

smoke_chain() {
  for model in ded_dattn ved_vattn_mean; do run_model qgen "$model" "$RUNS/qgen/$model" "$@"; done
  py experiments/make_tables.py --runs_root "$RUNS" --output_dir "$RESULTS"
  py experiments/plot_curves.py --runs_root "$RUNS" --output_dir "$RESULTS"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  setup) setup ;;
  test) setup; exec "$VENV/bin/python" -m pytest -n "${VARATTN_TEST_WORKERS:-auto}" --durations=15 "$@" ;;
  smoke) setup; smoke "$@" ;;
  table2|table4) setup; table "$command" "$@" ;;
  latents) setup; latents "$@" ;;
  plan) setup; [ $# -ge 1 ] || { echo "usage: ./reproduce.sh plan table2|table4|latents [flags]" >&2; exit 2; }
    table_specs "$@" ;;
  figure4) setup; table table2 "$@"; py experiments/plot_curves.py --runs_root "$RUNS" --output_dir "$RESULTS" --figures figure4 ;;
  figure5) setup; figure5 "$@" ;;
  model) setup; [ $# -ge 2 ] || { echo "usage: ./reproduce.sh model TASK PRESET [flags]" >&2; exit 2; }
    task=$1 model=$2; shift 2; run_model "$task" "$model" "${VARATTN_RUN_DIR:-$RUNS/$task/$model}" "$@" ;;
  bypass) setup; bypass ;;
  likelihood) setup; likelihood ;;
  attention) setup; attention "$@" ;;
  bench) setup; mkdir -p "$RESULTS"; py benchmarks/bench_speed.py "$@" | tee -a "$RESULTS/benchmarks.md" ;;
  tables) setup; tables ;;
  all) setup; "$0" table2 "$@"; "$0" table4 "$@"; "$0" figure4 "$@"; "$0" figure5 "$@"; "$0" tables ;;
  -h|--help|help|"") usage ;;
  *) echo "error: unknown subcommand '$command'." >&2; usage >&2; exit 2 ;;
esac

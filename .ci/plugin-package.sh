#!/usr/bin/env bash
# CI: a third-party plugin package works end to end, with no change to ablate.
#
# Installs examples/plugin-package (ablate-vggish) into .venv, runs its own contract tests,
# then uses its components from the CLI: list, run, and a tiny grid sweep. Also builds a
# skeleton from ablate.scaffold (what `ablate plugins new` writes), installs it into a
# throwaway directory and runs its generated test. Needs .venv from setup.sh.
# The package is uninstalled again on exit (KEEP_PLUGIN_PACKAGE=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 COLUMNS=200
PY="$PWD/.venv/bin/python"
ABLATE="$PWD/.venv/bin/ablate"
tmp=$(mktemp -d)

cleanup() {
  if [ "${KEEP_PLUGIN_PACKAGE:-0}" != 1 ]; then
    .venv/bin/pip uninstall -q -y ablate-vggish >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "install examples/plugin-package"
# Build from a copy, so setuptools leaves no build/ or egg-info in the source tree.
cp -r examples/plugin-package "$tmp/pkg"
.venv/bin/pip install -q --no-deps --no-build-isolation "$tmp/pkg"

step "its tests (ablate.testing contracts)"
$PY -m pytest -q -p no:cacheprovider examples/plugin-package/tests

step "ablate plugins, ablate list models"
shown=$($ABLATE plugins)
grep -q "vggish-csv" <<<"$shown" || { echo "vggish-csv missing from 'ablate plugins'" >&2; exit 1; }
models=$($ABLATE list models)
echo "$models"
grep -q "vggish" <<<"$models" || { echo "vggish missing from 'ablate list models'" >&2; exit 1; }
grep -q "block3(64)" <<<"$models" || { echo "vggish slots not listed" >&2; exit 1; }

step "ablate run --model vggish --scheduler warmup-cosine --placement vgg-late-bn"
ABLATE_CSV="$tmp/epochs.csv" $ABLATE run --model vggish --scheduler warmup-cosine \
  --placement vgg-late-bn --dataset synthetic --epochs 1 --json >"$tmp/run.json"
$PY - "$tmp/run.json" "$tmp/epochs.csv" <<'EOF'
import csv
import json
import sys

result = json.load(open(sys.argv[1]))
assert result["status"] == "completed", result["status"]
assert result["placement"] == "bn:block3+head", result["placement"]
assert result["config"]["scheduler"] == "warmup-cosine"
rows = list(csv.DictReader(open(sys.argv[2])))
assert [r["epoch"] for r in rows] == ["1"] and rows[0]["model"] == "vggish", rows
print(f"run: {result['status']}, placement {result['placement']}, "
      f"val_acc {result['final_val_acc']:.3f}, {result['wall_time_s']:.1f}s; CSV row written")
EOF

step "ablate sweep (grid, 2 points, 1 seed)"
cat >"$tmp/vggish-smoke.toml" <<'EOF'
name = "vggish-smoke"
description = "CI smoke test of an entry-point plugin's model and scheduler"
seeds = 1
sampler = "grid"
pruner = "none"

[protocol]
model = "vggish"
dataset = "synthetic"
scheduler = "warmup-cosine"
epochs = 1
train_size = 256
test_size = 128
device = "cpu"

[[space]]
name = "placement"
choices = ["none", "vgg-late-bn"]
EOF
$ABLATE sweep --study "$tmp/vggish-smoke.toml" --storage "sqlite:///$tmp/x.db" --quiet
$PY - "sqlite:///$tmp/x.db" <<'EOF'
import sys

import optuna

trials = optuna.load_study(study_name="vggish-smoke", storage=sys.argv[1]).trials
states = sorted(t.state.name for t in trials)
assert states == ["COMPLETE", "COMPLETE"], states
print(f"sweep: {len(trials)} trials complete")
EOF

step "scaffold: a generated plugin skeleton installs and passes its test"
$PY -c 'import sys; from pathlib import Path; from ablate.scaffold import write_skeleton; print(write_skeleton("ci-demo", Path(sys.argv[1])))' "$tmp/new"
.venv/bin/pip install -q --no-deps --no-build-isolation --target "$tmp/site" "$tmp/new/ablate-ci-demo"
(cd "$tmp/new/ablate-ci-demo" && PYTHONPATH="$tmp/site" "$PY" -m pytest -q -p no:cacheprovider)

step "plugin package: all good"

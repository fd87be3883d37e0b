#!/usr/bin/env bash
# Train the embedded default model from scratch and install it (issue 7). CPU only; about 35-40 minutes on
# this project's 2-core machine (VAE 5-12 min, text encoder + UNet 29 min). Needs the [train] and [export]
# extras. Seeds are fixed, so a rerun on the same software gives the same weights up to the
# nondeterminism of multi-threaded CPU kernels.
#
#   bash scripts/train_default_model.sh /tmp/run7
set -euo pipefail
run="${1:?usage: train_default_model.sh RUN_DIR}"
threads="${THREADS:-2}"
mkdir -p "$run"
python -m ortdiffusion.training --threads "$threads" vae --out "$run/vae" --steps 1500 --seed 0
python -m ortdiffusion.training --threads "$threads" base --vae "$run/vae" --out "$run/base" --steps 6500 --seed 1
python -m ortdiffusion.training --threads "$threads" sample --model "$run/base" --out "$run/samples.png"
python "$(dirname "$0")/build_default_model.py" --trained "$run/base"

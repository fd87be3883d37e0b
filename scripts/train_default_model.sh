#!/usr/bin/env bash
# Train the embedded default model and its variants from scratch and install them (issue 7). CPU only;
# on this project's 2-core machine: VAE 5-12 min, text encoder + UNet 29 min, inpainting UNet, Canny
# ControlNet and the two style LoRAs about 20 min together, the LCM-LoRA about 18 min and the tiny VAE decoder
# about 8 (times per step in each *.log). Needs the
# [train] and [export] extras. Seeds are fixed, so a rerun on the same software gives the same weights up
# to the nondeterminism of multi-threaded CPU kernels.
#
#   bash scripts/train_default_model.sh /tmp/run
#   MODELS_DIR=/tmp/models bash scripts/train_default_model.sh /tmp/run   # install elsewhere (a trial run)
set -euo pipefail
run="${1:?usage: train_default_model.sh RUN_DIR}"
threads="${THREADS:-2}"
train() { python -m ortdiffusion.training --threads "$threads" "$@"; }
mkdir -p "$run"
train vae --out "$run/vae" --steps 1500 --seed 0
train base --vae "$run/vae" --out "$run/base" --steps 6500 --seed 1
train sample --model "$run/base" --out "$run/samples.png"
train inpaint --base "$run/base" --out "$run/inpaint" --steps 2000 --seed 2
train controlnet --base "$run/base" --out "$run/controlnet" --steps 1200 --seed 3
train lora --base "$run/base" --style outline --out "$run/lora-outline" --steps 500 --seed 4
train lora --base "$run/base" --style complement --out "$run/lora-complement" --steps 500 --seed 4
python "$(dirname "$0")/build_default_model.py" --trained "$run/base" --inpaint "$run/inpaint" \
  --controlnet "$run/controlnet" --lora outline="$run/lora-outline" --lora complement="$run/lora-complement" \
  ${MODELS_DIR:+--models-dir "$MODELS_DIR"}
# distilled from the installed model: the LCM-LoRA (4-step pictures) and the tiny VAE decoder (live previews)
installed="${MODELS_DIR:-$(dirname "$0")/../python/ortdiffusion/models}/default"
train lcm-lora --export "$installed" --out "$run/lora-lcm" --steps 2500 --w-min 5 --w-max 12 --seed 5
train tiny-vae --export "$installed" --out "$run/tiny-vae" --steps 1500 --seed 6
python "$(dirname "$0")/build_default_model.py" --lora lcm="$run/lora-lcm" --tiny-vae "$run/tiny-vae" \
  ${MODELS_DIR:+--models-dir "$MODELS_DIR"}

#!/usr/bin/env bash
# Leave one voice out: today's recipe (no front end, no augmentation) and the robust one, trained from
# scratch side by side for the same number of steps (a full cosine schedule each) without VOICE, each on
# one thread of its own, then both scored on VOICE's held-out files under every robustness condition.
#   scripts/leave-one-voice-out.sh [VOICE] [STEPS] [RUNS_DIR]     (`make lovo`; needs `make data` first)
# MAX_FILES=n scores only n of the voice's held-out files (a smoke run). MAX_MINUTES=m stops each run
# after m minutes with a checkpoint; both runs checkpoint every 1,000 steps and resume, so running the
# script again with the same RUNS_DIR continues them (keep RUNS_DIR outside the work tree).
# The tables go to RUNS_DIR/lovo_{plain,robust}.md; the model card quotes them.
set -euo pipefail
voice=${1:-it_IT_m_Carlo}
steps=${2:-4000}
runs=${3:-runs}
mkdir -p "$runs"
wavenet=${WAVENET:-.venv/bin/wavenet}
common=(--cache data/corpus --preset default --exclude-voice "$voice" --steps "$steps" --threads 1 --seed 0
        --eval-every 2000 --eval-seconds 60 --checkpoint-every 1000 --resume
        ${MAX_MINUTES:+--max-minutes "$MAX_MINUTES"})
"$wavenet" train "${common[@]}" --run-dir "$runs/lovo_plain" --highpass-hz 0 > "$runs/lovo_plain.log" 2>&1 &
"$wavenet" train "${common[@]}" --run-dir "$runs/lovo_robust" \
    --augment speed eq gain noise hum rumble dc --augment-probability 0.25 > "$runs/lovo_robust.log" 2>&1 &
wait
for recipe in plain robust; do
    "$wavenet" export --run-dir "$runs/lovo_$recipe" --out "$runs/lovo_$recipe.safetensors" \
        --data-description "Asterisk voices without $voice ($recipe recipe)"
    "$wavenet" eval --checkpoint "$runs/lovo_$recipe.safetensors" --data data/corpus --voice "$voice" ${MAX_FILES:+--max-files "$MAX_FILES"} \
        --robustness --markdown | tee "$runs/lovo_$recipe.md"
done

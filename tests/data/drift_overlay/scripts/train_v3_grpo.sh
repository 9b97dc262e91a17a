#!/usr/bin/env bash
# GRPO 实验脚本（写于 3.1 之前，一直没更新）
set -e
DATA=results/okvqa/rl_data.json
GRPO_FLAGS="--grpo_epochs 3 --grpo_lr 1e-5"
python -m lever_lm.workflows.grpo_post_train \
    --beam_data "$DATA" \
    --img_emb results/okvqa/cache/query_embeddings.pt \
    --rce_epochs 5 \
    $GRPO_FLAGS \
    --skip_fallback_reward \
    --output_dir results/okvqa/model_cpk/v3_grpo 2>&1 | tee train.log

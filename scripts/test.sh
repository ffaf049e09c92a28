#!/usr/bin/env bash
# Cài đặt (nếu cần) rồi chạy toàn bộ kiểm thử: kiểm thử đơn vị, các notebook dưới nbval, cặp jupytext.
# Không mạng: HF_HUB_OFFLINE=1 và pytest-socket chặn mọi kết nối trừ loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
.venv/bin/python scripts/check_pairs.py
targets=(tests)
ls notebooks/*.ipynb >/dev/null 2>&1 && targets+=(notebooks)
.venv/bin/python -m pytest -q "${targets[@]}" --nbval-lax --nbval-kernel-name python3 \
  --disable-socket --allow-unix-socket --allow-hosts=127.0.0.1,localhost,::1 "$@"

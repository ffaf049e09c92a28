#!/usr/bin/env bash
# Việc chính của khóa học trên máy của bạn: cài đặt rồi mở các bài học trong Jupyter, không cần mạng,
# với mô hình đóng gói. Mở địa chỉ http://127.0.0.1:8888 mà Jupyter in ra.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)   # trong container (Docker, máy thuê) thường chạy bằng root
exec .venv/bin/jupyter notebook --no-browser --ip=127.0.0.1 --notebook-dir=notebooks "${extra[@]}" "$@"

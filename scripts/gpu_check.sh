#!/usr/bin/env bash
# Kiểm tra trên máy thật: chạy mọi bài học (notebooks/0*.ipynb) rồi bench/compare.py, ghi báo cáo ngắn.
#
#   scripts/gpu_check.sh                  # GPU: chế độ đầy đủ, cần xong trong 10 phút
#   scripts/gpu_check.sh --device cpu     # CPU: chế độ rút gọn (huấn luyện cắt còn 3 bước), vài phút
#   scripts/gpu_check.sh --device cuda --quick   # GPU nhưng rút gọn
#
# Báo cáo: build/gpu_check/report.md (+ report.json, các sổ tay đã chạy trong lessons/, bench/ của lần chạy).
# Báo cáo ghi: thời gian từng bài, các ô lỗi, bảng so sánh ở hình dạng GPT-2 small (bộ nhớ CUDA trên GPU).
# Python: $PYTHON nếu đặt, nếu không .venv/bin/python của kho, nếu không python3 trên PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
exec "$PY" scripts/gpu_check.py "$@"

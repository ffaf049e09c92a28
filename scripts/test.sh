#!/usr/bin/env bash
# Cài đặt (nếu cần) rồi chạy toàn bộ kiểm thử: cặp jupytext, trang tài liệu dựng lại với mọi bài được chạy,
# kiểm thử đơn vị, các notebook dưới nbval, kiểm thử trang đã dựng (liên kết, hình, trình duyệt).
# Không mạng tới hub: HF_HUB_OFFLINE=1, và pytest-socket chặn mọi kết nối trừ loopback.
#   bash scripts/test.sh                 # đầy đủ (khoảng 20 phút trên 2 nhân CPU)
#   PEFT_SKIP_DOCS=1 bash scripts/test.sh  # bỏ qua bước dựng trang (nhanh hơn khoảng 8 phút)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
.venv/bin/python scripts/check_pairs.py
.venv/bin/python scripts/colab.py --check
# Bộ đệm các lần chạy (experiments.run(..., cache=True)) bắt đầu trống cho lần dựng trang và cho nbval: mọi
# bài được huấn luyện thật như khi sinh viên chạy lần đầu theo thứ tự bài.
cache_root=$(mktemp -d)
trap 'rm -rf "$cache_root"' EXIT
if [ "${PEFT_SKIP_DOCS:-0}" != 1 ]; then
  PEFT_COURSE_CACHE="$cache_root/docs" bash scripts/build_docs.sh
  # Trang vừa dựng thì các kiểm thử trên site/ phải chạy (không được bỏ qua); trình duyệt cũng vậy nếu có chromium.
  export PEFT_DOCS_REQUIRED=1
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then
    export PEFT_BROWSER_REQUIRED=1
  else
    echo "Cảnh báo: không có chromium, kiểm thử trình duyệt của trang sẽ bị bỏ qua." >&2
  fi
fi
export PEFT_COURSE_CACHE="$cache_root/tests"
targets=(tests)
ls notebooks/*.ipynb >/dev/null 2>&1 && targets+=(notebooks)
.venv/bin/python -m pytest -q "${targets[@]}" --nbval-lax --nbval-kernel-name python3 \
  --disable-socket --allow-unix-socket --allow-hosts=127.0.0.1,localhost,::1 "$@"

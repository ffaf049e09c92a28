#!/usr/bin/env bash
# Cài đặt (nếu cần) rồi chạy toàn bộ kiểm thử, mỗi bài học chạy đúng một lần:
#   1. cặp jupytext và ô Colab của mọi notebook;
#   2. song song: chạy mọi bài theo thứ tự (scripts/execute_lessons.py → build/lessons/, một bộ đệm chung bắt đầu
#      trống) và kiểm thử đơn vị (mỗi bên một luồng torch);
#   3. dựng trang tài liệu từ chính các bản đã chạy (không chạy lại);
#   4. so đầu ra của các ô được đánh dấu với notebook đã commit (tests/test_lessons.py) và kiểm thử trang đã dựng.
# Không mạng tới hub: HF_HUB_OFFLINE=1, và pytest-socket (addopts trong pyproject.toml) chặn mọi kết nối trừ loopback.
#   bash scripts/test.sh                          # đầy đủ
#   PEFT_SKIP_DOCS=1 bash scripts/test.sh         # bỏ qua trang tài liệu (site/ cũ bị xóa, không bị kiểm thử)
#   bash scripts/test.sh notebooks/03_lora.ipynb  # chỉ một bài dưới nbval (hoặc bất kỳ đích pytest nào)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
PYTEST=(.venv/bin/python -m pytest -q --nbval-lax --nbval-kernel-name python3)
if [ $# -gt 0 ]; then
  exec "${PYTEST[@]}" "$@"
fi

phase() { echo "[test.sh] $1: $(( $(date +%s) - t0 )) s từ đầu" | tee -a build/test-times.txt; }
mkdir -p build
: > build/test-times.txt
phase "cài đặt xong"
.venv/bin/python scripts/check_pairs.py
.venv/bin/python scripts/colab.py --check

# Bước 2: mỗi tiến trình một luồng torch, để hai việc chạy cạnh nhau trên 2 nhân.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
log=build/execute_lessons.log
.venv/bin/python scripts/execute_lessons.py > "$log" 2>&1 &
lessons_pid=$!
trap 'kill "$lessons_pid" 2>/dev/null || true' EXIT
prep_pid=""
if [ "${PEFT_SKIP_DOCS:-0}" != 1 ]; then   # công cụ dựng trang (chromium, npm) tải trong lúc các bài chạy
  bash scripts/build_docs.sh --prepare-only > build/docs-prepare.log 2>&1 &
  prep_pid=$!
fi
unit_rc=0
"${PYTEST[@]}" tests --ignore=tests/test_lessons.py --ignore=tests/test_docs.py || unit_rc=$?
phase "kiểm thử đơn vị xong"
lessons_rc=0
wait "$lessons_pid" || lessons_rc=$?
trap - EXIT
grep -v "Kernel is running over TCP" "$log" || true
phase "chạy các bài xong"

docs_rc=0
if [ "${PEFT_SKIP_DOCS:-0}" != 1 ]; then
  prep_rc=0
  wait "$prep_pid" || prep_rc=$?
  cat build/docs-prepare.log
  if [ "$prep_rc" != 0 ]; then
    docs_rc=$prep_rc
    rm -rf site
  elif [ "$lessons_rc" = 0 ]; then
    bash scripts/build_docs.sh || docs_rc=$?
  else
    docs_rc=1
    rm -rf site
    echo "Bỏ qua dựng trang: có bài lỗi (xem ở trên)." >&2
  fi
  phase "dựng trang xong"
  # Trang vừa dựng thì các kiểm thử trên site/ phải chạy (không được bỏ qua); trình duyệt cũng vậy nếu có chromium.
  export PEFT_DOCS_REQUIRED=1
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then
    export PEFT_BROWSER_REQUIRED=1
  else
    echo "Cảnh báo: không có chromium, kiểm thử trình duyệt của trang sẽ bị bỏ qua." >&2
  fi
else
  rm -rf site   # không kiểm thử một site/ cũ
fi

late_rc=0
"${PYTEST[@]}" tests/test_lessons.py tests/test_docs.py || late_rc=$?
phase "so đầu ra bài học và kiểm thử trang xong"
if [ "$unit_rc$lessons_rc$docs_rc$late_rc" != 0000 ]; then
  echo "KIỂM THỬ LỖI: đơn vị=$unit_rc, chạy bài=$lessons_rc, dựng trang=$docs_rc, đầu ra bài và trang=$late_rc" >&2
  exit 1
fi
echo "Mọi kiểm thử đạt ($(( $(date +%s) - t0 )) s, kể cả cài đặt)."

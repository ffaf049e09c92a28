#!/usr/bin/env bash
# Tạo môi trường .venv cho khóa học: giữ torch nếu Python của máy đã có, nếu chưa thì cài torch==2.13.0
# (trước mọi gói khác, để không kéo bản CUDA nhiều GB), rồi cài requirements.txt.
# Lỗi thì dừng ngay và nói rõ: trạng thái thoát của pip được giữ (chỉ lọc stderr); một .venv hỏng (python không
# chạy, hoặc không nhập được torch/peft_course) được dựng lại; lần sau, nếu requirements.txt và pyproject.toml
# không đổi và .venv còn tốt, không cài lại gì.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.peft-course-setup"   # dấu: dựng xong với requirements.txt + pyproject.toml nào

# pip … với stderr đã lọc bớt cảnh báo vô hại; trạng thái thoát là của pip (set -e dừng khi pip lỗi).
pipq() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }
# .venv dùng được: python chạy và tìm thấy torch, transformers, peft, peft_course (find_spec: nhanh, không nhập).
# Việc nhập thật được làm một lần ở cuối lần cài; dấu $STAMP chỉ được ghi khi nó thành công.
healthy() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ('torch', 'transformers', 'peft', 'peft_course')))" 2>/dev/null
}
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)

if healthy && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ]; then
  exit 0   # đã dựng xong với đúng các tệp này
fi
if [ -d "$VENV" ] && { ! healthy || [ ! -f "$STAMP" ]; }; then
  # Một .venv dựng dở (pip bị ngắt, mạng lỗi: chưa có dấu) hoặc hỏng về sau: không dùng lại, dựng lại từ đầu.
  echo "Môi trường $VENV hỏng hoặc dựng dở (python không chạy, hoặc không nhập được torch/peft_course) — dựng lại." >&2
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  if "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m venv --system-site-packages "$VENV"   # dùng lại torch đã cài
  else
    "$PY" -m venv "$VENV"
  fi
fi
rm -f "$STAMP"   # chỉ ghi lại khi mọi bước dưới đây thành công
pipq --upgrade pip
"$VENV/bin/python" -c "import torch" 2>/dev/null || pipq torch==2.13.0
pipq -r requirements.txt
report="import torch, transformers, peft, peft_course
print('torch', torch.__version__, '| transformers', transformers.__version__, '| peft', peft.__version__,
      '| peft_course', peft_course.__version__, 'sẵn sàng')"
if ! out=$("$VENV/bin/python" -c "$report" 2>&1); then
  echo "Cài đặt xong nhưng $VENV vẫn không nhập được các gói cần thiết:" >&2
  echo "$out" >&2
  echo "Xóa $VENV rồi chạy lại: rm -rf $VENV && bash scripts/setup.sh" >&2
  exit 1
fi
echo "$out"
echo "$wanted" > "$STAMP"

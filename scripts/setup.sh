#!/usr/bin/env bash
# Tạo môi trường .venv cho khóa học: giữ torch nếu Python của máy đã có, nếu chưa thì cài torch==2.13.0
# (trước mọi gói khác, để không kéo bản CUDA nhiều GB), rồi cài requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m venv --system-site-packages .venv   # dùng lại torch đã cài
  else
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/python -m pip install -q -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, transformers, peft_course; print('torch', torch.__version__, '| transformers', transformers.__version__, '| peft_course sẵn sàng')"

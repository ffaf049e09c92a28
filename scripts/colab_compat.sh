#!/usr/bin/env bash
# Chạy kiểm thử đơn vị và một bài học dưới đúng các phiên bản thư viện mà Colab cài sẵn
# (scripts/colab-versions.txt), trong môi trường riêng .venv-colab; torch giữ bản của máy (2.13.0 CPU).
#   bash scripts/colab_compat.sh                                   # bài mặc định: 03_lora
#   COLAB_LESSON=notebooks/05_prefix_tuning.ipynb bash scripts/colab_compat.sh
# .ci/run chạy việc này song song với lượt chính (mỗi bên một luồng torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv-colab
pipq() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }
if [ -d "$VENV" ] && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "Môi trường $VENV hỏng hoặc dựng dở — dựng lại." >&2
  rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -c "import torch" 2>/dev/null || pipq torch==2.13.0
pipq -r scripts/colab-versions.txt nbval ipykernel pytest-socket safetensors tqdm
pipq --no-deps -e .
"$VENV/bin/python" -c "import transformers, datasets, peft, ipywidgets; print('Colab pins:', transformers.__version__, datasets.__version__, peft.__version__, ipywidgets.__version__)"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
lesson=${COLAB_LESSON:-notebooks/03_lora.ipynb}
[ -f "$lesson" ] || { echo "Không có bài $lesson (đặt COLAB_LESSON=notebooks/NN_ten.ipynb)." >&2; exit 1; }
# Bộ đệm các lần chạy riêng, bắt đầu trống: bài được huấn luyện thật dưới các phiên bản của Colab.
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export PEFT_COURSE_CACHE="$cache"
# test_lessons (so build/lessons của lượt chính), test_docs và test_hygiene không phụ thuộc phiên bản thư viện.
"$VENV/bin/python" -m pytest -q tests "$lesson" --nbval-lax --nbval-kernel-name python3 \
  --ignore=tests/test_docs.py --ignore=tests/test_hygiene.py --ignore=tests/test_lessons.py "$@"

#!/usr/bin/env bash
# Dựng trang tài liệu vào site/ từ các bài học đã chạy sẵn trong build/lessons/ (scripts/execute_lessons.py):
# mkdocs-jupyter không chạy lại notebook nào (execute: false), nên mỗi bài chỉ chạy một lần cho cả kiểm thử lẫn
# trang. Công thức và widget hiển thị không cần mạng (MathJax 3 và trình hiển thị widget phục vụ từ chính trang).
#
#   bash scripts/build_docs.sh --execute           # chạy mọi bài vào build/lessons/ rồi dựng (khoảng 1 phút mỗi bài)
#   bash scripts/build_docs.sh                     # dựng từ build/lessons/ đã có (nhanh)
#   bash scripts/build_docs.sh --committed         # dựng từ đầu ra đã commit trong notebooks/ (thử phần trình bày)
#   bash scripts/build_docs.sh --only '03|05'      # chỉ các bài có tên khớp biểu thức (grep -E) này
#   bash scripts/build_docs.sh --prepare-only      # chỉ bước (1)–(2) (test.sh chạy nó trong lúc các bài chạy)
#
# Các bước: (1) cài chromium nếu thiếu (cho kiểm thử trình duyệt trong tests/test_docs.py);
# (2) npm ci theo docs/_tooling/package-lock.json vào build/docs-npm rồi chép vài tệp cần thiết sang
# docs/_vendor/ (bỏ qua trong git; chỉ làm lại khi package-lock.json đổi); (3) chép build/lessons/*.ipynb vào
# docs/lessons/ (bỏ qua trong git: nguồn duy nhất vẫn là notebooks/); (4) `mkdocs build --strict` với
# PEFT_DOCS_EXECUTE=false.
# Kiểm thử trang đã dựng: .venv/bin/python -m pytest -q tests/test_docs.py
set -euo pipefail
cd "$(dirname "$0")/.."

execute=false
prepare_only=false
source_dir=build/lessons
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --execute) execute=true ;;
    --committed|--no-execute) source_dir=notebooks ;;
    --prepare-only) prepare_only=true ;;
    --only) only="$2"; export PEFT_DOCS_PARTIAL=1; shift ;;   # hook cho phép thiếu bài
    *) echo "Không hiểu tham số: $1 (dùng --execute, --committed, --only BIỂU_THỨC, --prepare-only)" >&2; exit 2 ;;
  esac
  shift
done
if $execute; then
  source_dir=build/lessons
  .venv/bin/python scripts/execute_lessons.py ${only:+--only "$only"}
fi
if ! $prepare_only && [ "$source_dir" = build/lessons ] && ! ls build/lessons/*.ipynb >/dev/null 2>&1; then
  echo "Chưa có bài nào đã chạy trong build/lessons/: dùng bash scripts/build_docs.sh --execute" \
       "(hoặc --committed để dựng từ đầu ra đã commit)." >&2
  exit 1
fi

# (1) Công cụ hệ thống: chromium (kiểm thử trình duyệt) và npm (tải MathJax, trình hiển thị widget).
apt_install() {  # apt_install LỆNH GÓI: cài GÓI nếu thiếu LỆNH (chỉ khi là root trên Debian/Ubuntu)
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Cài $2…"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
  else
    echo "Thiếu $1: hãy cài gói $2 (Debian/Ubuntu: sudo apt-get install $2)." >&2
    return 1
  fi
}
apt_install chromium chromium || echo "Cảnh báo: không có chromium thì tests/test_docs.py bỏ qua kiểm thử trình duyệt." >&2

# Công cụ dựng trang (extra "docs" trong pyproject.toml).
if ! .venv/bin/python -c "import mkdocs_jupyter, material" 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[docs]" 2> >(grep -v "^WARNING: Location" >&2)
fi

# (2) Thư viện JavaScript phục vụ từ chính trang.
vendor=docs/_vendor
if ! cmp -s docs/_tooling/package-lock.json "$vendor/package-lock.json"; then
  apt_install npm npm
  echo "Tải MathJax 3, @jupyter-widgets/html-manager và phông chữ (@fontsource) qua npm…"
  rm -rf build/docs-npm "$vendor"
  mkdir -p build/docs-npm "$vendor/mathjax/input/tex" "$vendor/mathjax/output/chtml/fonts" "$vendor/html-manager"
  cp docs/_tooling/package.json docs/_tooling/package-lock.json build/docs-npm/
  (cd build/docs-npm && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
  mj=build/docs-npm/node_modules/mathjax
  cp "$mj/es5/tex-mml-chtml.js" "$mj/LICENSE" "$vendor/mathjax/"
  cp -r "$mj/es5/input/tex/extensions" "$vendor/mathjax/input/tex/"   # gói TeX nạp khi cần (autoload)
  cp -r "$mj/es5/output/chtml/fonts/woff-v2" "$vendor/mathjax/output/chtml/fonts/"
  cp -r "$mj/es5/a11y" "$mj/es5/sre" "$mj/es5/ui" "$vendor/mathjax/"   # menu và trợ năng, nạp khi cần
  hm=build/docs-npm/node_modules/@jupyter-widgets/html-manager
  cp "$hm/dist/embed.js" "$hm/dist/embed.js.LICENSE.txt" "$hm/package.json" "$vendor/html-manager/"
  cp "$hm"/dist/*.woff "$hm"/dist/*.woff2 "$hm"/dist/*.ttf "$hm"/dist/*.eot "$hm"/dist/*.svg "$vendor/html-manager/"
  # Phông chữ có đủ chữ tiếng Việt (Inter cho chữ, JetBrains Mono cho mã), phục vụ từ chính trang.
  .venv/bin/python docs/_tooling/vendor_fonts.py build/docs-npm/node_modules "$vendor/fonts"
  cp docs/_tooling/package-lock.json "$vendor/package-lock.json"   # dấu: bản đã chép
fi

if $prepare_only; then
  echo "Công cụ dựng trang sẵn sàng (chromium, mkdocs, docs/_vendor)."
  exit 0
fi

# (3) Bài học.
rm -rf docs/lessons
mkdir -p docs/lessons
shopt -s nullglob
for nb in "$source_dir"/*.ipynb; do
  if basename "$nb" | grep -Eq -- "$only"; then cp "$nb" docs/lessons/; fi
done
[ -n "$(ls docs/lessons)" ] || { echo "Không có bài nào để dựng (--only '$only' trong $source_dir/)." >&2; exit 1; }
echo "Bài học sẽ dựng (từ $source_dir/): $(ls docs/lessons | tr '\n' ' ')"

# (4) Dựng, không chạy lại notebook nào.
rm -rf .cache/mkdocs-jupyter
export NO_MKDOCS_2_WARNING=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
export PEFT_DOCS_EXECUTE=false   # mkdocs.yml: execute: !ENV [PEFT_DOCS_EXECUTE, …]
start=$(date +%s)
.venv/bin/mkdocs build --strict --clean
echo "Đã dựng site/ trong $(( $(date +%s) - start )) s (từ $source_dir/)."

"""Kiểm tra mỗi notebook trong notebooks/ có cặp .py (jupytext, percent) với đúng các ô như nhau.

jupytext không có lệnh trả mã lỗi cho việc này, nên đây là lệnh đó: thoát 1 nếu có cặp lệch, hoặc nếu không
thấy notebook nào (đường dẫn tính từ gốc kho, không từ thư mục hiện tại). Thẻ ô (`tags`, ví dụ `teach`,
`nbval-check-output`) là một phần của ô: hai tệp phải có cùng thẻ.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext


NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def cells(path: Path) -> list[tuple[str, str, list[str]]]:
    """(loại ô, nội dung, thẻ) của từng ô, đọc bằng jupytext."""
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in jupytext.read(path).cells]


def main(folder: Path = NOTEBOOKS) -> int:
    """Thoát 0 nếu mọi cặp khớp; 1 (liệt kê chỗ lệch) nếu có cặp lệch hoặc không có notebook nào."""
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        print(f"Không thấy notebook nào trong {folder}: không có gì để kiểm tra là một lỗi.")
        return 1
    bad = []
    for nb in notebooks:
        twin = nb.with_suffix(".py")
        if not twin.exists():
            bad.append(f"{nb}: thiếu tệp cặp {twin}")
        elif cells(nb) != cells(twin):
            bad.append(f"{nb} và {twin}: các ô khác nhau (chạy: jupytext --sync {twin})")
    for py in sorted(folder.glob("*.py")):
        if not py.with_suffix(".ipynb").exists():
            bad.append(f"{py}: thiếu notebook cặp (chạy: jupytext --sync {py})")
    print("\n".join(bad) if bad else f"{len(notebooks)} cặp notebook/.py khớp nhau (cả thẻ ô).")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

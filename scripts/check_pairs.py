"""Kiểm tra mỗi notebook trong notebooks/ có cặp .py (jupytext, percent) với đúng các ô như nhau.

jupytext không có lệnh trả mã lỗi cho việc này, nên đây là lệnh đó: thoát 1 nếu có cặp lệch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext


def cells(path: Path) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]


def main() -> int:
    bad = []
    for nb in sorted(Path("notebooks").glob("*.ipynb")):
        twin = nb.with_suffix(".py")
        if not twin.exists():
            bad.append(f"{nb}: thiếu tệp cặp {twin}")
        elif cells(nb) != cells(twin):
            bad.append(f"{nb} và {twin}: các ô khác nhau (chạy: jupytext --sync {twin})")
    for py in sorted(Path("notebooks").glob("*.py")):
        if not py.with_suffix(".ipynb").exists():
            bad.append(f"{py}: thiếu notebook cặp (chạy: jupytext --sync {py})")
    print("\n".join(bad) if bad else "Các cặp notebook/.py khớp nhau.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

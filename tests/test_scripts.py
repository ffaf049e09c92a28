"""Các lệnh cài đặt và kiểm tra báo lỗi thay vì lặng lẽ thành công."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_pairs", ROOT / "scripts" / "check_pairs.py")
check_pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_pairs)


def test_check_pairs_is_anchored_to_the_repo(tmp_path: Path) -> None:
    """Chạy từ thư mục khác vẫn kiểm tra notebooks/ của kho (trước đây: 0 notebook, báo thành công)."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_pairs.py")], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert check_pairs.NOTEBOOKS == ROOT / "notebooks"
    assert out.returncode == check_pairs.main(), out.stdout + out.stderr


def test_check_pairs_fails_without_notebooks(tmp_path: Path) -> None:
    assert check_pairs.main(tmp_path) == 1


def test_check_pairs_sees_a_missing_tag(tmp_path: Path) -> None:
    """Một thẻ ô (teach, nbval-check-output…) chỉ có ở một bên của cặp là một cặp lệch."""
    py = sorted((ROOT / "notebooks").glob("[0-9]*.py"))[0]
    shutil.copy(py, tmp_path)
    shutil.copy(py.with_suffix(".ipynb"), tmp_path)
    assert check_pairs.main(tmp_path) == 0
    text = (tmp_path / py.name).read_text(encoding="utf-8")
    (tmp_path / py.name).write_text(text.replace("# %%\n", '# %% tags=["teach"]\n', 1), encoding="utf-8")
    assert check_pairs.main(tmp_path) == 1


def test_shell_scripts_keep_pip_exit_status() -> None:
    """Không còn `pip … | grep … || true` (nuốt mã thoát của pip): chỉ stderr được lọc."""
    for script in sorted((ROOT / "scripts").glob("*.sh")):
        for line in script.read_text(encoding="utf-8").splitlines():
            if "pip" in line and "install" in line:
                assert "|| true" not in line and "2>&1 |" not in line, f"{script.name}: {line.strip()}"


def test_execute_lessons_names_the_lesson_and_cell(tmp_path: Path) -> None:
    """Một ô lỗi: thông báo nêu tên bài, số ô (đếm từ 1), dòng đầu của ô và lỗi Python; các ô sau không chạy."""
    import nbformat

    spec = importlib.util.spec_from_file_location("execute_lessons", ROOT / "scripts" / "execute_lessons.py")
    execute_lessons = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("execute_lessons", execute_lessons)  # @dataclass tra mô-đun trong sys.modules
    spec.loader.exec_module(execute_lessons)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Bài 99"), nbformat.v4.new_code_cell("x = 1\nprint(x)"),
                nbformat.v4.new_code_cell("# chia cho không\ny = x / 0"), nbformat.v4.new_code_cell("print('sau')")]
    path = tmp_path / "99_loi.ipynb"
    nbformat.write(nb, path)
    executed, run = execute_lessons.run_lesson(path, timeout=120)
    assert run.error is not None
    assert run.error.startswith("99_loi.ipynb, ô 3 ('# chia cho không')") and "ZeroDivisionError" in run.error
    assert executed.cells[1].outputs[0]["text"] == "1\n" and executed.cells[3].outputs == []

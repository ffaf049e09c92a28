"""Đầu ra tất định của các bài học: bản đã chạy trong build/lessons/ khớp với notebook đã commit.

`scripts/execute_lessons.py` chạy mỗi bài đúng một lần; kiểm thử này so, như `pytest --nbval-lax`, mọi ô được
đánh dấu `nbval-check-output` (thẻ ô, hoặc dòng `# NBVAL_CHECK_OUTPUT` kiểu cũ): cùng các khóa đầu ra, cùng
văn bản (`text/plain`, `text/html`, luồng stdout/stderr gộp lại như nbval; bỏ qua hình, metadata, số thứ tự
chạy và mã widget). Ô có thẻ `nbval-ignore-output` / `nbval-skip` không bị so.

Chưa có build/lessons/ thì bị bỏ qua: hãy chạy `python scripts/execute_lessons.py`, hoặc nbval trực tiếp cho
một bài: `pytest --nbval-lax notebooks/NN_ten.ipynb`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import coalesce_streams

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "lessons"
# Như nbval (không dùng nbdime): những khóa này không được so.
SKIP_COMPARE = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"}
COMMITTED = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if re.match(r"\d+_", p.name))


def tags(cell) -> set[str]:
    """Thẻ của ô, kể cả dòng chú thích kiểu cũ `# NBVAL_CHECK_OUTPUT` (đổi thành `nbval-check-output`)."""
    found = set(cell.get("metadata", {}).get("tags", []))
    for line in cell.source.splitlines():
        if line.strip().startswith("# NBVAL_"):
            found.add(line.strip()[2:].lower().replace("_", "-"))
    return found


def is_checked(cell) -> bool:
    """Ô mã có đầu ra phải khớp: có nbval-check-output và không có nbval-ignore-output / nbval-skip."""
    t = tags(cell)
    return cell.cell_type == "code" and "nbval-check-output" in t and not t & {"nbval-ignore-output", "nbval-skip"}


def comparable(outputs) -> dict[str, list]:
    """Đầu ra của một ô theo cách nbval so: luồng gộp theo tên, dữ liệu trải phẳng theo kiểu MIME."""
    flat: dict[str, list] = defaultdict(list)
    for out in coalesce_streams([nbformat.from_dict(o) for o in outputs]):
        if out.output_type == "stream":
            flat[out.name].append(out.text)
            continue
        for key, value in out.items():
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        flat[mime].append(data)
            elif key not in SKIP_COMPARE:
                flat[key].append(value)
    return dict(flat)


def differences(committed: Path, executed: Path) -> list[str]:
    """Các ô được đánh dấu có đầu ra khác nhau giữa bản commit và bản đã chạy (rỗng nếu khớp)."""
    ref = nbformat.read(committed, as_version=4)
    run = nbformat.read(executed, as_version=4)
    if [c.source for c in ref.cells] != [c.source for c in run.cells]:
        return [f"{executed.name} cũ (mã các ô khác bản commit): chạy lại python scripts/execute_lessons.py"]
    problems = []
    for index, (a, b) in enumerate(zip(ref.cells, run.cells)):
        if not is_checked(a):
            continue
        want, got = comparable(a.get("outputs", [])), comparable(b.get("outputs", []))
        if want != got:
            first = next((line for line in a.source.splitlines() if line.strip() and "NBVAL" not in line), "")
            problems.append(f"ô {index + 1} ({first.strip()!r}):\n  đã commit: {want}\n  vừa chạy:  {got}")
    return problems


def test_there_are_lessons() -> None:
    assert COMMITTED, "notebooks/ không có bài học nào (NN_*.ipynb)"


@pytest.mark.parametrize("committed", COMMITTED, ids=lambda p: p.stem)
def test_checked_outputs_match_committed(committed: Path) -> None:
    if not BUILD.is_dir():
        pytest.skip("chưa có build/lessons/: chạy python scripts/execute_lessons.py "
                    "(hoặc pytest --nbval-lax notebooks/NN_ten.ipynb cho một bài)")
    executed = BUILD / committed.name
    timings = json.loads((BUILD / "timings.json").read_text(encoding="utf-8"))
    if timings.get("only") and not re.search(timings["only"], committed.name):
        pytest.skip(f"lần chạy cuối chỉ chạy các bài khớp --only {timings['only']!r}")
    assert executed.exists(), f"build/lessons/{committed.name} không có: chạy python scripts/execute_lessons.py"
    failed = timings.get("failed", {})
    assert committed.name not in failed, failed.get(committed.name)
    bad = differences(committed, executed)
    assert not bad, f"{committed.name}: đầu ra của ô được đánh dấu đã đổi\n" + "\n".join(bad)


def test_every_lesson_checks_some_output() -> None:
    """Mỗi bài có ít nhất một ô có đầu ra được so (nếu không, bài đó không được kiểm tra gì ngoài việc chạy)."""
    for path in COMMITTED:
        assert any(is_checked(c) for c in nbformat.read(path, as_version=4).cells), path.name


def test_comparison_detects_a_changed_output(tmp_path: Path) -> None:
    """So sánh thật sự bắt được một con số đổi trong ô được đánh dấu, và bỏ qua ô nbval-ignore-output."""
    def notebook(checked: str, ignored: str) -> Path:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(n)"),
                    nbformat.v4.new_code_cell("print(t)", metadata={"tags": ["nbval-ignore-output"]}),
                    nbformat.v4.new_code_cell("n", metadata={"tags": ["nbval-check-output"]})]
        nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=checked[:2]),
                               nbformat.v4.new_output("stream", name="stdout", text=checked[2:])]
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=ignored)]
        nb.cells[2].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1", "image/png": ignored},
                                                      execution_count=len(ignored))]
        path = tmp_path / f"{checked}-{ignored}.ipynb"
        nbformat.write(nb, path)
        return path

    reference = notebook("1234\n", "0.5 s")
    assert differences(reference, notebook("1234\n", "0.7 s")) == []  # thời gian, hình, số thứ tự: bỏ qua
    bad = differences(reference, notebook("1235\n", "0.5 s"))
    assert len(bad) == 1 and bad[0].startswith("ô 1") and "1235" in bad[0]

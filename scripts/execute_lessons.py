"""Chạy mỗi bài học đúng một lần, theo thứ tự bài, và giữ bản đã chạy cho kiểm thử và trang tài liệu.

Mỗi `notebooks/NN_*.ipynb` được chạy bằng nbclient (kernel python3, thư mục làm việc `notebooks/`) và ghi vào
`build/lessons/` cùng `build/lessons/timings.json` (số giây mỗi bài). Mọi bài dùng chung một bộ đệm các lần
chạy (`PEFT_COURSE_CACHE`): nếu biến này chưa đặt, bộ đệm là một thư mục tạm bắt đầu trống, như khi sinh viên
chạy lần đầu theo thứ tự bài (bài 4, 5 dùng lại LoRA r=8 của bài 3).

Hai bài chạy cùng lúc (`--jobs 2`, mặc định trên máy ≥ 2 nhân), mỗi bài trong một tiến trình riêng, nhưng một
bài chỉ bắt đầu khi các bài mà nó đọc bộ đệm đã xong (`READS_CACHE_OF`): kết quả như chạy tuần tự, nhanh hơn.

Sau đó:
- `pytest tests/test_lessons.py` so đầu ra của các ô được đánh dấu với notebook đã commit (như nbval --nbval-lax);
- `bash scripts/build_docs.sh` dựng trang từ chính các bản này, không chạy lại.

    python scripts/execute_lessons.py                # mọi bài
    python scripts/execute_lessons.py --only '03|05' # chỉ các bài có tên khớp biểu thức
    python scripts/execute_lessons.py --fail-fast    # dừng ở bài lỗi đầu tiên
    python scripts/execute_lessons.py --jobs 1       # tuần tự, đúng thứ tự bài

Thoát 1 nếu một ô lỗi, nêu tên bài, số thứ tự ô, dòng đầu của ô và lỗi.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "lessons"
SKIP_TAGS = {"nbval-skip", "skip-execution"}  # nbval-skip: ô mà nbval cũng không chạy
RAISES_TAGS = {"raises-exception", "nbval-raises-exception"}  # ô được phép ném lỗi (như nbval)
# Bài nào đọc bộ đệm các lần chạy do bài nào ghi (experiments.full_baseline, experiments.run(..., cache=True)):
# nó chỉ bắt đầu khi các bài đó xong, nên không huấn luyện lại cái mà bài trước sẽ ghi. Bài không có trong
# bảng chờ mọi bài đứng trước nó (an toàn: như chạy tuần tự). Bảng sai chỉ làm chậm, không làm sai kết quả.
READS_CACHE_OF = {"00": [], "01": ["00"], "02": ["00"], "03": ["00"], "04": ["00", "03"], "05": ["00", "03"],
                  "06": []}


@dataclass
class LessonRun:
    """Kết quả chạy một bài: thời gian (giây) và lỗi nếu có."""

    name: str  # tên tệp, ví dụ 03_lora.ipynb
    seconds: float = 0.0  # thời gian chạy cả bài (khởi động kernel đến ô cuối)
    error: str | None = None  # mô tả lỗi (bài, ô, dòng đầu, thông báo); None nếu chạy xong
    cell_seconds: list[float] = field(default_factory=list)  # thời gian từng ô mã, theo thứ tự


def lessons(only: str = "") -> list[Path]:
    """Các notebook bài học trong notebooks/, theo thứ tự số bài (tên NN_*.ipynb)."""
    found = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if re.match(r"\d+_", p.name))
    if not found:
        raise SystemExit(f"Không có notebook bài học nào (NN_*.ipynb) trong {NOTEBOOKS}.")
    chosen = [p for p in found if re.search(only, p.name)] if only else found
    if not chosen:
        raise SystemExit(f"--only {only!r} không khớp bài nào; các bài có: {[p.name for p in found]}")
    return chosen


def number(path: Path) -> str:
    """Số bài ("03") ở đầu tên tệp."""
    return path.name.split("_", 1)[0]


def dependencies(paths: list[Path]) -> dict[Path, set[Path]]:
    """Với mỗi bài trong lần chạy này: các bài (cũng trong lần chạy này) phải xong trước nó."""
    by_number = {number(p): p for p in paths}
    deps = {}
    for i, path in enumerate(paths):
        needs = READS_CACHE_OF.get(number(path))
        deps[path] = set(paths[:i]) if needs is None else {by_number[n] for n in needs if n in by_number}
    return deps


def cell_tags(cell) -> set[str]:
    """Thẻ của ô, kể cả các chú thích kiểu cũ `# NBVAL_SKIP` / `# NBVAL_RAISES_EXCEPTION` của nbval."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    for line in cell.get("source", "").splitlines():
        marker = line.strip()
        if marker.startswith("# NBVAL_"):
            tags.add(marker[2:].lower().replace("_", "-"))
    return tags


def first_line(cell) -> str:
    """Dòng đầu không rỗng của ô (để báo lỗi chỉ rõ ô nào)."""
    return next((line.strip() for line in cell.source.splitlines() if line.strip()), "(ô rỗng)")


def describe_error(nb_name: str, index: int, cell, exc: Exception) -> str:
    """Thông báo lỗi nêu bài, ô (đếm từ 1, như trong Jupyter) và lỗi Python."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    return (f"{nb_name}, ô {index + 1} ({first_line(cell)!r}): {ename}: {evalue}\n"
            f"  Chạy lại riêng bài này: .venv/bin/python -m pytest --nbval-lax notebooks/{nb_name}")


def run_lesson(path: Path, timeout: int) -> tuple[object, LessonRun]:
    """Chạy một notebook trong notebooks/ (ô sau ô, để biết ô nào lỗi); trả về notebook đã chạy và kết quả."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})  # thư mục làm việc: notebooks/
    run = LessonRun(path.name)
    start = time.perf_counter()
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                tags = cell_tags(cell)
                if tags & SKIP_TAGS:
                    continue
                if tags & RAISES_TAGS:
                    cell.metadata.setdefault("tags", []).append("raises-exception")  # nbclient cho phép lỗi
                t0 = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                except (CellExecutionError, CellTimeoutError) as exc:
                    run.error = describe_error(path.name, index, cell, exc)
                    break
                finally:
                    run.cell_seconds.append(round(time.perf_counter() - t0, 2))
            client.set_widgets_metadata()
    except Exception as exc:  # kernel không khởi động được, chết giữa chừng…
        run.error = run.error or f"{path.name}: kernel lỗi: {type(exc).__name__}: {exc}"
    run.seconds = round(time.perf_counter() - start, 1)
    return nb, run


def execute_all(paths: list[Path], jobs: int, timeout: int, fail_fast: bool) -> list[LessonRun]:
    """Chạy các bài, tối đa `jobs` bài cùng lúc theo thứ tự phụ thuộc; ghi mỗi bài vào build/lessons/ khi xong."""
    import nbformat

    deps = dependencies(paths)
    waiting_on = {p: sum(p in d for d in deps.values()) for p in paths}  # bao nhiêu bài chờ bài này
    pending, running, done, runs = list(paths), {}, set(), []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        while pending or running:
            ready = sorted((p for p in pending if deps[p] <= done), key=lambda p: (-waiting_on[p], p.name))
            if not ready and not running:  # không thể xảy ra với READS_CACHE_OF chỉ trỏ về bài trước
                raise SystemExit(f"Không bài nào chạy được: {[p.name for p in pending]} chờ nhau (READS_CACHE_OF).")
            for path in ready[: jobs - len(running)]:
                pending.remove(path)
                running[pool.submit(run_lesson, path, timeout)] = path
                print(f"  {path.name}: bắt đầu ({time.strftime('%H:%M:%S')})", flush=True)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                path = running.pop(future)
                nb, run = future.result()
                nbformat.write(nb, OUT / path.name)
                runs.append(run)
                done.add(path)
                print(f"  {path.name}: {run.seconds:.0f} s" + ("  LỖI" if run.error else ""), flush=True)
                if run.error and fail_fast:
                    pending.clear()
    return sorted(runs, key=lambda r: r.name)


def write_timings(runs: list[LessonRun], cache: str, total: float, only: str, jobs: int = 1) -> Path:
    """Ghi build/lessons/timings.json: giây mỗi bài (và mỗi ô), tổng, bộ đệm, số luồng torch, máy."""
    path = OUT / "timings.json"
    data = {
        "lessons": {r.name: r.seconds for r in runs},
        "total_seconds": round(total, 1),
        "failed": {r.name: r.error for r in runs if r.error},
        "only": only,  # --only của lần chạy này ("" = mọi bài)
        "jobs": jobs,  # số bài chạy cùng lúc
        "cell_seconds": {r.name: r.cell_seconds for r in runs},
        "cache": cache,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="chỉ các bài có tên khớp biểu thức chính quy này")
    parser.add_argument("--fail-fast", action="store_true", help="dừng ở bài lỗi đầu tiên")
    parser.add_argument("--timeout", type=int, default=900, help="giới hạn giây cho mỗi ô (mặc định 900)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="số bài chạy cùng lúc (mặc định 2 trên máy ≥ 2 nhân; 1 = tuần tự)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs phải ≥ 1, nhận được {args.jobs}")
    paths = lessons(args.only)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.ipynb"):
        old.unlink()  # không để bản cũ của một bài đã đổi tên/không chạy lần này lẫn vào trang
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(name, "1")  # kernel thừa hưởng môi trường này: không mạng tới hub
    tmp = None
    if not os.environ.get("PEFT_COURSE_CACHE"):
        tmp = tempfile.TemporaryDirectory(prefix="peft-course-cache-")
        os.environ["PEFT_COURSE_CACHE"] = tmp.name
    cache = os.environ["PEFT_COURSE_CACHE"]
    print(f"Chạy {len(paths)} bài (bộ đệm chung: {cache}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})",
          flush=True)
    runs, start = [], time.perf_counter()
    try:
        runs = execute_all(paths, args.jobs, args.timeout, args.fail_fast)
    finally:
        if tmp is not None:
            tmp.cleanup()
    cache_note = cache if tmp is None else "(thư mục tạm, đã xóa)"
    timings = write_timings(runs, cache_note, time.perf_counter() - start, args.only, args.jobs)
    failed = [r for r in runs if r.error]
    print(f"Xong {len(runs)} bài trong {time.perf_counter() - start:.0f} s → {OUT.relative_to(ROOT)}/ ({timings.name})")
    if failed:
        print("\nBài lỗi:\n" + "\n".join(f"- {r.error}" for r in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Kiểm tra trên máy thật (GPU, hoặc CPU ở chế độ rút gọn): chạy mọi bài học rồi bench/compare.py, ghi báo cáo.

Gọi qua `scripts/gpu_check.sh` (xem ở đó). Báo cáo `report.md` và `report.json` trong --out gồm: môi trường,
thời gian chạy từng bài (giây, đo đồng hồ tường quanh việc thực thi cả sổ tay), các ô lỗi nếu có, và bảng so sánh
của bench ở hình dạng GPT-2 small (bộ nhớ CUDA từ torch.cuda.max_memory_allocated khi chạy trên GPU).

Chế độ rút gọn (--quick, mặc định trên CPU): mọi lệnh huấn luyện bị cắt còn --max-steps bước (móc đặt trong
một tệp khởi động của IPython, không sửa bài học), bench chỉ đo 2 phương pháp 1 bước. Các kiểm tra độ chính
xác trong bài có thể không đạt khi đó; báo cáo ghi rõ từng ô lỗi và coi chế độ rút gọn là kiểm tra *đường chạy*.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Tệp khởi động IPython của chế độ rút gọn: cắt số bước của mọi hàm `train` mà gói export.
SMOKE_STARTUP = '''
import functools, os, sys
import peft_course, peft_course.training, peft_course.experiments
_cap = int(os.environ["PEFT_COURSE_SMOKE_STEPS"])
_original = peft_course.training.train

@functools.wraps(_original)
def _capped(*args, steps=200, **kwargs):
    return _original(*args, steps=min(steps, _cap), **kwargs)

for _name, _module in list(sys.modules.items()):
    if _name.startswith("peft_course") and getattr(_module, "train", None) is _original:
        _module.train = _capped
print(f"[gpu_check] chế độ rút gọn: mỗi lần huấn luyện tối đa {_cap} bước")
'''


def lesson_paths(pattern: str) -> list[Path]:
    """Các sổ tay bài học theo thứ tự bài (00, 01, …)."""
    return sorted((ROOT / "notebooks").glob(pattern))


def run_lesson(path: Path, out_dir: Path, env: dict, timeout: int) -> dict:
    """Thực thi một sổ tay trong tiến trình con (nbclient, kernel python3), cho phép lỗi để đo hết; trả về số liệu."""
    code = (
        "import json, sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        f"client = NotebookClient(nb, timeout={timeout}, kernel_name='python3', allow_errors=True,\n"
        "                        resources={'metadata': {'path': sys.argv[3]}})\n"
        "client.execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
        "errors = [(i, o.get('ename'), str(o.get('evalue', '')).splitlines()[0][:200] if o.get('evalue') else '')\n"
        "          for i, c in enumerate(nb.cells) if c.cell_type == 'code'\n"
        "          for o in c.get('outputs', []) if o.get('output_type') == 'error']\n"
        "print(json.dumps(errors))\n"
    )
    target = out_dir / path.name
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(path), str(target), str(path.parent)], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    errors: list = []
    if proc.returncode == 0:
        errors = json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        errors = [(None, "ExecutionFailed", (proc.stderr.strip().splitlines() or ["?"])[-1][:300])]
    return {"lesson": path.stem, "wall_s": round(wall, 1), "errors": errors}


def run_bench(device: str, quick: bool, out_dir: Path, env: dict) -> dict:
    """bench/compare.py ở hình dạng GPT-2 small (và chế độ course trên GPU), kết quả vào out_dir/bench."""
    bench_out = out_dir / "bench"
    args = [sys.executable, str(ROOT / "bench" / "compare.py"), "--device", device, "--out", str(bench_out)]
    if quick:
        args += ["--regimes", "gpt2-small", "--methods", "full", "lora", "--cost-steps", "1"]
    else:
        args += ["--regimes", "gpt2-small", "course", "--cost-steps", "3"]
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    table = (bench_out / "comparison.md").read_text(encoding="utf-8") if (bench_out / "comparison.md").exists() else ""
    return {"command": " ".join(args[1:]), "wall_s": round(wall, 1), "returncode": proc.returncode,
            "table": table, "stderr_tail": proc.stderr.strip().splitlines()[-5:] if proc.returncode else []}


def environment(env: dict) -> str:
    """environment_report() của gói, chạy trong cùng môi trường với các bài (cùng thiết bị nhìn thấy)."""
    proc = subprocess.run([sys.executable, "-c", "import peft_course; print(peft_course.environment_report())"],
                          env=env, capture_output=True, text=True)
    return proc.stdout.strip() or proc.stderr.strip()[-300:]


def markdown(report: dict) -> str:
    """Báo cáo ngắn dạng markdown."""
    lines = [f"# Kiểm tra trên máy thật ({report['device']}, {'rút gọn' if report['quick'] else 'đầy đủ'})", "",
             "```", report["environment"], "```", "",
             f"Tổng thời gian: {report['total_s']:.0f} s" + (
                 f" (ngân sách GPU {report['budget_s']} s: "
                 f"{'trong ngân sách' if report['total_s'] <= report['budget_s'] else 'VƯỢT ngân sách'})."
                 if report["device"] == "cuda" else " (CPU, chế độ rút gọn: không có ngân sách)."), "",
             "| bài | thời gian (s) | ô lỗi |", "|---|---:|---|"]
    for r in report["lessons"]:
        errs = "; ".join(f"ô {i}: {name}: {msg}" for i, name, msg in r["errors"]) or "không"
        lines.append(f"| {r['lesson']} | {r['wall_s']:.1f} | {errs} |")
    b = report["bench"]
    lines += ["", f"## bench/compare.py ({b['wall_s']:.0f} s, mã thoát {b['returncode']})", "",
              f"`{b['command']}`", "", b["table"] or "(không có bảng)"]
    if b["stderr_tail"]:
        lines += ["", "```", *b["stderr_tail"], "```"]
    if report["quick"]:
        lines += ["", "Chế độ rút gọn: huấn luyện bị cắt còn vài bước, nên các kiểm tra độ chính xác trong bài có thể "
                      "không đạt; chế độ này kiểm tra rằng mọi bài và bench chạy hết trên thiết bị này."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--quick", action=argparse.BooleanOptionalAction, default=None,
                   help="chế độ rút gọn (mặc định: bật trên cpu, tắt trên cuda)")
    p.add_argument("--max-steps", type=int, default=3, help="số bước tối đa mỗi lần huấn luyện ở chế độ rút gọn")
    p.add_argument("--lessons", default="0[0-9]_*.ipynb", help="mẫu tên sổ tay trong notebooks/")
    p.add_argument("--out", default=str(ROOT / "build" / "gpu_check"))
    p.add_argument("--budget-s", type=int, default=600, help="ngân sách thời gian ghi trong báo cáo")
    p.add_argument("--cell-timeout", type=int, default=600)
    args = p.parse_args(argv)
    quick = args.quick if args.quick is not None else args.device == "cpu"
    out = Path(args.out).resolve()
    (out / "lessons").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep),
           "PEFT_COURSE_CACHE": str(out / "cache"), "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # kernel = python này
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # các bài tự chọn thiết bị: giấu GPU để chúng chạy trên CPU
    else:
        import torch

        if not torch.cuda.is_available():
            print("Không có GPU CUDA trên máy này; chạy với --device cpu.", file=sys.stderr)
            return 2
    if quick:
        ipython_dir = Path(tempfile.mkdtemp(prefix="gpu_check_ipython_"))
        startup = ipython_dir / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-smoke.py").write_text(SMOKE_STARTUP, encoding="utf-8")
        env.update(IPYTHONDIR=str(ipython_dir), PEFT_COURSE_SMOKE_STEPS=str(args.max_steps))
    start = time.perf_counter()
    report = {"device": args.device, "quick": quick, "budget_s": args.budget_s, "environment": environment(env),
              "lessons": []}
    for path in lesson_paths(args.lessons):
        r = run_lesson(path, out / "lessons", env, args.cell_timeout)
        print(f"{r['lesson']}: {r['wall_s']} s, {len(r['errors'])} ô lỗi", flush=True)
        report["lessons"].append(r)
    report["bench"] = run_bench(args.device, quick, out, env)
    print(f"bench: {report['bench']['wall_s']} s, mã thoát {report['bench']['returncode']}", flush=True)
    report["total_s"] = round(time.perf_counter() - start, 1)
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    print(f"Báo cáo: {out / 'report.md'} ({report['total_s']} s)")
    failed = report["bench"]["returncode"] != 0 or any(
        name == "ExecutionFailed" for r in report["lessons"] for _, name, _ in r["errors"])
    return 1 if failed or (not quick and any(r["errors"] for r in report["lessons"])) else 0


if __name__ == "__main__":
    sys.exit(main())

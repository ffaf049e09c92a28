"""Kết quả và bảng: `Result` của một lần chạy trong bài học, bảng markdown của chúng, và các con số đã công bố.

Các con số so sánh mà bài học và tài liệu trích dẫn đến từ `assets/results/comparison.json`, do
`python bench/compare.py` sinh theo giao thức đo chung (`peft_course.protocol`): hội tụ, checkpoint tốt nhất trên
validation, nhiều seed. Đọc chúng qua `load_results()` và các hàm nhỏ dưới đây, không chép tay vào văn bản.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from .errors import CourseError, require, require_choice
from .params import count_parameters
from .training import History, evaluate

RESULTS_PATH = Path(__file__).parent / "assets" / "results" / "comparison.json"
REFRESH_COMMAND = "OMP_NUM_THREADS=1 python bench/compare.py"


@dataclass
class Result:
    """Kết quả một phương pháp: số tham số, chi phí đo được, độ chính xác."""

    name: str
    trainable: int
    total: int
    time_per_step_s: float
    peak_memory_mb: float
    val_accuracy: float
    test_accuracy: float
    history: History = field(repr=False, default_factory=History)

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total


def base_result(course) -> Result:
    """Mô hình nền chưa tinh chỉnh (0 tham số huấn luyện): mốc dưới của mọi bảng so sánh."""
    model: nn.Module = course.fresh_model()
    return Result("mô hình nền (chưa tinh chỉnh)", 0, count_parameters(model).total, float("nan"), float("nan"),
                  evaluate(model, course.validation)["accuracy"], evaluate(model, course.test)["accuracy"])


def results_table(results: list[Result], full: Result | None = None, base: Result | None = None) -> str:
    """Bảng markdown của các lần chạy trong bài (minh họa, một seed): tham số, %, thời gian/bước, độ chính xác.

    Cột bộ nhớ là RSS đỉnh của tiến trình (gồm cả đánh giá và bộ đệm của allocator), ghi rõ như vậy; bộ nhớ theo
    phần, tất định, nằm ở `costs.step_cost` và trong kết quả đã công bố.
    """
    head = ("| phương pháp | tham số huấn luyện | % | thời gian/bước (ms) | RSS đỉnh của tiến trình (MB) "
            "| acc validation | acc test |")
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    extra = full is not None and base is not None
    if extra:
        head += " thời gian so với toàn bộ | % phần tăng của toàn bộ |"
        sep += "---:|---:|"
    rows = [head, sep]
    for r in results:
        ms, mb = 1000 * r.time_per_step_s, r.peak_memory_mb
        row = (f"| {r.name} | {r.trainable:,} | {r.percent:.3f} | {'–' if ms != ms else f'{ms:.1f}'} | "
               f"{'–' if mb != mb else f'{mb:.1f}'} | {r.val_accuracy:.3f} | {r.test_accuracy:.3f} |")
        if extra:
            gain = full.test_accuracy - base.test_accuracy
            share = (r.test_accuracy - base.test_accuracy) / gain if gain > 0 else float("nan")
            ratio = r.time_per_step_s / full.time_per_step_s
            row += f" {'–' if ratio != ratio else f'{ratio:.2f}×'} | {100 * share:.0f}% |"
        rows.append(row)
    return "\n".join(rows)


# ---------------------------------------------------------------- các con số đã công bố (bench/compare.py)

@dataclass(frozen=True)
class Stat:
    """Trung bình ± độ lệch chuẩn qua n seed; in ra dạng "0.912 ± 0.011"."""

    mean: float | None
    sd: float | None
    n: int

    def fmt(self, spec: str = ".3f", scale: float = 1.0, unit: str = "") -> str:
        """Chuỗi "trung bình ± độ lệch chuẩn" (nhân `scale`, thêm `unit`); "–" khi không có giá trị."""
        if self.mean is None:
            return "–"
        if self.n < 2:  # một seed: chưa có độ lệch chuẩn (kết quả bench chưa đủ)
            return f"{format(scale * self.mean, spec)}{unit} (1 seed)"
        return f"{format(scale * self.mean, spec)}{unit} ± {format(scale * (self.sd or 0.0), spec)}{unit}"

    def __str__(self) -> str:
        return self.fmt()


def load_results(path: str | Path | None = None) -> dict:
    """Kết quả đã công bố (JSON của bench/compare.py); mặc định tệp đi kèm gói."""
    p = Path(path) if path is not None else RESULTS_PATH
    if not p.exists():
        raise CourseError(f"Không có tệp kết quả {str(p)!r}. Sinh nó bằng: {REFRESH_COMMAND}")
    try:
        results = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CourseError(f"Tệp kết quả {str(p)!r} không phải JSON hợp lệ ({e}); sinh lại bằng: {REFRESH_COMMAND}")
    schema = results.get("schema") if isinstance(results, dict) else None
    require(schema == 2 and "summary" in results,
            f"Tệp kết quả {str(p)!r} có lược đồ cũ hoặc lạ (schema = {schema!r}, cần 2 và có summary); sinh lại bằng: "
            f"{REFRESH_COMMAND}")
    return results


def _method(results: dict, method: str) -> dict:
    return results["summary"]["methods"][require_choice("method", method, results["summary"]["methods"])]


def stat(results: dict, method: str, column: str = "test_accuracy") -> Stat:
    """Một cột của một phương pháp, trung bình ± độ lệch chuẩn qua seed.

    column: test_accuracy, best_val_accuracy, best_step, steps_run, steps_to_target, seconds_to_target,
    step_time_median_s, gain_share.
    """
    row = _method(results, method)
    cols = [k for k, v in row.items() if isinstance(v, dict) and "mean" in v]
    d = row.get(require_choice("column", column, cols))
    return Stat(d["mean"], d["sd"], d["n"])


def gain_share(results: dict, method: str) -> Stat:
    """Phần tăng so với mô hình nền, tính theo % phần tăng của tinh chỉnh toàn bộ (trung bình ± độ lệch chuẩn)."""
    s = stat(results, method, "gain_share")
    return Stat(None if s.mean is None else 100 * s.mean, None if s.sd is None else 100 * s.sd, s.n)


def cost(results: dict, method: str) -> dict:
    """Chi phí tất định của một phương pháp (mô hình khóa học): tham số, bộ nhớ theo phần (MB), FLOP, tỉ số."""
    costs = results["costs"]["course"]
    return costs[require_choice("method", method, costs)]


def chosen_lr(results: dict, method: str) -> float:
    """Tốc độ học được chọn trên validation cho phương pháp."""
    return _method(results, method)["chosen_lr"]


def base_accuracy(results: dict) -> float:
    """Acc test của mô hình nền (tất định, không phụ thuộc seed)."""
    return results["base"]["test_accuracy"]


def _cell(x, spec: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def published_table(results: dict, methods: list[str] | None = None) -> str:
    """Bảng markdown các con số đã công bố: acc test, % phần tăng, bước tới 90%, thời gian, bộ nhớ, FLOP."""
    methods = methods or list(results["summary"]["methods"])
    lines = ["| phương pháp | tham số huấn luyện | acc test | % phần tăng của toàn bộ | bước tới 90% | ms/bước "
             "| bộ nhớ một bước (MB) | FLOP so với toàn bộ |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in methods:
        c, row = cost(results, m), _method(results, m)
        step_s = row.get("step_time_interleaved_s")  # đo xen kẽ, bền với máy bận (xem protocol.TIMING_NOTE)
        lines.append(f"| {row['label']} | {c['trainable']:,} | {stat(results, m)} | "
                     f"{gain_share(results, m).fmt('.0f', unit='%')} | "
                     f"{stat(results, m, 'steps_to_target').fmt('.0f')} | "
                     f"{_cell(None if step_s is None else 1000 * step_s, '.0f')} | "
                     f"{_cell(c['memory']['total_mb'], '.1f')} | {_cell(c['flops_ratio'], '.2f')} |")
    lines.append(f"| mô hình nền (chưa tinh chỉnh) | 0 | {base_accuracy(results):.3f} | 0% | – | – | – | – |")
    return "\n".join(lines)


def dora_vs_lora(results: dict) -> dict[str, dict[str, Stat | float]]:
    """DoRA và LoRA: ở cùng tốc độ học (tốc độ học LoRA chọn) và mỗi bên ở tốc độ học tốt nhất; acc test qua seed."""
    d = results["summary"].get("dora_vs_lora")
    require(d is not None, "Kết quả không có so sánh DoRA và LoRA (cần cả hai phương pháp trong bench).")
    eq = d["equal_lr"]

    def as_stat(s: dict) -> Stat:
        return Stat(s["test_accuracy"]["mean"], s["test_accuracy"]["sd"], s["test_accuracy"]["n"])

    return {"equal_lr": {"lr": eq["lr"], "lora": as_stat(eq["lora"]), "dora": as_stat(eq["dora"])},
            "each_best": {"lora_lr": d["each_best"]["lora_lr"], "dora_lr": d["each_best"]["dora_lr"],
                          "lora": stat(results, "lora"), "dora": stat(results, "dora")}}


def small_data_table(results: dict) -> str:
    """Bảng nghiên cứu dữ liệu nhỏ (bài 6): acc trên ví dụ đã học, acc test, khoảng cách, theo phương pháp và N."""
    small = results["summary"].get("small_data", {})
    require(bool(small.get("rows")), "Kết quả chưa có nghiên cứu dữ liệu nhỏ; chạy lại: " + REFRESH_COMMAND)
    lines = ["| phương pháp | N | lượt qua dữ liệu | acc trên N ví dụ đã học | acc test | khoảng cách |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in small["rows"].values():
        s = {k: Stat(r[k]["mean"], r[k]["sd"], r[k]["n"])
             for k in ("train_accuracy", "test_accuracy", "generalization_gap")}
        lines.append(f"| {r['label']} | {r['size']:,} | {r['epochs']:.1f} | {s['train_accuracy']} "
                     f"| {s['test_accuracy']} "
                     f"| {s['generalization_gap']} |")
    return "\n".join(lines)


def protocol_text(results: dict) -> str:
    """Mô tả giao thức đo bằng tiếng Việt, lấy từ chính tệp kết quả (bài 0 và docs/comparison.md in nó)."""
    p, m = results["protocol"], results["machine"]
    return (f"Mỗi phương pháp: tốc độ học chọn trên validation trong ×⅓, ×1, ×3 tốc độ học của công thức (seed "
            f"{p['seeds'][0]}); rồi {len(p['seeds'])} seed ở tốc độ học đã chọn. Mỗi lần chạy: tối đa {p['max_steps']} "
            f"bước, lô {p['batch_size']}, đánh giá validation mỗi {p['eval_every']} bước, giữ checkpoint tốt nhất trên "
            f"validation, dừng sớm sau {p['patience']} lần đánh giá không tốt hơn (không trước bước "
            f"{p.get('min_steps', 0)}); acc test đọc đúng một lần, ở "
            f"checkpoint đó. Số liệu: trung bình ± độ lệch chuẩn qua các seed. Thời gian tới 90%: số bước (và giây) "
            f"tới "
            f"{100 * p['target']:.0f}% acc validation tốt nhất của tinh chỉnh toàn bộ. {p['timing']} {p['memory']} "
            f"Đo lúc {m['measured_at']}, {m['cpu']}, {m['workers']} tiến trình × "
            f"{m['torch_threads_per_worker']} luồng.")


__all__ = ["Result", "base_result", "results_table", "Stat", "load_results", "stat", "gain_share", "cost",
           "chosen_lr", "base_accuracy", "published_table", "dora_vs_lora", "small_data_table", "protocol_text",
           "RESULTS_PATH", "REFRESH_COMMAND"]

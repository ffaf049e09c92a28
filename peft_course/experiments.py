"""Khung thí nghiệm dùng chung cho các bài học và bench/: cùng mô hình, cùng dữ liệu, cùng công thức.

Mỗi bài gọi `prepare()` một lần, lấy mô hình nền mới bằng `course.fresh_model()`, áp phương pháp của
bài, rồi `run(...)` để huấn luyện theo công thức chung và nhận một `Result` so sánh được với bài 0.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .data import FeedbackTask, TaskData, load_feedback
from .errors import require_choice
from .model import PACKAGED_MODEL, load_base_model, pick_device
from .params import count_parameters
from .training import History, evaluate, set_seed, train

# Công thức huấn luyện theo phương pháp: cùng số bước và lô; tốc độ học chọn trên tập validation
# (PEFT thường cần tốc độ học cao hơn nhiều so với tinh chỉnh toàn bộ).
# Các bài học có thể tinh chỉnh lại tốc độ học của phương pháp mình (chọn theo acc validation).
RECIPES: dict[str, dict] = {
    "full": {"lr": 3e-4},
    "bitfit": {"lr": 3e-3},
    "adapter": {"lr": 3e-3},
    "lora": {"lr": 1e-3},
    "dora": {"lr": 3e-3},
    "prefix": {"lr": 3e-2},
    "prompt": {"lr": 3e-2},
}
DEFAULT_STEPS = 150
DEFAULT_BATCH = 32


@dataclass
class Course:
    """Mọi thứ một bài học cần: tokenizer, bài toán và ba tập đã mã hóa, thiết bị."""

    name_or_path: str | None
    device: torch.device
    tokenizer: object
    task: FeedbackTask
    train: TaskData
    validation: TaskData
    test: TaskData

    def fresh_model(self, seed: int = 0  # đặt lại seed: khởi tạo LoRA/adapter sau đó như nhau ở mọi bài
                    ) -> nn.Module:
        """Một bản mô hình nền mới (chưa bị phương pháp nào sửa), trên thiết bị của khóa học.

        Seed được đặt lại ngay sau khi nạp, nên một phương pháp áp lên mô hình này khởi tạo giống hệt nhau dù
        nó chạy ở bài nào, sau bao nhiêu ô khác: LoRA r=8 ở bài 3, 4 và 6 là cùng một lần chạy.
        """
        model = load_base_model(self.name_or_path, self.device)[0]
        set_seed(seed)
        return model


def prepare(name_or_path: str | None = None, device: str | torch.device | None = None) -> Course:
    """Nạp tokenizer, dữ liệu và mã hóa ba tập một lần."""
    dev = pick_device(device)
    _, tokenizer = load_base_model(name_or_path, dev)
    task = FeedbackTask(tokenizer)
    ds = load_feedback()
    return Course(name_or_path, dev, tokenizer, task, *(task.encode(ds[s]) for s in ("train", "validation", "test")))


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


def run(course: Course, name: str, model: nn.Module, method: str | None = None, *, steps: int = DEFAULT_STEPS,
        batch_size: int = DEFAULT_BATCH, lr: float | None = None, seed: int = 0, eval_every: int | None = 50,
        progress: bool = True) -> Result:
    """Huấn luyện `model` (đã áp phương pháp) theo công thức của `method` rồi đánh giá trên test.

    name: tên hiển thị trong bảng; method: khóa trong RECIPES (mặc định = name).
    """
    method = require_choice("method", method or name, RECIPES)
    set_seed(seed)
    h = train(model, course.train, course.validation, steps=steps, batch_size=batch_size,
              lr=lr if lr is not None else RECIPES[method]["lr"], seed=seed, eval_every=eval_every, progress=progress)
    counts = count_parameters(model)
    return Result(name, counts.trainable, counts.total, h.time_per_step_s, h.peak_memory_mb, h.final_accuracy,
                  evaluate(model, course.test)["accuracy"], h)


def base_result(course: Course) -> Result:
    """Mô hình nền chưa tinh chỉnh (0 tham số huấn luyện): mốc dưới của mọi bảng so sánh."""
    model = course.fresh_model()
    return Result("mô hình nền (chưa tinh chỉnh)", 0, count_parameters(model).total, float("nan"), float("nan"),
                  evaluate(model, course.validation)["accuracy"], evaluate(model, course.test)["accuracy"])


def results_table(results: list[Result], full: Result | None = None, base: Result | None = None) -> str:
    """Bảng markdown: tham số, %, thời gian/bước, bộ nhớ đỉnh, độ chính xác; so với tinh chỉnh toàn bộ nếu có."""
    head = "| phương pháp | tham số huấn luyện | % | thời gian/bước (ms) | bộ nhớ đỉnh (MB) | acc validation | acc test |"
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


def _cache_file(course: Course, steps: int, seed: int) -> Path:
    """Tệp bộ đệm của mốc tinh chỉnh toàn bộ, khóa theo trọng số, công thức, thiết bị và phiên bản."""
    import transformers

    from . import __version__

    weights = Path(course.name_or_path or PACKAGED_MODEL) / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16] if weights.exists() else str(course.name_or_path)
    key = json.dumps([digest, RECIPES["full"], steps, DEFAULT_BATCH, seed, course.device.type, torch.__version__,
                      transformers.__version__, __version__])
    root = Path(os.environ.get("PEFT_COURSE_CACHE", Path.home() / ".cache" / "peft_course"))
    return root / f"full-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def full_baseline(course: Course, steps: int = DEFAULT_STEPS, seed: int = 0, refresh: bool = False) -> Result:
    """Kết quả tinh chỉnh toàn bộ (bài 0) để các bài sau so sánh.

    Huấn luyện một lần rồi lưu vào ~/.cache/peft_course (hoặc $PEFT_COURSE_CACHE); các bài sau đọc lại
    thay vì huấn luyện lại. Khóa bộ đệm gồm mã băm trọng số, công thức, thiết bị và phiên bản thư viện,
    nên đổi bất kỳ thứ gì trong đó là huấn luyện lại. refresh=True: luôn huấn luyện lại.
    """
    path = _cache_file(course, steps, seed)
    if path.exists() and not refresh:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Result(**{**data, "history": History(**data["history"])})
    result = run(course, "tinh chỉnh toàn bộ", course.fresh_model(), "full", steps=steps, seed=seed, progress=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(result)), encoding="utf-8")
    return result

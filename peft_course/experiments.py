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
from .model import load_base_model, pick_device
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
    dtype: str | None = None  # dtype của mô hình nền (load_base_model): None = float32, "bfloat16" trên GPU

    def fresh_model(self, seed: int = 0  # đặt lại seed: khởi tạo LoRA/adapter sau đó như nhau ở mọi bài
                    ) -> nn.Module:
        """Một bản mô hình nền mới (chưa bị phương pháp nào sửa), trên thiết bị của khóa học.

        Seed được đặt lại ngay sau khi nạp, nên một phương pháp áp lên mô hình này khởi tạo giống hệt nhau dù
        nó chạy ở bài nào, sau bao nhiêu ô khác: LoRA r=8 ở bài 3, 4 và 6 là cùng một lần chạy.
        """
        model = load_base_model(self.name_or_path, self.device, self.dtype)[0]
        set_seed(seed)
        return model


def prepare(name_or_path: str | None = None, device: str | torch.device | None = None,
            dtype: str | None = None,  # None: float32; "bfloat16": mô hình nền bf16 (GPU), tham số học vẫn fp32
            data: str | None = None,  # None: dữ liệu đóng gói; "uit-vsfc": UIT-VSFC trên hub (Colab có mạng)
            ) -> Course:
    """Nạp tokenizer, dữ liệu và mã hóa ba tập một lần."""
    dev = pick_device(device)
    _, tokenizer = load_base_model(name_or_path, dev, dtype)
    task = FeedbackTask(tokenizer)
    ds = load_feedback(data)
    splits = (task.encode(ds[s]) for s in ("train", "validation", "test"))
    return Course(name_or_path, dev, tokenizer, task, *splits, dtype=dtype)


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
        progress: bool = True,
        cache: bool = False,  # dùng lại một lần chạy giống hệt đã lưu (xem `cache_path`) thay vì huấn luyện lại
        ) -> Result:
    """Huấn luyện `model` (đã áp phương pháp) theo công thức của `method` rồi đánh giá trên test.

    name: tên hiển thị trong bảng; method: khóa trong RECIPES (mặc định = name).

    Với cache=True, nếu đã có một lần chạy cùng mô hình lúc bắt đầu (giá trị mọi tham số, tham số nào huấn
    luyện, mã nguồn và cấu hình mọi mô-đun), cùng công thức, dữ liệu, thiết bị và phiên bản thư viện, thì kết
    quả và các tham số huấn luyện đã học được nạp lại vào `model`: mô hình sau đó y như vừa huấn luyện xong (huấn
    luyện trên CPU là tất định). Nhờ vậy LoRA r=8 ở bài 3, 4 và 5 chỉ huấn luyện một lần.
    """
    method = require_choice("method", method or name, RECIPES)
    lr = lr if lr is not None else RECIPES[method]["lr"]
    path = cache_path(course, model, [method, lr, steps, batch_size, seed, eval_every]) if cache else None
    if path is not None and path.exists():
        return _load_run(path, model, name)
    set_seed(seed)
    h = train(model, course.train, course.validation, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
              eval_every=eval_every, progress=progress)
    counts = count_parameters(model)
    result = Result(name, counts.trainable, counts.total, h.time_per_step_s, h.peak_memory_mb, h.final_accuracy,
                    evaluate(model, course.test)["accuracy"], h)
    if path is not None:
        _save_run(path, model, result)
    return result


def _fingerprint(model: nn.Module) -> str | None:
    """Mã băm của mô hình lúc bắt đầu: tham số (tên, hình dạng, requires_grad, giá trị), mã nguồn và thuộc tính
    đơn giản (r, α, hệ số…) của mọi mô-đun. None nếu không đọc được mã nguồn của một lớp (khi đó không dùng bộ đệm).
    """
    import inspect

    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(f"{name}|{tuple(p.shape)}|{p.dtype}|{p.requires_grad}".encode())
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    sources: dict[type, str] = {}
    for name, m in model.named_modules():
        cls = type(m)
        if cls not in sources:
            try:
                sources[cls] = inspect.getsource(cls)
            except (OSError, TypeError):
                return None
        attrs = sorted((k, v if isinstance(v, (bool, str)) else float(v)) for k, v in vars(m).items()  # 16 ≡ 16.0
                       if isinstance(v, (bool, int, float, str)) and k != "training" and not k.startswith("_"))
        hooks = (len(m._forward_pre_hooks), len(m._forward_hooks))
        h.update(f"{name}|{cls.__module__}.{cls.__qualname__}|{attrs}|{hooks}".encode())
    for src in sorted(sources.values()):
        h.update(src.encode())
    return h.hexdigest()


def cache_path(course: Course, model: nn.Module, recipe: list) -> Path | None:
    """Tệp bộ đệm (.json; tham số đã học ở .safetensors cạnh nó) cho một lần chạy, hoặc None nếu không băm được.

    Khóa gồm: dấu vân tay của mô hình, công thức, dữ liệu ba tập, mã nguồn gói peft_course, thiết bị, phiên bản
    torch/transformers. Thư mục: $PEFT_COURSE_CACHE, mặc định ~/.cache/peft_course.
    """
    import transformers

    model_key = _fingerprint(model)
    if model_key is None:
        return None
    package = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        package.update(f.read_bytes())
    data = hashlib.sha256()
    for split in (course.train, course.validation, course.test):
        data.update(split.input_ids.numpy().tobytes() + split.y.numpy().tobytes())
    key = json.dumps([model_key, recipe, data.hexdigest(), package.hexdigest(), course.device.type,
                      torch.__version__, transformers.__version__])
    root = Path(os.environ.get("PEFT_COURSE_CACHE", Path.home() / ".cache" / "peft_course"))
    return root / f"run-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def _save_run(path: Path, model: nn.Module, result: Result) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    learned = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    save_file(learned, str(path.with_suffix(".safetensors")))
    path.write_text(json.dumps(asdict(result)), encoding="utf-8")


def _load_run(path: Path, model: nn.Module, name: str) -> Result:
    from safetensors.torch import load_file

    learned = load_file(str(path.with_suffix(".safetensors")))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, value in learned.items():
            params[n].copy_(value.to(params[n].device))
    data = json.loads(path.read_text(encoding="utf-8"))
    return Result(**{**data, "name": name, "history": History(**data["history"])})


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


def full_baseline(course: Course, steps: int = DEFAULT_STEPS, seed: int = 0, refresh: bool = False) -> Result:
    """Kết quả tinh chỉnh toàn bộ (bài 0) để các bài sau so sánh.

    Huấn luyện một lần rồi lưu vào bộ đệm (`run(..., cache=True)`); các bài sau đọc lại thay vì huấn luyện lại.
    Đổi trọng số, công thức, dữ liệu, mã của gói, thiết bị hay phiên bản thư viện là huấn luyện lại.
    refresh=True: luôn huấn luyện lại (và ghi đè bộ đệm).
    """
    model = course.fresh_model(seed)
    if refresh:
        path = cache_path(course, model, ["full", RECIPES["full"]["lr"], steps, DEFAULT_BATCH, seed, 50])
        if path is not None:
            path.unlink(missing_ok=True)
    return run(course, "tinh chỉnh toàn bộ", model, "full", steps=steps, seed=seed, progress=False, cache=True)

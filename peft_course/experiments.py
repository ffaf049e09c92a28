"""Khung thí nghiệm dùng chung cho các bài học và bench/: cùng mô hình, cùng dữ liệu, cùng công thức.

Mỗi bài gọi `prepare()` một lần, lấy mô hình nền mới bằng `course.fresh_model()`, áp phương pháp của
bài, rồi `run(...)` để huấn luyện theo công thức chung và nhận một `Result` so sánh được với bài 0.

Mô-đun này chỉ giữ phần chạy (Course, prepare, run, full_baseline); công thức ở `recipes`, bộ đệm ở `cache`,
kết quả và bảng ở `report`. Các tên cũ vẫn nhập được từ đây.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .cache import cache_path, load_run, remove_run, save_run
from .data import FeedbackTask, TaskData, load_feedback
from .errors import require_choice
from .model import load_base_model, pick_device
from .params import count_parameters
from .recipes import DEFAULT_BATCH, DEFAULT_STEPS, METHODS, RECIPES, build
from .report import Result, base_result, results_table
from .training import evaluate, set_seed, train

__all__ = ["Course", "prepare", "run", "full_baseline", "recipe_key", "Result", "base_result", "results_table",
           "cache_path", "RECIPES", "METHODS", "DEFAULT_STEPS", "DEFAULT_BATCH", "build", "train"]


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


def recipe_key(method: str, lr: float, steps: int, batch_size: int, seed: int, eval_every: int | None,
               keep_best: bool = False, patience: int | None = None) -> list:
    """Phần công thức của khóa bộ đệm: mọi tham số quyết định một lần huấn luyện, theo một thứ tự cố định.

    run() và full_baseline() đều đi qua hàm này (khóa chỉ được dựng ở một nơi).
    """
    key = [method, float(lr), steps, batch_size, seed, eval_every]
    if keep_best or patience is not None:  # giữ nguyên khóa của các lần chạy cũ khi không dùng
        key += [keep_best, patience]
    return key


def run(course: Course, name: str, model: nn.Module, method: str | None = None, *, steps: int = DEFAULT_STEPS,
        batch_size: int = DEFAULT_BATCH, lr: float | None = None, seed: int = 0, eval_every: int | None = 50,
        progress: bool = True,
        cache: bool = False,  # dùng lại một lần chạy giống hệt đã lưu (xem `cache.cache_path`) thay vì huấn luyện lại
        refresh: bool = False,  # với cache=True: bỏ mục đã lưu (nếu có), huấn luyện lại và ghi đè
        keep_best: bool = False,  # trả về mô hình ở checkpoint tốt nhất trên validation (như giao thức đo)
        patience: int | None = None,  # dừng sớm sau chừng ấy lần đánh giá không tốt hơn
        ) -> Result:
    """Huấn luyện `model` (đã áp phương pháp) theo công thức của `method` rồi đánh giá trên test.

    name: tên hiển thị trong bảng; method: khóa trong RECIPES (mặc định = name).

    Với cache=True, nếu đã có một lần chạy cùng mô hình lúc bắt đầu (giá trị mọi tham số, tham số nào huấn
    luyện, mã nguồn và cấu hình mọi mô-đun), cùng công thức, dữ liệu, thiết bị và phiên bản thư viện, thì kết
    quả và các tham số huấn luyện đã học được nạp lại vào `model`: mô hình sau đó y như vừa huấn luyện xong (huấn
    luyện trên CPU là tất định). Nhờ vậy LoRA r=8 ở bài 3, 4 và 5 chỉ huấn luyện một lần. Một mục hỏng được báo
    (CacheWarning, kèm đường dẫn) rồi huấn luyện lại; thư mục bộ đệm không ghi được thì cảnh báo và vẫn trả kết quả.
    """
    method = require_choice("method", method or name, RECIPES)
    lr = lr if lr is not None else RECIPES[method]["lr"]
    recipe = recipe_key(method, lr, steps, batch_size, seed, eval_every, keep_best, patience)
    path = cache_path(course, model, recipe) if cache else None
    if path is not None and refresh:
        remove_run(path)
    if path is not None and path.exists():
        cached = load_run(path, model, name)
        if cached is not None:
            return cached
    set_seed(seed)
    h = train(model, course.train, course.validation, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
              eval_every=eval_every, progress=progress, keep_best=keep_best, patience=patience)
    counts = count_parameters(model)
    result = Result(name, counts.trainable, counts.total, h.time_per_step_s, h.peak_memory_mb, h.final_accuracy,
                    evaluate(model, course.test)["accuracy"], h)
    if path is not None:
        save_run(path, model, result)
    return result


def full_baseline(course: Course, steps: int = DEFAULT_STEPS, seed: int = 0, refresh: bool = False) -> Result:
    """Kết quả tinh chỉnh toàn bộ (bài 0) để các bài sau so sánh.

    Huấn luyện một lần rồi lưu vào bộ đệm (`run(..., cache=True)`); các bài sau đọc lại thay vì huấn luyện lại.
    Đổi trọng số, công thức, dữ liệu, mã của gói, thiết bị hay phiên bản thư viện là huấn luyện lại.
    refresh=True: luôn huấn luyện lại (và ghi đè bộ đệm).
    """
    return run(course, "tinh chỉnh toàn bộ", course.fresh_model(seed), "full", steps=steps, seed=seed,
               progress=False, cache=True, refresh=refresh)

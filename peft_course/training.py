"""Vòng huấn luyện dùng chung cho mọi bài: chỉ cập nhật tham số có requires_grad, đo thời gian và bộ nhớ."""

from __future__ import annotations

import math
import os
import random
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data import TaskData
from .errors import CourseError, is_int, require, require_bool, require_finite_number, require_positive_int, \
    require_positive_number
from .model import explain_oom


def set_seed(seed: int) -> None:
    """Cố định mọi nguồn ngẫu nhiên (random, numpy, torch) để hai lần chạy cho cùng kết quả trên CPU."""
    require(isinstance(seed, int) and seed >= 0, f"seed phải là số nguyên ≥ 0, nhận được {seed!r}.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class PeakMemory:
    """Đo bộ nhớ đỉnh của một đoạn mã, tính bằng MB so với lúc bắt đầu.

    GPU: torch.cuda.max_memory_allocated. CPU: một luồng phụ đọc RSS của tiến trình (/proc/self/statm)
    mỗi mili giây; đây là bộ nhớ thật hệ điều hành cấp cho tiến trình, gồm cả bộ đệm của allocator.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = float("nan")
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, self._rss())

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif os.path.exists("/proc/self/statm"):
            self._start = self._peak = self._rss()
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._start) / 2**20
        elif hasattr(self, "_thread"):
            self._stop.set()
            self._thread.join()
            self.peak_mb = (max(self._peak, self._rss()) - self._start) / 2**20


@dataclass
class History:
    """Nhật ký một lần huấn luyện: mất mát từng bước, điểm validation định kỳ, thời gian, bộ nhớ."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    trainable: int = 0
    wall_time_s: float = 0.0
    time_per_step_s: float = 0.0
    peak_memory_mb: float = float("nan")
    device: str = "cpu"
    step_time_median_s: float = 0.0  # trung vị thời gian một bước (không tính đánh giá): bền với máy bận
    eval_time_s: float = 0.0  # tổng thời gian đánh giá validation
    best_step: int | None = None  # bước có acc validation tốt nhất (None: không đánh giá)
    best_val_accuracy: float = float("nan")  # acc validation ở best_step
    best_val_loss: float = float("nan")  # mất mát validation ở best_step
    restored_best: bool = False  # True: mô hình trả về là bản ở best_step (keep_best=True)
    stopped_early: bool = False  # True: dừng sớm vì acc validation không tăng trong `patience` lần đánh giá

    @property
    def final_accuracy(self) -> float:
        """Acc validation của mô hình trả về: ở best_step nếu đã khôi phục bản tốt nhất, không thì lần đánh giá cuối."""
        if self.restored_best:
            return self.best_val_accuracy
        return self.eval_accuracy[-1] if self.eval_accuracy else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def evaluate(model: nn.Module, data: TaskData, batch_size: int = 256) -> dict[str, float]:
    """Mất mát trung bình trên token nhãn và độ chính xác (argmax trên các token nhãn) của cả tập."""
    require(isinstance(data, TaskData), f"data phải là TaskData (từ FeedbackTask.encode), nhận được {type(data).__name__}.")
    require_positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct = 0.0, 0
    for start in range(0, len(data), batch_size):
        idx = slice(start, start + batch_size)
        out = model(**data.batch(idx, device))
        n = len(data.y[idx])
        total_loss += out.loss.item() * n
        correct += (data.label_logits(out.logits, idx).argmax(-1).cpu() == data.y[idx]).sum().item()
    model.train(was_training)
    return {"loss": total_loss / len(data), "accuracy": correct / len(data)}


def _schedule(step: int, steps: int, warmup: int) -> float:
    """Hệ số tốc độ học: tăng tuyến tính trong `warmup` bước, rồi giảm theo cosin về 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def _check_train_args(model: nn.Module, train_data: TaskData, val_data: TaskData | None, steps: int, lr: float,
                      batch_size: int, eval_every: int | None, weight_decay: float, warmup: int, seed: int,
                      progress: bool) -> None:
    """Kiểm tra mọi đối số của `train` trước bước 1: một lỗi không bao giờ đến sau khi đã huấn luyện xong."""
    require(isinstance(model, nn.Module), f"model phải là torch.nn.Module, nhận được {type(model).__name__}.")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        require(isinstance(data, TaskData) or (name == "val_data" and data is None),
                f"{name} phải là TaskData (từ FeedbackTask.encode){' hoặc None' if name == 'val_data' else ''}, "
                f"nhận được {type(data).__name__}.")
    if val_data is not None:
        require(torch.equal(val_data.label_token_ids, train_data.label_token_ids),
                f"val_data dùng token nhãn {val_data.label_token_ids.tolist()} khác train_data "
                f"({train_data.label_token_ids.tolist()}): hai tập phải mã hóa bằng cùng một FeedbackTask.")
    require_positive_int("steps", steps)
    require_positive_number("lr", lr)
    require_positive_int("batch_size", batch_size, maximum=len(train_data))
    require(eval_every is None or (is_int(eval_every) and eval_every > 0),
            f"eval_every phải là None hoặc số nguyên dương, nhận được {eval_every!r}.")
    wd = require_finite_number("weight_decay", weight_decay)
    require(wd >= 0, f"weight_decay phải là số hữu hạn ≥ 0, nhận được {weight_decay!r}.")
    require(is_int(warmup) and warmup >= 0, f"warmup phải là số nguyên ≥ 0, nhận được {warmup!r}.")
    require(is_int(seed) and seed >= 0, f"seed phải là số nguyên ≥ 0, nhận được {seed!r}.")
    require_bool("progress", progress)
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        top = int(data.input_ids.max()) if data is not None else -1
        require(not isinstance(vocab, int) or top < vocab, f"{name} có token id {top} ngoài từ vựng của mô hình "
                                                           f"(0 … {vocab - 1}): dữ liệu mã hóa bằng tokenizer khác?")


def _snapshot(model: nn.Module) -> tuple[bool, dict[str, torch.Tensor]]:
    """Chế độ train/eval và bản sao (trên CPU) của các tham số sẽ được huấn luyện, để khôi phục khi phân kỳ."""
    return model.training, {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def _restore(model: nn.Module, snapshot: tuple[bool, dict[str, torch.Tensor]]) -> None:
    """Đưa mô hình về đúng trạng thái trong `snapshot` (giá trị tham số và chế độ train/eval)."""
    training, values = snapshot
    params = dict(model.named_parameters())
    for n, value in values.items():
        params[n].copy_(value)
        params[n].grad = None
    model.train(training)
class BestCheckpoint:
    """Giữ bản sao các tham số huấn luyện ở lần đánh giá validation tốt nhất (checkpoint tốt nhất trên validation).

    "Tốt hơn" = acc validation cao hơn; bằng acc thì mất mát validation thấp hơn; bằng cả hai thì giữ bước sớm hơn
    (ít bước hơn cho cùng chất lượng). Chỉ tham số requires_grad được sao chép: phần đóng băng không đổi khi huấn luyện.
    """

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.params = params  # tham số huấn luyện, đúng thứ tự của bộ tối ưu
        self.step: int | None = None
        self.accuracy, self.loss = float("-inf"), float("inf")
        self.evals_since_best = 0  # số lần đánh giá liên tiếp không tốt hơn
        self._copy: list[torch.Tensor] = []

    def update(self, step: int, accuracy: float, loss: float) -> bool:
        """Ghi nhận một lần đánh giá; sao chép tham số nếu nó tốt hơn. Trả về True nếu tốt hơn."""
        better = accuracy > self.accuracy or (accuracy == self.accuracy and loss < self.loss)
        if better:
            self.step, self.accuracy, self.loss, self.evals_since_best = step, accuracy, loss, 0
            self._copy = [p.detach().clone() for p in self.params]
        else:
            self.evals_since_best += 1
        return better

    @torch.no_grad()
    def restore(self) -> None:
        """Chép lại vào mô hình các tham số ở bước tốt nhất."""
        for p, saved in zip(self.params, self._copy):
            p.copy_(saved)


def _use_amp(amp: bool, device: torch.device) -> bool:
    """Kiểm tra cờ autocast bf16: chỉ bật được trên GPU CUDA có bf16 thật (Ampere trở lên; T4 thì không).

    Mặc định tắt: huấn luyện trong gói khi đó tính đúng như các vòng lặp tự viết trong bài học (so được từng bit).
    """
    require(isinstance(amp, bool), f"amp phải là True hoặc False, nhận được {amp!r}.")
    supported = device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
    require(not amp or supported, f"amp=True cần GPU CUDA hỗ trợ bf16; thiết bị {device} không có. Dùng amp=False.")
    return amp


def train(
    model: nn.Module,
    train_data: TaskData,
    val_data: TaskData | None = None,
    *,
    steps: int = 200,  # số bước cập nhật
    lr: float = 1e-3,  # tốc độ học đỉnh (AdamW)
    batch_size: int = 32,  # số ví dụ mỗi bước
    eval_every: int | None = None,  # đánh giá validation mỗi bao nhiêu bước (None: chỉ ở cuối)
    weight_decay: float = 0.0,  # suy giảm trọng số của AdamW
    warmup: int = 10,  # số bước khởi động tốc độ học
    seed: int = 0,  # seed cho thứ tự lô
    progress: bool = True,  # hiện thanh tiến trình tqdm
    keep_best: bool = False,  # cuối cùng khôi phục tham số ở lần đánh giá validation tốt nhất (cần val_data)
    patience: int | None = None,  # dừng sớm sau chừng ấy lần đánh giá liên tiếp không tốt hơn (None: không dừng)
    amp: bool = False,  # True: autocast bf16 cho forward (chỉ GPU CUDA có bf16 thật: A100, L4, H100; không T4)
    min_steps: int = 0,  # không dừng sớm trước bước này (phương pháp chậm khởi động: đoạn phẳng đầu chưa phải hội tụ)
) -> History:
    """Huấn luyện đúng các tham số có requires_grad bằng AdamW; trả về History.

    Những tham số đã đóng băng không vào bộ tối ưu, nên không có trạng thái Adam và không đổi.
    Mọi đối số được kiểm tra trước bước 1. Mất mát không hữu hạn (nan/inf: phân kỳ) dừng huấn luyện bằng
    CourseError nêu bước và gợi ý tốc độ học nhỏ hơn; mô hình được trả về đúng trạng thái trước khi gọi.
    Với val_data, mỗi lần đánh giá được so với lần tốt nhất (acc validation, rồi mất mát khi bằng acc, rồi bước
    sớm hơn); History.best_step ghi lại bước đó. keep_best=True: mô hình trả về là bản ở best_step (checkpoint tốt
    nhất trên validation), không phải bản ở bước cuối. patience: dừng sớm khi validation không còn tiến bộ; lịch
    tốc độ học vẫn tính theo `steps`, nên các bước trước lúc dừng giống hệt một lần chạy đủ `steps` bước.
    """
    _check_train_args(model, train_data, val_data, steps, lr, batch_size, eval_every, weight_decay, warmup, seed,
                      progress)
    params = [p for p in model.parameters() if p.requires_grad]
    require(len(params) > 0, "Mô hình không có tham số nào requires_grad=True: không có gì để huấn luyện.")
    before = _snapshot(model)
    require(isinstance(keep_best, bool), f"keep_best phải là True hoặc False, nhận được {keep_best!r}.")
    require(patience is None or (isinstance(patience, int) and not isinstance(patience, bool) and patience > 0),
            f"patience phải là None hoặc số nguyên dương (số lần đánh giá), nhận được {patience!r}.")
    require(isinstance(min_steps, int) and not isinstance(min_steps, bool) and min_steps >= 0,
            f"min_steps phải là số nguyên ≥ 0, nhận được {min_steps!r}.")
    require(val_data is not None or not (keep_best or patience),
            f"keep_best={keep_best!r}, patience={patience!r} cần val_data để đánh giá; nhận được val_data=None.")
    best = BestCheckpoint(params)
    step_times: list[float] = []
    set_seed(seed)
    device = next(model.parameters()).device
    use_amp = _use_amp(amp, device)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, steps, min(warmup, steps)))
    gen = torch.Generator().manual_seed(seed)
    hist = History(trainable=sum(p.numel() for p in params), device=str(device))
    model.train()
    order = torch.randperm(len(train_data), generator=gen)
    cursor = 0
    start, eval_time = time.perf_counter(), 0.0
    with PeakMemory(device) as mem:
        for step in tqdm(range(1, steps + 1), disable=not progress, desc="huấn luyện", leave=False):
            t_step = time.perf_counter()
            if cursor + batch_size > len(order):
                order, cursor = torch.randperm(len(train_data), generator=gen), 0
            idx = order[cursor:cursor + batch_size]
            cursor += batch_size
            with explain_oom(f"huấn luyện bước {step} (batch_size = {batch_size})"):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    loss = model(**train_data.batch(idx, device)).loss
                loss.backward()
                opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            hist.steps.append(step)
            hist.loss.append(loss.item())
            if not math.isfinite(hist.loss[-1]):
                _restore(model, before)
                raise CourseError(f"Mất mát ở bước {step} là {hist.loss[-1]} (không hữu hạn): huấn luyện phân kỳ với "
                                  f"lr = {lr:g}. Hãy thử tốc độ học nhỏ hơn, ví dụ lr = {lr / 10:g}; mô hình đã được "
                                  "trả về trạng thái trước khi gọi train().")
            step_times.append(time.perf_counter() - t_step)
            if val_data is not None and ((eval_every and step % eval_every == 0) or step == steps):
                t_eval = time.perf_counter()
                m = evaluate(model, val_data)
                eval_time += time.perf_counter() - t_eval
                hist.eval_steps.append(step)
                hist.eval_loss.append(m["loss"])
                hist.eval_accuracy.append(m["accuracy"])
                best.update(step, m["accuracy"], m["loss"])
                if patience is not None and best.evals_since_best >= patience and step >= min_steps:
                    hist.stopped_early = step < steps
                    break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    hist.wall_time_s = time.perf_counter() - start
    hist.time_per_step_s = (hist.wall_time_s - eval_time) / len(hist.steps)  # không tính thời gian đánh giá
    hist.step_time_median_s = float(np.median(step_times))
    hist.eval_time_s = eval_time
    hist.peak_memory_mb = mem.peak_mb
    if best.step is not None:
        hist.best_step, hist.best_val_accuracy, hist.best_val_loss = best.step, best.accuracy, best.loss
    if keep_best and best.step is not None:
        best.restore()
        hist.restored_best = True
    model.eval()
    return hist

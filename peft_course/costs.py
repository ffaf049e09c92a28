"""Chi phí của một bước huấn luyện: bộ nhớ theo từng phần, số phép tính (FLOP) và thời gian.

Bộ nhớ huấn luyện = trọng số + gradient + trạng thái bộ tối ưu + activation. Ba phần đầu đọc thẳng từ kích
thước tensor sau một bước (nên tất định); activation là tổng byte của các tensor mà autograd *giữ lại cho
lượt lan truyền ngược* trong một lượt truyền xuôi, đếm bằng `torch.autograd.graph.saved_tensors_hooks`
(mỗi vùng nhớ một lần, không tính trọng số vì đã nằm trong phần trọng số). Đó là phần activation sống tới
lúc bắt đầu lan truyền ngược, cận dưới của đỉnh thật; trên GPU có thêm đỉnh đo bằng
`torch.cuda.max_memory_allocated` để so. FLOP đếm bằng `torch.utils.flop_counter.FlopCounterMode`
(phép nhân ma trận và attention), tách truyền xuôi và lan truyền ngược.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .errors import require, require_positive_int

MB = 2**20


@dataclass
class StepCost:
    """Chi phí một bước huấn luyện (AdamW) của một mô hình trên một lô cố định; byte và FLOP."""

    weights_bytes: int  # mọi tham số (nền + phần thêm), trọng số dùng chung đếm một lần
    grads_bytes: int  # gradient của tham số huấn luyện sau lan truyền ngược
    optimizer_bytes: int  # exp_avg + exp_avg_sq của AdamW sau một bước (không tính biến đếm bước vô hướng)
    activations_bytes: int  # tensor autograd giữ lại cho lan truyền ngược (saved_tensors_hooks), trừ tham số
    forward_flops: int  # FLOP của lượt truyền xuôi (tính cả hàm mất mát)
    backward_flops: int  # FLOP của lan truyền ngược (gradient theo activation và theo trọng số)
    cuda_peak_bytes: int | None = None  # đỉnh torch.cuda.max_memory_allocated trong bước (chỉ trên GPU)

    @property
    def total_bytes(self) -> int:
        """Tổng bốn phần: bộ nhớ tối thiểu để chạy bước này."""
        return self.weights_bytes + self.grads_bytes + self.optimizer_bytes + self.activations_bytes

    @property
    def flops(self) -> int:
        return self.forward_flops + self.backward_flops

    def to_dict(self) -> dict:
        return {**asdict(self), "total_bytes": self.total_bytes, "flops": self.flops}


def unique_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Tham số của mô hình, mỗi tensor một lần (wte và lm_head dùng chung chỉ tính một lần)."""
    return list(model.parameters())  # parameters() đã bỏ tham số trùng


def tensor_bytes(tensors) -> int:
    """Tổng byte của các tensor (numel × kích thước phần tử)."""
    return sum(t.numel() * t.element_size() for t in tensors)


class SavedTensorBytes:
    """Ngữ cảnh đếm byte các tensor autograd lưu lại cho lan truyền ngược.

    Mỗi vùng nhớ (storage) đếm một lần theo địa chỉ; bỏ qua vùng nhớ của `exclude` (tham số, vốn đã được
    tính ở phần trọng số: phép nhân với trọng số đóng băng vẫn giữ trọng số để tính gradient theo đầu vào).
    """

    def __init__(self, exclude: list[torch.Tensor] = ()) -> None:
        self._exclude = {t.untyped_storage().data_ptr() for t in exclude}
        self._seen: dict[int, int] = {}

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self._exclude and t.device.type != "meta":
            self._seen[ptr] = storage.nbytes()
        return t

    @property
    def bytes(self) -> int:
        return sum(self._seen.values())

    def __enter__(self) -> "SavedTensorBytes":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)


def step_cost(
    model: nn.Module,  # mô hình đã áp phương pháp (tham số huấn luyện = requires_grad)
    batch: dict[str, torch.Tensor],  # một lô đầu vào của mô hình, có "labels" để mô hình tự tính mất mát
    lr: float = 1e-3,  # tốc độ học của AdamW (không ảnh hưởng chi phí, chỉ để bước cập nhật thật)
) -> StepCost:
    """Chạy đúng một bước huấn luyện (truyền xuôi, lan truyền ngược, AdamW) và đo chi phí từng phần.

    Mô hình bị cập nhật một bước: hãy dùng một bản mô hình riêng cho việc đo.
    """
    require(isinstance(model, nn.Module), f"model phải là torch.nn.Module, nhận được {type(model).__name__}.")
    params = unique_parameters(model)
    trainable = [p for p in params if p.requires_grad]
    require(len(trainable) > 0, "Mô hình không có tham số nào requires_grad=True: không có bước huấn luyện để đo.")
    device = params[0].device
    opt = torch.optim.AdamW(trainable, lr=lr)
    was_training = model.training
    model.train()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    with FlopCounterMode(display=False) as forward_counter, SavedTensorBytes(params) as saved:
        loss = model(**batch).loss
    with FlopCounterMode(display=False) as backward_counter:
        loss.backward()
    grads = tensor_bytes(p.grad for p in trainable if p.grad is not None)
    opt.step()
    state = tensor_bytes(v for s in opt.state.values() for k, v in s.items() if k != "step" and torch.is_tensor(v))
    peak = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    opt.zero_grad(set_to_none=True)
    model.train(was_training)
    return StepCost(tensor_bytes(params), grads, state, saved.bytes, forward_counter.get_total_flops(),
                    backward_counter.get_total_flops(), peak)


def time_steps(
    model: nn.Module,  # mô hình đã áp phương pháp
    make_batch: Callable[[int], dict[str, torch.Tensor]],  # chỉ số bước → lô (có "labels")
    steps: int = 3,  # số bước được bấm giờ
    warmup: int = 1,  # số bước chạy trước, không bấm giờ
    lr: float = 1e-3,
) -> list[float]:
    """Thời gian (giây) của từng bước huấn luyện AdamW đầy đủ, sau `warmup` bước khởi động."""
    require_positive_int("steps", steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    require(len(trainable) > 0, "Mô hình không có tham số nào requires_grad=True: không có bước huấn luyện để đo.")
    device = trainable[0].device
    opt = torch.optim.AdamW(trainable, lr=lr)
    model.train()
    times = []
    for i in range(warmup + steps):
        batch = make_batch(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    model.eval()
    return times


def _forward_seconds(model: nn.Module, inputs: dict[str, torch.Tensor]) -> float:
    """Thời gian (giây) của đúng một lượt truyền xuôi; đồng bộ CUDA trước và sau nếu chạy trên GPU."""
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    model(**inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


@torch.no_grad()
def latency_ms(
    model: nn.Module,  # mô hình cần đo
    batch: dict[str, torch.Tensor],  # lô đầu vào ("labels" nếu có sẽ bị bỏ: chỉ đo truyền xuôi)
    repeats: int = 15,  # số lần bấm giờ
    warmup: int = 3,  # số lần chạy trước, không bấm giờ
) -> float:
    """Trung vị thời gian (ms) của một lượt truyền xuôi không tính gradient."""
    require_positive_int("repeats", repeats)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    model.eval()
    times = [_forward_seconds(model, inputs) for _ in range(warmup + repeats)]
    return 1000 * statistics.median(times[warmup:])


@torch.no_grad()
def latency_ratio(
    model: nn.Module,  # mô hình cần đo (đã gộp nếu phương pháp gộp được)
    reference: nn.Module,  # mô hình nền để so
    batch: dict[str, torch.Tensor],  # lô đầu vào (không cần labels)
    repeats: int = 15,  # số lần đo xen kẽ
) -> float:
    """Trung vị của tỉ số thời gian truyền xuôi (model / reference), đo xen kẽ để bớt nhiễu của máy."""
    require_positive_int("repeats", repeats)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    model.eval()
    reference.eval()
    _forward_seconds(model, inputs), _forward_seconds(reference, inputs)  # khởi động
    ratios = [_forward_seconds(model, inputs) / _forward_seconds(reference, inputs) for _ in range(repeats)]
    return statistics.median(ratios)

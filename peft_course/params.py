"""Đếm và đóng băng tham số: θ = (θ_f, θ_t), phần đóng băng và phần được huấn luyện."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from torch import nn

from .errors import CourseError, require


@dataclass
class ParameterCount:
    """Kết quả đếm tham số. Trọng số dùng chung (wte và lm_head của GPT-2) chỉ đếm một lần.

    percent = trainable / total · 100, với total là *mọi* tham số đang có trong mô hình (nền + phần thêm),
    cùng mẫu số với `print_trainable_parameters` của huggingface/peft.
    """

    total: int
    trainable: int
    rows: list[dict] = field(default_factory=list)  # mỗi mô-đun: name, total, trainable

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"tổng {self.total:,} | huấn luyện {self.trainable:,} | {self.percent:.4f}%"

    def table(self) -> str:
        """Bảng markdown theo mô-đun (chỉ các dòng có tham số)."""
        lines = ["| mô-đun | tham số | huấn luyện |", "|---|---:|---:|"]
        lines += [f"| {r['name']} | {r['total']:,} | {r['trainable']:,} |" for r in self.rows]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return str(self) + "\n\n" + self.table()


def _group(name: str, depth: int) -> str:
    """Gom tên tham số theo `depth` thành phần đầu, thay chỉ số lớp bằng * khi depth âm."""
    parts = name.split(".")[:-1] or [name]
    return ".".join(parts[:depth]) if depth > 0 else re.sub(r"\.\d+\.", ".*.", ".".join(parts) + ".")[:-1]


def count_parameters(model: nn.Module, depth: int = 0) -> ParameterCount:
    """Đếm tổng và số tham số huấn luyện được (requires_grad), kèm bảng theo mô-đun.

    depth > 0: gom theo `depth` thành phần đầu của tên; depth = 0: mỗi mô-đun có tham số một dòng;
    depth < 0: gộp các lớp lặp lại (transformer.h.*.attn.c_attn).
    """
    require(isinstance(model, nn.Module), f"model phải là torch.nn.Module, nhận được {type(model).__name__}.")
    require(isinstance(depth, int), f"depth phải là số nguyên, nhận được {depth!r}.")
    rows: dict[str, dict] = {}
    total = trainable = 0
    for name, p in model.named_parameters():  # named_parameters bỏ qua tham số trùng (tied) sẵn
        key = ".".join(name.split(".")[:-1]) if depth == 0 else _group(name, depth)
        row = rows.setdefault(key, {"name": key or "(gốc)", "total": 0, "trainable": 0})
        row["total"] += p.numel()
        total += p.numel()
        if p.requires_grad:
            row["trainable"] += p.numel()
            trainable += p.numel()
    return ParameterCount(total, trainable, list(rows.values()))


def freeze(model: nn.Module, trainable: str | None = None) -> int:
    """Đóng băng mọi tham số, trừ những tham số có tên khớp biểu thức chính quy `trainable`.

    Trả về số tham số còn huấn luyện được. Báo lỗi nếu `trainable` không khớp tên nào (gõ nhầm tên
    thì thà báo lỗi còn hơn lặng lẽ không huấn luyện gì).
    """
    require(isinstance(model, nn.Module), f"model phải là torch.nn.Module, nhận được {type(model).__name__}.")
    require(trainable is None or isinstance(trainable, str), f"trainable phải là None hoặc chuỗi regex, nhận được {trainable!r}.")
    if trainable is not None:
        try:
            re.compile(trainable)
        except re.error as e:
            raise CourseError(f"Mẫu trainable = {trainable!r} không phải biểu thức chính quy hợp lệ ({e}).") from None
    named = list(model.named_parameters())
    keep = [trainable is not None and re.search(trainable, name) is not None for name, _ in named]
    matched = sum(p.numel() for (_, p), k in zip(named, keep) if k)
    if trainable is not None:  # kiểm tra trước, rồi mới đổi requires_grad: lỗi không để lại mô hình sửa dở
        names = sorted({".".join(n.split(".")[-2:]) for n, _ in named})[:8]
        require(matched > 0, f"Mẫu trainable = {trainable!r} không khớp tham số nào; ví dụ tên có trong mô hình: {names}.")
    for (_, p), k in zip(named, keep):
        p.requires_grad_(k)
    return matched

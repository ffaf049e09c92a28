"""Công thức huấn luyện và danh mục phương pháp dùng chung cho bài học, bench/ và giao thức đo (protocol.py).

RECIPES: tốc độ học gốc của mỗi phương pháp (giao thức đo quét ×⅓, ×1, ×3 quanh nó trên validation).
METHODS: mỗi phương pháp trong bảng so sánh, với cách áp nó lên một mô hình nền mới; `build` áp sau khi cố định
seed nên khởi tạo A, adapter… tất định.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from .errors import require_choice

# Công thức huấn luyện theo phương pháp: cùng số bước và lô; tốc độ học chọn trên tập validation
# (PEFT thường cần tốc độ học cao hơn nhiều so với tinh chỉnh toàn bộ).
RECIPES: dict[str, dict] = {
    "full": {"lr": 3e-4},
    "bitfit": {"lr": 3e-3},
    "adapter": {"lr": 3e-3},
    "lora": {"lr": 1e-3},
    "dora": {"lr": 3e-3},
    "prefix": {"lr": 3e-2},
    "prompt": {"lr": 3e-2},
}
DEFAULT_STEPS = 150  # số bước của các lần chạy minh họa trong bài học (giao thức đo dùng ngân sách riêng)
DEFAULT_BATCH = 32

TARGETS = ["c_attn", "c_proj", "c_fc"]  # LoRA/DoRA trên mọi lớp chiếu của GPT-2, như bài 3 và 4
PREFIX_INIT = "Cảm xúc của phản hồi sinh viên là tiêu cực, trung lập hay tích cực"  # như bài 5


@dataclass(frozen=True)
class Method:
    """Một phương pháp trong bảng so sánh."""

    label: str  # tên hiển thị (tiếng Việt)
    recipe: str  # khóa công thức trong RECIPES
    apply: Callable[[nn.Module, object], object]  # (mô hình, tokenizer hoặc None) → áp phương pháp tại chỗ
    mergeable: bool = False  # gộp được vào trọng số nền khi suy luận (LoRA, DoRA)


def _full(model: nn.Module, tokenizer) -> None:
    for p in model.parameters():
        p.requires_grad_(True)


def _bitfit(model: nn.Module, tokenizer) -> None:
    from .bitfit import BitFitConfig, apply_bitfit

    apply_bitfit(model, BitFitConfig("all"))


def _adapter(kind: str) -> Callable[[nn.Module, object], None]:
    def apply(model: nn.Module, tokenizer) -> None:
        from .adapter import AdapterConfig, apply_adapters

        apply_adapters(model, AdapterConfig(16, kind))
    return apply


def _lora(model: nn.Module, tokenizer) -> None:
    from .lora import LoRAConfig, apply_lora

    apply_lora(model, LoRAConfig(8, 16.0, list(TARGETS)))


def _dora(model: nn.Module, tokenizer) -> None:
    from .dora import DoRAConfig, apply_dora

    apply_dora(model, DoRAConfig(8, 16.0, list(TARGETS)))


def _prefix(model: nn.Module, tokenizer) -> None:
    from .prefix import PrefixConfig, apply_prefix

    ids = tokenizer(PREFIX_INIT)["input_ids"] if tokenizer is not None else None  # không tokenizer: khởi tạo ngẫu nhiên
    apply_prefix(model, PrefixConfig(num_virtual_tokens=10, init_token_ids=ids))


def _prompt(model: nn.Module, tokenizer) -> None:
    from .prefix import PromptConfig, apply_prompt

    apply_prompt(model, PromptConfig(10))


METHODS: dict[str, Method] = {
    "full": Method("tinh chỉnh toàn bộ", "full", _full),
    "bitfit": Method("BitFit (mọi bias)", "bitfit", _bitfit),
    "houlsby": Method("adapter Houlsby r=16", "adapter", _adapter("houlsby")),
    "pfeiffer": Method("adapter Pfeiffer r=16", "adapter", _adapter("pfeiffer")),
    "lora": Method("LoRA r=8", "lora", _lora, True),
    "dora": Method("DoRA r=8", "dora", _dora, True),
    "prefix": Method("prefix tuning k=10", "prefix", _prefix),
    "prompt": Method("prompt tuning k=10", "prompt", _prompt),
}


def build(key: str,  # khóa trong METHODS
          model: nn.Module,  # mô hình nền mới (bị sửa tại chỗ)
          tokenizer=None,  # tokenizer của mô hình (prefix tuning khởi tạo từ token thật); None: khởi tạo ngẫu nhiên
          seed: int = 0,  # seed đặt ngay trước khi áp: cùng seed, cùng khởi tạo
          ) -> nn.Module:
    """Áp phương pháp `key` lên `model` (tại chỗ) sau khi cố định seed, để khởi tạo A, adapter… tất định."""
    from .training import set_seed

    require_choice("method", key, METHODS)
    set_seed(seed)
    METHODS[key].apply(model, tokenizer)
    return model

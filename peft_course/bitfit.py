"""BitFit (Ben Zaken và cộng sự, 2021): chỉ huấn luyện bias, đóng băng mọi trọng số khác.

Thay vì sửa thẳng bias của mô hình nền, mỗi lớp được chọn được bọc bởi `BiasDelta`: đầu ra cộng thêm
một vectơ δ (khởi tạo bằng 0, nên ở bước 0 mô hình không đổi). Huấn luyện δ cho đúng cùng gradient và
cùng bước cập nhật Adam như huấn luyện bias b (vì b + δ chỉ xuất hiện dưới dạng tổng), nhưng:
- trọng số nền giữ nguyên từng bit, phần học được chỉ là các δ (lưu và chia sẻ rất nhẹ);
- bias của c_attn trong GPT-2 là bias *gộp* của q, k, v (3d phần tử); phương án "attention_query"
  chỉ cần δ cho d phần tử đầu (phần q), điều mà cờ requires_grad trên cả tensor bias không làm được.
`BiasDelta.merged_bias()` trả về b + δ để gộp lại vào mô hình khi cần.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .arch import ARCHS, arch_of, attention_shape, biased_modules, model_type
from .errors import require, require_choice
from .inject import inject, refuse_if_adapted, require_module
from .model import trainable_dtype

# Những nhóm bias có thể chọn; tên mô-đun theo GPT-2 của transformers.
WHICH = ("all", "attention_query", "mlp", "layernorm")


@dataclass
class BitFitConfig:
    """Cấu hình BitFit."""

    which: str = "all"  # "all": mọi bias; "attention_query": phần q trong bias gộp của attn.c_attn;
    # "mlp": bias của mlp.c_fc và mlp.c_proj; "layernorm": bias của ln_1, ln_2, ln_f

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Báo lỗi tiếng Việt khi `which` không phải một nhóm bias đã biết (gọi lại lúc áp)."""
        require_choice("which", self.which, WHICH)


class BiasDelta(nn.Module):
    """Bọc một lớp có bias: y = base_layer(x) + δ, với δ cộng vào các chiều [offset, offset + size) của y.

    δ khởi tạo bằng 0 nên lớp bọc cho đúng đầu ra cũ; base_layer bị đóng băng, chỉ δ được huấn luyện.
    """

    course_method = "BitFit"  # tên mà refuse_if_adapted báo khi gặp lớp này

    def __init__(
        self,
        base_layer: nn.Module,  # lớp gốc có thuộc tính bias (Conv1D, nn.Linear, nn.LayerNorm…)
        size: int | None = None,  # số phần tử của δ; None: bằng cả bias
        offset: int = 0,  # δ bắt đầu từ chiều thứ mấy của bias (phần q của c_attn: 0)
    ) -> None:
        super().__init__()
        bias = getattr(base_layer, "bias", None)
        require(isinstance(bias, torch.Tensor), f"Lớp {type(base_layer).__name__} không có bias để bọc.")
        n = bias.numel()
        size = n if size is None else size
        require(0 <= offset and 0 < size and offset + size <= n,
                f"Đoạn δ [{offset}, {offset + size}) nằm ngoài bias có {n} phần tử.")
        self.base_layer = base_layer
        self.offset = offset
        self.delta = nn.Parameter(torch.zeros(size, dtype=trainable_dtype(bias.dtype), device=bias.device))

    def padded_delta(self) -> torch.Tensor:
        """δ đặt vào đúng chỗ trong một vectơ dài bằng bias (các chỗ khác bằng 0)."""
        n = self.base_layer.bias.numel()
        return F.pad(self.delta, (self.offset, n - self.offset - self.delta.numel()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        return y + self.padded_delta().to(y.dtype)

    def merged_bias(self) -> torch.Tensor:
        """Bias sau khi gộp: b + δ (để ghi vào một mô hình thường, không cần lớp bọc)."""
        bias = self.base_layer.bias.detach()
        return bias + self.padded_delta().detach().to(bias.dtype)


def _targets(model: nn.Module, which: str) -> list[tuple[str, nn.Module, int | None]]:
    """(tên mô-đun, mô-đun, số phần tử δ) cho nhóm bias `which`, theo kiến trúc (arch.py).

    Mô hình không có `config.model_type` (mô hình tự viết) được hiểu theo tên của GPT-2.
    """
    facts = arch_of(model, "BitFit") if model_type(model) is not None else ARCHS["gpt2"]
    found = []
    for name, module in model.named_modules():
        if not isinstance(getattr(module, "bias", None), torch.Tensor):
            continue
        in_block = _block_part(name, facts)  # "attn.c_attn", "self_attn.q_proj", "mlp.down_proj"… hoặc None
        if which == "all":
            found.append((name, module, None))
        elif which == "attention_query" and in_block == f"{facts.attention}.{facts.qkv[0]}":
            require(facts.fused_qkv_layout != "interleaved",
                    f"which = 'attention_query' chưa hỗ trợ {facts.model_type}: bias q/k/v gộp xen kẽ theo từng đầu; "
                    "hãy dùng which='all'.")
            size = attention_shape(model).hidden if len(facts.qkv) == 1 else None  # phần q đứng đầu bias gộp
            found.append((name, module, size))
        elif which == "mlp" and in_block is not None and in_block.startswith(f"{facts.mlp}."):
            found.append((name, module, None))
        elif which == "layernorm" and isinstance(module, nn.LayerNorm):
            found.append((name, module, None))
    return found


def _block_part(name: str, facts) -> str | None:
    """Phần tên bên trong một khối ("transformer.h.3.attn.c_attn" → "attn.c_attn"), None nếu ngoài các khối."""
    prefix = facts.blocks + "."
    if not name.startswith(prefix):
        return None
    return name[len(prefix):].partition(".")[2] or None


def _no_bias_message(model: nn.Module, which: str) -> str:
    """Lời từ chối khi nhóm `which` không có bias nào: nêu những bias mô hình có và phương án thay thế."""
    have = biased_modules(model)
    kind = model_type(model) or type(model).__name__
    if not have:
        return (f"which = {which!r}: không tìm thấy bias nào trong mô hình {kind} (Llama, Mistral không có bias), nên "
                "BitFit không có gì để huấn luyện. Hãy dùng LoRA (apply_lora, cũng rất ít tham số) hoặc adapter "
                "(apply_adapters).")
    shown = ", ".join(have[:4]) + (" …" if len(have) > 4 else "")
    return (f"which = {which!r}: không tìm thấy bias nào thuộc nhóm này trong {kind}. Các mô-đun có bias: {shown} "
            f"({len(have)} mô-đun); hãy dùng which='all'" + (" hoặc 'attention_query'." if kind == "qwen2" else "."))


def apply_bitfit(model: nn.Module, config: BitFitConfig | None = None) -> list[str]:
    """Áp BitFit tại chỗ: bọc các lớp có bias được chọn bằng BiasDelta, đóng băng mọi tham số khác.

    Trả về tên các mô-đun đã bọc. Báo CourseError (mô hình không bị sửa) nếu mô hình đã mang một phương
    pháp (kể cả BitFit), cấu hình sai, hoặc mô hình không có bias nào thuộc nhóm đã chọn.
    """
    require_module(model)
    config = config or BitFitConfig()
    require(isinstance(config, BitFitConfig), f"config phải là BitFitConfig, nhận được {type(config).__name__}.")
    config.validate()
    refuse_if_adapted(model, "BitFit")
    targets = _targets(model, config.which)
    require(len(targets) > 0, _no_bias_message(model, config.which))
    sizes = {name: size for name, _, size in targets}
    return inject(model, list(sizes), lambda name, module: BiasDelta(module, sizes[name]))

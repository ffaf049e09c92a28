"""Adapter nút cổ chai (Houlsby và cộng sự, 2019; Pfeiffer và cộng sự, 2020).

Một adapter là h ↦ h + W_up · f(W_down · h + b_down) + b_up: chiếu xuống d → r, phi tuyến, chiếu lên
r → d, cộng phần dư. W_up và b_up khởi tạo bằng 0 nên ở bước 0 adapter là phép đồng nhất và mô hình
không đổi. Adapter được chèn vào khối bằng cách bọc lớp chiếu ra của nhánh con: đầu ra của nhánh đi qua adapter
trước khi cộng vào dòng dư của khối.
- "houlsby": sau attention và sau MLP (2 adapter mỗi khối);
- "pfeiffer": chỉ sau MLP (1 adapter mỗi khối).
Lớp được bọc, theo kiến trúc (`arch.ArchFacts.attn_out`, `mlp_out`): GPT-2 `attn.c_proj`, `mlp.c_proj`;
Llama/Mistral/Qwen2 `self_attn.o_proj`, `mlp.down_proj`; GPT-NeoX `attention.dense`, `mlp.dense_4h_to_h`.
Vì sao đúng với bài báo: Houlsby và cộng sự (2019, Hình 2) đặt adapter ngay sau phép chiếu ra của attention
và sau phép chiếu xuống của FFN, *trước* phép cộng dư; Pfeiffer và cộng sự (2020) chỉ giữ adapter sau FFN.
o_proj và down_proj chính là hai phép chiếu ấy trong khối Llama: đầu ra của chúng là thứ được cộng vào dòng
dư. Khác biệt duy nhất là chỗ chuẩn hóa: Llama chuẩn hóa *trước* nhánh (pre-norm, RMSNorm) còn Transformer
của bài báo chuẩn hóa sau phép cộng (post-norm), nên ở đây adapter nhận đầu ra chưa chuẩn hóa của nhánh —
cũng như trên GPT-2 (pre-norm) và như các cài đặt adapter cho mô hình pre-norm (AdapterHub).
Mỗi adapter có 2·d·r + d + r tham số (tính cả bias; bài báo bỏ qua bias khi đếm).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .arch import arch_of, model_type
from .errors import require, require_choice, require_positive_int
from .inject import find_targets, inject, layer_dims, refuse_if_adapted, require_module
from .model import trainable_dtype

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}
# Vị trí adapter → đuôi tên các lớp chiếu ra được bọc.
PLACEMENTS: dict[str, tuple[str, ...]] = {"houlsby": ("attn.c_proj", "mlp.c_proj"), "pfeiffer": ("mlp.c_proj",)}


@dataclass
class AdapterConfig:
    """Cấu hình adapter nút cổ chai."""

    r: int = 16  # bề rộng nút cổ chai (số chiều ẩn của adapter), 1 … d
    placement: str = "houlsby"  # "houlsby": sau attention và sau MLP; "pfeiffer": chỉ sau MLP
    activation: str = "relu"  # phi tuyến giữa hai phép chiếu: relu, gelu, silu (swish), tanh

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Báo lỗi tiếng Việt cho r, placement, activation không hợp lệ (gọi lại lúc áp)."""
        self.r = require_positive_int("r", self.r)  # np.int64 → int
        require_choice("placement", self.placement, PLACEMENTS)
        require_choice("activation", self.activation, ACTIVATIONS)


class BottleneckAdapter(nn.Module):
    """h ↦ h + up(f(down(h))): nút cổ chai d → r → d có phần dư, là phép đồng nhất lúc khởi tạo."""

    def __init__(
        self,
        d: int,  # số chiều của dòng dư (n_embd)
        r: int,  # bề rộng nút cổ chai
        activation: str = "relu",  # tên phi tuyến trong ACTIVATIONS
    ) -> None:
        super().__init__()
        d, r = require_positive_int("d", d), require_positive_int("r", r)
        require(r <= d, f"r = {r} lớn hơn d = {d}: nút cổ chai phải hẹp hơn (giá trị hợp lệ 1 … {d}).")
        require_choice("activation", activation, ACTIVATIONS)
        self.down = nn.Linear(d, r)  # khởi tạo mặc định của nn.Linear (Kaiming đều)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(r, d)
        nn.init.zeros_(self.up.weight)  # chiếu lên bằng 0: adapter = đồng nhất ở bước 0
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        dtype = self.down.weight.dtype  # fp32 trên nền bf16/fp16 (xem model.trainable_dtype)
        return h + self.up(self.act(self.down(h.to(dtype)))).to(h.dtype)


class AdaptedLayer(nn.Module):
    """Bọc lớp chiếu ra của một nhánh con: y = adapter(base_layer(x)); base_layer đóng băng."""

    course_method = "adapter"  # tên mà refuse_if_adapted báo khi gặp lớp này

    def __init__(self, base_layer: nn.Module, adapter: BottleneckAdapter) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base_layer(x))


def _new_adapter(layer: nn.Module, config: AdapterConfig) -> AdaptedLayer:
    """Bọc `layer` bằng một adapter d → r → d (d = số chiều đầu ra của lớp), cùng thiết bị và kiểu số."""
    w = layer.weight
    adapter = BottleneckAdapter(layer_dims(layer, "adapter")[1], config.r, config.activation)
    adapter = adapter.to(w.device, trainable_dtype(w.dtype))  # fp32 trên nền bf16/fp16, như peft
    return AdaptedLayer(layer, adapter)


def placement_suffixes(model: nn.Module, placement: str) -> tuple[str, ...]:
    """Đuôi tên các lớp chiếu ra được bọc: theo kiến trúc (arch.py) nếu biết `config.model_type`, nếu không
    thì tên của GPT-2 (PLACEMENTS)."""
    if model_type(model) is None:
        return PLACEMENTS[placement]
    facts = arch_of(model, "Adapter")
    return (facts.attn_out, facts.mlp_out) if placement == "houlsby" else (facts.mlp_out,)


def apply_adapters(model: nn.Module, config: AdapterConfig | None = None) -> list[str]:
    """Chèn adapter vào mọi khối (tại chỗ) theo `config.placement`, đóng băng mọi tham số nền.

    Trả về tên các lớp đã bọc. Báo CourseError (mô hình không bị sửa) khi cấu hình sai, r > d,
    mô hình không có lớp attn.c_proj/mlp.c_proj, hoặc mô hình đã mang một phương pháp (kể cả adapter).
    """
    require_module(model)
    config = config or AdapterConfig()
    require(isinstance(config, AdapterConfig), f"config phải là AdapterConfig, nhận được {type(config).__name__}.")
    config.validate()
    refuse_if_adapted(model, "adapter")
    targets = find_targets(model, placement_suffixes(model, config.placement), "adapter")
    for name in targets:
        d = layer_dims(model.get_submodule(name), "adapter")[1]
        require(config.r <= d, f"r = {config.r} lớn hơn d = {d} của {name}: nút cổ chai phải hẹp hơn "
                               f"(giá trị hợp lệ 1 … {d}).")
    return inject(model, targets, lambda name, layer: _new_adapter(layer, config))

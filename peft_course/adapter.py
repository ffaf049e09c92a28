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
from .errors import CourseError, require, require_choice, require_positive_int
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
        _check(self)


def _check(config: "AdapterConfig") -> None:
    require_positive_int("r", config.r)
    require_choice("placement", config.placement, PLACEMENTS)
    require_choice("activation", config.activation, ACTIVATIONS)


class BottleneckAdapter(nn.Module):
    """h ↦ h + up(f(down(h))): nút cổ chai d → r → d có phần dư, là phép đồng nhất lúc khởi tạo."""

    def __init__(
        self,
        d: int,  # số chiều của dòng dư (n_embd)
        r: int,  # bề rộng nút cổ chai
        activation: str = "relu",  # tên phi tuyến trong ACTIVATIONS
    ) -> None:
        super().__init__()
        require_positive_int("d", d)
        require_positive_int("r", r)
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

    def __init__(self, base_layer: nn.Module, adapter: BottleneckAdapter) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base_layer(x))


def _out_features(layer: nn.Module) -> int:
    """Số chiều đầu ra của Conv1D (GPT-2, trọng số (in, out)) hoặc nn.Linear."""
    if isinstance(layer, nn.Linear):
        return layer.out_features
    return int(getattr(layer, "nf", layer.weight.shape[-1]))


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
    mô hình không có lớp attn.c_proj/mlp.c_proj, hoặc adapter đã được chèn rồi.
    """
    require(isinstance(model, nn.Module), f"model phải là torch.nn.Module, nhận được {type(model).__name__}.")
    config = config or AdapterConfig()
    require(isinstance(config, AdapterConfig), f"config phải là AdapterConfig, nhận được {type(config).__name__}.")
    _check(config)
    if any(isinstance(m, AdaptedLayer) for m in model.modules()):
        raise CourseError("Mô hình này đã có adapter (lớp AdaptedLayer); hãy dùng một mô hình nền mới "
                          "(course.fresh_model()) thay vì áp hai lần.")
    suffixes = placement_suffixes(model, config.placement)
    targets = [(n, m) for n, m in model.named_modules() if n.endswith(suffixes)]
    require(len(targets) > 0, f"Không tìm thấy lớp nào có tên kết thúc bằng {', '.join(suffixes)} trong "
                              f"{type(model).__name__}; adapter của khóa học cần khối kiểu GPT-2.")
    for name, layer in targets:
        d = _out_features(layer)
        require(config.r <= d, f"r = {config.r} lớn hơn d = {d} của {name}: nút cổ chai phải hẹp hơn "
                               f"(giá trị hợp lệ 1 … {d}).")
    for p in model.parameters():
        p.requires_grad_(False)
    for name, layer in targets:
        w = layer.weight
        adapter = BottleneckAdapter(_out_features(layer), config.r, config.activation)
        adapter = adapter.to(w.device, trainable_dtype(w.dtype))  # fp32 trên nền bf16/fp16
        parent_name, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent_name), leaf, AdaptedLayer(layer, adapter))
    return [name for name, _ in targets]

"""LoRA (Hu et al. 2021): học một cập nhật hạng thấp ΔW = (α/r)·BA bên cạnh trọng số nền đóng băng.

Dáng giống huggingface/peft: lớp gốc giữ nguyên dưới tên `base_layer`; A có dạng (r, in) khởi tạo
Kaiming-uniform (a = √5) như `nn.Linear`, B có dạng (out, r) bằng 0 nên ở bước 0 mô hình không đổi.
A, B luôn ở bố cục của `nn.Linear`; với `Conv1D` của GPT-2 (trọng số (in, out)) chỉ phần ΔW khi gộp
mới phải chuyển vị (peft gọi là `fan_in_fan_out=True`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import is_real, require, require_bool, require_positive_int, require_positive_number
from .inject import LINEAR_TYPES, find_targets, inject, layer_dims, refuse_if_adapted, require_module
from .model import trainable_dtype

SUPPORTED = LINEAR_TYPES  # các loại lớp LoRA bọc được (nn.Linear, Conv1D)


@dataclass
class LoRAConfig:
    """Cấu hình LoRA; tên trường theo bài báo, ý nghĩa như `peft.LoraConfig`."""

    r: int = 8  # hạng của cập nhật BA
    alpha: float = 16.0  # hệ số α; nhánh LoRA được nhân α/r (hoặc α/√r khi rslora=True)
    target_modules: list[str] = field(default_factory=lambda: ["c_attn", "c_proj", "c_fc"])  # hậu tố tên mô-đun
    dropout: float = 0.0  # dropout chỉ trên đầu vào của nhánh LoRA
    rslora: bool = False  # rsLoRA (Kalajdzievski 2023): chia cho √r thay vì r

    def scaling(self) -> float:
        """Hệ số s nhân vào BA: α/r, hoặc α/√r với rsLoRA."""
        return self.alpha / (math.sqrt(self.r) if self.rslora else self.r)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Báo lỗi tiếng Việt cho r, α, dropout, rslora, target_modules không hợp lệ.

        Gọi lúc tạo cấu hình và lại lúc áp (phòng khi một trường bị gán lại sau đó).
        """
        self.r = require_positive_int("r", self.r)  # np.int64 → int
        require_positive_number("alpha", self.alpha)
        ok = is_real(self.dropout) and 0 <= self.dropout < 1
        require(ok, f"dropout phải là số trong [0, 1), nhận được {self.dropout!r}.")
        require_bool("rslora", self.rslora)
        require(isinstance(self.target_modules, (list, tuple)) and len(self.target_modules) > 0
                and all(isinstance(t, str) and t for t in self.target_modules),
                f"target_modules phải là danh sách tên mô-đun (chuỗi), ví dụ ['c_attn'], "
                f"nhận được {self.target_modules!r}.")


class LoRALinear(nn.Module):
    """y = base(x) + s · B A dropout(x), với s = α/r; `base_layer` đóng băng, chỉ A và B được huấn luyện."""

    course_method = "LoRA"  # tên mà refuse_if_adapted báo khi gặp lớp này

    def __init__(self, base_layer: nn.Module, config: LoRAConfig) -> None:
        super().__init__()
        config.validate()
        self.in_features, self.out_features, self.fan_in_fan_out = layer_dims(base_layer)
        require_positive_int(f"r (lớp {self.in_features}→{self.out_features})", config.r,
                             maximum=min(self.in_features, self.out_features))
        self.base_layer = base_layer
        self.config = config
        self.r, self.scaling = config.r, config.scaling()
        w = base_layer.weight
        dtype = trainable_dtype(w.dtype)  # fp32 trên nền bf16/fp16, như peft (autocast_adapter_dtype=True)
        self.lora_A = nn.Parameter(torch.empty(config.r, self.in_features, dtype=dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, config.r, dtype=dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # như nn.Linear và peft
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.merged = False
        for p in self.base_layer.parameters():
            p.requires_grad_(False)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = s·BA theo bố cục của trọng số nền: (out, in) cho Linear, (in, out) cho Conv1D."""
        delta = self.scaling * (self.lora_B @ self.lora_A)
        return delta.T if self.fan_in_fan_out else delta

    def lora_branch(self, x: torch.Tensor) -> torch.Tensor:
        """s · B A dropout(x) mà không dựng ma trận ΔW: hai phép nhân mỏng, r(in + out) phép mỗi token."""
        out = (self.dropout(x.to(self.lora_A.dtype)) @ self.lora_A.T @ self.lora_B.T) * self.scaling
        return out.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        return y if self.merged else y + self.lora_branch(x)

    @torch.no_grad()
    def merge(self) -> None:
        """Cộng ΔW vào trọng số nền: suy luận sau đó tốn đúng như mô hình gốc."""
        require(not self.merged, "Lớp LoRA này đã được gộp rồi; gọi unmerge() trước khi gộp lại.")
        self.base_layer.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Trừ ΔW khỏi trọng số nền, trả lại W gốc (sai số làm tròn ~1e-7)."""
        require(self.merged, "Lớp LoRA này chưa được gộp nên không có gì để tách.")
        self.base_layer.weight -= self.delta_weight()
        self.merged = False

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, r={self.r}, scaling={self.scaling:g}, merged={self.merged}"


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Các lớp LoRA (kể cả DoRA) đang có trong mô hình, theo tên mô-đun."""
    require_module(model)
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def apply_layers(model: nn.Module, config: LoRAConfig, layer_cls: type[LoRALinear]) -> list[str]:
    """Bọc mọi lớp đích bằng `layer_cls`, đóng băng phần còn lại; kiểm tra hết trước khi sửa mô hình."""
    require_module(model)
    require(isinstance(config, LoRAConfig), f"config phải là LoRAConfig, nhận được {type(config).__name__}.")
    refuse_if_adapted(model, layer_cls.course_method)
    config.validate()
    names = find_targets(model, list(config.target_modules), layer_cls.course_method)
    for name in names:  # kiểm tra r với mọi lớp trước khi sửa gì
        d_in, d_out, _ = layer_dims(model.get_submodule(name))
        require(config.r <= min(d_in, d_out), f"r = {config.r} quá lớn cho lớp {name} ({d_in}→{d_out}): "
                                              f"giá trị hợp lệ là 1 … {min(d_in, d_out)}.")
    return inject(model, names, lambda name, layer: layer_cls(layer, config))


def apply_lora(model: nn.Module, config: LoRAConfig) -> list[str]:
    """Áp LoRA lên các lớp khớp `config.target_modules` (sửa tại chỗ), đóng băng mọi tham số khác.

    Trả về tên các mô-đun đã bọc. Áp hai lần, r ≤ 0, r > min(in, out), α ≤ 0 hay tên đích không khớp
    đều báo CourseError và không sửa mô hình.
    """
    return apply_layers(model, config, LoRALinear)


def _check_not_tied(model: nn.Module, layers: dict[str, LoRALinear]) -> None:
    """Gộp vào một trọng số dùng chung (vd. lm_head buộc với wte) sẽ đổi luôn lớp kia: từ chối."""
    owners: dict[int, list[str]] = {}
    for mod_name, mod in model.named_modules():
        for p_name, p in mod.named_parameters(recurse=False, remove_duplicate=False):
            owners.setdefault(id(p), []).append(f"{mod_name}.{p_name}".lstrip("."))
    for name, layer in layers.items():
        shared = owners.get(id(layer.base_layer.weight), [])
        require(len(shared) <= 1, f"Trọng số của {name} dùng chung với {shared}: gộp sẽ đổi cả lớp kia. "
                                  "Hãy để lớp này ở dạng chưa gộp.")


def merge_lora(model: nn.Module) -> list[str]:
    """Gộp mọi lớp LoRA/DoRA vào trọng số nền; trả về tên các lớp đã gộp."""
    layers = lora_layers(model)
    require(len(layers) > 0, "Mô hình không có lớp LoRA/DoRA nào để gộp.")
    merged = [n for n, m in layers.items() if m.merged]
    require(not merged, f"Các lớp {merged[:3]} đã được gộp rồi; gọi unmerge_lora(model) trước.")
    _check_not_tied(model, layers)
    for layer in layers.values():
        layer.merge()
    return list(layers)


def unmerge_lora(model: nn.Module) -> list[str]:
    """Tách mọi lớp LoRA/DoRA đã gộp, trả trọng số nền về như cũ; trả về tên các lớp đã tách."""
    layers = lora_layers(model)
    require(len(layers) > 0, "Mô hình không có lớp LoRA/DoRA nào để tách.")
    unmerged = [n for n, m in layers.items() if not m.merged]
    require(not unmerged, f"Các lớp {unmerged[:3]} chưa được gộp nên không tách được.")
    for layer in layers.values():
        layer.unmerge()
    return list(layers)

"""DoRA (Liu et al. 2024): tách trọng số thành độ lớn và hướng, W' = m · (W + sBA) / ‖W + sBA‖.

Mỗi đặc trưng ĐẦU RA có một độ lớn m (chuẩn lấy theo chiều đầu vào, tức theo hàng của W dạng Linear
(out, in), theo cột của W dạng Conv1D (in, out)). m khởi tạo bằng chuẩn từng hàng của W nên ở bước 0
W' = W. Hướng được cập nhật bằng LoRA. Như bài báo (§4.3) và peft, chuẩn ‖W + sBA‖ được tách khỏi đồ thị
gradient (detach): nó vẫn theo ΔW khi chạy tới nhưng không nhận gradient, đỡ tốn bộ nhớ.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import require
from .lora import LoRAConfig, LoRALinear, apply_layers, merge_lora, unmerge_lora


@dataclass
class DoRAConfig(LoRAConfig):
    """Cấu hình DoRA: giống hệt LoRAConfig (r, alpha, target_modules, dropout, rslora)."""


class DoRALinear(LoRALinear):
    """LoRALinear cộng thêm độ lớn m (một số cho mỗi đặc trưng đầu ra)."""

    course_method = "DoRA"  # tên mà refuse_if_adapted báo khi gặp lớp này

    def __init__(self, base_layer: nn.Module, config: LoRAConfig) -> None:
        super().__init__(base_layer, config)
        with torch.no_grad():
            self.magnitude = nn.Parameter(self.weight_norm())  # (out,): ‖W‖ từng hàng, nên bước 0 = mô hình nền
        self._merged_norm: torch.Tensor | None = None  # chuẩn lúc gộp, để tách chính xác

    def base_weight_linear(self) -> torch.Tensor:
        """W nền theo bố cục Linear (out, in), dù lớp gốc là Conv1D."""
        w = self.base_layer.weight
        return w.T if self.fan_in_fan_out else w

    def weight_norm(self) -> torch.Tensor:
        """‖W + sBA‖ của từng đặc trưng đầu ra (chuẩn theo chiều đầu vào), dạng (out,), đã detach."""
        w = self.base_weight_linear() + self.scaling * (self.lora_B @ self.lora_A).detach()
        return torch.linalg.norm(w, dim=1).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = (m/‖W + sBA‖)·(W x + sBA x) + b, viết thành đầu ra nền cộng một phần hiệu chỉnh.

        Dạng y = base(x) + [(k − 1)·W x + k·sBA x] với k = m/‖W + sBA‖ bằng đại số với công thức trên;
        nó là thứ tự phép tính của peft (nên logit trùng peft từng bit) và ở bước 0 (k = 1, B = 0) phần
        hiệu chỉnh bằng đúng 0.

        Khi có dropout và đang huấn luyện, cả hai nhánh của phần hiệu chỉnh dùng cùng x̃ = dropout(x):
        (k − 1)·W x̃ + k·sBA x̃, như peft và mã của tác giả DoRA; khi đánh giá, x̃ = x.
        """
        y = self.base_layer(x)
        if self.merged:
            return y
        scale = self.magnitude / self.weight_norm()  # k = m / ‖W + sBA‖, dạng (out,)
        if self.training and not isinstance(self.dropout, nn.Identity):
            x = self.dropout(x)  # một mặt nạ dropout cho cả W x̃ và BA x̃
            wx = F.linear(x, self.base_weight_linear())  # W x̃, không có bias
            lora = ((x.to(self.lora_A.dtype) @ self.lora_A.T @ self.lora_B.T) * self.scaling).to(x.dtype)
        else:
            wx = y if self.base_layer.bias is None else y - self.base_layer.bias  # W x, không có bias
            lora = self.lora_branch(x)
        return y + ((scale - 1) * wx + scale * lora).to(y.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """W ← (m/‖W + sBA‖)·(W + sBA); giữ lại chuẩn để tách ra đúng như cũ."""
        require(not self.merged, "Lớp DoRA này đã được gộp rồi; gọi unmerge() trước khi gộp lại.")
        self._merged_norm = self.weight_norm()
        factor = self.magnitude / self._merged_norm  # (out,)
        factor = factor.view(1, -1) if self.fan_in_fan_out else factor.view(-1, 1)
        self.base_layer.weight.copy_(factor * (self.base_layer.weight + self.delta_weight()))
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W ← W'/(m/‖·‖) − sBA với chuẩn đã lưu lúc gộp."""
        require(self.merged and self._merged_norm is not None, "Lớp DoRA này chưa được gộp nên không có gì để tách.")
        factor = self.magnitude / self._merged_norm
        factor = factor.view(1, -1) if self.fan_in_fan_out else factor.view(-1, 1)
        self.base_layer.weight.copy_(self.base_layer.weight / factor - self.delta_weight())
        self.merged, self._merged_norm = False, None


def apply_dora(model: nn.Module, config: LoRAConfig) -> list[str]:
    """Áp DoRA lên các lớp khớp `config.target_modules` (sửa tại chỗ), đóng băng mọi tham số khác.

    Tham số huấn luyện: A, B của LoRA và một độ lớn cho mỗi đặc trưng đầu ra. Lỗi như `apply_lora`.
    """
    return apply_layers(model, config, DoRALinear)


merge_dora = merge_lora  # gộp/tách dùng chung: mỗi lớp tự biết cách gộp của mình
unmerge_dora = unmerge_lora

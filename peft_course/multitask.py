"""Một mô hình nền, nhiều bài toán (bài 7): dữ liệu của bài toán thứ hai, trộn hai bài toán, đổi bộ chuyển.

Mỗi bài toán có bộ chuyển LoRA riêng, lưu theo định dạng peft (`export.save_adapter`). `AdapterBank` nạp
sẵn các bộ chuyển vào bộ nhớ và đổi bộ chuyển đang dùng bằng cách chép A, B vào các lớp LoRA: trọng số
nền không bao giờ bị đụng tới, nên một mô hình nền phục vụ được mọi bài toán.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .data import TASKS, FeedbackTask, TaskData, load_feedback
from .errors import require, require_choice
from .export import PREFIX, load_adapter, read_adapter
from .lora import lora_layers

SPLITS = ("train", "validation", "test")


def task_data(tokenizer, task: str = "topic",  # "sentiment" hoặc "topic"
              name: str | None = None,  # None: dữ liệu đóng gói; "uit-vsfc": bộ thật trên Colab
              ) -> tuple[FeedbackTask, dict[str, TaskData]]:
    """Bài toán `task` và ba tập đã mã hóa (train / validation / test), như `experiments.prepare` làm cho cảm xúc."""
    require_choice("task", task, TASKS)
    labels, prompt, _, _ = TASKS[task]
    spec = FeedbackTask(tokenizer, labels, prompt)
    ds = load_feedback(name, task=task)
    return spec, {split: spec.encode(ds[split]) for split in SPLITS}


def mix_tasks(*parts: TaskData) -> TaskData:
    """Ghép các tập của nhiều bài toán thành một tập huấn luyện (đệm phải về cùng bề rộng).

    Dùng để huấn luyện *một* bộ chuyển trên mọi bài toán: mỗi ví dụ mang prompt của bài toán mình
    ("Cảm xúc:" hay "Chủ đề:") nên mô hình biết phải trả lời gì. Chỉ để huấn luyện: label_token_ids của
    tập ghép lấy theo phần đầu, nên hãy đánh giá trên từng tập riêng.
    """
    require(len(parts) >= 2 and all(isinstance(p, TaskData) for p in parts),
            f"mix_tasks cần ít nhất hai TaskData, nhận được {[type(p).__name__ for p in parts]}.")
    width = max(p.input_ids.shape[1] for p in parts)

    def pad(t: torch.Tensor, value: int) -> torch.Tensor:
        return nn.functional.pad(t, (0, width - t.shape[1]), value=value)

    # giá trị đệm của input_ids không quan trọng: vị trí đệm bị che bởi attention_mask và labels = -100
    return TaskData(torch.cat([pad(p.input_ids, 0) for p in parts]),
                    torch.cat([pad(p.attention_mask, 0) for p in parts]),
                    torch.cat([pad(p.labels, -100) for p in parts]),
                    torch.cat([p.answer_pos for p in parts]), torch.cat([p.y for p in parts]), parts[0].label_token_ids)


class AdapterBank:
    """Một mô hình nền + nhiều bộ chuyển LoRA cùng cấu hình, đổi theo từng yêu cầu bằng `use(tên)`.

    Các tensor A, B của mọi bộ chuyển nằm sẵn trong bộ nhớ (vài trăm KB mỗi bộ); đổi bộ chuyển là chép
    chúng vào các lớp LoRA, không nạp lại mô hình nền và không sửa trọng số nền.
    """

    def __init__(self, model: nn.Module,  # mô hình nền chưa có LoRA (sẽ được áp LoRA theo bộ chuyển đầu tiên)
                 folders: dict[str, str | Path],  # tên bài toán → thư mục bộ chuyển (định dạng peft)
                 ) -> None:
        require(isinstance(folders, dict) and len(folders) > 0,
                f"folders phải là dict tên → thư mục bộ chuyển, nhận được {folders!r}.")
        configs = {name: read_adapter(path) for name, path in folders.items()}  # đọc hết trước khi sửa mô hình
        kinds = {(c.r, c.scaling(), tuple(c.target_modules), dora) for c, dora, _ in configs.values()}
        require(not any(dora for _, dora, _ in configs.values()),
                "AdapterBank chỉ đổi bộ chuyển LoRA; bộ chuyển DoRA còn vector độ lớn, hãy dùng load_adapter.")
        require(len(kinds) == 1, f"Các bộ chuyển phải cùng r, hệ số và lớp đích để dùng chung một mô hình; "
                                 f"nhận được {sorted(map(str, kinds))}.")
        self.model = model
        self.states = {name: state for name, (_, _, state) in configs.items()}
        self.active = next(iter(folders))
        load_adapter(model, folders[self.active])  # áp LoRA một lần, kiểm tra khớp hình dạng

    @property
    def names(self) -> list[str]:
        return list(self.states)

    @torch.no_grad()
    def use(self, name: str) -> None:
        """Đặt bộ chuyển `name` làm bộ chuyển đang dùng (chép A, B vào các lớp LoRA của mô hình)."""
        require_choice("name", name, self.states)
        state = self.states[name]
        for layer_name, layer in lora_layers(self.model).items():
            layer.lora_A.copy_(state[f"{PREFIX}{layer_name}.lora_A.weight"])
            layer.lora_B.copy_(state[f"{PREFIX}{layer_name}.lora_B.weight"])
        self.active = name

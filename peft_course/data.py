"""Bài toán của khóa học: phân loại cảm xúc phản hồi sinh viên, dạng mô hình ngôn ngữ tự hồi quy.

Mỗi ví dụ thành một chuỗi "Phản hồi: <câu>\\nCảm xúc: <nhãn>"; mất mát chỉ tính trên token đầu của
nhãn, và độ chính xác là argmax của mô hình trên ba token nhãn ở đúng vị trí đó.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import DatasetDict, load_dataset

from .errors import CourseError, require, require_choice

LABELS = ["tiêu cực", "trung lập", "tích cực"]  # chỉ số 0, 1, 2 (cùng thứ tự với UIT-VSFC)
PROMPT = "Phản hồi: {text}\nCảm xúc:"
PACKAGED_DATA = Path(__file__).parent / "assets" / "feedback"
HUB_ALIASES = {"uit-vsfc": "uitnlp/vietnamese_students_feedback"}
# Bài toán thứ hai (bài 7): chủ đề của phản hồi, theo thứ tự nhãn chủ đề của UIT-VSFC (0 lecturer,
# 1 training_program, 2 facility; nhãn 3 "others" không dùng).
TOPIC_LABELS = ["giảng viên", "chương trình đào tạo", "cơ sở vật chất"]
TOPIC_PROMPT = "Phản hồi: {text}\nChủ đề:"
TASKS = {  # tên bài toán → (nhãn, mẫu prompt, thư mục dữ liệu đóng gói, cột nhãn trên UIT-VSFC)
    "sentiment": (LABELS, PROMPT, PACKAGED_DATA, "sentiment"),
    "topic": (TOPIC_LABELS, TOPIC_PROMPT, PACKAGED_DATA.parent / "topic", "topic"),
}


def load_feedback(name: str | None = None,
                  task: str = "sentiment",  # "sentiment" (cảm xúc) hoặc "topic" (chủ đề, bài 7)
                  ) -> DatasetDict:
    """Ba tập train / validation / test với các cột text, label, label_text.

    task="topic": nhãn là chủ đề (TOPIC_LABELS); dữ liệu đóng gói có thêm cột sentiment. Trên UIT-VSFC,
    các câu chủ đề "others" (3) bị bỏ.

    name=None: dữ liệu đóng gói của khóa học (đọc bằng `load_dataset("json", ...)` từ tệp trong gói,
    không cần mạng). name="uit-vsfc" hoặc một id trên hub có cột sentence/sentiment: ánh xạ về cùng
    lược đồ (chỉ dùng trên Colab có mạng).
    """
    require(name is None or isinstance(name, str), f"name phải là None hoặc chuỗi, nhận được {name!r}.")
    require_choice("task", task, TASKS)
    labels, _, folder, column = TASKS[task]
    import datasets as hf_datasets

    hf_datasets.disable_progress_bars()
    if name is None:
        files = {split: str(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}
        return load_dataset("json", data_files=files)
    raw = load_dataset(HUB_ALIASES.get(name, name))
    require({"sentence", column} <= set(raw["train"].column_names),
            f"Bộ dữ liệu {name!r} không có cột sentence và {column}; có: {raw['train'].column_names}.")
    raw = raw.filter(lambda r: r[column] < len(labels))  # topic: bỏ nhãn 3 ("others")
    return raw.map(lambda r: {"text": r["sentence"], "label": r[column], "label_text": labels[r[column]]},
                   remove_columns=raw["train"].column_names)


@dataclass
class TaskData:
    """Một tập đã mã hóa thành tensor, đệm bên phải (right padding).

    input_ids/attention_mask/labels có dạng (N, T); labels = -100 trừ vị trí token nhãn;
    answer_pos[i] là vị trí mà logits dự đoán token nhãn; y là nhãn 0/1/2.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    answer_pos: torch.Tensor
    y: torch.Tensor
    label_token_ids: torch.Tensor  # token đầu của mỗi nhãn, theo thứ tự nhãn

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, index: torch.Tensor | slice, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """Lô con ứng với `index`, cắt bớt phần đệm thừa, chuyển sang `device`."""
        mask = self.attention_mask[index]
        width = int(mask.sum(1).max())
        return {"input_ids": self.input_ids[index, :width].to(device),
                "attention_mask": mask[:, :width].to(device),
                "labels": self.labels[index, :width].to(device)}

    def label_logits(self, logits: torch.Tensor, index: torch.Tensor | slice) -> torch.Tensor:
        """Logits (n, số nhãn) của các token nhãn tại vị trí trả lời của các ví dụ `index`."""
        pos = self.answer_pos[index].to(logits.device)
        rows = torch.arange(len(pos), device=logits.device)
        return logits[rows, pos][:, self.label_token_ids.to(logits.device)]


class FeedbackTask:
    """Biến câu phản hồi thành chuỗi token của mô hình ngôn ngữ và ngược lại đọc ra nhãn dự đoán."""

    def __init__(self, tokenizer, labels: list[str] = LABELS,
                 prompt: str = PROMPT,  # mẫu prompt có {text}; bài toán chủ đề dùng TOPIC_PROMPT
                 ) -> None:
        self.tokenizer = tokenizer
        self.labels = labels
        self.prompt = prompt
        first = [tokenizer(" " + label)["input_ids"][0] for label in labels]
        require(len(set(first)) == len(first),
                f"Token đầu của các nhãn {labels} trùng nhau ({first}); tokenizer này không phân biệt được nhãn.")
        self.label_token_ids = torch.tensor(first)

    def encode(self, rows) -> TaskData:
        """Mã hóa một tập (có cột text, label) thành TaskData."""
        texts, ys = list(rows["text"]), list(rows["label"])
        require(len(texts) > 0, "Tập dữ liệu rỗng: cần ít nhất một ví dụ có cột text và label.")
        bad = [y for y in ys if y not in range(len(self.labels))]
        if bad:
            raise CourseError(f"Nhãn {bad[0]!r} không hợp lệ; nhãn phải là 0 … {len(self.labels) - 1} ({self.labels}).")
        prompts = self.tokenizer([self.prompt.format(text=t) for t in texts])["input_ids"]
        seqs = [p + [int(self.label_token_ids[y])] for p, y in zip(prompts, ys)]
        width = max(map(len, seqs))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, seq in enumerate(seqs):
            input_ids[i, :len(seq)] = torch.tensor(seq)
            attention[i, :len(seq)] = 1
            labels[i, len(seq) - 1] = seq[-1]
        answer_pos = torch.tensor([len(s) - 2 for s in seqs])
        return TaskData(input_ids, attention, labels, answer_pos, torch.tensor(ys), self.label_token_ids)

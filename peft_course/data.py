"""Bài toán của khóa học: phân loại cảm xúc phản hồi sinh viên, dạng mô hình ngôn ngữ tự hồi quy.

Mỗi ví dụ thành một chuỗi "Phản hồi: <câu>\\nCảm xúc: <nhãn>"; mất mát chỉ tính trên token đầu của
nhãn, và độ chính xác là argmax của mô hình trên ba token nhãn ở đúng vị trí đó.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import DatasetDict, load_dataset

from .errors import CourseError, require

LABELS = ["tiêu cực", "trung lập", "tích cực"]  # chỉ số 0, 1, 2 (cùng thứ tự với UIT-VSFC)
PROMPT = "Phản hồi: {text}\nCảm xúc:"
PACKAGED_DATA = Path(__file__).parent / "assets" / "feedback"
HUB_ALIASES = {"uit-vsfc": "uitnlp/vietnamese_students_feedback"}


def load_feedback(name: str | None = None) -> DatasetDict:
    """Ba tập train / validation / test với các cột text, label, label_text.

    name=None: dữ liệu đóng gói của khóa học (đọc bằng `load_dataset("json", ...)` từ tệp trong gói,
    không cần mạng). name="uit-vsfc" hoặc một id trên hub có cột sentence/sentiment: ánh xạ về cùng
    lược đồ (chỉ dùng trên Colab có mạng).
    """
    require(name is None or isinstance(name, str), f"name phải là None hoặc chuỗi, nhận được {name!r}.")
    import datasets as hf_datasets

    hf_datasets.disable_progress_bars()
    if name is None:
        files = {split: str(PACKAGED_DATA / f"{split}.jsonl") for split in ("train", "validation", "test")}
        return load_dataset("json", data_files=files)
    raw = load_dataset(HUB_ALIASES.get(name, name))
    require({"sentence", "sentiment"} <= set(raw["train"].column_names),
            f"Bộ dữ liệu {name!r} không có cột sentence và sentiment; có: {raw['train'].column_names}.")
    return raw.map(lambda r: {"text": r["sentence"], "label": r["sentiment"], "label_text": LABELS[r["sentiment"]]},
                   remove_columns=raw["train"].column_names)


@dataclass
class TaskData:
    """Một tập đã mã hóa thành tensor, đệm bên phải (right padding).

    Đệm phải đúng cho mọi mô hình của khóa học (GPT-2, Llama, Qwen2…): vị trí đếm từ token thật đầu tiên
    (0, 1, 2…), phần đệm chỉ nằm sau token nhãn và bị che bởi attention_mask, và answer_pos chỉ rõ chỗ đọc logits.
    (Sinh văn bản theo lô thì cần đệm trái; việc đó không dùng TaskData.)

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


def ensure_pad_token(tokenizer) -> None:
    """Tokenizer không có token đệm (Llama, Mistral, GPT-2 gốc): dùng token kết thúc (EOS) làm token đệm.

    Vị trí đệm luôn có attention_mask = 0 và nhãn -100, nên token nào làm token đệm cũng không ảnh hưởng kết quả.
    """
    if tokenizer.pad_token_id is None:
        require(tokenizer.eos_token is not None,
                f"Tokenizer {type(tokenizer).__name__} không có token đệm lẫn token kết thúc (EOS); hãy đặt "
                "tokenizer.pad_token = <một token có sẵn> trước khi dùng.")
        tokenizer.pad_token = tokenizer.eos_token


def special_head(tokenizer) -> list[int]:
    """Các token đặc biệt tokenizer tự thêm vào *đầu* mỗi chuỗi (BOS của Llama/Mistral/Gemma; [] với GPT-2).

    Tìm bằng cách so một chuỗi mã hóa có và không có token đặc biệt. Token thêm ở cuối (EOS của vài tokenizer)
    bị bỏ: sau câu hỏi còn token nhãn, chuỗi chưa kết thúc.
    """
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return list(full[:start])
    return []


def label_first_tokens(tokenizer, labels: list[str]) -> list[int]:
    """Token đầu của mỗi nhãn *trong ngữ cảnh* "…Cảm xúc: <nhãn>", không có token đặc biệt.

    Lấy `tokenizer(" " + nhãn)["input_ids"][0]` là sai với tokenizer thêm BOS (Llama, Mistral): đó là BOS cho mọi
    nhãn. Ở đây ta mã hóa câu hỏi và câu hỏi + nhãn với add_special_tokens=False, và lấy token đầu tiên khác nhau.
    """
    prompt = PROMPT.format(text="…")
    base = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    first = []
    for label in labels:
        ids = tokenizer(prompt + " " + label, add_special_tokens=False)["input_ids"]
        common = next((i for i, (a, b) in enumerate(zip(base, ids)) if a != b), min(len(base), len(ids)))
        require(common < len(ids), f"Nhãn {label!r} không sinh ra token nào sau câu hỏi với tokenizer này.")
        first.append(ids[common])
    if len(set(first)) < len(first):
        shown = ", ".join(f"{label!r} → {tokenizer.decode([t])!r} (id {t})" for label, t in zip(labels, first))
        raise CourseError(f"Token đầu của các nhãn trùng nhau: {shown}. Mô hình chỉ được chấm trên token đầu của "
                          "nhãn, nên các nhãn phải bắt đầu bằng token khác nhau: hãy đổi tên nhãn (labels=[…]).")
    return first


class FeedbackTask:
    """Biến câu phản hồi thành chuỗi token của mô hình ngôn ngữ và ngược lại đọc ra nhãn dự đoán."""

    def __init__(self, tokenizer, labels: list[str] = LABELS) -> None:
        self.tokenizer = tokenizer
        self.labels = labels
        ensure_pad_token(tokenizer)
        self.label_token_ids = torch.tensor(label_first_tokens(tokenizer, labels))
        self.head = special_head(tokenizer)  # token đặc biệt đặt trước mỗi chuỗi (BOS của Llama/Mistral) hoặc []

    def encode(self, rows) -> TaskData:
        """Mã hóa một tập (có cột text, label) thành TaskData."""
        texts, ys = list(rows["text"]), list(rows["label"])
        require(len(texts) > 0, "Tập dữ liệu rỗng: cần ít nhất một ví dụ có cột text và label.")
        bad = [y for y in ys if y not in range(len(self.labels))]
        if bad:
            raise CourseError(f"Nhãn {bad[0]!r} không hợp lệ; nhãn phải là 0 … {len(self.labels) - 1} ({self.labels}).")
        prompts = [self.head + ids for ids in self.tokenizer([PROMPT.format(text=t) for t in texts],
                                                             add_special_tokens=False)["input_ids"]]
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

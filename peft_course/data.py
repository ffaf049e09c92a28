"""Bài toán của khóa học: phân loại cảm xúc phản hồi sinh viên, dạng mô hình ngôn ngữ tự hồi quy.

Mỗi ví dụ thành một chuỗi "Phản hồi: <câu>\\nCảm xúc: <nhãn>"; mất mát chỉ tính trên token đầu của
nhãn, và độ chính xác là argmax của mô hình trên ba token nhãn ở đúng vị trí đó.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import DatasetDict, load_dataset

from .errors import CourseError, is_int, require, require_choice

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
    valid = f"tên hợp lệ: None (dữ liệu đóng gói), {', '.join(map(repr, HUB_ALIASES))} hoặc một id trên hub có cột " \
            "sentence/sentiment (cần mạng)"
    require(name is None or (isinstance(name, str) and name.strip() != ""),
            f"name phải là None hoặc chuỗi không rỗng, nhận được {name!r}; {valid}.")
    require_choice("task", task, TASKS)
    labels, _, folder, column = TASKS[task]
    import datasets as hf_datasets

    hf_datasets.disable_progress_bars()
    source = "dữ liệu đóng gói" if name is None else repr(HUB_ALIASES.get(name, name))
    try:
        if name is None:
            files = {split: str(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}
            raw = load_dataset("json", data_files=files)
        else:
            raw = load_dataset(HUB_ALIASES.get(name, name))
    except Exception as e:  # lỗi của datasets/huggingface_hub (không mạng, không có bộ dữ liệu, tệp hỏng…)
        reason = f"{type(e).__name__}: {str(e)[:200]}"
        raise CourseError(f"Không nạp được bộ dữ liệu {source} ({reason}); {valid}.") from None
    require("train" in raw, f"Bộ dữ liệu {source} không có tập train; có: {list(raw)}.")
    if name is None:
        for split in raw:
            check_rows(raw[split]["text"], raw[split]["label"], labels, where=f"{source}, tập {split}")
        return raw
    require({"sentence", column} <= set(raw["train"].column_names),
            f"Bộ dữ liệu {name!r} không có cột sentence và {column}; có: {raw['train'].column_names}.")
    raw = raw.filter(lambda r: r[column] < len(labels))  # topic: bỏ nhãn 3 ("others")
    for split in raw:
        check_rows(raw[split]["sentence"], raw[split][column], labels, where=f"{source}, tập {split}")
    return raw.map(lambda r: {"text": r["sentence"], "label": r[column], "label_text": labels[r[column]]},
                   remove_columns=raw["train"].column_names)


def check_rows(texts: list, labels: list, names: list[str], where: str = "dữ liệu") -> None:
    """Kiểm tra từng dòng (văn bản, nhãn): số dòng khớp, văn bản là chuỗi không rỗng, nhãn là số nguyên 0 … n-1.

    Thông báo nêu số thứ tự dòng (đếm từ 0) và giá trị sai. Nhãn True hay 1.0 bị từ chối: chúng lọt qua phép
    so sánh với range nhưng là dấu hiệu cột nhãn bị đọc sai kiểu.
    """
    require(len(texts) == len(labels), f"{where}: {len(texts)} văn bản nhưng {len(labels)} nhãn; mỗi văn bản cần "
                                       "đúng một nhãn (không dòng nào bị bỏ lặng lẽ).")
    require(len(texts) > 0, f"{where}: tập dữ liệu rỗng; cần ít nhất một ví dụ có cột text và label.")
    for i, (text, label) in enumerate(zip(texts, labels)):
        require(isinstance(text, str) and text.strip() != "",
                f"{where}, dòng {i}: văn bản phải là chuỗi không rỗng, nhận được {text!r}.")
        require(is_int(label) and 0 <= label < len(names),
                f"{where}, dòng {i}: Nhãn {label!r} không hợp lệ; nhãn phải là số nguyên 0 … {len(names) - 1} "
                f"({names}).")


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

    def __init__(self, tokenizer, labels: list[str] = LABELS,
                 prompt: str = PROMPT,  # mẫu prompt có {text}; bài toán chủ đề dùng TOPIC_PROMPT
                 ) -> None:
        self.tokenizer = tokenizer
        self.labels = labels
        self.prompt = prompt
        ensure_pad_token(tokenizer)
        self.label_token_ids = torch.tensor(label_first_tokens(tokenizer, labels))
        self.head = special_head(tokenizer)  # token đặc biệt đặt trước mỗi chuỗi (BOS của Llama/Mistral) hoặc []

    @staticmethod
    def _columns(rows) -> tuple[list, list]:
        """Hai cột text và label của `rows` (Dataset hay dict), lỗi tiếng Việt khi thiếu cột."""
        try:
            return list(rows["text"]), list(rows["label"])
        except (KeyError, TypeError, IndexError, ValueError):
            have = getattr(rows, "column_names", None) or (list(rows) if isinstance(rows, dict)
                                                            else type(rows).__name__)
            raise CourseError(f"rows phải có hai cột 'text' và 'label' (Dataset hoặc dict các danh sách); nhận được "
                              f"{have}.") from None

    def _check_length(self, prompts: list[list[int]], max_length: int | None) -> None:
        """Từ chối ví dụ mà chuỗi token (lời nhắc + token nhãn) dài hơn ngữ cảnh của mô hình."""
        limit = self.tokenizer.model_max_length if max_length is None else max_length
        require(is_int(limit) and limit > 0, f"max_length phải là số nguyên dương, nhận được {limit!r}.")
        if limit > 10**6:  # tokenizer không khai báo ngữ cảnh
            return
        long = [(i, len(p) + 1) for i, p in enumerate(prompts) if len(p) + 1 > limit]
        require(not long, f"dòng {long[0][0] if long else 0}: ví dụ dài {long[0][1] if long else 0} token (cả token "
                          f"nhãn) vượt ngữ cảnh {limit} token của mô hình ({len(long)} dòng như vậy); hãy rút gọn văn "
                          "bản hoặc lọc bỏ các dòng này.")

    def encode(
        self,
        rows,  # Dataset hoặc dict có cột text (chuỗi) và label (0 … số nhãn - 1)
        max_length: int | None = None,  # số token tối đa mỗi ví dụ; None: tokenizer.model_max_length (ngữ cảnh)
    ) -> TaskData:
        """Mã hóa một tập (có cột text, label) thành TaskData; dòng sai hay quá dài bị từ chối, kèm số dòng."""
        texts, ys = self._columns(rows)
        check_rows(texts, ys, self.labels)
        ys = [int(y) for y in ys]  # np.int64 → int
        prompts = [self.head + ids for ids in self.tokenizer([self.prompt.format(text=t) for t in texts],
                                                             add_special_tokens=False)["input_ids"]]
        self._check_length(prompts, max_length)
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

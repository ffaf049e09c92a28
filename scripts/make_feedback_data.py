"""Sinh bộ dữ liệu "phản hồi sinh viên" (3 nhãn) của khóa học, chia train / validation / test cố định.

Mỗi tập validation và test dùng chủ ngữ, tính từ, sự kiện và mẫu câu riêng mà tập train không có
(xem lexicon.vocabulary_split), nên điểm trên test đo khả năng tổng quát hóa thật sự, không phải
học thuộc từ vựng của tập train.

Chạy: python scripts/make_feedback_data.py --out peft_course/assets/feedback
Bài toán thứ hai (chủ đề, bài 7): python scripts/make_feedback_data.py --task topic --out peft_course/assets/topic
"""

from __future__ import annotations

import argparse
import json
import random
import unicodedata
from pathlib import Path

from lexicon import INTENSIFIERS, LABELS, TOPIC_LABELS, topic_subject_split, vocabulary_split

ADVERBS = ["", "", "cũng", "vẫn"]          # dùng cho mọi nhãn, để không nhãn nào có dấu hiệu riêng
NEGATIONS = ["không", "chưa", "không hề"]  # "không + tính từ tích cực" là phản hồi tiêu cực
SIZES = {"train": 3000, "validation": 450, "test": 450}


def predicate(label: int, words: dict[str, list[str]], rng: random.Random) -> str:
    """Vị ngữ cho một nhãn: tính từ (có thể kèm phó từ / phủ định) hoặc một sự kiện trung lập."""
    adverb = rng.choice(ADVERBS)
    if label == 1:
        core = rng.choice(words["facts"])
    elif label == 2:
        core = " ".join(filter(None, [rng.choice(INTENSIFIERS), rng.choice(words["positive"])]))
    elif rng.random() < 0.25:
        core = f"{rng.choice(NEGATIONS)} {rng.choice(words['positive'])}"
    else:
        core = " ".join(filter(None, [rng.choice(INTENSIFIERS), rng.choice(words["negative"])]))
    return " ".join(filter(None, [adverb, core]))


def make_split(split: str, n: int, seed: int) -> list[dict]:
    """n ví dụ khác nhau, nhãn cân bằng (lần lượt 0, 1, 2), chỉ dùng từ vựng của tập `split`."""
    vocab = vocabulary_split()
    words = {kind: parts[split] for kind, parts in vocab.items()}
    rng = random.Random(f"{split}-{seed}")
    seen: set[str] = set()
    rows = []
    while len(rows) < n:
        label = len(rows) % 3
        s = rng.choice(words["subjects"])
        text = rng.choice(words["templates"]).format(s=s, S=s[0].upper() + s[1:], p=predicate(label, words, rng))
        text = unicodedata.normalize("NFC", text)
        if text in seen:
            continue
        seen.add(text)
        rows.append({"text": text, "label": label, "label_text": LABELS[label]})
    rng.shuffle(rows)
    return rows


def make_topic_split(split: str, n: int, seed: int) -> list[dict]:
    """n câu khác nhau cho bài toán chủ đề: chủ đề lần lượt 0, 1, 2; cảm xúc xoay vòng độc lập với chủ đề.

    Cùng mẫu câu và vị ngữ (tính từ, sự kiện) của tập `split` như bài toán cảm xúc; chỉ chủ ngữ được chọn
    theo chủ đề. Mỗi dòng giữ cả nhãn cảm xúc (cột sentiment) nên cùng một câu có hai nhãn.
    """
    vocab = vocabulary_split()
    words = {kind: parts[split] for kind, parts in vocab.items()}
    subjects = {t: parts[split] for t, parts in topic_subject_split().items()}
    rng = random.Random(f"topic-{split}-{seed}")
    seen: set[str] = set()
    rows = []
    while len(rows) < n:
        topic, sentiment = len(rows) % 3, (len(rows) // 3) % 3  # 9 tổ hợp cân bằng
        s = rng.choice(subjects[TOPIC_LABELS[topic]])
        text = rng.choice(words["templates"]).format(s=s, S=s[0].upper() + s[1:], p=predicate(sentiment, words, rng))
        text = unicodedata.normalize("NFC", text)
        if text in seen:
            continue
        seen.add(text)
        rows.append({"text": text, "label": topic, "label_text": TOPIC_LABELS[topic], "sentiment": sentiment})
    rng.shuffle(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="peft_course/assets/feedback")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", choices=["sentiment", "topic"], default="sentiment")
    args = parser.parse_args()
    make = make_topic_split if args.task == "topic" else make_split
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in SIZES.items():
        rows = make(split, n, args.seed)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(split, len(rows), [sum(r["label"] == k for r in rows) for k in range(3)])
    vocab = vocabulary_split()
    if args.task == "topic":
        vocab["subjects"] = topic_subject_split()
    (out / "vocabulary_split.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

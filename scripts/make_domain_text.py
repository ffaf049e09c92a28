"""Sinh văn bản miền "đời sống sinh viên" để thêm vào kho tiền huấn luyện.

Vì sao cần: kho văn bản Debian (trợ giúp phần mềm) gần như không có từ vựng lớp học, nên một mô hình
chỉ tiền huấn luyện trên đó không "biết" gì hữu ích cho bài toán phản hồi sinh viên
(xem ../shared/CORPUS.md). Ở đây mọi tính từ, kể cả các từ bị giữ lại cho tập test của bài toán,
xuất hiện trong những câu kể chuyện có ngữ cảnh cảm xúc (vui vẻ, than phiền...), với mẫu câu khác hẳn
mẫu câu của bài toán và không bao giờ có nhãn "Cảm xúc: ...".

Chạy: python scripts/make_domain_text.py --out work/corpus/domain.txt
"""

from __future__ import annotations

import argparse
import random
import unicodedata
from pathlib import Path

from lexicon import FACTS, NEGATIVE, POSITIVE, SUBJECTS

POSITIVE_FRAMES = [
    "Hôm nay {s} {a}, cả lớp ai cũng vui vẻ.",
    "Các bạn sinh viên rất hài lòng vì {s} {a}.",
    "Nhờ {s} {a} nên em học tốt hơn nhiều.",
    "Cảm ơn thầy cô, {s} {a} và em đã tiến bộ rõ rệt.",
    "Em thích đến lớp vì {s} {a}.",
    "{S} {a} khiến buổi học trôi qua thật nhanh.",
    "Ai cũng khen {s} {a}, em rất biết ơn.",
    "Năm nay {s} {a} hơn hẳn, sinh viên phấn khởi lắm.",
    "{S} vừa {a} vừa {b}, thật đáng khen.",
]
NEGATIVE_FRAMES = [
    "Hôm nay {s} {a}, cả lớp ai cũng mệt mỏi.",
    "Nhiều bạn than phiền vì {s} {a}.",
    "Vì {s} {a} nên em chẳng muốn đến lớp.",
    "Em rất buồn vì {s} {a}, mong nhà trường sớm cải thiện.",
    "{S} {a} làm em mất hết hứng thú.",
    "Ai cũng chê {s} {a}, thật đáng tiếc.",
    "Năm nay {s} {a} hơn hẳn, sinh viên chán nản lắm.",
    "{S} vừa {a} vừa {b}, thật đáng trách.",
    "Tiếc là {s} không {p}, nên nhiều bạn bỏ học.",
]
NEUTRAL_FRAMES = [
    "Theo thông báo của khoa, {s} {f}.",
    "Lưu ý: {s} {f}.",
    "Trong đề cương có ghi {s} {f}.",
    "Phòng đào tạo cho biết {s} {f}.",
]


def sentence(frame: str, rng: random.Random, pool: list[str]) -> str:
    """Điền một khung câu bằng chủ ngữ và tính từ/sự kiện chọn ngẫu nhiên."""
    s = rng.choice(SUBJECTS)
    a, b = rng.sample(pool, 2)
    text = frame.format(s=s, S=s[0].upper() + s[1:], a=a, b=b, p=rng.choice(POSITIVE), f=rng.choice(FACTS))
    return unicodedata.normalize("NFC", text)


def generate(n: int, seed: int = 0) -> list[str]:
    """Sinh n câu (tích cực : tiêu cực : trung lập = 2 : 2 : 1), mỗi câu một dòng, có lặp lại tất định."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 5
        if kind in (0, 1):
            out.append(sentence(rng.choice(POSITIVE_FRAMES), rng, POSITIVE))
        elif kind in (2, 3):
            out.append(sentence(rng.choice(NEGATIVE_FRAMES), rng, NEGATIVE))
        else:
            out.append(sentence(rng.choice(NEUTRAL_FRAMES), rng, FACTS))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="work/corpus/domain.txt")
    parser.add_argument("--n", type=int, default=16000, help="số câu sinh ra")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = generate(args.n, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} câu, {sum(map(len, lines)) / 1e6:.2f} triệu ký tự -> {args.out}")


if __name__ == "__main__":
    main()

"""Đưa mô hình vừa tiền huấn luyện vào gói và viết thẻ mô hình (model card) với số liệu đo thật.

Đo: perplexity trên validation và trên một nguồn chưa thấy (installation-guide), so với mô hình
unigram và bigram (làm trơn add-k, k chọn trên validation) dùng cùng tokenizer; kèm câu sinh mẫu và
kết quả của bench/meaningfulness.py nếu đã có.

Chạy: python scripts/package_model.py --src work/pretrain/model
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pretrain import is_validation, perplexity, read_lines, to_blocks

DEST = Path(__file__).resolve().parent.parent / "peft_course" / "assets" / "model"
FILES = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
PROMPTS = ["Hôm nay bài giảng", "Để cài đặt chương trình", "Em thấy thầy", "Nhấn vào nút"]


def ngram_perplexities(train: torch.Tensor, blocks: torch.Tensor, vocab: int, k: float) -> tuple[float, float]:
    """Perplexity của unigram và bigram (add-k) trên cùng các token mà mô hình dự đoán."""
    flat = train.flatten().tolist()
    uni = Counter(flat)
    bi = Counter(zip(flat[:-1], flat[1:]))
    n = len(flat)
    nll_u = nll_b = 0.0
    count = 0
    for row in blocks.tolist():
        for prev, cur in zip(row[:-1], row[1:]):
            nll_u -= math.log((uni[cur] + k) / (n + k * vocab))
            nll_b -= math.log((bi[(prev, cur)] + k) / (uni[prev] + k * vocab))
            count += 1
    return math.exp(nll_u / count), math.exp(nll_b / count)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--src", default="work/pretrain/model")
    p.add_argument("--corpus", default="work/corpus")
    p.add_argument("--bench", default="bench/results/meaningfulness.json")
    args = p.parse_args()
    src, corpus = Path(args.src), Path(args.corpus)
    DEST.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy(src / name, DEST / name)
    # Lớp tokenizer có ở mọi phiên bản transformers (5.x gọi nó là alias của TokenizersBackend).
    tok_cfg = json.loads((DEST / "tokenizer_config.json").read_text())
    tok_cfg.pop("backend", None)
    tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    (DEST / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
    tok = AutoTokenizer.from_pretrained(DEST)
    model = AutoModelForCausalLM.from_pretrained(DEST).eval()
    lines = read_lines(corpus / "debian_train.txt") + read_lines(corpus / "domain.txt")
    train = to_blocks(tok, [x for x in lines if not is_validation(x)], 128)
    val = to_blocks(tok, [x for x in lines if is_validation(x)], 128)
    unseen = to_blocks(tok, read_lines(corpus / "unseen.txt"), 128)
    V = len(tok)
    best_k = min([1.0, 0.1, 0.01], key=lambda k: ngram_perplexities(train, val, V, k)[1])
    rows = []
    for name, blocks in [("validation (Debian + văn bản miền)", val), ("nguồn chưa thấy: installation-guide", unseen)]:
        u, b = ngram_perplexities(train, blocks, V, best_k)
        rows.append((name, blocks.numel(), perplexity(model, blocks), b, u))
    samples = []
    for prompt in PROMPTS:
        ids = tok(prompt, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
        samples.append(tok.decode(out[0], skip_special_tokens=True).replace("\n", " "))
    stats = json.loads((src.parent / "pretrain_stats.json").read_text())
    sources = json.loads((corpus / "sources.json").read_text())
    domain = read_lines(corpus / "domain.txt")
    card = render(stats, sources, domain, rows, samples, best_k, model, args.bench)
    (DEST / "README.md").write_text(card, encoding="utf-8")
    print(card)


def render(stats, sources, domain, rows, samples, k, model, bench_path) -> str:
    """Nội dung thẻ mô hình (markdown, tiếng Việt)."""
    c = model.config
    src_rows = "\n".join(f"| {s['name']} | {s['version']} | {s['license']} | {s['role']} | {s['segments']:,} | {s['words']:,} |"
                         for s in sources)
    ppl_rows = "\n".join(f"| {n} | {t:,} | {m:.1f} | {b:.1f} | {u:.1f} |" for n, t, m, b, u in rows)
    bench = Path(bench_path)
    bench_md = "(chưa chạy `bench/meaningfulness.py`)"
    if bench.exists():
        res = json.loads(bench.read_text(encoding="utf-8"))
        bench_md = (f"{res['steps']} bước (như các bài học), lô 32, seed {res['seed']}, "
                    f"{res.get('threads', 2)} luồng CPU:\n\n" + res["table"] + "\n\n")
        bench_md += "\n".join(f"- {'đạt' if ok else '**không đạt**'}: {claim}" for claim, ok in res.get("checks", {}).items())
    return f"""# vi-gpt-tiny: mô hình GPT-2 tí hon tiếng Việt của khóa học

Mô hình nền của khóa học PEFT. Kiến trúc GPT-2, tiền huấn luyện từ đầu bởi dự án này trên CPU, dùng để
dạy chứ không để dùng thật: nhỏ để mọi bài học huấn luyện xong trong vài giây trên 2 nhân CPU.
Tái tạo từ đầu đến cuối bằng `scripts/` (xem README của kho).

## Kiến trúc
| | |
|---|---|
| lớp (n_layer) | {c.n_layer} |
| đầu chú ý (n_head) | {c.n_head} |
| chiều ẩn d (n_embd) | {c.n_embd} |
| ngữ cảnh (n_positions) | {c.n_positions} |
| từ vựng | {c.vocab_size} (BPE mức byte, chuẩn hóa NFC) |
| tham số | {model.num_parameters():,} (wte và lm_head dùng chung) |
| dropout | 0 |

## Dữ liệu tiền huấn luyện
Văn bản tiếng Việt lấy từ gói Debian (tải theo tên bằng `apt-get download`, lọc tiếng Việt, chuẩn hóa
NFC, khử trùng lặp; `scripts/build_corpus.py`) cộng {len(domain):,} câu văn bản miền "đời sống sinh viên"
do dự án viết (`scripts/make_domain_text.py`, {sum(map(len, domain)) / 1e6:.2f} triệu ký tự). Khoảng 1/50
số dòng (chọn theo CRC32) để làm validation.

| nguồn | phiên bản | giấy phép | vai trò | đoạn | từ |
|---|---|---|---|---:|---:|
{src_rows}
| văn bản miền (dự án viết) | 0.1.0 | CC-BY-4.0 | train | {len(domain):,} | {sum(len(x.split()) for x in domain):,} |

Nguồn "unseen" chỉ dùng để đo, không dùng để huấn luyện.

## Giấy phép và ghi công của trọng số
Trọng số là sản phẩm phái sinh của các bản dịch tiếng Việt trong các gói Debian ở bảng trên (giấy phép
của từng nguồn ghi trong bảng; bản quyền thuộc các nhóm dịch tương ứng) và của văn bản miền do dự án viết
(CC-BY-4.0). Dùng lại trọng số thì giữ thẻ này (nguồn, phiên bản, giấy phép) đi kèm. Mã: MIT (`LICENSE`
của kho).

## Huấn luyện
{stats['steps']:,} bước, lô {stats['batch']} × {stats['block']} token, AdamW (lr {stats['lr']}, cosin),
seed {stats['seed']}, {stats['threads']} luồng CPU: đã thấy {stats['tokens_seen']:,} token (kho train có
{stats['train_tokens']:,} token, tức khoảng {stats['tokens_seen'] / stats['train_tokens']:.1f} lượt), mất
{stats['train_seconds'] / 60:.0f} phút (máy dùng chung với việc khác). Perplexity validation theo bước:
{', '.join(f"bước {k}: {v}" for k, v in stats['val_ppl'].items())}.

## Perplexity (đo bởi `scripts/package_model.py`)
Các mô hình n-gram dùng cùng tokenizer, học trên phần train, làm trơn add-k với k = {k} (chọn trên validation).

| tập | token | mô hình này | bigram | unigram |
|---|---:|---:|---:|---:|
{ppl_rows}

## Câu sinh mẫu (tham lam, 20 token)
""" + "\n".join(f"- {s}" for s in samples) + f"""

## Bài toán của khóa học: có ý nghĩa không? (`bench/meaningfulness.py`)
{bench_md}
"""


if __name__ == "__main__":
    main()

"""Tiền huấn luyện mô hình GPT-2 tí hon tiếng Việt của khóa học, từ đầu đến cuối, với seed cố định.

Các bước: đọc kho văn bản (Debian + văn bản miền), tách validation, huấn luyện tokenizer BPE mức byte
(có chuẩn hóa NFC), huấn luyện GPT-2 (4 lớp, d = 192) theo số bước cố định, lưu theo định dạng
Hugging Face (config, safetensors, tokenizer) vào --out. Chạy nền, không chạy trong CI:

    nohup python scripts/pretrain.py > work/pretrain.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

EOS = "<|endoftext|>"


def read_lines(path: Path) -> list[str]:
    """Các dòng không rỗng của một tệp UTF-8."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_validation(line: str, share: int = 50) -> bool:
    """Chọn tất định khoảng 1/share số dòng cho validation, theo mã băm CRC32 của dòng."""
    return zlib.crc32(line.encode("utf-8")) % share == 0


def train_tokenizer(lines: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Tokenizer BPE mức byte như GPT-2, thêm bước chuẩn hóa NFC cho tiếng Việt."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS,
                                   model_max_length=128)


def to_blocks(tokenizer, lines: list[str], block: int) -> torch.Tensor:
    """Nối các dòng (ngăn bởi EOS) thành một dòng token dài rồi cắt thành các khối độ dài `block`."""
    ids: list[int] = []
    for enc in tokenizer(lines)["input_ids"]:
        ids.extend(enc + [tokenizer.eos_token_id])
    n = len(ids) // block
    return torch.tensor(ids[: n * block]).view(n, block)


@torch.no_grad()
def perplexity(model, blocks: torch.Tensor, batch: int = 32) -> float:
    """exp của mất mát trung bình trên mọi token dự đoán được."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(blocks), batch):
        x = blocks[i:i + batch]
        loss = model(input_ids=x, labels=x).loss
        total += loss.item() * x[:, 1:].numel()
        count += x[:, 1:].numel()
    model.train()
    return math.exp(total / count)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--corpus", default="work/corpus")
    p.add_argument("--out", default="work/pretrain/model")
    p.add_argument("--vocab", type=int, default=4000)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="1 luồng: kết quả không phụ thuộc số nhân của máy")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    corpus = Path(args.corpus)
    lines = read_lines(corpus / "debian_train.txt") + read_lines(corpus / "domain.txt")
    train_lines = [line for line in lines if not is_validation(line)]
    val_lines = [line for line in lines if is_validation(line)]
    tokenizer = train_tokenizer(train_lines, args.vocab)
    train = to_blocks(tokenizer, train_lines, args.block)
    val = to_blocks(tokenizer, val_lines, args.block)
    print(f"train {train.numel():,} tokens, val {val.numel():,} tokens", flush=True)

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=args.block, n_embd=args.n_embd,
                        n_layer=args.n_layer, n_head=args.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    warmup = 200
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    val_history: dict[int, float] = {}
    for step in range(1, args.steps + 1):
        x = train[torch.randint(len(train), (args.batch,), generator=gen)]
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0:
            rate = step * x.numel() / (time.time() - t0)
            print(f"step {step} loss {loss.item():.3f} {rate:,.0f} tok/s", flush=True)
        if step % 500 == 0 or step == args.steps:
            val_history[step] = round(perplexity(model, val), 2)
            print(f"step {step} val ppl {val_history[step]}", flush=True)
    out = Path(args.out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    stats = {"steps": args.steps, "tokens_seen": args.steps * args.batch * args.block,
             "train_tokens": train.numel(), "val_tokens": val.numel(),
             "train_seconds": round(time.time() - t0), "parameters": model.num_parameters(),
             "lr": args.lr, "batch": args.batch, "block": args.block, "seed": args.seed,
             "threads": args.threads, "val_ppl": val_history}
    (out.parent / "pretrain_stats.json").write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()

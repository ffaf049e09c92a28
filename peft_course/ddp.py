"""Huấn luyện song song dữ liệu (DDP) trên nhiều tiến trình và đo số byte gradient được all-reduce mỗi bước.

Chạy bằng bộ khởi chạy của PyTorch (bài 7 gọi nó như một tiến trình con; nằm trong gói để chạy được
cả trên Colab sau `pip install`):

    python -m torch.distributed.run --standalone --nproc_per_node 2 -m peft_course.ddp --out ddp.json

torchrun tạo các tiến trình và đặt RANK/WORLD_SIZE/MASTER_ADDR; ở đây chỉ gọi `init_process_group`
(gloo trên CPU, NCCL trên GPU) và bọc mô hình bằng `DistributedDataParallel`. Một *communication hook*
của DDP đếm số byte của mỗi bucket gradient trước khi chuyển nó cho `allreduce_hook` mặc định, nên
phép đo đúng là những gì đi qua mạng, và kết quả huấn luyện không đổi. DDP chỉ đồng bộ tham số có
requires_grad: với PEFT, chỉ gradient của tham số huấn luyện đi qua mạng.
"""

# (không dùng `from __future__ import annotations`: DDP kiểm tra chú thích kiểu của hook lúc chạy)

import argparse
import hashlib
import json
import os
import time

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DistributedSampler

from peft_course import experiments
from peft_course.adapter import AdapterConfig, apply_adapters
from peft_course.bitfit import BitFitConfig, apply_bitfit
from peft_course.data import FeedbackTask, load_feedback
from peft_course.dora import apply_dora
from peft_course.lora import LoRAConfig, apply_lora
from peft_course.model import load_base_model
from peft_course.params import count_parameters
from peft_course.prefix import PrefixConfig, PromptConfig, apply_prefix, apply_prompt

METHODS = {  # tên → hàm áp phương pháp lên mô hình nền (cấu hình như các bài 1–5)
    "full": lambda m: None,
    "bitfit": lambda m: apply_bitfit(m, BitFitConfig()),
    "adapter": lambda m: apply_adapters(m, AdapterConfig(r=16)),
    "lora": lambda m: apply_lora(m, LoRAConfig(r=8, alpha=16)),
    "dora": lambda m: apply_dora(m, LoRAConfig(r=8, alpha=16)),
    "prefix": lambda m: apply_prefix(m, PrefixConfig(num_virtual_tokens=10)),
    "prompt": lambda m: apply_prompt(m, PromptConfig(num_virtual_tokens=10)),
}


def train_only_course(name_or_path: str | None) -> experiments.Course:
    """Như `experiments.prepare` nhưng chỉ mã hóa tập train (mỗi tiến trình đỡ vài giây khởi động)."""
    _, tokenizer = load_base_model(name_or_path, "cpu")
    task = FeedbackTask(tokenizer)
    train = task.encode(load_feedback()["train"])
    return experiments.Course(name_or_path, torch.device("cpu"), tokenizer, task, train, train, train)


def counting_hook(state: dict, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """Cộng số byte của bucket vào state rồi all-reduce như DDP mặc định (không đổi kết quả)."""
    buffer = bucket.buffer()
    state["bytes"] += buffer.numel() * buffer.element_size()
    state["buckets"] += 1
    return default_hooks.allreduce_hook(None, bucket)


def params_digest(model: torch.nn.Module) -> str:
    """Băm các tham số huấn luyện: mọi tiến trình phải có cùng giá trị sau mỗi bước (DDP đã đồng bộ)."""
    h = hashlib.sha256()
    for p in model.parameters():
        if p.requires_grad:
            h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def run_method(course, name: str, steps: int, batch: int, device: torch.device) -> dict:
    """Huấn luyện `steps` bước DDP với phương pháp `name`; trả về số đo của tiến trình này."""
    model = course.fresh_model().to(device)
    METHODS[name](model)
    trainable = count_parameters(model).trainable
    ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None, bucket_cap_mb=25)
    state = {"bytes": 0, "buckets": 0}
    ddp.register_comm_hook(state, counting_hook)
    opt = torch.optim.AdamW([p for p in ddp.parameters() if p.requires_grad], lr=experiments.RECIPES[name]["lr"])
    sampler = DistributedSampler(range(len(course.train)), shuffle=True, seed=0)  # mỗi tiến trình một phần dữ liệu
    order = torch.tensor(list(iter(sampler)))
    losses, per_step, times = [], [], []
    for step in range(steps):
        before = state["bytes"]
        t = time.perf_counter()
        idx = order[step * batch:(step + 1) * batch]
        loss = ddp(**course.train.batch(idx, device)).loss
        loss.backward()  # các hook all-reduce chạy trong lúc lan truyền ngược
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
        per_step.append(state["bytes"] - before)
        losses.append(loss.item())
    return {"trainable": trainable, "bytes_per_step": per_step, "buckets": state["buckets"], "loss": losses,
            "time_per_step_s": sorted(times)[len(times) // 2], "digest": params_digest(model)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="số ví dụ mỗi tiến trình mỗi bước")
    parser.add_argument("--model", default=None, help="mô hình nền (mặc định: mô hình đóng gói)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    use_cuda = torch.cuda.is_available() and torch.cuda.device_count() >= int(os.environ.get("WORLD_SIZE", 1))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    course = train_only_course(args.model)
    results = {}
    for name in args.methods:
        mine = run_method(course, name, args.steps, args.batch, device)
        everyone = [None] * world
        dist.all_gather_object(everyone, mine)  # gom số đo của mọi tiến trình về để kiểm tra
        results[name] = {**mine, "digests": [r["digest"] for r in everyone],
                         "loss_per_rank": [r["loss"] for r in everyone]}
    if rank == 0:
        info = {"world_size": world, "backend": dist.get_backend(), "device": str(device), "steps": args.steps,
                "batch_per_process": args.batch, "torch": torch.__version__, "methods": results}
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(info, f, ensure_ascii=False, indent=1)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

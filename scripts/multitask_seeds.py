"""Đo khẳng định "khó tổng quát hóa đa nhiệm" (bài 7) với nhiều seed; ghi kết quả JSON vào gói.

Với mỗi seed: LoRA riêng cho từng bài toán (cảm xúc, chủ đề), một LoRA chung huấn luyện trên cả hai
(gấp đôi số bước, để mỗi bài toán thấy cùng số ví dụ), và tinh chỉnh toàn bộ riêng cho từng bài toán.
Công thức chung của khóa học (`experiments.RECIPES`, 150 bước, lô 32); độ chính xác test ở cuối.
Bài 7 chỉ đọc tệp này (nbval không đủ thời gian chạy 15 lần huấn luyện) và chạy trực tiếp một bản demo.

Chạy: python scripts/multitask_seeds.py --seeds 0 1 2 --steps 300 --out peft_course/assets/results/multitask.json
Hai bộ chuyển LoRA riêng của seed đầu tiên (bài 7 nạp chúng, khỏi huấn luyện lại) được lưu bằng
    python scripts/multitask_seeds.py --seeds 0 --steps 300 --adapters peft_course/assets/adapters
(cùng đường mã, nên độ chính xác của chúng bằng đúng số của seed 0 trong tệp JSON; tests kiểm tra điều đó).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from peft_course import __version__, evaluate, experiments, set_seed, train
from peft_course.export import save_adapter
from peft_course.lora import LoRAConfig, apply_lora
from peft_course.multitask import mix_tasks, task_data

LORA = LoRAConfig(r=8, alpha=16)


def train_plan(course, data: dict, seed: int, steps: int, method: str, tasks: list[str]) -> torch.nn.Module:
    """Một lần huấn luyện: `method` ("lora"/"full") trên một bài toán hoặc trên tập trộn của nhiều bài toán."""
    model = course.fresh_model(seed)
    if method == "lora":
        apply_lora(model, LORA)
    train_set = data[tasks[0]]["train"] if len(tasks) == 1 else mix_tasks(*(data[t]["train"] for t in tasks))
    set_seed(seed)
    train(model, train_set, steps=steps * len(tasks), lr=experiments.RECIPES[method]["lr"], seed=seed,
          progress=False)
    return model


def one_seed(course, data: dict, seed: int, steps: int) -> dict:
    """Năm lần huấn luyện của một seed; trả về {cấu hình: {bài toán: acc test}}."""
    out = {}
    plans = [("LoRA riêng", "lora", ["sentiment"]), ("LoRA riêng", "lora", ["topic"]),
             ("LoRA chung", "lora", ["sentiment", "topic"]),
             ("tinh chỉnh toàn bộ riêng", "full", ["sentiment"]), ("tinh chỉnh toàn bộ riêng", "full", ["topic"])]
    for name, method, tasks in plans:
        model = train_plan(course, data, seed, steps, method, tasks)
        for t in tasks:
            out.setdefault(name, {})[t] = evaluate(model, data[t]["test"])["accuracy"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=experiments.DEFAULT_STEPS)
    parser.add_argument("--out", default="peft_course/assets/results/multitask.json")
    parser.add_argument("--adapters", default=None, help="chỉ huấn luyện và lưu hai LoRA riêng của seed đầu vào đây")
    args = parser.parse_args()
    torch.set_num_threads(1)
    course = experiments.prepare()
    data = {"sentiment": {"train": course.train, "test": course.test},
            "topic": task_data(course.tokenizer, "topic")[1]}
    if args.adapters:
        for t in data:
            model = train_plan(course, data, args.seeds[0], args.steps, "lora", [t])
            save_adapter(model, Path(args.adapters) / t, base_model_name_or_path="peft_course/assets/model")
            print(t, "acc test", evaluate(model, data[t]["test"])["accuracy"])
        return
    start = time.time()
    per_seed = {seed: one_seed(course, data, seed, args.steps) for seed in args.seeds}
    summary = {}
    for name in per_seed[args.seeds[0]]:
        for t in per_seed[args.seeds[0]][name]:
            accs = [per_seed[s][name][t] for s in args.seeds]
            summary.setdefault(name, {})[t] = {"mean": statistics.mean(accs), "sd": statistics.stdev(accs),
                                               "runs": accs}
    result = {"seeds": args.seeds, "steps_per_task": args.steps, "batch_size": experiments.DEFAULT_BATCH,
              "lr": {k: experiments.RECIPES[k]["lr"] for k in ("lora", "full")},
              "lora": {"r": LORA.r, "alpha": LORA.alpha, "target_modules": LORA.target_modules},
              "metric": "acc test", "summary": summary,
              "peft_course": __version__, "torch": torch.__version__, "machine": platform.machine(),
              "wall_time_s": round(time.time() - start)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for name, tasks in summary.items():
        print(name, {t: f"{v['mean']:.3f} ± {v['sd']:.3f}" for t, v in tasks.items()})


if __name__ == "__main__":
    main()

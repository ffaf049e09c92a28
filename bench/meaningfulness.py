"""Thước đo "PEFT có ý nghĩa không" trên mô hình đóng gói và bài toán của khóa học.

Độ chính xác test của: mô hình nền (chưa tinh chỉnh), tinh chỉnh toàn bộ, LoRA r=8 (của huggingface/peft,
trên c_attn, c_proj, c_fc) và tinh chỉnh toàn bộ từ khởi tạo ngẫu nhiên cùng kiến trúc; cùng số bước,
lô và seed, mỗi lần dưới 60 giây CPU. Điều kiện (issue nền tảng): LoRA đạt ≥ 90% phần tăng của tinh
chỉnh toàn bộ so với mô hình nền; khởi tạo ngẫu nhiên thấp hơn rõ rệt.

Chạy: python bench/meaningfulness.py [--model THƯ_MỤC] [--out bench/results/meaningfulness.json]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from peft_course.experiments import DEFAULT_STEPS, base_result, prepare, results_table, run


def peft_lora(model, r: int = 8):
    """LoRA r=8, α=16 của peft trên mọi lớp chiếu của GPT-2."""
    from peft import LoraConfig, get_peft_model

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")  # cảnh báo nội bộ của peft
    cfg = LoraConfig(r=r, lora_alpha=2 * r, target_modules=["c_attn", "c_proj", "c_fc"], lora_dropout=0.0,
                     fan_in_fan_out=True, task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def measure(model_path: str | None = None, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    """Bốn cấu hình trên CPU; trả về dict tên → số liệu và bảng markdown."""
    course = prepare(model_path, device="cpu")
    base = base_result(course)
    full = run(course, "tinh chỉnh toàn bộ", course.fresh_model(), "full", steps=steps, seed=seed, progress=False)
    lora = run(course, "LoRA r=8 (peft)", peft_lora(course.fresh_model()), "lora", steps=steps, seed=seed, progress=False)
    torch.manual_seed(seed)
    random_init = AutoModelForCausalLM.from_config(course.fresh_model().config)
    random_init.loss_type = "ForCausalLM"
    rand = run(course, "tinh chỉnh toàn bộ từ khởi tạo ngẫu nhiên", random_init, "full", steps=steps, seed=seed,
               progress=False)
    results = [base, full, lora, rand]
    gain = full.test_accuracy - base.test_accuracy
    out = {r.name: {"trainable": r.trainable, "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy,
                    "wall_time_s": round(r.history.wall_time_s, 1),
                    "share_of_full_gain": (r.test_accuracy - base.test_accuracy) / gain if gain > 0 else None}
           for r in results}
    checks = {
        "tinh chỉnh toàn bộ vượt xa mô hình nền (+0.3 acc test trở lên)": gain >= 0.3,
        "LoRA r=8 đạt ≥ 90% phần tăng của tinh chỉnh toàn bộ": out[lora.name]["share_of_full_gain"] >= 0.9,
        "khởi tạo ngẫu nhiên thấp hơn rõ (≥ 0.1 acc test)": full.test_accuracy - rand.test_accuracy >= 0.1,
        "mỗi lần huấn luyện dưới 60 giây": all(r.history.wall_time_s < 60 for r in (full, lora, rand)),
    }
    return {"steps": steps, "seed": seed, "threads": torch.get_num_threads(), "results": out,
            "checks": checks, "table": results_table(results, full, base)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=None, help="thư mục mô hình (mặc định: mô hình đóng gói)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--out", default="bench/results/meaningfulness.json")
    args = p.parse_args()
    torch.set_num_threads(2)
    res = measure(args.model, args.steps)
    print(res["table"])
    for claim, ok in res["checks"].items():
        print(("ĐẠT  " if ok else "KHÔNG ĐẠT  ") + claim)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

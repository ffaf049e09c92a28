"""So sánh mọi phương pháp của khóa học cạnh nhau: tham số, bộ nhớ, FLOP, thời gian, chất lượng, độ trễ, tệp.

Hai chế độ kích thước:
- "course": mô hình đóng gói (2,57 triệu tham số) và bài toán của khóa học. Mỗi phương pháp huấn luyện cùng số
  bước, cùng lô, cùng seed (`experiments.run`, tốc độ học theo `experiments.RECIPES`), rồi đo độ chính xác
  test, phần tăng so với tinh chỉnh toàn bộ, độ trễ suy luận so với mô hình nền (LoRA/DoRA đã gộp; adapter,
  BitFit, prefix chưa gộp), kích thước tệp lưu phần đã học (safetensors).
- "gpt2-small": mô hình cùng hình dạng GPT-2 small (124 triệu tham số, trọng số ngẫu nhiên), chỉ đo chi phí:
  bộ nhớ theo phần và thời gian vài bước ở lô 4×128. Ở cỡ này trạng thái Adam chiếm phần lớn bộ nhớ, nên
  phần tiết kiệm của PEFT hiện rõ.

Bộ nhớ theo phần (`peft_course.costs.step_cost`): trọng số, gradient, trạng thái AdamW đọc từ kích thước
tensor sau một bước; activation là tổng byte tensor autograd giữ lại cho lan truyền ngược
(`saved_tensors_hooks`). Trên GPU có thêm đỉnh `torch.cuda.max_memory_allocated`.

Chạy: python bench/compare.py [--regimes course gpt2-small] [--methods ...] [--steps 150] [--out bench/results]
Kết quả: comparison.json, comparison.md và các hình *.png trong thư mục --out. Cùng seed cho cùng số tham số,
byte bộ nhớ, FLOP và độ chính xác; chỉ thời gian (và độ trễ) thay đổi giữa các lần chạy.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from safetensors.torch import save_file
from torch import nn

from peft_course import count_parameters, set_seed
from peft_course.adapter import AdapterConfig, apply_adapters
from peft_course.bitfit import BitFitConfig, apply_bitfit
from peft_course.costs import MB, latency_ratio, step_cost, time_steps
from peft_course.dora import DoRAConfig, apply_dora
from peft_course.errors import require, require_choice, require_positive_int
from peft_course.experiments import DEFAULT_BATCH, DEFAULT_STEPS, RECIPES, base_result, prepare, run
from peft_course.export import save_adapter
from peft_course.lora import LoRAConfig, apply_lora, merge_lora
from peft_course.prefix import PrefixConfig, PromptConfig, apply_prefix, apply_prompt

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = ["c_attn", "c_proj", "c_fc"]  # LoRA/DoRA trên mọi lớp chiếu của GPT-2, như bài 3 và 4
PREFIX_INIT = "Cảm xúc của phản hồi sinh viên là tiêu cực, trung lập hay tích cực"  # như bài 5
# GPT-2 small (Radford và cộng sự, 2019): 12 lớp, d = 768, 12 đầu, từ vựng 50257, ngữ cảnh 1024.
GPT2_SMALL = {"n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}
REGIMES = ("course", "gpt2-small")


@dataclass(frozen=True)
class Method:
    """Một phương pháp trong bảng so sánh."""

    label: str  # tên hiển thị (tiếng Việt)
    recipe: str  # khóa công thức trong experiments.RECIPES
    apply: Callable[[nn.Module, object], object]  # (mô hình, tokenizer hoặc None) → áp phương pháp tại chỗ
    mergeable: bool = False  # gộp được vào trọng số nền khi suy luận (LoRA, DoRA)


def _full(model: nn.Module, tokenizer) -> None:
    for p in model.parameters():
        p.requires_grad_(True)


def _prefix(model: nn.Module, tokenizer) -> None:
    ids = tokenizer(PREFIX_INIT)["input_ids"] if tokenizer is not None else None  # mô hình ngẫu nhiên: khởi tạo ngẫu nhiên
    apply_prefix(model, PrefixConfig(num_virtual_tokens=10, init_token_ids=ids))


METHODS: dict[str, Method] = {
    "full": Method("tinh chỉnh toàn bộ", "full", _full),
    "bitfit": Method("BitFit (mọi bias)", "bitfit", lambda m, t: apply_bitfit(m, BitFitConfig("all"))),
    "houlsby": Method("adapter Houlsby r=16", "adapter", lambda m, t: apply_adapters(m, AdapterConfig(16, "houlsby"))),
    "pfeiffer": Method("adapter Pfeiffer r=16", "adapter", lambda m, t: apply_adapters(m, AdapterConfig(16, "pfeiffer"))),
    "lora": Method("LoRA r=8", "lora", lambda m, t: apply_lora(m, LoRAConfig(8, 16.0, list(TARGETS))), True),
    "dora": Method("DoRA r=8", "dora", lambda m, t: apply_dora(m, DoRAConfig(8, 16.0, list(TARGETS))), True),
    "prefix": Method("prefix tuning k=10", "prefix", _prefix),
    "prompt": Method("prompt tuning k=10", "prompt", lambda m, t: apply_prompt(m, PromptConfig(10))),
}
DEFAULT_METHODS = tuple(METHODS)


def build(key: str, model: nn.Module, tokenizer=None, seed: int = 0) -> nn.Module:
    """Áp phương pháp `key` lên `model` (tại chỗ) sau khi cố định seed, để khởi tạo A, adapter… tất định."""
    require_choice("method", key, METHODS)
    set_seed(seed)
    METHODS[key].apply(model, tokenizer)
    return model


def saved_size(key: str, model: nn.Module) -> int:
    """Số byte của tệp safetensors chứa phần đã học (LoRA/DoRA: định dạng peft qua export.save_adapter)."""
    with tempfile.TemporaryDirectory() as tmp:
        if METHODS[key].mergeable:
            return (save_adapter(model, tmp) / "adapter_model.safetensors").stat().st_size
        params = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        path = Path(tmp) / "trainable.safetensors"
        save_file(params, str(path))
        return path.stat().st_size


def machine_info(device: torch.device) -> dict:
    """Máy đo: hệ điều hành, CPU, số luồng torch, phiên bản, GPU nếu có."""
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "device": device.type}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
    return info


def _memory(cost) -> dict:
    """Các phần bộ nhớ (MB) của một StepCost, kèm byte gốc."""
    d = cost.to_dict()
    mem = {k.replace("_bytes", "_mb"): round(v / MB, 3) for k, v in d.items() if k.endswith("_bytes") and v is not None}
    return {**mem, "bytes": {k: v for k, v in d.items() if k.endswith("_bytes")}}


def _add_ratios(rows: dict[str, dict]) -> None:
    """Tỉ số so với tinh chỉnh toàn bộ (nếu có trong bảng): FLOP, thời gian, bộ nhớ; và r = P_peft/P_full."""
    full = rows.get("full")
    for row in rows.values():
        row["param_ratio"] = row["trainable"] / full["trainable"] if full else None
        row["flops_ratio"] = round(row["flops"] / full["flops"], 4) if full else None
        row["time_ratio"] = round(row["time_per_step_s"] / full["time_per_step_s"], 3) if full else None
        row["memory_ratio"] = round(row["memory"]["total_mb"] / full["memory"]["total_mb"], 4) if full else None


def _course(methods: Sequence[str], steps: int, seed: int, device, batch_size: int, progress: bool) -> dict:
    course = prepare(None, device)
    base = base_result(course)
    probe = course.train.batch(torch.arange(batch_size), course.device)  # lô cố định cho phép đo chi phí
    latency_batch = course.test.batch(torch.arange(batch_size), course.device)
    reference = course.fresh_model()
    rows: dict[str, dict] = {}
    for key in methods:
        meth = METHODS[key]
        t0 = time.perf_counter()
        cost = step_cost(build(key, course.fresh_model(), course.tokenizer, seed), probe)
        model = build(key, course.fresh_model(), course.tokenizer, seed)
        counts = count_parameters(model)
        res = run(course, meth.label, model, meth.recipe, steps=steps, batch_size=batch_size, seed=seed,
                  eval_every=None, progress=False)
        size = saved_size(key, model)
        if meth.mergeable:
            merge_lora(model)
        rows[key] = {
            "label": meth.label, "trainable": counts.trainable, "total": counts.total,
            "percent": round(counts.percent, 4), "lr": RECIPES[meth.recipe]["lr"], "memory": _memory(cost),
            "flops": cost.flops, "time_per_step_s": round(res.time_per_step_s, 5),
            "rss_peak_mb": None if math.isnan(res.peak_memory_mb) else round(res.peak_memory_mb, 1),
            "val_accuracy": res.val_accuracy, "test_accuracy": res.test_accuracy,
            "latency_ratio": round(latency_ratio(model, reference, latency_batch), 3), "merged": meth.mergeable,
            "file_bytes": size, "wall_s": round(time.perf_counter() - t0, 1),
        }
        if progress:
            print(f"[course] {key}: {rows[key]['wall_s']} s, acc test {res.test_accuracy:.3f}", flush=True)
    _add_ratios(rows)
    if "full" in rows:
        gain = rows["full"]["test_accuracy"] - base.test_accuracy
        for row in rows.values():
            row["gain_share"] = round((row["test_accuracy"] - base.test_accuracy) / gain, 4) if gain > 0 else None
    return {"regime": "course", "model": "mô hình đóng gói của khóa học (GPT-2 4 lớp, d = 192, từ vựng 4000)",
            "steps": steps, "batch_size": batch_size, "seed": seed, "probe_batch_shape": list(probe["input_ids"].shape),
            "base": {"total": base.total, "val_accuracy": base.val_accuracy, "test_accuracy": base.test_accuracy},
            "methods": rows}


def gpt2_small(shape: dict | None = None, seed: int = 0, device=None) -> nn.Module:
    """Mô hình cùng hình dạng GPT-2 small (hoặc `shape` thay thế), trọng số ngẫu nhiên, wte/lm_head dùng chung."""
    from transformers import GPT2Config, GPT2LMHeadModel

    set_seed(seed)
    cfg = GPT2Config(**(shape or GPT2_SMALL), bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).to(device or "cpu")
    model.loss_type = "ForCausalLM"
    return model


def _gpt2_small(methods: Sequence[str], steps: int, seed: int, device, batch: tuple[int, int], shape: dict | None,
                progress: bool) -> dict:
    dev = torch.device(device or "cpu")
    base = gpt2_small(shape, seed, dev)
    vocab = base.config.vocab_size
    gen = torch.Generator().manual_seed(seed)
    batches = [torch.randint(0, vocab, batch, generator=gen) for _ in range(steps + 2)]

    def make_batch(i: int) -> dict[str, torch.Tensor]:
        ids = batches[i % len(batches)].to(dev)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}

    rows: dict[str, dict] = {}
    for key in methods:
        t0 = time.perf_counter()
        model = build(key, copy.deepcopy(base), None, seed)
        counts = count_parameters(model)
        cost = step_cost(model, make_batch(0))  # cũng là bước khởi động
        times = time_steps(model, lambda i: make_batch(i + 1), steps=steps, warmup=1)
        rows[key] = {"label": METHODS[key].label, "trainable": counts.trainable, "total": counts.total,
                     "percent": round(counts.percent, 4), "memory": _memory(cost), "flops": cost.flops,
                     "time_per_step_s": round(sorted(times)[len(times) // 2], 4),
                     "step_times_s": [round(t, 4) for t in times], "wall_s": round(time.perf_counter() - t0, 1)}
        del model
        if progress:
            print(f"[gpt2-small] {key}: {rows[key]['wall_s']} s, {rows[key]['time_per_step_s']} s/bước", flush=True)
    _add_ratios(rows)
    return {"regime": "gpt2-small", "model": "cùng hình dạng GPT-2 small, trọng số ngẫu nhiên (chỉ đo chi phí)",
            "shape": shape or GPT2_SMALL, "steps": steps, "batch_shape": list(batch), "seed": seed,
            "base": {"total": count_parameters(base).total}, "methods": rows}


def measure(
    methods: Sequence[str] = DEFAULT_METHODS,  # khóa trong METHODS; nên có "full" để có các tỉ số
    steps: int | None = None,  # course: số bước huấn luyện (mặc định 150); gpt2-small: số bước bấm giờ (mặc định 2)
    regime: str = "course",  # "course" hoặc "gpt2-small"
    *,
    seed: int = 0,
    device: str | torch.device | None = "cpu",  # None: tự chọn (cuda nếu có)
    batch_size: int = DEFAULT_BATCH,  # lô của chế độ course
    batch: tuple[int, int] = (4, 128),  # (lô, độ dài chuỗi) của chế độ gpt2-small
    shape: dict | None = None,  # ghi đè hình dạng của chế độ gpt2-small (kiểm thử dùng bản nhỏ)
    progress: bool = False,
) -> dict:
    """Đo mọi phương pháp trong `methods` ở một chế độ kích thước; trả về dict có thể ghi ra JSON."""
    require_choice("regime", regime, REGIMES)
    methods = list(methods)
    require(len(methods) > 0, "methods rỗng: chọn ít nhất một phương pháp trong " + ", ".join(METHODS) + ".")
    for key in methods:
        require_choice("method", key, METHODS)
    if regime == "course":
        steps = require_positive_int("steps", steps if steps is not None else DEFAULT_STEPS)
        out = _course(methods, steps, seed, device, batch_size, progress)
    else:
        steps = require_positive_int("steps", steps if steps is not None else 2)
        out = _gpt2_small(methods, steps, seed, device, batch, shape, progress)
    from peft_course.model import pick_device

    out["machine"] = machine_info(pick_device(device))
    return out


# ---------------------------------------------------------------- bảng và hình

def _fmt(x, spec: str, none: str = "–") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown(results: dict) -> str:
    """Hai bảng markdown (course, gpt2-small) từ kết quả của main()."""
    meta = results["machine"]
    lines = [f"# So sánh các phương pháp PEFT\n",
             f"Đo lúc {meta['measured_at']} trên {meta['cpu']} ({meta['torch_threads']} luồng torch"
             f"{', ' + meta['gpu'] if 'gpu' in meta else ''}), {meta['platform']}, torch {meta['torch']}, "
             f"transformers {meta['transformers']}. Sinh bởi `python bench/compare.py`.\n",
             "Bộ nhớ (MB) từ kích thước tensor sau một bước AdamW; activation = byte các tensor autograd giữ lại cho "
             "lan truyền ngược (`saved_tensors_hooks`), không tính trọng số. FLOP đếm bằng `FlopCounterMode` "
             "(truyền xuôi + lan truyền ngược). Thời gian phụ thuộc máy; mọi cột khác tất định theo seed.\n"]
    course = results["regimes"].get("course")
    if course:
        b = course["base"]
        lines += [f"## Mô hình của khóa học: {course['steps']} bước, lô {course['batch_size']}, seed {course['seed']}\n",
                  f"Mô hình nền (chưa tinh chỉnh): acc test {b['test_accuracy']:.3f}. Độ trễ suy luận: LoRA/DoRA đã gộp; "
                  "các phương pháp khác ở dạng chưa gộp.\n",
                  "| phương pháp | tham số huấn luyện | % | trọng số | gradient | Adam | activation | tổng MB | bộ nhớ so với toàn bộ "
                  "| FLOP so với toàn bộ | ms/bước | thời gian so với toàn bộ | acc test | % phần tăng của toàn bộ "
                  "| độ trễ suy luận so với nền | tệp (KB) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in course["methods"].values():
            m = r["memory"]
            lines.append(
                f"| {r['label']} | {r['trainable']:,} | {r['percent']:.3f} | {m['weights_mb']:.1f} | {m['grads_mb']:.2f} | "
                f"{m['optimizer_mb']:.2f} | {m['activations_mb']:.1f} | {m['total_mb']:.1f} | {_fmt(r['memory_ratio'], '.2f')} | "
                f"{_fmt(r['flops_ratio'], '.2f')} | {1000 * r['time_per_step_s']:.1f} | {_fmt(r['time_ratio'], '.2f')} | "
                f"{r['test_accuracy']:.3f} | {_fmt(None if r.get('gain_share') is None else 100 * r['gain_share'], '.0f')}% | "
                f"{r['latency_ratio']:.2f}{' (gộp)' if r['merged'] else ''} | {r['file_bytes'] / 1024:,.1f} |")
    small = results["regimes"].get("gpt2-small")
    if small:
        s = small["shape"]
        lines += ["", f"## Cỡ GPT-2 small ({small['base']['total']:,} tham số, {s['n_layer']} lớp, d = {s['n_embd']}, "
                      f"từ vựng {s['vocab_size']}; trọng số ngẫu nhiên): lô {small['batch_shape'][0]}×{small['batch_shape'][1]}, "
                      f"{small['steps']} bước bấm giờ (trung vị)\n",
                  "| phương pháp | tham số huấn luyện | % | trọng số | gradient | Adam | activation | tổng MB | bộ nhớ so với toàn bộ "
                  "| FLOP so với toàn bộ | s/bước | thời gian so với toàn bộ |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in small["methods"].values():
            m = r["memory"]
            lines.append(
                f"| {r['label']} | {r['trainable']:,} | {r['percent']:.3f} | {m['weights_mb']:.0f} | {m['grads_mb']:.1f} | "
                f"{m['optimizer_mb']:.1f} | {m['activations_mb']:.0f} | {m['total_mb']:.0f} | {_fmt(r['memory_ratio'], '.2f')} | "
                f"{_fmt(r['flops_ratio'], '.2f')} | {r['time_per_step_s']:.2f} | {_fmt(r['time_ratio'], '.2f')} |")
    return "\n".join(lines) + "\n"


def plot_pareto(course: dict, ax=None):
    """Độ chính xác test theo số tham số huấn luyện (xem peft_course.plots.plot_pareto)."""
    from peft_course.plots import plot_pareto as draw

    return draw(list(course["methods"].values()), course["base"]["test_accuracy"],
                f"Chất lượng theo số tham số huấn luyện ({course['steps']} bước)", ax)


def plot_memory(regime: dict, ax=None, keys: Sequence[str] | None = None):
    """Cột chồng bộ nhớ một bước huấn luyện của một chế độ (xem peft_course.plots.plot_memory_breakdown)."""
    from peft_course.plots import plot_memory_breakdown

    rows = [regime["methods"][k] for k in (keys or regime["methods"])]
    title = "mô hình của khóa học" if regime["regime"] == "course" else "cỡ GPT-2 small"
    return plot_memory_breakdown(rows, f"Bộ nhớ một bước huấn luyện: {title}", ax)
    return ax


def plot_time(results: dict, ax=None):
    """Thời gian mỗi bước và FLOP so với tinh chỉnh toàn bộ, cạnh dự đoán của bài báo r = P_peft/P_full."""
    import matplotlib.pyplot as plt

    regimes = [r for r in results["regimes"].values() if "full" in r["methods"]]
    ax = ax or plt.subplots(figsize=(8.5, 3.8))[1]
    keys = [k for k in regimes[0]["methods"] if k != "full"]
    width = 0.8 / (len(regimes) + 1)
    for j, reg in enumerate(regimes):
        name = "mô hình khóa học" if reg["regime"] == "course" else "cỡ GPT-2 small"
        vals = [reg["methods"][k]["time_ratio"] if k in reg["methods"] else float("nan") for k in keys]
        ax.bar([i + j * width for i in range(len(keys))], vals, width, label=f"thời gian đo: {name}")
    reg = regimes[-1]
    flops = [reg["methods"][k]["flops_ratio"] if k in reg["methods"] else float("nan") for k in keys]
    ax.bar([i + len(regimes) * width for i in range(len(keys))], flops, width, color="tab:gray", label="FLOP (đếm)")
    pred = [reg["methods"][k]["param_ratio"] if k in reg["methods"] else float("nan") for k in keys]
    ax.scatter([i + width for i in range(len(keys))], pred, marker="v", color="tab:red", zorder=3,
               label="dự đoán r = P_peft/P_full")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + width for i in range(len(keys))], [regimes[0]["methods"][k]["label"] for k in keys],
                  rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="so với tinh chỉnh toàn bộ", title="Thời gian mỗi bước: đo được và dự đoán $T_{peft} ≈ r·T_{full}$")
    ax.legend(fontsize=8)
    return ax


def save_figures(results: dict, out: Path) -> list[Path]:
    """Ghi pareto.png, memory.png, time.png vào `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    regs = results["regimes"]
    if "course" in regs:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        plot_pareto(regs["course"], ax)
        paths.append(out / "pareto.png")
        fig.tight_layout()
        fig.savefig(paths[-1], dpi=110)
    fig, axes = plt.subplots(1, len(regs), figsize=(7 * len(regs), 4), squeeze=False)
    for ax, reg in zip(axes[0], regs.values()):
        plot_memory(reg, ax)
    fig.tight_layout()
    paths.append(out / "memory.png")
    fig.savefig(paths[-1], dpi=110)
    if any("full" in r["methods"] for r in regs.values()):
        fig, ax = plt.subplots(figsize=(8.5, 4))
        plot_time(results, ax)
        fig.tight_layout()
        paths.append(out / "time.png")
        fig.savefig(paths[-1], dpi=110)
    plt.close("all")
    return paths


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=list(METHODS))
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="số bước huấn luyện của chế độ course")
    p.add_argument("--cost-steps", type=int, default=2, help="số bước bấm giờ của chế độ gpt2-small")
    p.add_argument("--device", default="cpu", help="cpu, cuda hoặc auto")
    p.add_argument("--threads", type=int, default=2, help="số luồng torch trên CPU")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = None if args.device == "auto" else args.device
    start = time.perf_counter()
    regimes = {}
    for regime in args.regimes:
        steps = args.steps if regime == "course" else args.cost_steps
        regimes[regime] = measure(args.methods, steps, regime, device=device, progress=True)
    machine = regimes[args.regimes[0]].pop("machine")
    for r in regimes.values():
        r.pop("machine", None)
    results = {"machine": machine, "runtime_s": None, "regimes": regimes}
    results["runtime_s"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    table = markdown(results)
    (out / "comparison.md").write_text(table, encoding="utf-8")
    save_figures(results, out)
    print(table)
    print(f"Tổng thời gian: {results['runtime_s']} s; kết quả trong {out}")
    return results


if __name__ == "__main__":
    main()

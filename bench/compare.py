"""So sánh mọi phương pháp của khóa học theo giao thức đo chung (`peft_course.protocol`), ngoại tuyến.

Chất lượng (mô hình đóng gói, bài toán của khóa học): mỗi phương pháp quét tốc độ học ×⅓/×1/×3 trên validation
(seed 0), rồi 3 seed ở tốc độ học đã chọn; tối đa 600 bước, đánh giá validation mỗi 25 bước, giữ checkpoint tốt
nhất, dừng sớm khi validation không còn tiến bộ; acc test đọc một lần ở checkpoint đó. Thêm: DoRA ở tốc độ học của
LoRA, nghiên cứu dữ liệu nhỏ của bài 6. Các lần chạy song song trên `--workers` tiến trình con, mỗi tiến trình 1 luồng
torch; mỗi lần chạy xong được ghi ngay vào tệp dở dang (runs-<băm>.partial.jsonl), nên chạy lại lệnh sẽ bỏ qua
những lần đã xong.

Chi phí (tất định, `peft_course.costs.step_cost`): bộ nhớ theo phần (trọng số, gradient, AdamW, activation), FLOP;
độ trễ suy luận so với mô hình nền; kích thước tệp. Thêm chế độ cỡ GPT-2 small (124 triệu tham số, trọng số ngẫu
nhiên) chỉ đo chi phí.

Chạy (khoảng hai giờ trên 2 nhân: 66 lần huấn luyện, hai lần một lúc; đầu bảng kết quả ghi thời gian thật):
    OMP_NUM_THREADS=1 python bench/compare.py
Kết quả: peft_course/assets/results/comparison.json (đi kèm gói, bài học đọc qua peft_course.report),
bench/results/comparison.md (trang docs/comparison.md chèn nó) và các hình bench/results/*.png.
Thử nhanh (vài bước, ghi vào thư mục tạm): python bench/compare.py --quick
Vẽ lại hình và bảng từ JSON đã có: python bench/compare.py --from-json
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import datetime
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from safetensors.torch import save_file
from torch import nn

from peft_course import count_parameters, set_seed
from peft_course.costs import MB, latency_ratio, step_cost, time_steps
from peft_course.errors import require, require_choice, require_positive_int
from peft_course.experiments import base_result, prepare
from peft_course.export import save_adapter
from peft_course.lora import merge_lora
from peft_course.protocol import (MEMORY_NOTE, QUICK, TIMING_NOTE, Protocol, behaviour_fingerprint,
                                  interleaved_step_times, job_key, next_jobs, run_job, settings_hash, summarize,
                                  worker_init, _WORKER)
from peft_course.recipes import METHODS, PREFIX_INIT, TARGETS, Method, build  # noqa: F401 (tên dùng lại ở kiểm thử)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))  # bench/figures.py
from figures import save_figures  # noqa: E402
RESULTS = ROOT / "bench" / "results"  # hình và bảng markdown
RESULTS_JSON = ROOT / "peft_course" / "assets" / "results" / "comparison.json"  # đi kèm gói
REFRESH_COMMAND = "OMP_NUM_THREADS=1 python bench/compare.py"
# GPT-2 small (Radford và cộng sự, 2019): 12 lớp, d = 768, 12 đầu, từ vựng 50257, ngữ cảnh 1024.
GPT2_SMALL = {"n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}
DEFAULT_METHODS = tuple(METHODS)
REGIMES = ("course", "gpt2-small")
QUICK_GPT2 = {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 1000, "n_positions": 256}  # --quick


def saved_size(key: str, model: nn.Module) -> int:
    """Số byte của tệp safetensors chứa phần đã học (LoRA/DoRA: định dạng peft qua export.save_adapter)."""
    with tempfile.TemporaryDirectory() as tmp:
        if METHODS[key].mergeable:
            return (save_adapter(model, tmp) / "adapter_model.safetensors").stat().st_size
        params = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        path = Path(tmp) / "trainable.safetensors"
        save_file(params, str(path))
        return path.stat().st_size


def machine_info(device: torch.device, workers: int, threads: int) -> dict:
    """Máy đo: hệ điều hành, CPU, số tiến trình con và luồng torch mỗi tiến trình, phiên bản, GPU nếu có, tải máy."""
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(), "workers": workers,
            "torch_threads_per_worker": threads, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": device.type,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}
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
    """Tỉ số so với tinh chỉnh toàn bộ (nếu có trong bảng): FLOP, bộ nhớ, thời gian; và r = P_peft/P_full."""
    full = rows.get("full")
    for row in rows.values():
        row["param_ratio"] = row["trainable"] / full["trainable"] if full else None
        row["flops_ratio"] = round(row["flops"] / full["flops"], 4) if full else None
        row["memory_ratio"] = round(row["memory"]["total_mb"] / full["memory"]["total_mb"], 4) if full else None
        if "time_per_step_s" in row:
            row["time_ratio"] = round(row["time_per_step_s"] / full["time_per_step_s"], 3) if full else None


def course_costs(course, methods: Sequence[str], batch_size: int = 32) -> dict[str, dict]:
    """Chi phí tất định của mỗi phương pháp trên mô hình của khóa học: tham số, bộ nhớ theo phần, FLOP (một bước
    trên lô cố định 32 ví dụ đầu của tập huấn luyện), kích thước tệp; và độ trễ suy luận so với mô hình nền."""
    probe = course.train.batch(torch.arange(batch_size), course.device)
    latency_batch = course.test.batch(torch.arange(batch_size), course.device)
    reference = course.fresh_model()
    rows: dict[str, dict] = {}
    for key in methods:
        cost = step_cost(build(key, course.fresh_model(), course.tokenizer, 0), probe)
        model = build(key, course.fresh_model(), course.tokenizer, 0)
        counts = count_parameters(model)
        size = saved_size(key, model)
        if METHODS[key].mergeable:
            merge_lora(model)
        rows[key] = {"label": METHODS[key].label, "trainable": counts.trainable, "total": counts.total,
                     "percent": round(counts.percent, 4), "memory": _memory(cost), "flops": cost.flops,
                     "latency_ratio": round(latency_ratio(model, reference, latency_batch), 3),
                     "merged": METHODS[key].mergeable, "file_bytes": size}
    _add_ratios(rows)
    return rows


def gpt2_small(shape: dict | None = None, seed: int = 0, device=None) -> nn.Module:
    """Mô hình cùng hình dạng GPT-2 small (hoặc `shape` thay thế), trọng số ngẫu nhiên, wte/lm_head dùng chung."""
    from transformers import GPT2Config, GPT2LMHeadModel

    set_seed(seed)
    cfg = GPT2Config(**(shape or GPT2_SMALL), bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).to(device or "cpu")
    model.loss_type = "ForCausalLM"
    return model


def gpt2_small_costs(methods: Sequence[str], steps: int = 2, seed: int = 0, device=None,
                     batch: tuple[int, int] = (4, 128), shape: dict | None = None, log: Callable = print) -> dict:
    """Chỉ chi phí ở cỡ GPT-2 small: bộ nhớ theo phần, FLOP và trung vị thời gian `steps` bước ở lô `batch`."""
    require_positive_int("steps", steps)
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
        model = build(key, copy.deepcopy(base), None, seed)
        counts = count_parameters(model)
        cost = step_cost(model, make_batch(0))  # cũng là bước khởi động
        times = time_steps(model, lambda i: make_batch(i + 1), steps=steps, warmup=1)
        rows[key] = {"label": METHODS[key].label, "trainable": counts.trainable, "total": counts.total,
                     "percent": round(counts.percent, 4), "memory": _memory(cost), "flops": cost.flops,
                     "time_per_step_s": round(sorted(times)[len(times) // 2], 4),
                     "step_times_s": [round(t, 4) for t in times]}
        del model
        log(f"[gpt2-small] {key}: {rows[key]['time_per_step_s']} s/bước")
    _add_ratios(rows)
    return {"regime": "gpt2-small", "model": "cùng hình dạng GPT-2 small, trọng số ngẫu nhiên (chỉ đo chi phí)",
            "shape": shape or GPT2_SMALL, "steps": steps, "batch_shape": list(batch), "seed": seed,
            "base": {"total": count_parameters(base).total}, "methods": rows}


# ---------------------------------------------------------------- chạy giao thức

def load_partial(path: Path) -> list[dict]:
    """Các bản ghi đã xong trong tệp dở dang (mỗi dòng một JSON); dòng hỏng (ghi dở khi bị dừng) bị bỏ qua."""
    records = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def run_protocol(protocol: Protocol, *, device: str | None = "cpu", workers: int = 2, threads: int = 1,
                 partial: Path | None = None, course=None, log: Callable = print) -> list[dict]:
    """Chạy mọi lần chạy của giao thức còn thiếu; trả về mọi bản ghi (cũ trong `partial` + mới).

    workers = 0: chạy ngay trong tiến trình này (kiểm thử; `course` thay cho dữ liệu đầy đủ nếu có);
    ≥ 1: tiến trình con (spawn), `threads` luồng mỗi tiến trình.
    """
    records = load_partial(partial) if partial is not None else []
    if records:
        log(f"Dùng lại {len(records)} lần chạy đã xong trong {partial}")
    proto = protocol.to_dict()

    def finish(rec: dict) -> None:
        records.append(rec)
        if partial is not None:
            with partial.open("a", encoding="utf-8") as f:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        log(f"[{len(records)}] {rec['key']}: best val {rec['best_val_accuracy']:.3f} ở bước {rec['best_step']}/"
            f"{rec['steps_run']}, test {rec['test_accuracy']:.3f}, {rec['wall_s']:.0f} s, "
            f"{1000 * rec['step_time_median_s']:.0f} ms/bước")

    if workers == 0:
        if course is None:
            worker_init(device, threads)
        else:
            _WORKER["course"] = course
        while jobs := next_jobs(records, protocol):
            finish(run_job(jobs[0], proto))
        return records
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=worker_init, initargs=(device, threads)) as pool:
        running: dict[cf.Future, str] = {}
        while True:
            busy = set(running.values())
            for job in next_jobs(records, protocol):
                if len(running) >= workers:
                    break
                if job_key(job) not in busy:
                    running[pool.submit(run_job, job, proto)] = job_key(job)
            if not running:
                break
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                running.pop(fut)
                finish(fut.result())
    return records


def measure(protocol: Protocol = Protocol(), *, device: str | None = "cpu", workers: int = 2, threads: int = 1,
            partial: Path | None = None, gpt2_steps: int = 2, gpt2_shape: dict | None = None,
            gpt2_batch: tuple[int, int] = (4, 128), train: bool = True, timing_rounds: int = 12,
            course=None, log: Callable = print) -> dict:
    """Toàn bộ phép đo: giao thức (chất lượng), chi phí tất định, cỡ GPT-2 small, dấu vân tay; trả về dict JSON.

    train=False: không huấn luyện gì, chỉ tổng hợp các lần chạy đã xong trong `partial` (kết quả ghi complete=False
    và danh sách lần chạy còn thiếu nếu giao thức chưa chạy đủ). course: dữ liệu đã chuẩn bị (kiểm thử dùng bản thu
    nhỏ; chỉ với workers = 0).
    """
    for key in protocol.methods:
        require_choice("method", key, METHODS)
    require("full" in protocol.methods, f"methods phải có 'full' (mốc so sánh), nhận được {list(protocol.methods)}.")
    start = time.perf_counter()
    course = course if course is not None else prepare(None, device)
    machine = machine_info(course.device, workers, threads)
    if train:
        records = run_protocol(protocol, device=device, workers=workers, threads=threads, partial=partial,
                               course=course if workers == 0 else None, log=log)
    else:
        records = load_partial(partial) if partial is not None else []
    torch.set_num_threads(threads)
    missing = [job_key(j) for j in next_jobs(records, protocol)]
    log(f"Đo thời gian một bước xen kẽ ({timing_rounds} vòng)…")
    step_times = interleaved_step_times(course, list(protocol.methods), rounds=timing_rounds)
    base = base_result(course)
    base_row = {"total": base.total, "val_accuracy": base.val_accuracy, "test_accuracy": base.test_accuracy}
    log("Đo chi phí tất định và dấu vân tay…")
    costs = {"course": course_costs(course, protocol.methods, protocol.batch_size)}
    if gpt2_steps > 0:
        costs["gpt2-small"] = gpt2_small_costs(protocol.methods, gpt2_steps, device=device, batch=gpt2_batch,
                                               shape=gpt2_shape, log=log)
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "schema": 2, "generated_by": REFRESH_COMMAND, "machine": machine,
        "complete": not missing,
        "missing_runs": missing,  # chỉ các lần chạy đã sẵn sàng; các seed còn lại xuất hiện khi quét lr xong
        "step_times_interleaved_s": step_times, "timing_rounds": timing_rounds,
        "runtime_s": round(time.perf_counter() - start, 1),
        "protocol": {**protocol.to_dict(), "timing": TIMING_NOTE, "memory": MEMORY_NOTE,
                     "lr_selection": "acc validation tốt nhất (seed 0), rồi mất mát validation thấp hơn, "
                                     "rồi lr nhỏ hơn",
                     "checkpoint": "tham số huấn luyện ở lần đánh giá validation tốt nhất (acc, rồi mất mát, rồi bước "
                                   "sớm hơn); dừng sớm sau `patience` lần đánh giá không tốt hơn, "
                                   "không trước `min_steps`",
                     "gain_share": "(acc test − nền) / (trung bình acc test của tinh chỉnh toàn bộ − nền), mỗi seed"},
        "fingerprint": behaviour_fingerprint(course, protocol),
        "base": base_row, "summary": summarize(records, protocol, base_row, step_times), "costs": costs,
        "runs": sorted(records, key=lambda r: r["key"]),
    }


# ---------------------------------------------------------------- bảng và hình

def _fmt(x, spec: str, none: str = "–") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _pm(stat: dict | None, spec: str = ".3f", scale: float = 1.0, unit: str = "") -> str:
    """"trung bình ± độ lệch chuẩn" của một thống kê mean_sd (– nếu thiếu; "(1 seed)" khi chưa có độ lệch chuẩn)."""
    if not stat or stat.get("mean") is None:
        return "–"
    if stat.get("n", 2) < 2:
        return f"{format(scale * stat['mean'], spec)}{unit} (1 seed)"
    return f"{format(scale * stat['mean'], spec)}{unit} ± {format(scale * stat['sd'], spec)}{unit}"


def _flat(row: dict) -> str:
    """"k/n": số seed dừng sớm trên số seed (– nếu chưa có)."""
    f = row.get("flattened")
    return f"{f['stopped_early']}/{f['runs']}" if f else "–"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def markdown(results: dict) -> str:
    """Các bảng markdown (chất lượng, DoRA vs LoRA, dữ liệu nhỏ, chi phí) từ kết quả của measure()."""
    meta, proto, summ = results["machine"], results["protocol"], results["summary"]
    costs = results["costs"]["course"]
    lines = ["# So sánh các phương pháp PEFT\n",
             f"Đo lúc {meta['measured_at']} trên {meta['cpu']} ({meta['workers']} tiến trình × "
             f"{meta['torch_threads_per_worker']} luồng torch{', ' + meta['gpu'] if 'gpu' in meta else ''}), torch "
             f"{meta['torch']}, transformers {meta['transformers']}; lần gọi cuối "
             f"{results['runtime_s'] / 60:.0f} phút, các lần huấn luyện cộng lại "
             f"{sum(r.get('wall_s', 0) for r in results['runs']) / 3600:.1f} giờ-tiến trình "
             f"({len(results['runs'])} lần chạy; chạy tiếp được sau khi bị ngắt). Sinh bởi "
             f"`{results['generated_by']}`.\n",
             f"Giao thức: tốc độ học chọn trên validation trong ×⅓, ×1, ×3 tốc độ học của công thức (seed "
             f"{proto['seeds'][0]}); {len(proto['seeds'])} seed ở tốc độ học đã chọn; tối đa {proto['max_steps']} "
             f"bước, "
             f"lô {proto['batch_size']}, đánh giá validation mỗi {proto['eval_every']} bước, giữ checkpoint tốt nhất "
             f"trên validation, dừng sớm sau {proto['patience']} lần đánh giá không tốt hơn (không trước bước "
             f"{proto.get('min_steps', 0)}); acc test đọc một lần ở "
             f"checkpoint đó. Mọi cột chất lượng là trung bình ± độ lệch chuẩn qua các seed.\n",
             f"Ngưỡng thời gian tới độ chính xác: {100 * proto['target']:.0f}% acc validation tốt nhất của tinh chỉnh "
             f"toàn bộ = {_fmt(summ['threshold_val_accuracy'], '.3f')}. {proto['timing']} {proto['memory']}\n",
             *([] if results.get("complete", True) else
               [f"**Chưa đủ:** còn thiếu các lần chạy {', '.join(results['missing_runs'][:12])}"
                f"{' …' if len(results['missing_runs']) > 12 else ''} (và các seed phụ thuộc kết quả quét). Hoàn tất "
                f"bằng cùng lệnh `{results['generated_by']}` (các lần đã xong được giữ).\n"]),
             f"Mô hình nền (chưa tinh chỉnh): acc validation {results['base']['val_accuracy']:.3f}, acc test "
             f"{results['base']['test_accuracy']:.3f}.\n",
             "Cột \"dừng sớm\": số seed dừng vì validation không còn tiến bộ (số còn lại chạy hết ngân sách, đường "
             "validation có thể chưa phẳng; xem hình đường validation).\n",
             "| phương pháp | tham số huấn luyện | % | lr chọn | acc test | % phần tăng của toàn bộ | bước tốt nhất "
             "| dừng sớm | bước tới 90% | giây tới 90% | ms/bước | FLOP so với toàn bộ | bộ nhớ (MB) "
             "| bộ nhớ so với toàn bộ |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, r in summ["methods"].items():
        c = costs.get(key, {})
        reach = r.get("reached_target", 0)
        n = r.get("test_accuracy", {}).get("n", 0)
        to90 = _pm(r.get("steps_to_target"), ".0f") + ("" if reach == n else f" ({reach}/{n} seed đạt)")
        lines.append(
            f"| {r['label']} | {c.get('trainable', 0):,} | {_fmt(c.get('percent'), '.3f')} "
            f"| {_fmt(r['chosen_lr'], '.2g')} | {_pm(r.get('test_accuracy'))} "
            f"| {_pm(r.get('gain_share'), '.0f', 100, '%')} "
            f"| {_pm(r.get('best_step'), '.0f')} | {_flat(r)} | {to90} | {_pm(r.get('seconds_to_target'), '.1f')} "
            f"| {_fmt(_ms(r.get('step_time_interleaved_s')), '.0f')} "
            f"| {_fmt(c.get('flops_ratio'), '.2f')} | {_fmt(c.get('memory', {}).get('total_mb'), '.1f')} "
            f"| {_fmt(c.get('memory_ratio'), '.2f')} |")
    dvl = summ.get("dora_vs_lora")
    if dvl:
        eq = dvl["equal_lr"]
        best = summ["methods"]
        lines += ["", "## DoRA so với LoRA (r = 8, cùng các lớp)\n",
                  "| so sánh | lr LoRA | acc test LoRA | lr DoRA | acc test DoRA |", "|---|---:|---:|---:|---:|",
                  f"| cùng tốc độ học | {eq['lr']:.2g} | {_pm(eq['lora'].get('test_accuracy'))} | {eq['lr']:.2g} "
                  f"| {_pm(eq['dora'].get('test_accuracy'))} |",
                  f"| mỗi bên ở tốc độ học tốt nhất | {dvl['each_best']['lora_lr']:.2g} | "
                  f"{_pm(best['lora'].get('test_accuracy'))} | {dvl['each_best']['dora_lr']:.2g} | "
                  f"{_pm(best['dora'].get('test_accuracy'))} |"]
    small = summ.get("small_data", {})
    if small.get("rows"):
        lines += ["", f"## Dữ liệu nhỏ (bài 6): {small['design']}; {small['steps']} bước\n",
                  "| phương pháp | N | số lượt qua dữ liệu | acc trên N ví dụ đã học | acc validation | acc test "
                  "| khoảng cách (học − test) |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in small["rows"].values():
            lines.append(f"| {r['label']} | {r['size']:,} | {r['epochs']:.1f} | {_pm(r['train_accuracy'])} | "
                         f"{_pm(r['val_accuracy'])} | {_pm(r['test_accuracy'])} | {_pm(r['generalization_gap'])} |")
    lines += ["", "## Chi phí một bước (mô hình của khóa học, lô 32)\n",
              "| phương pháp | trọng số | gradient | Adam | activation | tổng MB | FLOP so với toàn bộ "
              "| độ trễ suy luận so với nền | tệp (KB) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in costs.values():
        m = r["memory"]
        lines.append(f"| {r['label']} | {m['weights_mb']:.1f} | {m['grads_mb']:.2f} | {m['optimizer_mb']:.2f} | "
                     f"{m['activations_mb']:.1f} | {m['total_mb']:.1f} | {_fmt(r['flops_ratio'], '.2f')} | "
                     f"{r['latency_ratio']:.2f}{' (gộp)' if r['merged'] else ''} | {r['file_bytes'] / 1024:,.1f} |")
    if results["costs"].get("gpt2-small"):
        lines += ["", gpt2_markdown(results["costs"]["gpt2-small"])]
    return "\n".join(lines) + "\n"


def gpt2_markdown(small_costs: dict) -> str:
    """Bảng chi phí ở cỡ GPT-2 small (trọng số ngẫu nhiên, không huấn luyện)."""
    lines: list[str] = []
    s = small_costs["shape"]
    lines += [f"## Cỡ GPT-2 small ({small_costs['base']['total']:,} tham số, {s['n_layer']} lớp, d = "
                  f"{s['n_embd']}; trọng số ngẫu nhiên): lô {small_costs['batch_shape'][0]}×"
                  f"{small_costs['batch_shape'][1]}, trung vị {small_costs['steps']} bước\n",
              "| phương pháp | tham số huấn luyện | % | trọng số | gradient | Adam | activation | tổng MB "
              "| bộ nhớ so với toàn bộ | FLOP so với toàn bộ | s/bước | thời gian so với toàn bộ |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in small_costs["methods"].values():
        m = r["memory"]
        lines.append(
            f"| {r['label']} | {r['trainable']:,} | {r['percent']:.3f} | {m['weights_mb']:.0f} | {m['grads_mb']:.1f} "
            f"| {m['optimizer_mb']:.1f} | {m['activations_mb']:.0f} | {m['total_mb']:.0f} | "
            f"{_fmt(r['memory_ratio'], '.2f')} | {_fmt(r['flops_ratio'], '.2f')} | {r['time_per_step_s']:.2f} | "
            f"{_fmt(r.get('time_ratio'), '.2f')} |")
    return "\n".join(lines) + "\n"


def write_outputs(results: dict, json_path: Path, out: Path, log: Callable = print) -> list[Path]:
    """Ghi JSON (nguyên tử: tệp tạm rồi đổi tên), bảng markdown và các hình."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, json_path)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(markdown(results), encoding="utf-8")
    paths = save_figures(results, out)
    log(f"Đã ghi {json_path}, {out / 'comparison.md'} và {len(paths)} hình trong {out}")
    return [json_path, out / "comparison.md", *paths]


def costs_only(methods: Sequence[str], steps: int, device, shape: dict | None, out: Path, json_path: Path,
               threads: int) -> dict:
    """Chỉ đo chi phí ở cỡ GPT-2 small (không huấn luyện), ghi JSON và bảng vào `out`."""
    require(json_path.resolve() != RESULTS_JSON.resolve(),
            f"--regimes gpt2-small chỉ đo chi phí, không ghi đè {RESULTS_JSON}; dùng --out hoặc --json khác.")
    from peft_course.model import pick_device

    results = {"schema": 2, "generated_by": "python bench/compare.py --regimes gpt2-small",
               "machine": machine_info(pick_device(device), 0, threads),
               "costs": {"gpt2-small": gpt2_small_costs(methods, steps, device=device, shape=shape)}}
    out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "comparison.md").write_text(gpt2_markdown(results["costs"]["gpt2-small"]), encoding="utf-8")
    print(gpt2_markdown(results["costs"]["gpt2-small"]))
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=list(METHODS))
    p.add_argument("--device", default="cpu", help="cpu, cuda hoặc auto")
    p.add_argument("--workers", type=int, default=None, help="số tiến trình con (mặc định 2 trên CPU, 1 trên GPU)")
    p.add_argument("--threads", type=int, default=1, help="số luồng torch mỗi tiến trình con")
    p.add_argument("--quick", action="store_true", help="vài bước mỗi lần chạy, chỉ để thử mã (ghi vào thư mục tạm)")
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES,
                   help="course: giao thức đo chất lượng + chi phí; gpt2-small: chỉ chi phí ở cỡ GPT-2 small")
    p.add_argument("--gpt2-steps", "--cost-steps", type=int, default=2,
                   help="số bước bấm giờ ở cỡ GPT-2 small (0: bỏ qua)")
    p.add_argument("--out", default=None, help="thư mục hình và bảng (mặc định bench/results)")
    p.add_argument("--json", default=None, help="tệp JSON kết quả (mặc định: --out/comparison.json nếu có --out, "
                                                "không thì peft_course/assets/results/comparison.json)")
    p.add_argument("--from-json", action="store_true", help="chỉ vẽ lại hình và bảng từ tệp JSON đã có")
    p.add_argument("--finalize", action="store_true",
                   help="không huấn luyện: tổng hợp các lần chạy đã xong (kết quả đánh dấu complete=false nếu thiếu)")
    args = p.parse_args(argv)
    device = None if args.device == "auto" else args.device
    if args.quick and args.out is None:
        args.out = tempfile.mkdtemp(prefix="peft-bench-quick-")
    out = Path(args.out or RESULTS)
    json_path = Path(args.json) if args.json else (out / "comparison.json" if args.out else RESULTS_JSON)
    if args.from_json:
        results = json.loads(json_path.read_text(encoding="utf-8"))
        write_outputs(results, json_path, out)
        return results
    protocol = QUICK if args.quick else Protocol()
    protocol = Protocol(**{**protocol.to_dict(), "methods": tuple(args.methods),
                           "small_methods": tuple(m for m in protocol.small_methods if m in args.methods)})
    workers = args.workers if args.workers is not None else (2 if device in ("cpu", None) and not
                                                             torch.cuda.is_available() else 1)
    torch.set_num_threads(args.threads)
    gpt2_shape = QUICK_GPT2 if args.quick else None
    if "course" not in args.regimes:  # chỉ chi phí ở cỡ GPT-2 small: không huấn luyện, không ghi kết quả của gói
        return costs_only(args.methods, max(1, args.gpt2_steps), device, gpt2_shape, out, json_path, args.threads)
    partial = out / f"runs-{settings_hash(protocol)}.partial.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    print(f"Giao thức {settings_hash(protocol)}; các lần chạy xong ghi vào {partial}", flush=True)
    results = measure(protocol, device=device, workers=workers, threads=args.threads, partial=partial,
                      gpt2_steps=args.gpt2_steps if "gpt2-small" in args.regimes else 0, gpt2_shape=gpt2_shape,
                      train=not args.finalize, timing_rounds=3 if args.quick else 12,
                      log=lambda s: print(s, flush=True))
    write_outputs(results, json_path, out)
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()

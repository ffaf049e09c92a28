"""Giao thức đo duy nhất của khóa học: bench/compare.py chạy nó, bài học và tài liệu đọc kết quả của nó.

Mỗi phương pháp (khóa trong `recipes.METHODS`):
1. Quét tốc độ học ×⅓, ×1, ×3 quanh tốc độ học của công thức (`recipes.RECIPES`), seed 0; chọn tốc độ học có acc
   validation tốt nhất (ở checkpoint tốt nhất; bằng nhau thì mất mát validation thấp hơn, rồi tốc độ học nhỏ hơn).
2. Chạy thêm các seed còn lại ở tốc độ học đã chọn (≥ 3 seed tất cả).
Mỗi lần chạy: tối đa `max_steps` bước, đánh giá validation mỗi `eval_every` bước, giữ checkpoint tốt nhất trên
validation và dừng sớm sau `patience` lần đánh giá không tốt hơn; acc test đọc đúng một lần, ở checkpoint đã chọn.
Thời gian tới 90%: bước đánh giá đầu tiên mà acc validation ≥ 90% acc validation tốt nhất (trung bình các seed)
của tinh chỉnh toàn bộ; giây = số bước đó × trung vị thời gian một bước của lần chạy (không tính đánh giá).

Nghiên cứu dữ liệu nhỏ (bài 6): N ví dụ huấn luyện lấy ngẫu nhiên theo seed, cùng số bước cho mọi N, tốc độ học của
công thức, đọc ở bước cuối: acc trên chính N ví dụ đã học, acc validation và test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
from dataclasses import dataclass

import torch

from .data import TaskData, load_feedback
from .recipes import METHODS, RECIPES, build

TIMING_NOTE = ("Thời gian một bước (ms/bước) đo riêng sau các lần chạy, xen kẽ mọi phương pháp trên cùng một lô 32 ví "
               "dụ, 1 luồng torch, trung vị qua các vòng (timing_rounds; truyền xuôi, lan truyền ngược, AdamW; "
               "không tính đánh giá): "
               "máy bận làm chậm mọi phương pháp như nhau trong một vòng. Giây tới ngưỡng = số bước tới ngưỡng × thời "
               "gian một bước đó. Trung vị thời gian bước trong từng lần chạy (máy bận theo lúc) cũng được ghi "
               "(step_time_median_s).")
MEMORY_NOTE = ("Bộ nhớ và FLOP từ peft_course.costs.step_cost: kích thước tensor trọng số, gradient, trạng thái AdamW "
               "và activation autograd giữ lại, trên một lô cố định; tất định, không phải RSS của tiến trình.")


@dataclass(frozen=True)
class Protocol:
    """Các tham số của giao thức đo; mọi giá trị đều ghi vào tệp kết quả."""

    lr_factors: tuple[float, ...] = (1 / 3, 1.0, 3.0)  # hệ số nhân tốc độ học của công thức khi quét
    seeds: tuple[int, ...] = (0, 1, 2)  # seed[0] dùng để quét tốc độ học
    max_steps: int = 600  # ngân sách tối đa (lịch cosin tính theo ngân sách này)
    eval_every: int = 25  # đánh giá validation mỗi chừng ấy bước
    patience: int = 4  # dừng sớm sau chừng ấy lần đánh giá liên tiếp không tốt hơn
    min_steps: int = 300  # không dừng sớm trước bước này: prompt tuning nằm ở mức đoán mò hơn 100 bước rồi mới học
    batch_size: int = 32
    warmup: int = 10
    target: float = 0.9  # ngưỡng thời gian-tới-độ-chính-xác: phần của acc validation tốt nhất của tinh chỉnh toàn bộ
    small_sizes: tuple[int, ...] = (100, 300, 1000, 3000)  # cỡ tập huấn luyện của nghiên cứu dữ liệu nhỏ
    small_steps: int = 200  # cùng số bước cho mọi cỡ (nên N nhỏ được học lại nhiều lượt hơn)
    small_eval_every: int = 50
    small_methods: tuple[str, ...] = ("full", "lora")
    methods: tuple[str, ...] = tuple(METHODS)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def lrs(self, method: str) -> list[float]:
        """Các tốc độ học được quét cho `method` (làm tròn 6 chữ số có nghĩa để cùng giá trị cho cùng khóa)."""
        base = RECIPES[METHODS[method].recipe]["lr"]
        return [float(f"{base * f:.6g}") for f in self.lr_factors]


QUICK = Protocol(seeds=(0, 1, 2), max_steps=6, eval_every=2, patience=2, min_steps=2, warmup=2, small_sizes=(40, 80),
                 small_steps=4, small_eval_every=2)  # chỉ để kiểm tra mã chạy được (--quick), không phải số đo


def job_key(job: dict) -> str:
    """Khóa duy nhất của một lần chạy: loại, phương pháp, tốc độ học, seed (và cỡ dữ liệu)."""
    parts = [job["kind"], job["method"], f"lr={job['lr']:.6g}", f"seed={job['seed']}"]
    if job["kind"] == "small":
        parts.append(f"n={job['size']}")
    return "|".join(parts)


def subset(data: TaskData, index: torch.Tensor) -> TaskData:
    """TaskData chỉ gồm các ví dụ `index` (mọi tensor theo ví dụ được cắt; label_token_ids giữ nguyên)."""
    n = len(data)
    values = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    return TaskData(**{k: v[index] if torch.is_tensor(v) and k != "label_token_ids" and v.shape[:1] == (n,) else v
                       for k, v in values.items()})


def _history_record(h) -> dict:
    return {"eval_steps": h.eval_steps, "eval_accuracy": h.eval_accuracy,
            "eval_loss": [round(x, 5) for x in h.eval_loss], "best_step": h.best_step,
            "best_val_accuracy": h.best_val_accuracy, "best_val_loss": round(h.best_val_loss, 5),
            "steps_run": len(h.steps), "stopped_early": h.stopped_early,
            "train_loss": [round(sum(h.loss[i:i + 25]) / len(h.loss[i:i + 25]), 5) for i in range(0, len(h.loss), 25)],
            "step_time_median_s": round(h.step_time_median_s, 5), "time_per_step_s": round(h.time_per_step_s, 5),
            "eval_time_s": round(h.eval_time_s, 2), "wall_s": round(h.wall_time_s, 2), "trainable": h.trainable}


def run_main(course, method: str, lr: float, seed: int, protocol: Protocol) -> dict:
    """Một lần chạy của giao thức: checkpoint tốt nhất trên validation, acc test đọc một lần ở checkpoint đó."""
    from .training import evaluate, train

    model = build(method, course.fresh_model(seed), course.tokenizer, seed)
    h = train(model, course.train, course.validation, steps=protocol.max_steps, lr=lr, batch_size=protocol.batch_size,
              eval_every=protocol.eval_every, warmup=protocol.warmup, seed=seed, progress=False, keep_best=True,
              patience=protocol.patience, min_steps=protocol.min_steps)
    test = evaluate(model, course.test)["accuracy"]
    return {"kind": "main", "method": method, "lr": lr, "seed": seed, "test_accuracy": test, **_history_record(h)}


def run_small(course, method: str, size: int, seed: int, protocol: Protocol) -> dict:
    """Một lần chạy của nghiên cứu dữ liệu nhỏ: `size` ví dụ (chọn theo seed), `small_steps` bước, đọc ở bước cuối."""
    from .training import evaluate, train

    index = torch.randperm(len(course.train), generator=torch.Generator().manual_seed(1000 + seed))[:size]
    data = subset(course.train, index)
    lr = RECIPES[METHODS[method].recipe]["lr"]
    model = build(method, course.fresh_model(seed), course.tokenizer, seed)
    h = train(model, data, course.validation, steps=protocol.small_steps, lr=lr,
              batch_size=min(protocol.batch_size, size), eval_every=protocol.small_eval_every,
              warmup=protocol.warmup, seed=seed, progress=False)
    return {"kind": "small", "method": method, "lr": lr, "seed": seed, "size": size,
            "epochs": protocol.small_steps * min(protocol.batch_size, size) / size,
            "train_accuracy": evaluate(model, data)["accuracy"], "val_accuracy": h.eval_accuracy[-1],
            "test_accuracy": evaluate(model, course.test)["accuracy"], **_history_record(h)}


_WORKER: dict = {}


def worker_init(device: str | None, threads: int = 1) -> None:
    """Khởi tạo một tiến trình con: số luồng torch, rồi nạp dữ liệu và tokenizer một lần."""
    from .experiments import prepare

    torch.set_num_threads(threads)
    _WORKER["course"] = prepare(None, device)


def run_job(job: dict, protocol: dict) -> dict:
    """Chạy một lần (main hoặc small) trong tiến trình con đã `worker_init`; trả về bản ghi có thể ghi ra JSON."""
    proto = Protocol(**{k: tuple(v) if isinstance(v, list) else v for k, v in protocol.items()})
    course = _WORKER["course"]
    if job["kind"] == "main":
        rec = run_main(course, job["method"], job["lr"], job["seed"], proto)
    else:
        rec = run_small(course, job["method"], job["size"], job["seed"], proto)
    return {**rec, "key": job_key(job)}


# ---------------------------------------------------------------- lập lịch: lần chạy nào cần, theo thứ tự nào

def choose_lr(records: list[dict], method: str, protocol: Protocol) -> float | None:
    """Tốc độ học được chọn trên validation (seed quét), hoặc None khi chưa quét xong.

    Tiêu chí: acc validation ở checkpoint tốt nhất cao hơn; bằng nhau thì mất mát validation thấp hơn; rồi tốc độ
    học nhỏ hơn.
    """
    seed = protocol.seeds[0]
    sweep = {r["lr"]: r for r in records if r["kind"] == "main" and r["method"] == method and r["seed"] == seed}
    if any(lr not in sweep for lr in protocol.lrs(method)):
        return None
    return min(protocol.lrs(method), key=lambda lr: (-sweep[lr]["best_val_accuracy"], sweep[lr]["best_val_loss"], lr))


def next_jobs(records: list[dict], protocol: Protocol) -> list[dict]:
    """Mọi lần chạy đã sẵn sàng (chưa có trong `records`), theo thứ tự ưu tiên: quét, các seed, DoRA ở tốc độ học
    của LoRA, rồi nghiên cứu dữ liệu nhỏ. Các lần chạy phụ thuộc kết quả quét chỉ xuất hiện khi quét xong."""
    done = {r["key"] for r in records}
    jobs = [{"kind": "main", "method": m, "lr": lr, "seed": protocol.seeds[0]}
            for m in protocol.methods for lr in protocol.lrs(m)]
    chosen = {m: choose_lr(records, m, protocol) for m in protocol.methods}
    for m, lr in chosen.items():
        if lr is not None:
            jobs += [{"kind": "main", "method": m, "lr": lr, "seed": s} for s in protocol.seeds[1:]]
    if {"lora", "dora"} <= set(protocol.methods) and chosen["lora"] is not None:
        jobs += [{"kind": "main", "method": "dora", "lr": chosen["lora"], "seed": s} for s in protocol.seeds]
    jobs += [{"kind": "small", "method": m, "lr": RECIPES[METHODS[m].recipe]["lr"], "seed": s, "size": n}
             for n in protocol.small_sizes for m in protocol.small_methods for s in protocol.seeds]
    unique = {job_key(j): j for j in jobs}
    return [j for k, j in unique.items() if k not in done]


# ---------------------------------------------------------------- tổng hợp

def mean_sd(values: list[float]) -> dict:
    """Trung bình, độ lệch chuẩn mẫu (ddof = 1; 0 khi chỉ một giá trị) và số giá trị; None được bỏ qua."""
    xs = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}


def steps_to(record: dict, threshold: float) -> int | None:
    """Bước đánh giá đầu tiên mà acc validation ≥ ngưỡng (None nếu không bao giờ đạt)."""
    return next((s for s, a in zip(record["eval_steps"], record["eval_accuracy"]) if a >= threshold), None)


def _seed_rows(records: list[dict], method: str, lr: float, protocol: Protocol) -> list[dict]:
    rows = {r["seed"]: r for r in records if r["kind"] == "main" and r["method"] == method and r["lr"] == lr}
    return [rows[s] for s in protocol.seeds if s in rows]


def _stats(runs: list[dict], threshold: float | None, base_test: float, full_gain: float | None,
           step_time: float | None = None) -> dict:
    """Trung bình ± độ lệch chuẩn qua các seed của mọi cột.

    step_time: thời gian một bước của phương pháp đo riêng, xen kẽ các phương pháp (bền với máy bận); None: dùng
    trung vị thời gian bước của chính lần chạy.
    """
    per_seed = []
    for r in runs:
        steps = steps_to(r, threshold) if threshold is not None else None
        per_step = step_time if step_time is not None else r["step_time_median_s"]
        share = (r["test_accuracy"] - base_test) / full_gain if full_gain else None
        per_seed.append({"seed": r["seed"], "test_accuracy": r["test_accuracy"],
                         "best_val_accuracy": r["best_val_accuracy"],
                         "best_step": r["best_step"], "steps_run": r["steps_run"], "stopped_early": r["stopped_early"],
                         "steps_to_target": steps, "step_time_median_s": r["step_time_median_s"],
                         "seconds_to_target": None if steps is None else round(steps * per_step, 3),
                         "gain_share": share})
    cols = ("test_accuracy", "best_val_accuracy", "best_step", "steps_run", "steps_to_target", "seconds_to_target",
            "step_time_median_s", "gain_share")
    out = {c: mean_sd([p[c] for p in per_seed]) for c in cols}
    out["reached_target"] = sum(p["steps_to_target"] is not None for p in per_seed)
    out["seeds"] = per_seed
    return out


def summarize(records: list[dict], protocol: Protocol, base: dict, step_times: dict[str, float] | None = None) -> dict:
    """Bảng tổng hợp từ các bản ghi: tốc độ học chọn, thống kê qua seed, thời gian tới 90%, DoRA vs LoRA, dữ liệu nhỏ.

    base: {"val_accuracy", "test_accuracy"} của mô hình nền. Phần tăng của một seed = (acc test − nền) / (trung bình
    acc test của tinh chỉnh toàn bộ − nền); cột gain_share là trung bình ± độ lệch chuẩn của nó qua các seed.
    step_times: thời gian một bước mỗi phương pháp đo xen kẽ (`interleaved_step_times`); giây tới ngưỡng = số bước ×
    thời gian đó. None: dùng trung vị thời gian bước trong chính mỗi lần chạy.
    """
    step_times = step_times or {}
    chosen = {m: choose_lr(records, m, protocol) for m in protocol.methods}
    full_runs = _seed_rows(records, "full", chosen.get("full"), protocol) if chosen.get("full") else []
    full_best = mean_sd([r["best_val_accuracy"] for r in full_runs])["mean"]
    threshold = protocol.target * full_best if full_best is not None else None
    full_test = mean_sd([r["test_accuracy"] for r in full_runs])["mean"]
    full_gain = full_test - base["test_accuracy"] if full_test is not None else None
    full_gain = full_gain if full_gain and full_gain > 0 else None
    methods = {}
    for m in protocol.methods:
        sweep = {f"{lr:.6g}": r for r in records if r["kind"] == "main" and r["method"] == m
                 and r["seed"] == protocol.seeds[0] for lr in [r["lr"]]}
        row = {"label": METHODS[m].label, "recipe_lr": RECIPES[METHODS[m].recipe]["lr"], "chosen_lr": chosen[m],
               "sweep": {lr: {"best_val_accuracy": r["best_val_accuracy"], "best_val_loss": r["best_val_loss"],
                              "best_step": r["best_step"]}
                         for lr, r in sorted(sweep.items(), key=lambda kv: float(kv[0]))}}
        if chosen[m] is not None:
            runs = _seed_rows(records, m, chosen[m], protocol)
            row.update(_stats(runs, threshold, base["test_accuracy"], full_gain, step_times.get(m)))
            row["step_time_interleaved_s"] = step_times.get(m)
            row["curves"] = [{"seed": r["seed"], "eval_steps": r["eval_steps"], "eval_accuracy": r["eval_accuracy"],
                              "train_loss": r["train_loss"]} for r in runs]
            row["flattened"] = _flattened(runs, protocol)
        methods[m] = row
    out = {"threshold_val_accuracy": threshold, "full_best_val_accuracy": full_best, "methods": methods,
           "dora_vs_lora": _dora_vs_lora(records, chosen, protocol, threshold, base["test_accuracy"], full_gain,
                                         step_times),
           "small_data": _small_data(records, protocol)}
    return out


def _flattened(runs: list[dict], protocol: Protocol) -> dict:
    """Bằng chứng đường validation đã phẳng: mỗi seed hoặc dừng sớm (patience lần đánh giá không tốt hơn), hoặc chạy
    hết ngân sách; ghi số bước từ checkpoint tốt nhất tới lúc dừng."""
    return {"stopped_early": sum(r["stopped_early"] for r in runs), "runs": len(runs),
            "steps_after_best": [r["steps_run"] - r["best_step"] for r in runs if r["best_step"] is not None],
            "budget": protocol.max_steps}


def _dora_vs_lora(records, chosen, protocol, threshold, base_test, full_gain, step_times) -> dict | None:
    """DoRA và LoRA ở cùng tốc độ học (tốc độ học LoRA chọn) và mỗi bên ở tốc độ học tốt nhất của mình."""
    if chosen.get("lora") is None or chosen.get("dora") is None:
        return None
    equal = chosen["lora"]
    return {"equal_lr": {"lr": equal,
                         "lora": _stats(_seed_rows(records, "lora", equal, protocol), threshold, base_test, full_gain,
                                        step_times.get("lora")),
                         "dora": _stats(_seed_rows(records, "dora", equal, protocol), threshold, base_test, full_gain,
                                        step_times.get("dora"))},
            "each_best": {"lora_lr": chosen["lora"], "dora_lr": chosen["dora"]}}


def _small_data(records: list[dict], protocol: Protocol) -> dict:
    """Bảng nghiên cứu dữ liệu nhỏ: theo phương pháp và cỡ, trung bình ± độ lệch chuẩn qua seed."""
    rows = {}
    for m in protocol.small_methods:
        for n in protocol.small_sizes:
            runs = [r for r in records if r["kind"] == "small" and r["method"] == m and r["size"] == n]
            if not runs:
                continue
            gap = [r["train_accuracy"] - r["test_accuracy"] for r in runs]
            rows[f"{m}|{n}"] = {"method": m, "label": METHODS[m].label, "size": n, "epochs": runs[0]["epochs"],
                                "lr": runs[0]["lr"], "trainable": runs[0]["trainable"],
                                "train_accuracy": mean_sd([r["train_accuracy"] for r in runs]),
                                "val_accuracy": mean_sd([r["val_accuracy"] for r in runs]),
                                "test_accuracy": mean_sd([r["test_accuracy"] for r in runs]),
                                "generalization_gap": mean_sd(gap),
                                "seeds": [{k: r[k] for k in ("seed", "train_accuracy", "val_accuracy", "test_accuracy")}
                                          for r in runs]}
    return {"steps": protocol.small_steps, "sizes": list(protocol.small_sizes), "methods": list(protocol.small_methods),
            "design": "cùng số bước cho mọi cỡ N (số lượt qua dữ liệu = bước × lô / N), tốc độ học của công thức, "
                      "đọc ở bước cuối (không checkpoint tốt nhất: để thấy học thuộc); N ví dụ chọn ngẫu nhiên theo "
                      "seed; acc huấn luyện tính trên đúng N ví dụ đã học",
            "rows": rows}


def interleaved_step_times(course, methods: list[str], rounds: int = 12, warmup: int = 2,
                           batch_size: int = 32) -> dict[str, float]:
    """Thời gian một bước huấn luyện (giây) của mỗi phương pháp, đo xen kẽ: mỗi vòng chạy một bước của lần lượt mọi
    phương pháp trên cùng một lô, lấy trung vị qua các vòng. Máy bận làm chậm mọi phương pháp như nhau trong một vòng,
    nên tỉ số giữa các phương pháp bền hơn thời gian đo trong từng lần chạy riêng (chạy lúc máy bận khác nhau)."""
    import time

    batch = course.train.batch(torch.arange(batch_size), course.device)
    models = {m: build(m, course.fresh_model(0), course.tokenizer, 0) for m in methods}
    opts = {m: torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            for m, model in models.items()}
    times: dict[str, list[float]] = {m: [] for m in methods}
    for i in range(warmup + rounds):
        for m, model in models.items():
            model.train()
            start = time.perf_counter()
            model(**batch).loss.backward()
            opts[m].step()
            opts[m].zero_grad(set_to_none=True)
            if course.device.type == "cuda":
                torch.cuda.synchronize(course.device)
            if i >= warmup:
                times[m].append(time.perf_counter() - start)
    return {m: round(statistics.median(t), 5) for m, t in times.items()}


# ---------------------------------------------------------------- dấu vân tay hành vi

def _sha(chunks) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def probe_losses(course, method: str, steps: int = 3) -> list[float]:
    """Mất mát của `steps` bước huấn luyện đầu tiên (seed 0, tốc độ học của công thức, 64 ví dụ đầu, lô 8)."""
    from .training import train

    model = build(method, course.fresh_model(0), course.tokenizer, 0)
    data = subset(course.train, torch.arange(64))
    h = train(model, data, steps=steps, lr=RECIPES[METHODS[method].recipe]["lr"], batch_size=8, warmup=1, seed=0,
              progress=False)
    return [round(x, 6) for x in h.loss]


def behaviour_fingerprint(course, protocol: Protocol) -> dict:
    """Dấu vân tay của những gì quyết định kết quả: băm chính xác dữ liệu, trọng số nền và tham số giao thức; cộng
    mất mát vài bước đầu của mỗi phương pháp (so với dung sai, nên tái cấu trúc giữ nguyên hành vi không làm cũ)."""
    ds = load_feedback()
    data = _sha(json.dumps([list(ds[s]["text"]), list(ds[s]["label"])], ensure_ascii=False).encode()
                for s in ("train", "validation", "test"))
    model = course.fresh_model(0)
    weights = _sha(f"{n}|{tuple(p.shape)}".encode() + p.detach().float().cpu().contiguous().numpy().tobytes()
                   for n, p in model.state_dict().items())
    settings = {"protocol": protocol.to_dict(), "recipes": RECIPES,
                "methods": {k: [m.label, m.recipe] for k, m in METHODS.items()}}
    return {"data_sha256": data, "base_weights_sha256": weights,
            "protocol_sha256": _sha([json.dumps(settings, sort_keys=True).encode()]),
            "probe_losses": {m: probe_losses(course, m) for m in protocol.methods}}


def fingerprint_differences(committed: dict, current: dict, tol: float = 1e-3) -> list[str]:
    """Những điểm khác nhau giữa hai dấu vân tay (rỗng: kết quả đã lưu còn đúng với mã và dữ liệu hiện tại)."""
    diffs = [f"{k} khác ({committed.get(k, '')[:12]}… ≠ {current[k][:12]}…)"
             for k in ("data_sha256", "base_weights_sha256", "protocol_sha256") if committed.get(k) != current[k]]
    old = committed.get("probe_losses", {})
    for m, losses in current["probe_losses"].items():
        ref = old.get(m)
        if ref is None or len(ref) != len(losses) or any(abs(a - b) > tol for a, b in zip(ref, losses)):
            diffs.append(f"mất mát thăm dò của {m}: đã lưu {ref}, bây giờ {losses} (dung sai {tol})")
    return diffs


def settings_hash(protocol: Protocol) -> str:
    """Băm ngắn của tham số giao thức: bản ghi dở dang chỉ được dùng lại khi cùng băm này."""
    return _sha([json.dumps(protocol.to_dict(), sort_keys=True).encode()])[:12]


__all__ = ["Protocol", "QUICK", "TIMING_NOTE", "MEMORY_NOTE", "job_key", "subset", "run_main", "run_small",
           "worker_init", "run_job", "choose_lr", "next_jobs", "mean_sd", "steps_to", "summarize",
           "behaviour_fingerprint", "fingerprint_differences", "probe_losses", "settings_hash"]

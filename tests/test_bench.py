"""bench/compare.py và peft_course.costs: giao thức chạy được từ đầu tới cuối trên bản thu nhỏ, chạy tiếp được,
lược đồ kết quả, bộ nhớ cộng lại đúng; và kết quả đã công bố không cũ so với mã và dữ liệu hiện tại.

Bản thu nhỏ: 2 phương pháp, 2 bước, tập huấn luyện/validation/test vài chục ví dụ. Không kiểm tra độ chính xác cụ
thể, chỉ các bất biến.
"""

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from peft_course import CourseError, count_parameters
from peft_course.costs import step_cost
from peft_course.protocol import Protocol, behaviour_fingerprint, fingerprint_differences, subset

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "bench" / "compare.py")
compare = importlib.util.module_from_spec(_spec)
sys.modules["bench_compare"] = compare
_spec.loader.exec_module(compare)

TINY = {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 1000, "n_positions": 256}
MINI = Protocol(seeds=(0, 1), max_steps=2, eval_every=1, patience=1, min_steps=0, batch_size=8, warmup=1,
                small_sizes=(16,), small_steps=2, small_eval_every=1, small_methods=("lora",), methods=("full", "lora"))


@pytest.fixture(scope="module")
def course():
    return compare.prepare(None, "cpu")


@pytest.fixture(scope="module")
def mini_course(course):
    """Cùng mô hình và tokenizer, nhưng 64 ví dụ huấn luyện, 24 validation, 24 test: vài giây mỗi lần chạy."""
    return dataclasses.replace(course, train=subset(course.train, torch.arange(64)),
                               validation=subset(course.validation, torch.arange(24)),
                               test=subset(course.test, torch.arange(24)))


@pytest.fixture(scope="module")
def mini_result(mini_course, tmp_path_factory):
    partial = tmp_path_factory.mktemp("bench") / "runs.partial.jsonl"
    res = compare.measure(MINI, workers=0, partial=partial, gpt2_steps=1, gpt2_shape=TINY, gpt2_batch=(2, 16),
                          timing_rounds=1, course=mini_course, log=lambda s: None)
    return res, partial


def check_memory(row):
    """Các phần bộ nhớ khớp kích thước tensor: fp32 nên gradient = 4 byte, AdamW = 8 byte mỗi tham số huấn luyện."""
    b = row["memory"]["bytes"]
    assert b["weights_bytes"] == 4 * row["total"]
    assert b["grads_bytes"] == 4 * row["trainable"]
    assert b["optimizer_bytes"] == 8 * row["trainable"]
    assert b["activations_bytes"] > 0
    assert b["total_bytes"] == b["weights_bytes"] + b["grads_bytes"] + b["optimizer_bytes"] + b["activations_bytes"]
    assert math.isclose(row["memory"]["total_mb"], b["total_bytes"] / 2**20, abs_tol=1e-3)


def test_protocol_runs_every_job_and_reports_mean_and_sd(mini_result, course):
    r, _ = mini_result
    json.dumps(r)  # ghi được ra JSON
    assert r["complete"] and r["missing_runs"] == []
    # 2 phương pháp × (3 lr ở seed 0 + 1 seed nữa) + dữ liệu nhỏ 1 cỡ × 2 seed
    assert len([x for x in r["runs"] if x["kind"] == "main"]) == 8
    assert len([x for x in r["runs"] if x["kind"] == "small"]) == 2
    for key, row in r["summary"]["methods"].items():
        assert row["chosen_lr"] in MINI.lrs(key)
        assert row["test_accuracy"]["n"] == 2 and row["test_accuracy"]["sd"] is not None
        assert 1 <= row["best_step"]["mean"] <= 2 and len(row["curves"]) == 2
        assert set(row["sweep"]) == {f"{lr:.6g}" for lr in MINI.lrs(key)}
    full = r["summary"]["methods"]["full"]
    assert r["summary"]["threshold_val_accuracy"] == pytest.approx(0.9 * full["best_val_accuracy"]["mean"])
    assert set(r["fingerprint"]["probe_losses"]) == {"full", "lora"}
    assert set(r["step_times_interleaved_s"]) == {"full", "lora"} and min(r["step_times_interleaved_s"].values()) > 0
    assert full["step_time_interleaved_s"] == r["step_times_interleaved_s"]["full"]
    assert {"measured_at", "cpu", "workers", "torch_threads_per_worker", "device"} <= set(r["machine"])
    for key, row in r["costs"]["course"].items():
        fresh = compare.build(key, course.fresh_model(), course.tokenizer)
        counts = count_parameters(fresh)
        assert (row["trainable"], row["total"]) == (counts.trainable, counts.total)
        check_memory(row)
    lora = r["costs"]["course"]["lora"]
    assert 0.5 < lora["flops_ratio"] < 0.8 and lora["flops_ratio"] > 5 * lora["param_ratio"]


def test_restart_reuses_finished_runs(mini_result, mini_course):
    r, partial = mini_result
    lines = partial.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(r["runs"])
    partial.write_text("\n".join(lines[:-1]) + "\n{\"cắt dở", encoding="utf-8")  # lần cuối bị ngắt khi đang ghi
    log = []
    again = compare.run_protocol(MINI, workers=0, partial=partial, course=mini_course, log=log.append)
    assert len(again) == len(r["runs"]) and sum("seed=" in line for line in log[1:]) == 1  # chỉ chạy lại lần thiếu
    assert "Dùng lại" in log[0]


def test_tables_and_figures_are_written(mini_result, tmp_path):
    r, _ = mini_result
    paths = compare.write_outputs(r, tmp_path / "comparison.json", tmp_path, log=lambda s: None)
    assert json.loads((tmp_path / "comparison.json").read_text(encoding="utf-8"))["summary"]
    table = (tmp_path / "comparison.md").read_text(encoding="utf-8")
    assert "LoRA r=8" in table and "±" in table and "Dữ liệu nhỏ" in table
    assert all(p.stat().st_size > 1000 for p in paths)
    assert {p.name for p in paths} >= {"pareto.png", "curves.png", "time_to_accuracy.png", "memory.png"}


def test_step_cost_is_deterministic(course):
    batch = course.train.batch(torch.arange(8))
    a = step_cost(compare.build("lora", course.fresh_model(), None), batch)
    b = step_cost(compare.build("lora", course.fresh_model(), None), batch)
    assert a == b


def test_gpt2_small_costs_only(tmp_path):
    r = compare.gpt2_small_costs(["full", "pfeiffer"], steps=1, batch=(2, 16), shape=TINY, log=lambda s: None)
    for row in r["methods"].values():
        check_memory(row)
        assert "test_accuracy" not in row and len(row["step_times_s"]) == 1
    full, pf = r["methods"]["full"], r["methods"]["pfeiffer"]
    assert pf["memory"]["optimizer_mb"] < full["memory"]["optimizer_mb"] / 5


def test_bad_inputs():
    with pytest.raises(CourseError, match="qlora"):
        compare.measure(dataclasses.replace(MINI, methods=("full", "qlora")), workers=0)
    with pytest.raises(CourseError, match="full"):
        compare.measure(dataclasses.replace(MINI, methods=("lora",)), workers=0)


def test_latency_ms_times_a_forward_pass_without_changing_the_model(base):
    from peft_course.costs import latency_ms

    model, tok = base
    batch = tok(["Phản hồi: thầy dạy hay\nCảm xúc:"], return_tensors="pt")
    batch["labels"] = batch["input_ids"]  # bị bỏ qua: chỉ đo truyền xuôi
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ms = latency_ms(model, batch, repeats=3, warmup=1)
    assert 0 < ms < 10_000
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    with pytest.raises(CourseError, match="repeats"):
        latency_ms(model, batch, repeats=0)


def test_published_results_are_not_stale(course):
    """Kết quả đã công bố (peft_course/assets/results/comparison.json) khớp mã và dữ liệu hiện tại.

    Băm chính xác dữ liệu, trọng số nền, tham số giao thức; mất mát 3 bước đầu của mỗi phương pháp so với dung sai.
    Hỏng: chạy lại bench (khoảng một giờ trên 2 nhân) rồi commit kết quả.
    """
    from peft_course.report import REFRESH_COMMAND, RESULTS_PATH

    assert RESULTS_PATH.exists(), f"Chưa có {RESULTS_PATH}; sinh bằng: {REFRESH_COMMAND}"
    committed = json.loads(RESULTS_PATH.read_text(encoding="utf-8"))
    names = {f.name for f in dataclasses.fields(Protocol)}
    proto = Protocol(**{k: tuple(v) if isinstance(v, list) else v for k, v in committed["protocol"].items()
                        if k in names})
    diffs = fingerprint_differences(committed["fingerprint"], behaviour_fingerprint(course, proto))
    assert not diffs, ("Kết quả đã công bố đã cũ so với mã/dữ liệu hiện tại:\n  " + "\n  ".join(diffs)
                       + f"\nSinh lại: {REFRESH_COMMAND}  (rồi commit peft_course/assets/results/ và bench/results/)")


def test_report_api_reads_the_published_numbers(mini_result, tmp_path):
    from peft_course import report

    r, _ = mini_result
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps(r), encoding="utf-8")
    res = report.load_results(path)
    s = report.stat(res, "lora")
    seeds = [x["test_accuracy"] for x in r["summary"]["methods"]["lora"]["seeds"]]
    assert s.n == 2 and s.mean == pytest.approx(sum(seeds) / 2) and str(s) == f"{s.mean:.3f} ± {s.sd:.3f}"
    assert report.gain_share(res, "full").mean == pytest.approx(100.0)
    assert report.chosen_lr(res, "lora") in MINI.lrs("lora")
    table = report.published_table(res)
    assert table.count("\n") == 2 + 2 and "mô hình nền" in table and "±" in table
    assert "| LoRA r=8 | 16 |" in report.small_data_table(res)
    assert f"tối đa {MINI.max_steps} bước" in report.protocol_text(res)
    with pytest.raises(CourseError, match="DoRA"):
        report.dora_vs_lora(res)
    with pytest.raises(CourseError, match="column"):
        report.stat(res, "lora", "accuracy")
    with pytest.raises(CourseError, match="bench/compare.py"):
        report.load_results(tmp_path / "không-có.json")
    (tmp_path / "cũ.json").write_text('{"regimes": {}}', encoding="utf-8")
    with pytest.raises(CourseError, match="lược đồ"):
        report.load_results(tmp_path / "cũ.json")


def test_cost_only_cli_used_by_gpu_check(tmp_path, capsys):
    """scripts/gpu_check.py gọi: --device … --out … --regimes gpt2-small --methods full lora --cost-steps 1."""
    res = compare.main(["--device", "cpu", "--out", str(tmp_path), "--regimes", "gpt2-small", "--methods", "full",
                        "lora", "--cost-steps", "1", "--quick"])
    assert set(res["costs"]["gpt2-small"]["methods"]) == {"full", "lora"} and "summary" not in res
    assert "GPT-2 small" in (tmp_path / "comparison.md").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "comparison.json").read_text(encoding="utf-8"))["schema"] == 2

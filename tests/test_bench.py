"""bench/compare.py và peft_course.costs: lược đồ kết quả, số tham số, các phần bộ nhớ cộng lại đúng.

Chạy measure() với ngân sách rất nhỏ (2 phương pháp, 5 bước; bản thu nhỏ của chế độ gpt2-small).
Không kiểm tra độ chính xác cụ thể (mô hình đóng gói có thể được huấn luyện lại), chỉ kiểm tra các bất biến.
"""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from peft_course import CourseError, count_parameters
from peft_course.costs import step_cost

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "bench" / "compare.py")
compare = importlib.util.module_from_spec(_spec)
sys.modules["bench_compare"] = compare  # dataclass cần thấy mô-đun trong sys.modules
_spec.loader.exec_module(compare)

TINY = {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 1000, "n_positions": 256}


@pytest.fixture(scope="module")
def course():
    return compare.prepare(None, "cpu")


@pytest.fixture(scope="module")
def course_result():
    return compare.measure(["full", "lora"], steps=5, regime="course", batch_size=8)


@pytest.fixture(scope="module")
def small_result():
    return compare.measure(["full", "bitfit", "pfeiffer"], steps=1, regime="gpt2-small", shape=TINY, batch=(2, 32))


def check_memory(row):
    """Các phần bộ nhớ khớp kích thước tensor: fp32 nên gradient = 4 byte, AdamW = 8 byte mỗi tham số huấn luyện."""
    b = row["memory"]["bytes"]
    assert b["weights_bytes"] == 4 * row["total"]
    assert b["grads_bytes"] == 4 * row["trainable"]
    assert b["optimizer_bytes"] == 8 * row["trainable"]
    assert b["activations_bytes"] > 0
    parts = b["weights_bytes"] + b["grads_bytes"] + b["optimizer_bytes"] + b["activations_bytes"]
    assert b["total_bytes"] == parts
    assert b["weights_bytes"] + b["grads_bytes"] + b["optimizer_bytes"] <= b["total_bytes"]
    if b["cuda_peak_bytes"] is not None:  # trên GPU: đỉnh đo được chứa ít nhất trọng số + gradient + Adam
        assert b["cuda_peak_bytes"] >= b["weights_bytes"] + b["grads_bytes"] + b["optimizer_bytes"]
    assert math.isclose(row["memory"]["total_mb"], b["total_bytes"] / 2**20, abs_tol=1e-3)


def test_course_schema_and_counts(course_result, course):
    r = course_result
    assert r["regime"] == "course" and r["steps"] == 5 and set(r["methods"]) == {"full", "lora"}
    assert {"measured_at", "platform", "cpu", "torch", "device"} <= set(r["machine"])
    json.dumps(r)  # ghi được ra JSON
    for key, row in r["methods"].items():
        for field in ("trainable", "total", "percent", "memory", "flops", "flops_ratio", "time_per_step_s", "time_ratio",
                      "test_accuracy", "gain_share", "latency_ratio", "file_bytes"):
            assert field in row, (key, field)
        fresh = compare.build(key, course.fresh_model(), course.tokenizer)
        counts = count_parameters(fresh)
        assert (row["trainable"], row["total"]) == (counts.trainable, counts.total)
        check_memory(row)
        assert 0 <= row["test_accuracy"] <= 1 and row["latency_ratio"] > 0
        assert row["file_bytes"] >= 4 * row["trainable"]  # safetensors: dữ liệu fp32 + phần đầu
    full, lora = r["methods"]["full"], r["methods"]["lora"]
    assert full["flops_ratio"] == full["time_ratio"] == 1.0 and full["gain_share"] == 1.0
    assert lora["trainable"] < full["trainable"] / 10
    # Lan truyền ngược vẫn đi qua mọi lớp đóng băng: FLOP không giảm theo tỉ lệ tham số.
    assert 0.5 < lora["flops_ratio"] < 0.8 and lora["flops_ratio"] > 5 * lora["param_ratio"]
    assert lora["memory"]["grads_mb"] < full["memory"]["grads_mb"] / 10
    table = compare.markdown({"machine": r["machine"], "regimes": {"course": r}})
    assert "LoRA r=8" in table and "tinh chỉnh toàn bộ" in table


def test_gpt2_small_regime_costs_only(small_result, tmp_path):
    r = small_result
    assert r["regime"] == "gpt2-small" and r["batch_shape"] == [2, 32]
    for row in r["methods"].values():
        check_memory(row)
        assert "test_accuracy" not in row and len(row["step_times_s"]) == 1
    full, pf = r["methods"]["full"], r["methods"]["pfeiffer"]
    assert pf["memory"]["optimizer_mb"] < full["memory"]["optimizer_mb"] / 5
    assert 0.5 < pf["flops_ratio"] < 0.85
    results = {"machine": r["machine"], "regimes": {"gpt2-small": r}}
    paths = compare.save_figures(results, tmp_path)
    assert paths and all(p.stat().st_size > 1000 for p in paths)


def test_step_cost_is_deterministic(course):
    batch = course.train.batch(torch.arange(8))
    a = step_cost(compare.build("lora", course.fresh_model(), None), batch)
    b = step_cost(compare.build("lora", course.fresh_model(), None), batch)
    assert a == b


def test_bad_inputs():
    with pytest.raises(CourseError, match="regime"):
        compare.measure(["full"], 1, regime="gpt3")
    with pytest.raises(CourseError, match="qlora"):
        compare.measure(["qlora"], 1)
    with pytest.raises(CourseError, match="steps"):
        compare.measure(["full"], 0)
    with pytest.raises(CourseError, match="methods"):
        compare.measure([], 1)


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

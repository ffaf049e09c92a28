"""Giao thức đo (peft_course.protocol): chọn tốc độ học, lập lịch các lần chạy, tổng hợp qua seed, dấu vân tay.

Các bản ghi ở đây là giả (không huấn luyện): kiểm tra đúng phép tính và quy tắc, nhanh.
"""

import math

import pytest
import torch

from peft_course import protocol as P

PROTO = P.Protocol(methods=("full", "lora", "dora"), small_methods=("lora",), small_sizes=(10,))


def rec(method, lr, seed, best, loss=0.5, test=None, curve=None, step=100, kind="main", **extra):
    steps, accs = curve or ([50, 100, 150], [best / 2, best, best])
    r = {"kind": kind, "method": method, "lr": lr, "seed": seed, "best_val_accuracy": best, "best_val_loss": loss,
         "test_accuracy": best if test is None else test, "best_step": step, "steps_run": steps[-1],
         "stopped_early": True, "eval_steps": steps, "eval_accuracy": accs, "train_loss": [1.0],
         "step_time_median_s": 0.1, "trainable": 10, **extra}
    job = {"kind": kind, "method": method, "lr": lr, "seed": seed}
    job.update({"size": extra["size"]} if "size" in extra else {})
    r["key"] = P.job_key(job)
    return r


def test_swept_learning_rates_are_thirds_and_triples_of_the_recipe():
    assert PROTO.lrs("lora") == [pytest.approx(1e-3 / 3), 1e-3, 3e-3]
    assert PROTO.lrs("lora")[2] == PROTO.lrs("dora")[1]  # cùng giá trị, cùng khóa: so sánh cùng lr dùng lại lần chạy


def test_choose_lr_by_validation_then_loss_then_smaller_lr():
    lrs = PROTO.lrs("lora")
    assert P.choose_lr([rec("lora", lrs[0], 0, 0.8)], "lora", PROTO) is None  # chưa quét xong
    records = [rec("lora", lrs[0], 0, 0.8), rec("lora", lrs[1], 0, 0.9, 0.4), rec("lora", lrs[2], 0, 0.9, 0.3)]
    assert P.choose_lr(records, "lora", PROTO) == lrs[2]
    records[2]["best_val_loss"] = 0.4
    assert P.choose_lr(records, "lora", PROTO) == lrs[1]
    records.append(rec("lora", lrs[0], 1, 0.99))  # seed khác seed quét: không ảnh hưởng lựa chọn
    assert P.choose_lr(records, "lora", PROTO) == lrs[1]


def test_jobs_appear_in_dependency_order_and_finished_ones_are_skipped():
    jobs = P.next_jobs([], PROTO)
    keys = [P.job_key(j) for j in jobs]
    assert keys[:9] == [P.job_key({"kind": "main", "method": m, "lr": lr, "seed": 0})
                        for m in PROTO.methods for lr in PROTO.lrs(m)]
    assert all(j["kind"] == "small" for j in jobs[9:]) and len(jobs) == 9 + 3
    lrs = PROTO.lrs("lora")
    done = [rec("lora", lr, 0, acc) for lr, acc in zip(lrs, (0.7, 0.9, 0.8))]
    after = [P.job_key(j) for j in P.next_jobs(done, PROTO)]
    assert not set(r["key"] for r in done) & set(after)
    for s in (1, 2):
        assert P.job_key({"kind": "main", "method": "lora", "lr": lrs[1], "seed": s}) in after
    for s in (0, 1, 2):  # DoRA ở tốc độ học LoRA đã chọn, mọi seed
        assert P.job_key({"kind": "main", "method": "dora", "lr": lrs[1], "seed": s}) in after


def test_summary_statistics_threshold_and_time_to_target():
    full_lr, lora_lr = PROTO.lrs("full")[1], PROTO.lrs("lora")[1]
    records = []
    for m in ("full", "lora", "dora"):
        for lr in PROTO.lrs(m):
            best = {"full": 0.9, "lora": 0.8, "dora": 0.7}[m] if lr == PROTO.lrs(m)[1] else 0.5
            records.append(rec(m, lr, 0, best, test=best))
    records += [rec("full", full_lr, 1, 1.0, test=1.0), rec("full", full_lr, 2, 0.8, test=0.8)]
    curve = ([50, 100, 150], [0.5, 0.85, 0.9])
    records += [rec("lora", lora_lr, s, 0.9, test=t, curve=curve) for s, t in ((1, 0.7), (2, 0.9))]
    base = {"val_accuracy": 0.4, "test_accuracy": 0.4}
    out = P.summarize(records, PROTO, base, step_times={"full": 0.2, "lora": 0.1})
    full, lora = out["methods"]["full"], out["methods"]["lora"]
    assert full["chosen_lr"] == full_lr and full["test_accuracy"]["n"] == 3
    assert full["test_accuracy"]["mean"] == pytest.approx(0.9) and full["test_accuracy"]["sd"] == pytest.approx(0.1)
    assert out["threshold_val_accuracy"] == pytest.approx(0.9 * 0.9)
    assert full["gain_share"]["mean"] == pytest.approx(1.0)
    assert lora["gain_share"]["mean"] == pytest.approx(((0.8 + 0.7 + 0.9) / 3 - 0.4) / 0.5)
    # seed 0: đường mặc định [0.4, 0.8, 0.8] không đạt 0.81; seed 1, 2 đạt ở bước 100
    assert [s["steps_to_target"] for s in lora["seeds"]] == [None, 100, 100] and lora["reached_target"] == 2
    assert [s["seconds_to_target"] for s in lora["seeds"]] == [None, pytest.approx(10.0), pytest.approx(10.0)]
    assert out["dora_vs_lora"]["equal_lr"]["lr"] == lora_lr


def test_mean_sd_ignores_missing_values():
    assert P.mean_sd([1.0, None, 3.0, float("nan")]) == {"mean": 2.0, "sd": math.sqrt(2), "n": 2}
    assert P.mean_sd([None]) == {"mean": None, "sd": None, "n": 0}
    assert P.mean_sd([0.5]) == {"mean": 0.5, "sd": 0.0, "n": 1}


def test_fingerprint_differences_tolerate_noise_but_not_changes():
    fp = {"data_sha256": "a" * 64, "base_weights_sha256": "b" * 64, "protocol_sha256": "c" * 64,
          "probe_losses": {"lora": [8.7, 8.5, 8.1]}}
    noisy = {**fp, "probe_losses": {"lora": [8.7, 8.5001, 8.1]}}
    assert P.fingerprint_differences(fp, noisy) == []
    changed = {**fp, "probe_losses": {"lora": [8.7, 8.4, 8.1]}}
    assert "lora" in P.fingerprint_differences(fp, changed)[0]
    assert "data_sha256" in P.fingerprint_differences(fp, {**fp, "data_sha256": "d" * 64})[0]
    assert P.fingerprint_differences(fp, {**fp, "probe_losses": {"lora": [8.7, 8.5, 8.1], "dora": [1.0]}})


def test_subset_cuts_every_per_example_tensor(task_data):
    _, tr, _, _ = task_data
    sub = P.subset(tr, torch.tensor([3, 1]))
    assert len(sub) == 2 and torch.equal(sub.y, tr.y[[3, 1]]) and torch.equal(sub.input_ids, tr.input_ids[[3, 1]])
    assert torch.equal(sub.label_token_ids, tr.label_token_ids)

"""Bài 7: bài toán thứ hai (chủ đề), trộn bài toán, đổi bộ chuyển trên một mô hình nền, DDP 2 tiến trình."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from peft_course import CourseError, evaluate, load_feedback
from peft_course.data import TASKS, TOPIC_LABELS, TOPIC_PROMPT, FeedbackTask
from peft_course.export import load_adapter, save_adapter
from peft_course.lora import LoRAConfig, apply_lora, lora_layers
from peft_course.multitask import AdapterBank, mix_tasks
from peft_course.multitask import task_data as multitask_data

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "peft_course" / "assets"
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def topic_ds():
    return load_feedback(task="topic")


def test_topic_schema_sizes_and_balance(topic_ds):
    assert [len(topic_ds[s]) for s in SPLITS] == [3000, 450, 450]
    for split in topic_ds.values():
        assert set(split.column_names) == {"text", "label", "label_text", "sentiment"}
        assert all(TOPIC_LABELS[r["label"]] == r["label_text"] for r in split)
        pairs = torch.bincount(3 * torch.tensor(split["label"]) + torch.tensor(split["sentiment"]), minlength=9)
        assert pairs.max() - pairs.min() <= 1  # 9 tổ hợp chủ đề × cảm xúc cân bằng (3000 = 9 × 333 + 3)


def test_topic_held_out_subjects_and_disjoint_texts(topic_ds):
    vocab = json.loads((ASSETS / "topic" / "vocabulary_split.json").read_text(encoding="utf-8"))
    for split in SPLITS:
        for row in topic_ds[split]:
            own = vocab["subjects"][row["label_text"]][split]
            assert any(s in row["text"].lower() for s in own), (split, row)
    texts = {s: set(topic_ds[s]["text"]) for s in SPLITS}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["validation"]
    for topic, parts in vocab["subjects"].items():
        assert not set(parts["test"]) & set(parts["train"]) and not set(parts["validation"]) & set(parts["train"])


def test_topic_files_are_what_the_generator_makes(tmp_path):
    subprocess.run([sys.executable, "make_feedback_data.py", "--task", "topic", "--out", str(tmp_path)],
                   cwd=ROOT / "scripts", check=True, capture_output=True)
    for name in [f"{s}.jsonl" for s in SPLITS] + ["vocabulary_split.json"]:
        assert (tmp_path / name).read_bytes() == (ASSETS / "topic" / name).read_bytes(), name


def test_sentiment_default_unchanged_and_bad_task():
    ds = load_feedback()
    assert set(ds["train"].column_names) == {"text", "label", "label_text"}
    with pytest.raises(CourseError, match="'chủ đề'.*'sentiment'"):
        load_feedback(task="chủ đề")


def test_topic_prompt_and_label_tokens(base, topic_ds):
    spec = FeedbackTask(base[1], TOPIC_LABELS, TOPIC_PROMPT)
    data = spec.encode(topic_ds["test"].select(range(5)))
    text = base[1].decode(data.input_ids[0][data.attention_mask[0] == 1])
    assert "Chủ đề:" in text and "Cảm xúc" not in text
    assert text.endswith(TOPIC_LABELS[topic_ds["test"][0]["label"]].split()[0])
    assert len(set(spec.label_token_ids.tolist())) == 3


def test_mix_tasks_keeps_every_row(base, task_data):
    spec, topic = task_data_topic(base)
    sentiment_train = task_data[1]
    mixed = mix_tasks(sentiment_train, topic["train"])
    assert len(mixed) == len(sentiment_train) + len(topic["train"])
    n = len(sentiment_train)
    for part, offset in ((sentiment_train, 0), (topic["train"], n)):
        i = len(part) - 1
        w = part.input_ids.shape[1]
        assert torch.equal(mixed.labels[offset + i, :w], part.labels[i])
        assert torch.equal(mixed.attention_mask[offset + i, :w], part.attention_mask[i])
        assert mixed.attention_mask[offset + i, w:].sum() == 0
    with pytest.raises(CourseError, match="hai TaskData"):
        mix_tasks(sentiment_train)


def task_data_topic(base):
    return multitask_data(base[1], "topic")


def _base_digest(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if "lora_" not in name:
            h.update(name.replace(".base_layer", "").encode())
            h.update(p.detach().numpy().tobytes())
    return h.hexdigest()


def _fresh():
    from peft_course import load_base_model

    return load_base_model(device="cpu")[0]


def _random_lora(seed: int):
    model = _fresh()
    apply_lora(model, LoRAConfig(r=4, alpha=8, target_modules=["c_attn", "c_fc"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.normal_(0, 0.05)
    return model


def test_adapter_bank_switching_keeps_base_and_gives_each_tasks_logits(tmp_path, task_data):
    models = {"a": _random_lora(1), "b": _random_lora(2)}
    folders = {k: save_adapter(m, tmp_path / k) for k, m in models.items()}
    bank = AdapterBank(_fresh(), folders)
    batch = task_data[3].batch(slice(0, 8))
    with torch.no_grad():
        expected = {k: m(**batch).logits for k, m in models.items()}
        assert not torch.allclose(expected["a"], expected["b"])
        for name in ["a", "b", "a", "b", "b", "a"]:
            bank.use(name)
            assert bank.active == name
            assert torch.equal(bank.model(**batch).logits, expected[name])
    assert _base_digest(bank.model) == _base_digest(_fresh())
    with pytest.raises(CourseError, match="'c'"):
        bank.use("c")
    assert bank.active == "a"


def test_adapter_bank_refuses_mismatched_adapters(tmp_path):
    save_adapter(_random_lora(1), tmp_path / "r4")
    other = _fresh()
    apply_lora(other, LoRAConfig(r=8, alpha=16, target_modules=["c_attn"]))
    save_adapter(other, tmp_path / "r8")
    model = _fresh()
    before = _base_digest(model)
    with pytest.raises(CourseError, match="cùng r"):
        AdapterBank(model, {"x": tmp_path / "r4", "y": tmp_path / "r8"})
    assert not lora_layers(model) and _base_digest(model) == before


def test_packaged_adapters_match_published_seed0(base, task_data):
    """Bộ chuyển trong gói cho đúng độ chính xác của seed 0 trong multitask.json (không cũ)."""
    published = json.loads((ASSETS / "results" / "multitask.json").read_text(encoding="utf-8"))
    tests = {"sentiment": task_data[3], "topic": task_data_topic(base)[1]["test"]}
    for task, data in tests.items():
        model = _fresh()
        load_adapter(model, ASSETS / "adapters" / task)
        expected = published["summary"]["LoRA riêng"][task]["runs"][0]
        assert abs(evaluate(model, data)["accuracy"] - expected) < 1.5 / len(data), task


def test_ddp_two_processes_all_reduce_four_bytes_per_trainable_parameter(tmp_path):
    out = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "peft_course.ddp", "--methods", "full", "lora", "bitfit", "--steps", "2",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["world_size"] == 2 and result["backend"] == "gloo"
    methods = result["methods"]
    assert methods["full"]["trainable"] > 20 * methods["lora"]["trainable"] > 20 * methods["bitfit"]["trainable"]
    for name, m in methods.items():
        assert len(m["bytes_per_step"]) == 2
        for sent in m["bytes_per_step"]:
            # fp32: 4 byte mỗi tham số huấn luyện; phần dư của bucket (căn lề) nhỏ hơn 1%
            assert 4 * m["trainable"] <= sent <= 4 * m["trainable"] * 1.01, name
        assert len(set(m["digests"])) == 1, name  # DDP đã đồng bộ tham số của hai tiến trình
        assert m["loss_per_rank"][0] != m["loss_per_rank"][1], name  # mỗi tiến trình một phần dữ liệu

"""Khung thí nghiệm chung (peft_course.experiments): bộ đệm các lần chạy đúng, không bao giờ trả kết quả cũ sai."""

import pytest
import torch

from peft_course import experiments
from peft_course.lora import LoRAConfig, apply_lora


@pytest.fixture(scope="module")
def course():
    return experiments.prepare(device="cpu")


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PEFT_COURSE_CACHE", str(tmp_path))
    return tmp_path


def lora(course, **kw):
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(**{"r": 2, **kw}))
    return m


def learned(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_cached_run_restores_result_and_learned_parameters(course, cache_dir):
    first_model = lora(course)
    first = experiments.run(course, "lần 1", first_model, "lora", steps=3, eval_every=None, progress=False, cache=True)
    assert len(list(cache_dir.glob("run-*.json"))) == 1 and len(list(cache_dir.glob("run-*.safetensors"))) == 1
    again_model = lora(course)
    again = experiments.run(course, "lần 2", again_model, "lora", steps=3, eval_every=None, progress=False, cache=True)
    assert again.name == "lần 2" and again.test_accuracy == first.test_accuracy
    assert again.history.loss == first.history.loss
    a, b = learned(first_model), learned(again_model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # và bằng đúng một lần huấn luyện thật, không qua bộ đệm
    fresh_model = lora(course)
    experiments.run(course, "thật", fresh_model, "lora", steps=3, eval_every=None, progress=False)
    c = learned(fresh_model)
    assert all(torch.equal(a[k], c[k]) for k in a)
    # trọng số nền vẫn y nguyên mô hình nền
    base = dict(course.fresh_model().named_parameters())
    for n, p in again_model.named_parameters():
        if not p.requires_grad and n.replace(".base_layer", "") in base:
            assert torch.equal(p, base[n.replace(".base_layer", "")]), n


@pytest.mark.parametrize("change", [
    {"alpha": 4.0},          # cùng tham số, khác hệ số α/r: phải khác khóa
    {"rslora": True},        # cùng tham số, khác cách chia tỉ lệ
    {"r": 3},
    {"target_modules": ["c_attn"]},
])
def test_different_method_config_gets_a_different_cache_entry(course, cache_dir, change):
    recipe = ["lora", 1e-3, 3, 32, 0, None]
    assert experiments.cache_path(course, lora(course), recipe) != experiments.cache_path(course, lora(course, **change), recipe)
    assert experiments.cache_path(course, lora(course), recipe) == experiments.cache_path(course, lora(course), recipe)


def test_different_recipe_or_initial_values_get_a_different_cache_entry(course, cache_dir):
    m = lora(course)
    p = experiments.cache_path(course, m, ["lora", 1e-3, 3, 32, 0, None])
    assert p != experiments.cache_path(course, m, ["lora", 2e-3, 3, 32, 0, None])
    assert p != experiments.cache_path(course, m, ["lora", 1e-3, 4, 32, 0, None])
    with torch.no_grad():
        next(q for q in m.parameters() if q.requires_grad).add_(1e-3)
    assert p != experiments.cache_path(course, m, ["lora", 1e-3, 3, 32, 0, None])


def test_full_baseline_uses_the_cache(course, cache_dir, monkeypatch):
    calls = []
    real_train = experiments.train
    monkeypatch.setattr(experiments, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    first = experiments.full_baseline(course, steps=2)
    second = experiments.full_baseline(course, steps=2)
    assert len(calls) == 1 and second.test_accuracy == first.test_accuracy
    experiments.full_baseline(course, steps=2, refresh=True)
    assert len(calls) == 2

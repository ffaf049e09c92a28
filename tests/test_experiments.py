"""Khung thí nghiệm chung (peft_course.experiments): bộ đệm các lần chạy đúng, không bao giờ trả kết quả cũ sai."""

import dataclasses

import pytest
import torch

from peft_course import experiments
from peft_course.lora import LoRAConfig, apply_lora
from peft_course.protocol import subset


@pytest.fixture(scope="module")
def course():
    """Khóa học thật, với validation và test thu còn 64 câu: mỗi lần chạy ở đây chỉ vài bước, phần đánh giá trên
    đủ 450 + 450 câu sẽ chiếm gần hết thời gian mà không kiểm thêm điều gì về bộ đệm."""
    full = experiments.prepare(device="cpu")
    first = torch.arange(64)
    return dataclasses.replace(full, validation=subset(full.validation, first), test=subset(full.test, first))


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


def _model_hash(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("damage", ["json_truncated", "json_garbage", "weights_truncated", "weights_missing",
                                    "weights_wrong_names"])
def test_corrupt_cache_entry_is_reported_and_retrained_without_touching_the_model(course, cache_dir, damage):
    from safetensors.torch import save_file

    from peft_course.cache import CacheWarning

    experiments.run(course, "lần 1", lora(course), "lora", steps=2, eval_every=None, progress=False, cache=True)
    path = next(cache_dir.glob("run-*.json"))
    weights = path.with_suffix(".safetensors")
    if damage == "json_truncated":
        path.write_text(path.read_text()[:40])
    elif damage == "json_garbage":
        path.write_text('{"name": 1}')
    elif damage == "weights_truncated":
        weights.write_bytes(weights.read_bytes()[:50])
    elif damage == "weights_missing":
        weights.unlink()
    else:
        save_file({"khong.co.ten.nay": torch.zeros(2)}, str(weights))
    seen = {}
    real_load = experiments.load_run

    def spy(p, model, name):  # ghi lại mô hình ngay trước khi đọc mục hỏng
        seen["before"] = _model_hash(model)
        out = real_load(p, model, name)
        seen["after"] = _model_hash(model)
        return out

    experiments.load_run = spy
    try:
        model = lora(course)
        with pytest.warns(CacheWarning, match=str(path.name)):
            again = experiments.run(course, "lần 2", model, "lora", steps=2, eval_every=None, progress=False,
                                    cache=True)
    finally:
        experiments.load_run = real_load
    assert all(torch.equal(seen["before"][k], seen["after"][k]) for k in seen["before"])  # không chép gì trước khi hỏng
    assert len(again.history.loss) == 2  # đã huấn luyện lại
    # mục được ghi lại đầy đủ: lần sau đọc được, không cảnh báo
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        third = experiments.run(course, "lần 3", lora(course), "lora", steps=2, eval_every=None, progress=False,
                                cache=True)
    assert third.history.loss == again.history.loss


def test_unwritable_cache_warns_and_still_returns_the_result(course, tmp_path, monkeypatch):
    from peft_course.cache import CacheWarning

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("tệp, không phải thư mục")
    monkeypatch.setenv("PEFT_COURSE_CACHE", str(blocker / "cache"))
    with pytest.warns(CacheWarning, match="Không ghi được bộ đệm"):
        res = experiments.run(course, "x", lora(course), "lora", steps=2, eval_every=None, progress=False, cache=True)
    assert len(res.history.loss) == 2 and 0 <= res.test_accuracy <= 1
    assert not list(tmp_path.glob("**/*.tmp*"))  # không để lại tệp tạm


def test_cache_writes_leave_no_temporary_files(course, cache_dir):
    experiments.run(course, "x", lora(course), "lora", steps=2, eval_every=None, progress=False, cache=True)
    assert sorted(p.suffix for p in cache_dir.iterdir()) == [".json", ".safetensors"]


def test_recipe_key_is_built_in_one_place(course, cache_dir, monkeypatch):
    """full_baseline và run dựng cùng một khóa (trước đây full_baseline tự dựng, với eval_every cố định)."""
    keys = []
    real = experiments.cache_path
    monkeypatch.setattr(experiments, "cache_path", lambda c, m, r: keys.append(r) or real(c, m, r))
    experiments.full_baseline(course, steps=2)
    experiments.run(course, "tinh chỉnh toàn bộ", course.fresh_model(), "full", steps=2, progress=False, cache=True)
    assert keys[0] == keys[1] == experiments.recipe_key("full", 3e-4, 2, 32, 0, 50)


def test_old_names_stay_importable():
    from peft_course.experiments import (DEFAULT_BATCH, DEFAULT_STEPS, RECIPES, Course, Result,  # noqa: F401
                                         base_result, cache_path, full_baseline, prepare, results_table, run)

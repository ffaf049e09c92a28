"""Adapter nút cổ chai: đếm theo công thức (cả GPT-2 small), bước 0 không đổi, nền không đổi, lỗi rõ ràng."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from peft_course import CourseError, count_parameters, load_base_model, train
from peft_course.adapter import AdaptedLayer, AdapterConfig, BottleneckAdapter, apply_adapters


def per_adapter(d: int, r: int) -> int:
    """Một adapter: chiếu xuống d·r + r, chiếu lên r·d + d."""
    return 2 * d * r + d + r


def small(data, n):
    from peft_course.data import TaskData

    return TaskData(*(t[:n] for t in (data.input_ids, data.attention_mask, data.labels, data.answer_pos, data.y)),
                    data.label_token_ids)


@pytest.fixture(scope="module")
def gpt2_small():
    def make():
        with torch.device("meta"):
            return GPT2LMHeadModel(GPT2Config())
    return make


def test_per_adapter_count_matches_reference():
    assert sum(p.numel() for p in BottleneckAdapter(768, 48).parameters()) == 74_544 == per_adapter(768, 48)


@pytest.mark.parametrize("placement, n, expected", [("pfeiffer", 12, 894_528), ("houlsby", 24, 1_789_056)])
def test_gpt2_small_counts_match_reference(gpt2_small, placement, n, expected):
    model = gpt2_small()
    names = apply_adapters(model, AdapterConfig(r=48, placement=placement))
    assert len(names) == n
    assert count_parameters(model).trainable == expected == n * per_adapter(768, 48)


@pytest.mark.parametrize("placement, per_block", [("pfeiffer", 1), ("houlsby", 2)])
@pytest.mark.parametrize("r", [1, 8, 64])
def test_packaged_model_count_matches_formula(placement, per_block, r):
    model, _ = load_base_model(device="cpu")
    total = count_parameters(model).total
    apply_adapters(model, AdapterConfig(r=r, placement=placement))
    c = model.config
    expected = c.n_layer * per_block * per_adapter(c.n_embd, r)
    assert count_parameters(model).trainable == expected
    assert count_parameters(model).total == total + expected


@pytest.mark.parametrize("placement", ["houlsby", "pfeiffer"])
def test_step0_logits_equal_base(base, task_data, placement):
    batch = task_data[1].batch(slice(0, 8))
    model, _ = load_base_model(device="cpu")
    apply_adapters(model, AdapterConfig(r=16, placement=placement, activation="gelu"))
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, base[0](**batch).logits, atol=1e-6, rtol=0)


def test_base_weights_bit_identical_after_training(task_data):
    _, tr, _, _ = task_data
    model, _ = load_base_model(device="cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    apply_adapters(model, AdapterConfig(r=8))
    h = train(model, small(tr, 128), steps=5, lr=3e-3, batch_size=16, progress=False)
    assert h.trainable == count_parameters(model).trainable
    ups = [m.up.weight for m in model.modules() if isinstance(m, BottleneckAdapter)]
    assert all(w.abs().sum() > 0 for w in ups)  # adapter đã học
    for n, p in model.named_parameters():
        if ".adapter." not in n:
            key = n.replace(".base_layer", "")
            assert p.grad is None and torch.equal(p, before[key]), n


def test_wrapped_layers_are_the_output_projections():
    model, _ = load_base_model(device="cpu")
    names = apply_adapters(model, AdapterConfig(r=4, placement="houlsby"))
    assert names[:2] == ["transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj"]
    assert all(isinstance(model.get_submodule(n), AdaptedLayer) for n in names)


def test_applying_twice_is_refused_and_model_unchanged():
    model, _ = load_base_model(device="cpu")
    apply_adapters(model, AdapterConfig(r=4))
    state = repr(model)
    with pytest.raises(CourseError, match="đã có adapter.*hai lần"):
        apply_adapters(model, AdapterConfig(r=4, placement="pfeiffer"))
    assert repr(model) == state


@pytest.mark.parametrize("kwargs, needle", [
    ({"placement": "after_attention"}, r"'after_attention'.*'houlsby', 'pfeiffer'"),
    ({"activation": "sigmoid"}, r"'sigmoid'.*'relu', 'gelu'"),
    ({"r": 0}, r"r phải là số nguyên dương, nhận được 0"),
    ({"r": -3}, r"nhận được -3"),
    ({"r": 2.5}, r"nhận được 2.5"),
])
def test_invalid_config_is_refused(kwargs, needle):
    with pytest.raises(CourseError, match=needle):
        AdapterConfig(**kwargs)


def test_r_larger_than_d_is_refused_and_model_unchanged():
    model, _ = load_base_model(device="cpu")
    d = model.config.n_embd
    state = repr(model)
    with pytest.raises(CourseError, match=rf"r = {d + 1} lớn hơn d = {d}.*1 … {d}"):
        apply_adapters(model, AdapterConfig(r=d + 1))
    assert repr(model) == state and all(p.requires_grad for p in model.parameters())
    with pytest.raises(CourseError, match="lớn hơn d"):
        BottleneckAdapter(8, 9)


def test_model_without_gpt2_projections_is_refused():
    with pytest.raises(CourseError, match="attn.c_proj|mlp.c_proj"):
        apply_adapters(torch.nn.Sequential(torch.nn.Linear(4, 4)), AdapterConfig(r=2))

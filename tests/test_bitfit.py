"""BitFit: đếm theo công thức, bước 0 không đổi, trọng số nền không đổi, lỗi rõ ràng."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from peft_course import CourseError, count_parameters, load_base_model, train
from peft_course.bitfit import BiasDelta, BitFitConfig, apply_bitfit


def formula(which: str, d: int, L: int) -> int:
    """Số bias huấn luyện theo công thức: mỗi khối ln_1 d, c_attn 3d, attn.c_proj d, ln_2 d, c_fc 4d, mlp.c_proj d."""
    return {"all": 11 * d * L + d, "attention_query": d * L, "mlp": 5 * d * L, "layernorm": 2 * d * L + d}[which]


def small(data, n):
    from peft_course.data import TaskData

    return TaskData(*(t[:n] for t in (data.input_ids, data.attention_mask, data.labels, data.answer_pos, data.y)),
                    data.label_token_ids)


@pytest.mark.parametrize("which", ["all", "attention_query", "mlp", "layernorm"])
def test_count_matches_formula_on_packaged_model(which):
    model, _ = load_base_model(device="cpu")
    total = count_parameters(model).total
    names = apply_bitfit(model, BitFitConfig(which))
    c = model.config
    assert count_parameters(model).trainable == formula(which, c.n_embd, c.n_layer)
    assert count_parameters(model).total == total + formula(which, c.n_embd, c.n_layer)  # mẫu số: nền + δ
    assert all(isinstance(model.get_submodule(n), BiasDelta) for n in names)


@pytest.mark.parametrize("which, expected", [("all", 102_144), ("attention_query", 9_216), ("mlp", 46_080),
                                             ("layernorm", 19_200)])
def test_count_on_gpt2_small_shape(which, expected):
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config())
    apply_bitfit(model, BitFitConfig(which))
    assert count_parameters(model).trainable == expected == formula(which, 768, 12)


def test_all_biases_equals_freezing_bias_tensors():
    """δ trên mọi bias đếm đúng bằng số phần tử của mọi tensor .bias (REFERENCE: 102,144 trên GPT-2 small)."""
    model, _ = load_base_model(device="cpu")
    n_bias = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".bias"))
    apply_bitfit(model)
    assert count_parameters(model).trainable == n_bias


def test_step0_unchanged_then_base_bit_identical_after_training(base, task_data):
    _, tr, _, _ = task_data
    model, _ = load_base_model(device="cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = tr.batch(slice(0, 8))
    ref = base[0](**ids).logits
    apply_bitfit(model, BitFitConfig("all"))
    assert torch.equal(model(**ids).logits, ref)  # δ = 0: đúng từng bit
    h = train(model, small(tr, 128), steps=5, lr=1e-2, batch_size=16, progress=False)
    assert h.trainable == count_parameters(model).trainable
    deltas = [m.delta for m in model.modules() if isinstance(m, BiasDelta)]
    assert all(d.abs().sum() > 0 for d in deltas)
    for n, p in model.named_parameters():
        if not n.endswith(".delta"):
            key = n.replace(".base_layer", "")
            assert p.grad is None and torch.equal(p, before[key]), n


def test_query_delta_touches_only_q_part():
    model, _ = load_base_model(device="cpu")
    apply_bitfit(model, BitFitConfig("attention_query"))
    layer = model.transformer.h[0].attn.c_attn
    d = model.config.n_embd
    with torch.no_grad():
        layer.delta.fill_(1.0)
    x = torch.randn(2, 5, d)
    diff = layer(x) - layer.base_layer(x)
    assert torch.allclose(diff[..., :d], torch.ones(d)) and torch.equal(diff[..., d:], torch.zeros(2, 5, 2 * d))
    assert torch.equal(layer.merged_bias()[:d], layer.base_layer.bias[:d] + 1)


def test_same_trajectory_as_training_biases_in_place(task_data):
    """Huấn luyện δ (bản khóa học) cho cùng mất mát như huấn luyện thẳng các bias (requires_grad)."""
    from peft_course import freeze

    _, tr, _, _ = task_data
    direct, _ = load_base_model(device="cpu")
    freeze(direct, r"\.bias$")
    wrapped, _ = load_base_model(device="cpu")
    apply_bitfit(wrapped)
    a = train(direct, small(tr, 64), steps=4, lr=1e-2, batch_size=16, progress=False).loss
    b = train(wrapped, small(tr, 64), steps=4, lr=1e-2, batch_size=16, progress=False).loss
    assert a == pytest.approx(b, rel=1e-4)


def test_applying_twice_is_refused_and_model_unchanged():
    model, _ = load_base_model(device="cpu")
    apply_bitfit(model)
    state = repr(model)
    with pytest.raises(CourseError, match="đã có BitFit.*hai lần"):
        apply_bitfit(model, BitFitConfig("mlp"))
    assert repr(model) == state


def test_invalid_which_names_value_and_choices():
    with pytest.raises(CourseError, match=r"'query'.*'all', 'attention_query', 'mlp', 'layernorm'"):
        BitFitConfig("query")
    model, _ = load_base_model(device="cpu")
    cfg = BitFitConfig()
    cfg.which = "bias"
    with pytest.raises(CourseError, match="'bias'"):
        apply_bitfit(model, cfg)
    assert all(p.requires_grad for p in model.parameters())  # không bị sửa


def test_model_without_matching_biases_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False))
    with pytest.raises(CourseError, match="không tìm thấy bias"):
        apply_bitfit(model, BitFitConfig("all"))

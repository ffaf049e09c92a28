"""Kiểm thử prefix tuning / prompt tuning tự xây: đúng khi huấn luyện, forward đầy đủ, generate có bộ đệm,
khớp peft, đúng số tham số, trọng số nền không đổi, và báo lỗi tiếng Việt khi đầu vào sai."""

import warnings

import pytest
import torch

from peft_course import CourseError, count_parameters, load_base_model, train
from peft_course.prefix import (PrefixConfig, PromptConfig, apply_prefix, apply_prompt, fold_prefix,
                                prefix_parameter_count)

L, D, N_POS = 4, 192, 128
TEXTS = ["Phản hồi: thầy dạy rất hay\nCảm xúc:", "Phản hồi: phòng học nóng, không có quạt, khó tập trung\nCảm xúc:"]


def fresh():
    return load_base_model(device="cpu")[0]


def with_prefix(k=5, seed=0, **kw):
    torch.manual_seed(seed)
    model = fresh()
    apply_prefix(model, PrefixConfig(num_virtual_tokens=k, **kw))
    return model


@pytest.fixture(scope="module")
def batch(base):
    tok = base[1]
    return tok(TEXTS, padding=True, return_tensors="pt")


def test_parameter_count_matches_formula():
    for k in (1, 5, 20):
        model = with_prefix(k)
        assert count_parameters(model).trainable == k * 2 * L * D == prefix_parameter_count(k, L, D)
    model = with_prefix(10, reparameterize=True, hidden=64)
    assert count_parameters(model).trainable == prefix_parameter_count(10, L, D, hidden=64)
    assert fold_prefix(model) == 10 * 2 * L * D
    assert count_parameters(model).trainable == 10 * 2 * L * D


def test_gpt2_small_counts_match_reference_and_peft():
    """REFERENCE.md: GPT-2 small, 20 token ảo → 368,640; MLP hidden 768 → 14,780,160; prompt → 15,360."""
    from peft import PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    cases = [(PrefixConfig(20), PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=20), 368_640),
             (PrefixConfig(20, reparameterize=True, hidden=768),
              PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=20, prefix_projection=True,
                                 encoder_hidden_size=768), 14_780_160),
             (PromptConfig(20), PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=20), 15_360)]
    with torch.device("meta"), warnings.catch_warnings():  # "meta": chỉ hình dạng, không cấp bộ nhớ
        warnings.simplefilter("ignore")
        for ours, theirs, expected in cases:
            model = GPT2LMHeadModel(GPT2Config())
            (apply_prefix if isinstance(ours, PrefixConfig) else apply_prompt)(model, ours)
            assert count_parameters(model).trainable == expected
            assert get_peft_model(GPT2LMHeadModel(GPT2Config()), theirs).get_nb_trainable_parameters()[0] == expected


def test_logits_equal_peft_prefix_forward(batch):
    from peft import PrefixTuningConfig, TaskType, get_peft_model

    ours = with_prefix(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(fresh(), PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5))
        with torch.no_grad():
            peft_model.prompt_encoder["default"].embedding.weight.copy_(ours.prefix.weight)
            theirs = peft_model(**batch, use_cache=False).logits
    with torch.no_grad():
        mine = ours(**batch).logits
    real = batch["attention_mask"].bool()
    assert torch.allclose(mine[real], theirs[real], atol=1e-5)


def test_logits_equal_peft_prompt_forward(batch):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    ours = fresh()
    apply_prompt(ours, PromptConfig(4))
    with torch.no_grad():
        ours.prompt.embedding.add_(torch.randn_like(ours.prompt.embedding) * 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(fresh(), PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4))
        with torch.no_grad():
            peft_model.prompt_encoder["default"].embedding.weight.copy_(ours.prompt.embedding)
            theirs = peft_model(**batch).logits[:, 4:]  # peft trả cả k vị trí ảo ở đầu
    with torch.no_grad():
        mine = ours(**batch).logits
    real = batch["attention_mask"].bool()
    assert torch.allclose(mine[real], theirs[real], atol=1e-4)


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_cached_generate_equals_uncached_and_full_forward(base, method):
    if method == "prefix":
        model = with_prefix(5, seed=1)
    else:
        model = fresh()
        apply_prompt(model, PromptConfig(5))
    prompt = base[1]("Phản hồi: thầy dạy rất hay", return_tensors="pt")
    kw = dict(max_new_tokens=15, min_new_tokens=15, do_sample=False, output_logits=True, return_dict_in_generate=True)
    with torch.no_grad():
        cached = model.generate(**prompt, use_cache=True, **kw)
        uncached = model.generate(**prompt, use_cache=False, **kw)
        full = model(**prompt).logits[:, -1]
        plain = load_base_model(device="cpu")[0](**prompt).logits[:, -1]
    assert torch.equal(cached.sequences, uncached.sequences)
    assert cached.sequences.shape[1] == prompt["input_ids"].shape[1] + 15
    assert torch.allclose(cached.logits[0], full, atol=1e-5)
    assert not torch.allclose(full, plain, atol=1e-2)  # tiền tố thật sự có tác dụng
    # bước sau cùng của generate có bộ đệm = forward đầy đủ trên cả chuỗi
    with torch.no_grad():
        last = model(input_ids=cached.sequences[:, :-1]).logits[:, -1]
    assert torch.allclose(cached.logits[-1], last, atol=1e-4)


def test_training_changes_only_prefix(task_data):
    _, train_data, _, _ = task_data
    model = with_prefix(5)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("prefix.")}
    prefix_before = model.prefix.weight.detach().clone()
    hist = train(model, train_data, None, steps=3, lr=1e-2, batch_size=8, progress=False)
    assert hist.trainable == 5 * 2 * L * D
    assert not torch.equal(prefix_before, model.prefix.weight)
    for n, p in model.named_parameters():
        if not n.startswith("prefix."):
            assert torch.equal(before[n], p), n


def test_fold_keeps_outputs(batch):
    model = with_prefix(3, reparameterize=True, hidden=32)
    with torch.no_grad():
        before = model(**batch).logits
        fold_prefix(model)
        after = model(**batch).logits
    assert not hasattr(model.prefix, "mlp")
    assert torch.allclose(before, after, atol=1e-6)


def test_bad_input_raises_vietnamese_errors(base):
    for k in (0, -3, 2.5):
        with pytest.raises(CourseError, match="num_virtual_tokens"):
            PrefixConfig(num_virtual_tokens=k)
    with pytest.raises(CourseError, match="n_positions|quá lớn"):
        apply_prefix(fresh(), PrefixConfig(num_virtual_tokens=N_POS))
    model = with_prefix(5)
    with pytest.raises(CourseError, match="đã có prefix tuning.*không áp prefix tuning"):
        apply_prefix(model, PrefixConfig(5))
    with pytest.raises(CourseError, match="đã có prefix tuning.*không áp prompt tuning"):
        apply_prompt(model, PromptConfig(5))
    long_ids = torch.zeros(1, N_POS - 4, dtype=torch.long)  # 124 token thật + 5 ảo > 128 vị trí
    with pytest.raises(CourseError, match="vượt n_positions"):
        model(input_ids=long_ids)
    model(input_ids=long_ids[:, :N_POS - 5])  # vừa đủ: không lỗi
    model.set_attn_implementation("sdpa")  # tắt tiền tố một cách lặng lẽ → phải bị phát hiện
    with pytest.raises(CourseError, match="attn_implementation"):
        model(input_ids=long_ids[:, :10])
    untouched = fresh()
    with pytest.raises(CourseError):
        apply_prefix(untouched, PrefixConfig(N_POS + 1))
    assert not hasattr(untouched, "prefix") and count_parameters(untouched).trainable == count_parameters(untouched).total


def test_attention_accepts_none_bool_and_float_masks():
    """Ba định dạng mặt nạ mà transformers có thể đưa vào cho cùng một kết quả."""
    from types import SimpleNamespace

    from peft_course.prefix import prefix_attention

    torch.manual_seed(0)
    pk, pv = torch.randn(4, 3, 8), torch.randn(4, 3, 8)
    module = SimpleNamespace(prefix_kv=lambda: (pk, pv))
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 8)  # 2 token cũ trong bộ đệm
    causal = torch.ones(5, 7, dtype=torch.bool).tril(2)[None, None]
    as_float = torch.zeros(1, 1, 5, 7).masked_fill(~causal, torch.finfo(torch.float32).min)
    outs = [prefix_attention(module, q, k, v, m, scaling=8 ** -0.5)[0] for m in (None, causal, as_float)]
    assert outs[0].shape == (2, 5, 4, 8)
    assert torch.allclose(outs[0], outs[1], atol=1e-6) and torch.allclose(outs[0], outs[2], atol=1e-6)

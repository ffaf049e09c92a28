"""LoRA tự xây (peft_course.lora): đúng công thức, bằng huggingface/peft, gộp/tách, báo lỗi rõ."""

import copy
import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from peft_course import CourseError, count_parameters, train
from peft_course.lora import LoRAConfig, LoRALinear, apply_lora, lora_layers, merge_lora, unmerge_lora

ALL = ["c_attn", "c_proj", "c_fc"]


def inputs(tokenizer):
    return tokenizer(["Phản hồi: thầy dạy rất dễ hiểu\nCảm xúc:", "Phản hồi: phòng học nóng"],
                     return_tensors="pt", padding=True)


def perturb(model, seed=0, std=0.02):
    """B ≠ 0 (và độ lớn DoRA lệch khỏi ‖W‖) để so sánh có ý nghĩa: ở bước 0 mọi bản đều bằng mô hình nền."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g) * std)
            if hasattr(layer, "magnitude"):
                layer.magnitude.mul_(1 + 0.05 * torch.randn(layer.magnitude.shape, generator=g))


def copy_into_peft(ours, peft_model):
    """Chép A, B (và m) của bản tự xây vào các mô-đun của peft (adapter 'default')."""
    sd = peft_model.state_dict()
    for name, layer in lora_layers(ours).items():
        key = f"base_model.model.{name}"
        sd[f"{key}.lora_A.default.weight"].copy_(layer.lora_A.detach())
        sd[f"{key}.lora_B.default.weight"].copy_(layer.lora_B.detach())
        if hasattr(layer, "magnitude"):
            sd[f"{key}.lora_magnitude_vector.default.weight"].copy_(layer.magnitude.detach())


def peft_twin(model, cfg, use_dora=False, fan_in_fan_out=True):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(copy.deepcopy(model), LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, target_modules=list(cfg.target_modules), lora_dropout=cfg.dropout,
        use_rslora=cfg.rslora, use_dora=use_dora, fan_in_fan_out=fan_in_fan_out, task_type="CAUSAL_LM"))


def tiny_llama():
    """Một Llama nhỏ khởi tạo ngẫu nhiên: q_proj, v_proj là nn.Linear thật, đúng đích của bài báo LoRA."""
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    return LlamaForCausalLM(cfg).eval()


def test_step0_unchanged_and_layout(base):
    model, tok = base
    ours = copy.deepcopy(model)
    names = apply_lora(ours, LoRAConfig(r=8, alpha=16, target_modules=ALL))
    assert len(names) == 16  # c_attn, attn.c_proj, mlp.c_proj, mlp.c_fc trong 4 lớp ("c_proj" khớp cả hai)
    layer = ours.transformer.h[0].attn.c_attn
    assert isinstance(layer, LoRALinear) and layer.fan_in_fan_out
    assert layer.lora_A.shape == (8, 192) and layer.lora_B.shape == (576, 8)
    assert torch.count_nonzero(layer.lora_B) == 0
    bound = 1 / math.sqrt(192)  # kaiming_uniform(a=√5) trên (r, in) cho giới hạn 1/√in
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.std() > bound / 4
    x = inputs(tok)
    torch.testing.assert_close(ours(**x).logits, model(**x).logits, rtol=0, atol=0)


def test_trainable_equals_formula(base):
    model, _ = base
    ours = copy.deepcopy(model)
    cfg = LoRAConfig(r=4, alpha=8, target_modules=ALL)
    names = apply_lora(ours, cfg)
    formula = sum(cfg.r * (layer.in_features + layer.out_features) for layer in lora_layers(ours).values())
    counts = count_parameters(ours)
    assert counts.trainable == formula
    trainable = {n for n, p in ours.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.lora_{ab}" for n in names for ab in "AB"}
    assert counts.total == count_parameters(model).total + formula


@pytest.mark.parametrize("targets", [["c_attn"], ALL])
def test_matches_peft_conv1d(base, targets):
    model, tok = base
    ours = copy.deepcopy(model)
    cfg = LoRAConfig(r=4, alpha=8, target_modules=targets)
    apply_lora(ours, cfg)
    perturb(ours)
    ref = peft_twin(model, cfg)
    copy_into_peft(ours, ref)
    x = inputs(tok)
    torch.testing.assert_close(ours(**x).logits, ref(**x).logits, rtol=0, atol=1e-5)
    assert count_parameters(ours).trainable == sum(p.numel() for p in ref.parameters() if p.requires_grad)
    assert (ours(**x).logits - model(**x).logits).abs().max() > 1e-2  # so sánh có nội dung


def test_matches_peft_linear_rslora():
    model = tiny_llama()
    ours = copy.deepcopy(model)
    cfg = LoRAConfig(r=4, alpha=8, target_modules=["q_proj", "v_proj"], rslora=True, dropout=0.1)
    names = apply_lora(ours, cfg)
    assert len(names) == 4 and not lora_layers(ours)[names[0]].fan_in_fan_out
    assert lora_layers(ours)[names[0]].scaling == pytest.approx(8 / 2)  # α/√r
    perturb(ours, std=0.2)
    ref = peft_twin(model, cfg, fan_in_fan_out=False)
    copy_into_peft(ours, ref)
    ours.eval(), ref.eval()
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(input_ids=ids).logits, ref(input_ids=ids).logits, rtol=0, atol=1e-5)
    assert count_parameters(ours).trainable == sum(p.numel() for p in ref.parameters() if p.requires_grad)


def test_gpt2_small_counts_match_reference():
    """Số liệu của REFERENCE.md (đo bằng peft trên GPT-2 small) trên một GPT-2 small ở thiết bị meta."""
    with torch.device("meta"):
        gpt2 = GPT2LMHeadModel(GPT2Config())
    assert count_parameters(gpt2).total == 124_439_808
    for targets, expected, percent in ((["c_attn"], 294_912, 0.2364), (ALL, 1_179_648, None)):
        m = copy.deepcopy(gpt2)
        apply_lora(m, LoRAConfig(r=8, alpha=16, target_modules=targets))
        counts = count_parameters(m)
        assert counts.trainable == expected
        if percent is not None:  # % mà peft in (mẫu số: nền + LoRA), như bảng của REFERENCE.md
            assert round(counts.percent, 4) == percent


def test_merge_unmerge(base):
    model, tok = base
    ours = copy.deepcopy(model)
    apply_lora(ours, LoRAConfig(r=8, alpha=16, target_modules=ALL))
    perturb(ours)
    x = inputs(tok)
    before = ours(**x).logits
    merge_lora(ours)
    layer = ours.transformer.h[1].mlp.c_fc
    w0 = model.transformer.h[1].mlp.c_fc.weight
    torch.testing.assert_close(layer.base_layer.weight, w0 + layer.scaling * (layer.lora_B @ layer.lora_A).T)
    torch.testing.assert_close(ours(**x).logits, before, rtol=0, atol=1e-4)
    with pytest.raises(CourseError, match="đã được gộp"):
        merge_lora(ours)
    unmerge_lora(ours)
    for name, layer in lora_layers(ours).items():
        assert (layer.base_layer.weight - model.get_submodule(name).weight).abs().max() < 1e-6
    torch.testing.assert_close(ours(**x).logits, before, rtol=1e-5, atol=1e-4)


def test_dropout_only_on_lora_branch(base):
    model, tok = base
    ours = copy.deepcopy(model)
    apply_lora(ours, LoRAConfig(r=4, alpha=8, target_modules=["c_attn"], dropout=0.5))
    layer = ours.transformer.h[0].attn.c_attn
    x = torch.randn(2, 5, 192)
    layer.train()
    torch.testing.assert_close(layer(x), layer.base_layer(x))  # B = 0: dropout không chạm nhánh nền
    perturb(ours)
    a, b = layer(x), layer(x)
    assert not torch.equal(a, b)  # nhánh LoRA có dropout
    layer.eval()
    torch.testing.assert_close(layer(x), layer.base_layer(x) + layer.lora_branch(x))


def test_training_changes_only_lora(base, task_data):
    model, _ = base
    _, train_data, _, _ = task_data
    ours = copy.deepcopy(model)
    apply_lora(ours, LoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    before = {n: p.clone() for n, p in ours.named_parameters()}
    train(ours, train_data, steps=3, lr=1e-2, batch_size=8, progress=False)
    for n, p in ours.named_parameters():
        changed = not torch.equal(p, before[n])
        assert changed == (".lora_" in n), n


def test_bad_inputs_leave_model_unchanged(base):
    model, _ = base
    ours = copy.deepcopy(model)
    cases = [  # cấu hình được kiểm tra ngay lúc tạo (__post_init__), nên tạo nó trong pytest.raises
        (dict(r=0), "r phải là số nguyên dương"),
        (dict(r=193, target_modules=["c_attn"]), "quá lớn"),
        (dict(alpha=0), "alpha"),
        (dict(target_modules=["q_proj"]), "'q_proj'.*c_attn"),
        (dict(target_modules=["ln_1"]), "LayerNorm"),
        (dict(dropout=1.5), "dropout"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(CourseError, match=pattern):
            apply_lora(ours, LoRAConfig(**kwargs))
        assert not lora_layers(ours)
        assert all(p.requires_grad for p in ours.parameters())
    apply_lora(ours, LoRAConfig(target_modules=["c_attn"]))
    with pytest.raises(CourseError, match="đã có LoRA.*hai lần"):
        apply_lora(ours, LoRAConfig(target_modules=["c_fc"]))
    with pytest.raises(CourseError, match="chưa được gộp"):
        unmerge_lora(ours)


def test_merge_refuses_tied_weight(base):
    model, tok = base
    ours = copy.deepcopy(model)
    apply_lora(ours, LoRAConfig(r=4, alpha=8, target_modules=["lm_head"]))
    with pytest.raises(CourseError, match="dùng chung"):
        merge_lora(ours)
    assert not ours.lm_head.merged


def test_fresh_model_makes_lora_init_the_same_in_every_lesson():
    """Course.fresh_model đặt lại seed: LoRA áp lên nó khởi tạo như nhau dù trước đó đã dùng bao nhiêu số ngẫu nhiên."""
    from peft_course.experiments import prepare

    course = prepare(device="cpu")
    first = course.fresh_model()
    apply_lora(first, LoRAConfig(r=4))
    torch.randn(1000)  # các ô khác của notebook dùng bộ sinh số ngẫu nhiên
    second = course.fresh_model()
    apply_lora(second, LoRAConfig(r=4))
    a1 = [layer.lora_A for layer in lora_layers(first).values()]
    a2 = [layer.lora_A for layer in lora_layers(second).values()]
    assert all(torch.equal(x, y) for x, y in zip(a1, a2)) and len(a1) == 16  # 4 khối × (c_attn, attn.c_proj, c_fc, mlp.c_proj)
    assert not torch.equal(a1[0], a1[1])  # mỗi lớp vẫn có khởi tạo riêng

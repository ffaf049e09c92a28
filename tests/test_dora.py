"""DoRA tự xây (peft_course.dora): độ lớn theo đặc trưng đầu ra, chuẩn detach, bằng peft, gộp/tách."""

import copy

import pytest
import torch
from test_lora import ALL, copy_into_peft, inputs, peft_twin, perturb, tiny_llama
from transformers import GPT2Config, GPT2LMHeadModel

from peft_course import CourseError, count_parameters, train
from peft_course.dora import DoRAConfig, DoRALinear, apply_dora, merge_dora, unmerge_dora
from peft_course.lora import LoRAConfig, apply_lora, lora_layers


def test_magnitude_per_output_feature_and_step0(base):
    model, tok = base
    ours = copy.deepcopy(model)
    apply_dora(ours, DoRAConfig(r=4, alpha=8, target_modules=ALL))
    layer = ours.transformer.h[0].attn.c_attn
    assert isinstance(layer, DoRALinear)
    w = model.transformer.h[0].attn.c_attn.weight  # Conv1D: (in=192, out=576)
    assert layer.magnitude.shape == (576,)
    torch.testing.assert_close(layer.magnitude, w.norm(dim=0))  # chuẩn theo chiều đầu vào
    x = inputs(tok)
    torch.testing.assert_close(ours(**x).logits, model(**x).logits, rtol=0, atol=1e-5)


def test_trainable_equals_formula_and_reference(base):
    model, _ = base
    ours = copy.deepcopy(model)
    cfg = DoRAConfig(r=4, alpha=8, target_modules=ALL)
    apply_dora(ours, cfg)
    formula = sum(cfg.r * (m.in_features + m.out_features) + m.out_features for m in lora_layers(ours).values())
    assert count_parameters(ours).trainable == formula
    with torch.device("meta"):
        gpt2 = GPT2LMHeadModel(GPT2Config())
    apply_dora(gpt2, DoRAConfig(r=8, alpha=16, target_modules=["c_attn"]))
    assert count_parameters(gpt2).trainable == 322_560  # REFERENCE.md, đo bằng peft


@pytest.mark.parametrize("targets", [["c_attn"], ALL])
def test_matches_peft_conv1d(base, targets):
    model, tok = base
    ours = copy.deepcopy(model)
    cfg = DoRAConfig(r=4, alpha=8, target_modules=targets)
    apply_dora(ours, cfg)
    perturb(ours)
    ref = peft_twin(model, cfg, use_dora=True)
    copy_into_peft(ours, ref)
    x = inputs(tok)
    torch.testing.assert_close(ours(**x).logits, ref(**x).logits, rtol=0, atol=1e-5)
    assert count_parameters(ours).trainable == sum(p.numel() for p in ref.parameters() if p.requires_grad)


def test_matches_peft_linear_and_gradients():
    """Đầu ra và gradient (A, B, m) bằng peft: chứng tỏ chuẩn được detach đúng như peft."""
    model = tiny_llama()
    ours = copy.deepcopy(model)
    cfg = DoRAConfig(r=4, alpha=8, target_modules=["q_proj", "v_proj"])
    apply_dora(ours, cfg)
    perturb(ours, std=0.2)
    ref = peft_twin(model, cfg, use_dora=True, fan_in_fan_out=False)
    copy_into_peft(ours, ref)
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(1))
    a, b = ours(input_ids=ids, labels=ids), ref(input_ids=ids, labels=ids)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=1e-5)
    a.loss.backward(), b.loss.backward()
    grads = {n: p.grad for n, p in ref.named_parameters() if p.requires_grad}
    for name, layer in lora_layers(ours).items():
        key = f"base_model.model.{name}"
        torch.testing.assert_close(layer.lora_A.grad, grads[f"{key}.lora_A.default.weight"], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(layer.lora_B.grad, grads[f"{key}.lora_B.default.weight"], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(layer.magnitude.grad, grads[f"{key}.lora_magnitude_vector.default.weight"],
                                   rtol=1e-4, atol=1e-6)


def test_merge_unmerge(base):
    model, tok = base
    ours = copy.deepcopy(model)
    apply_dora(ours, DoRAConfig(r=8, alpha=16, target_modules=ALL))
    perturb(ours)
    x = inputs(tok)
    before = ours(**x).logits
    merge_dora(ours)
    layer = ours.transformer.h[2].attn.c_attn
    w_merged = layer.base_layer.weight  # (in, out): cột j có chuẩn đúng bằng m_j sau khi gộp
    torch.testing.assert_close(w_merged.norm(dim=0), layer.magnitude, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours(**x).logits, before, rtol=1e-5, atol=1e-4)
    unmerge_dora(ours)
    for name, layer in lora_layers(ours).items():
        assert (layer.base_layer.weight - model.get_submodule(name).weight).abs().max() < 1e-6
    torch.testing.assert_close(ours(**x).logits, before, rtol=1e-5, atol=1e-4)


def test_training_changes_only_adapter(base, task_data):
    model, _ = base
    _, train_data, _, _ = task_data
    ours = copy.deepcopy(model)
    apply_dora(ours, DoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    before = {n: p.clone() for n, p in ours.named_parameters()}
    train(ours, train_data, steps=3, lr=1e-2, batch_size=8, progress=False)
    for n, p in ours.named_parameters():
        assert (not torch.equal(p, before[n])) == (".lora_" in n or n.endswith(".magnitude")), n


def test_refuses_bad_inputs(base):
    model, _ = base
    ours = copy.deepcopy(model)
    with pytest.raises(CourseError, match="quá lớn"):
        apply_dora(ours, DoRAConfig(r=200, target_modules=["c_attn"]))
    apply_lora(ours, LoRAConfig(target_modules=["c_attn"]))
    with pytest.raises(CourseError, match="đã có LoRA.*không áp DoRA"):
        apply_dora(ours, DoRAConfig(target_modules=["c_attn"]))


@pytest.mark.parametrize("which", ["conv1d", "linear"])
def test_training_mode_dropout_matches_peft(base, which):
    """Dropout > 0 khi huấn luyện: phần độ lớn dùng W·dropout(x) như peft và tác giả DoRA (issue 12), sai số ≤ 1e-5."""
    if which == "conv1d":
        model, tok = base
        x = dict(inputs(tok))
        cfg = DoRAConfig(r=4, alpha=8, target_modules=ALL, dropout=0.3)
    else:
        model = tiny_llama()
        x = {"input_ids": torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(1))}
        cfg = DoRAConfig(r=4, alpha=8, target_modules=["q_proj", "v_proj"], dropout=0.3)
    ours = copy.deepcopy(model)
    apply_dora(ours, cfg)
    perturb(ours, std=0.2)
    ref = peft_twin(model, cfg, use_dora=True, fan_in_fan_out=which == "conv1d")
    copy_into_peft(ours, ref)
    ours.train(), ref.train()
    torch.manual_seed(7)
    a = ours(**x).logits
    torch.manual_seed(7)
    b = ref(**x).logits
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    ours.eval()
    assert not torch.allclose(a, ours(**x).logits, atol=1e-3)  # dropout thật sự có tác dụng trong lần so sánh

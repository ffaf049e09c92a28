"""Xuất/nạp bộ chuyển LoRA/DoRA theo định dạng peft: peft nạp được tệp ta lưu và ngược lại; tệp sai bị từ chối."""

import copy
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from test_lora import ALL, inputs, perturb

from peft_course import CourseError
from peft_course.dora import apply_dora
from peft_course.export import CONFIG_NAME, WEIGHTS_NAME, load_adapter, save_adapter
from peft_course.lora import LoRAConfig, apply_lora, lora_layers


@pytest.mark.parametrize("dora", [False, True])
def test_peft_loads_our_adapter(base, tmp_path, dora):
    from peft import PeftModel

    model, tok = base
    ours = copy.deepcopy(model)
    (apply_dora if dora else apply_lora)(ours, LoRAConfig(r=4, alpha=8, target_modules=ALL, rslora=dora))
    perturb(ours)
    save_adapter(ours, tmp_path)
    cfg = json.loads((tmp_path / CONFIG_NAME).read_text(encoding="utf-8"))
    assert cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM" and cfg["r"] == 4
    assert cfg["lora_alpha"] == 8 and cfg["fan_in_fan_out"] is True and cfg["use_dora"] is dora
    assert cfg["use_rslora"] is dora and cfg["target_modules"] == ALL and cfg["base_model_name_or_path"]
    with safe_open(str(tmp_path / WEIGHTS_NAME), "pt") as f:
        keys = set(f.keys())
        assert f.get_slice("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").get_shape() == [4, 192]
        assert f.get_slice("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight").get_shape() == [576, 4]
    assert len(keys) == 16 * (3 if dora else 2)
    assert ("base_model.model.transformer.h.3.mlp.c_fc.lora_magnitude_vector" in keys) is dora
    ref = PeftModel.from_pretrained(copy.deepcopy(model), str(tmp_path))
    x = inputs(tok)
    torch.testing.assert_close(ref(**x).logits, ours(**x).logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dora", [False, True])
def test_roundtrip_and_peft_saved_files(base, tmp_path, dora):
    from peft import LoraConfig, get_peft_model

    model, tok = base
    ours = copy.deepcopy(model)
    (apply_dora if dora else apply_lora)(ours, LoRAConfig(r=4, alpha=8, target_modules=["c_attn", "c_fc"]))
    perturb(ours, seed=3)
    save_adapter(ours, tmp_path / "ours")
    fresh = copy.deepcopy(model)
    names = load_adapter(fresh, tmp_path / "ours")
    assert names == list(lora_layers(ours))
    x = inputs(tok)
    torch.testing.assert_close(fresh(**x).logits, ours(**x).logits, rtol=0, atol=0)
    # tệp do chính peft lưu cũng nạp được
    ref = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"],
                                                         fan_in_fan_out=True, use_dora=dora, init_lora_weights=False))
    ref.save_pretrained(str(tmp_path / "peft"))
    mine = copy.deepcopy(model)
    load_adapter(mine, tmp_path / "peft")
    torch.testing.assert_close(mine(**x).logits, ref(**x).logits, rtol=0, atol=1e-5)


def test_refuses_files_that_do_not_match(base, tmp_path):
    model, _ = base
    ours = copy.deepcopy(model)
    apply_lora(ours, LoRAConfig(r=8, alpha=16, target_modules=["c_attn"]))
    good = save_adapter(ours, tmp_path / "good")
    state = load_file(str(good / WEIGHTS_NAME))
    config = json.loads((good / CONFIG_NAME).read_text(encoding="utf-8"))

    def variant(name, *, state_=None, config_=None, raw=None):
        folder = tmp_path / name
        folder.mkdir()
        (folder / CONFIG_NAME).write_text(json.dumps(config_ or config), encoding="utf-8")
        if raw is not None:
            (folder / WEIGHTS_NAME).write_bytes(raw)
        else:
            save_file(state_ or state, str(folder / WEIGHTS_NAME))
        return folder

    missing = {k: v for k, v in state.items() if "h.2." not in k}
    extra = {**state, "base_model.model.transformer.h.0.attn.c_attn.lora_C.weight": torch.zeros(2)}
    rank4 = {k: (v[:4] if "lora_A" in k else v[:, :4]).contiguous() for k, v in state.items()}
    cases = [
        (variant("corrupt", raw=(good / WEIGHTS_NAME).read_bytes()[:500]), "hỏng"),
        (variant("garbage", raw=b"\x80\x04 not a safetensors file"), "hỏng"),
        (variant("missing", state_=missing), "thiếu 2 khóa"),
        (variant("extra", state_=extra), "không có"),
        (variant("rank", state_=rank4), "Sai hình dạng"),
        (variant("targets", config_={**config, "target_modules": ["q_proj"]}), "'q_proj'"),
        (variant("no_alpha", config_={k: v for k, v in config.items() if k != "lora_alpha"}), "lora_alpha"),
        (variant("prefix", config_={**config, "peft_type": "PREFIX_TUNING"}), "peft_type"),
        (tmp_path / "nowhere", "Không thấy tệp"),
    ]
    for folder, pattern in cases:
        fresh = copy.deepcopy(model)
        with pytest.raises(CourseError, match=pattern):
            load_adapter(fresh, folder)
        assert not lora_layers(fresh), folder.name  # mô hình giữ nguyên
    # mô hình đã có LoRA với hạng khác
    other = copy.deepcopy(model)
    apply_lora(other, LoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    with pytest.raises(CourseError, match="r = 4"):
        load_adapter(other, good)


def test_save_refuses_model_without_adapter(base, tmp_path):
    with pytest.raises(CourseError, match="apply_lora"):
        save_adapter(copy.deepcopy(base[0]), tmp_path)


@pytest.mark.parametrize("field, value", [
    ("alpha_pattern", {"c_attn": 32}), ("rank_pattern", {"c_attn": 2}), ("layers_to_transform", [0]),
    ("bias", "lora_only"), ("modules_to_save", ["lm_head"]),
])
def test_peft_fields_not_implemented_are_refused(base, tmp_path, field, value):
    """Tệp do peft ghi với một trường khóa học không cài đặt: từ chối, nêu tên trường (không nạp sai hệ số)."""
    from peft import LoraConfig, get_peft_model

    model, _ = base
    kwargs = {"r": 4, "lora_alpha": 8, "target_modules": ["c_attn"], "fan_in_fan_out": True, field: value}
    get_peft_model(copy.deepcopy(model), LoraConfig(**kwargs)).save_pretrained(str(tmp_path))
    fresh = copy.deepcopy(model)
    with pytest.raises(CourseError, match=rf"{field} = {value!r}".replace("[", r"\[").replace("{", r"\{")):
        load_adapter(fresh, tmp_path)
    assert not lora_layers(fresh) and all(p.requires_grad for p in fresh.parameters())


@pytest.mark.parametrize("dora", [False, True])
def test_peft_non_default_supported_fields_load_exactly(base, tmp_path, dora):
    """rslora, dropout, task_type, init không mặc định do peft ghi: nạp xong cho cùng logit như peft."""
    from peft import LoraConfig, get_peft_model

    model, tok = base
    ref = get_peft_model(copy.deepcopy(model), LoraConfig(
        r=4, lora_alpha=16, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True, use_rslora=True,
        lora_dropout=0.2, use_dora=dora, init_lora_weights=False, task_type="CAUSAL_LM"))
    ref.save_pretrained(str(tmp_path))
    mine = copy.deepcopy(model)
    load_adapter(mine, tmp_path)
    assert next(iter(lora_layers(mine).values())).scaling == pytest.approx(16 / 2)  # α/√r
    ref.eval()
    x = inputs(tok)
    torch.testing.assert_close(mine(**x).logits, ref(**x).logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("field, value, needle", [
    ("use_rslora", "false", "use_rslora"), ("use_dora", 0, "use_dora"), ("r", "8", "r phải"),
    ("r", 8.0, "r phải"), ("lora_alpha", True, "lora_alpha"), ("lora_dropout", "0.1", "lora_dropout"),
    ("fan_in_fan_out", "true", "fan_in_fan_out"),
])
def test_config_needs_real_json_types(base, tmp_path, field, value, needle):
    model, _ = base
    ours = copy.deepcopy(model)
    apply_lora(ours, LoRAConfig(r=8, alpha=16, target_modules=["c_attn"]))
    save_adapter(ours, tmp_path)
    cfg = json.loads((tmp_path / CONFIG_NAME).read_text(encoding="utf-8"))
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**cfg, field: value}), encoding="utf-8")
    fresh = copy.deepcopy(model)
    with pytest.raises(CourseError, match=needle) as info:
        load_adapter(fresh, tmp_path)
    assert repr(value) in str(info.value)
    assert not lora_layers(fresh)

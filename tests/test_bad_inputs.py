"""Đầu vào sai cho mọi phương pháp: lỗi CourseError tiếng Việt nêu đúng giá trị sai, và mô hình không đổi.

Mỗi trường hợp chạy trên một mô hình nền mới; sau lỗi, trạng thái (mọi tensor) và cấu trúc (tên mô-đun,
requires_grad) của mô hình phải y như trước.
"""

import copy

import pytest
import torch

from peft_course import CourseError
from peft_course.adapter import AdapterConfig, apply_adapters
from peft_course.bitfit import BitFitConfig, apply_bitfit
from peft_course.dora import DoRAConfig, apply_dora
from peft_course.lora import LoRAConfig, apply_lora
from peft_course.prefix import PrefixConfig, PromptConfig, apply_prefix, apply_prompt


def snapshot(model):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            [n for n, _ in model.named_modules()],
            {n: p.requires_grad for n, p in model.named_parameters()})


def same(a, b) -> bool:
    return (a[0].keys() == b[0].keys() and all(torch.equal(a[0][k], b[0][k]) for k in a[0])
            and a[1] == b[1] and a[2] == b[2])


# (mô tả, bước chuẩn bị hợp lệ hoặc None, thao tác sai, chuỗi phải có trong thông báo)
CASES = [
    ("LoRA r = 0", None, lambda m: apply_lora(m, LoRAConfig(r=0)), "0"),
    ("LoRA r âm", None, lambda m: apply_lora(m, LoRAConfig(r=-4)), "-4"),
    ("LoRA r lớn hơn lớp", None, lambda m: apply_lora(m, LoRAConfig(r=5000)), "5000"),
    ("LoRA α ≤ 0", None, lambda m: apply_lora(m, LoRAConfig(alpha=0)), "alpha"),
    ("LoRA dropout = 1", None, lambda m: apply_lora(m, LoRAConfig(dropout=1.0)), "dropout"),
    ("LoRA tên mô-đun không có", None, lambda m: apply_lora(m, LoRAConfig(target_modules=["q_proj"])), "q_proj"),
    ("LoRA áp hai lần", lambda m: apply_lora(m, LoRAConfig()), lambda m: apply_lora(m, LoRAConfig()), "LoRA"),
    ("DoRA chồng lên LoRA", lambda m: apply_lora(m, LoRAConfig()), lambda m: apply_dora(m, DoRAConfig()), ""),
    ("DoRA r = 0", None, lambda m: apply_dora(m, DoRAConfig(r=0)), "0"),
    ("adapter r = 0", None, lambda m: apply_adapters(m, AdapterConfig(r=0)), "0"),
    ("adapter r > d", None, lambda m: apply_adapters(m, AdapterConfig(r=1000)), "1000"),
    ("adapter vị trí lạ", None, lambda m: apply_adapters(m, AdapterConfig(placement="middle")), "middle"),
    ("adapter hàm kích hoạt lạ", None, lambda m: apply_adapters(m, AdapterConfig(activation="sin")), "sin"),
    ("adapter áp hai lần", lambda m: apply_adapters(m, AdapterConfig()), lambda m: apply_adapters(m, AdapterConfig()), ""),
    ("BitFit nhóm bias lạ", None, lambda m: apply_bitfit(m, BitFitConfig(which="query")), "query"),
    ("BitFit áp hai lần", lambda m: apply_bitfit(m, BitFitConfig()), lambda m: apply_bitfit(m, BitFitConfig()), ""),
    ("prefix k = 0", None, lambda m: apply_prefix(m, PrefixConfig(num_virtual_tokens=0)), "0"),
    ("prefix k vượt ngữ cảnh", None, lambda m: apply_prefix(m, PrefixConfig(num_virtual_tokens=500)), "500"),
    ("prefix áp hai lần", lambda m: apply_prefix(m, PrefixConfig()), lambda m: apply_prefix(m, PrefixConfig()), ""),
    ("prompt k âm", None, lambda m: apply_prompt(m, PromptConfig(num_virtual_tokens=-1)), "-1"),
    ("LoRA trên mô hình đã có prefix", lambda m: apply_prefix(m, PrefixConfig()),
     lambda m: apply_lora(m, LoRAConfig(r=0)), "0"),
]


@pytest.mark.parametrize("name,prepare,bad,needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(base, name, prepare, bad, needle):
    model = copy.deepcopy(base[0])
    if prepare is not None:
        prepare(model)
    before = snapshot(model)
    with pytest.raises(CourseError) as info:
        bad(model)
    message = str(info.value)
    assert needle in message, message
    assert any(ch in message for ch in "ạảãàáâậầấẩẫăặằắẳẵêệềếểễôộồốổỗơợờớởỡưựừứửữđ"), "thông báo phải bằng tiếng Việt"
    assert same(before, snapshot(model)), "mô hình bị thay đổi dù thao tác bị từ chối"

"""Đầu vào sai cho mọi phương pháp và mọi tầng: lỗi CourseError tiếng Việt nêu đúng giá trị sai và điều hợp lệ,
và một mã băm của mô hình (hoặc của tệp) trước và sau cho thấy không gì bị đổi.

Các nhóm (issue 12): cấu hình, chồng phương pháp, nạp bộ chuyển, huấn luyện, dữ liệu, tệp, mục nhỏ.
Mỗi trường hợp chạy trên một mô hình nền mới. Những trường hợp "chạy đúng" (np.int64 làm r, BitFit trên
multi-query) nằm ở cuối tệp.
"""

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from peft_course import CourseError, FeedbackTask, freeze, load_feedback, train
from peft_course.adapter import AdapterConfig, apply_adapters
from peft_course.bitfit import BitFitConfig, apply_bitfit
from peft_course.dora import DoRAConfig, apply_dora
from peft_course.export import CONFIG_NAME, WEIGHTS_NAME, load_adapter, save_adapter
from peft_course.lora import LoRAConfig, apply_lora, merge_lora
from peft_course.prefix import PrefixConfig, PromptConfig, apply_prefix, apply_prompt

VIETNAMESE = "ạảãàáâậầấẩẫăặằắẳẵêệềếểễôộồốổỗơợờớởỡưựừứửữđ"


def model_hash(model: torch.nn.Module) -> str:
    """Băm mọi tensor (tên, kiểu, giá trị), cấu trúc (tên và lớp mô-đun), requires_grad, chế độ train/eval,
    số móc và attn_implementation: hai mô hình cùng mã băm thì không phân biệt được."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    for name, m in model.named_modules():
        h.update(f"{name}|{type(m).__name__}|{m.training}|{len(m._forward_pre_hooks)}|{len(m._forward_hooks)}|"
                 f"{sorted(k for k in vars(m) if k == 'prefix_kv')}".encode())
    for name, p in model.named_parameters():
        h.update(f"{name}|{p.requires_grad}".encode())
    h.update(str(getattr(getattr(model, "config", None), "_attn_implementation", None)).encode())
    return h.hexdigest()


def files_hash(folder: Path) -> str:
    """Băm mọi tệp (kể cả tệp ẩn, tệp tạm) dưới `folder`: tên tương đối và nội dung."""
    h = hashlib.sha256()
    for f in sorted(Path(folder).rglob("*")):
        h.update(str(f.relative_to(folder)).encode())
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def assert_clean(info: pytest.ExceptionInfo, *needles: str) -> str:
    """Thông báo không rỗng, tiếng Việt, có mọi chuỗi `needles` (giá trị nhận được và điều hợp lệ)."""
    message = str(info.value)
    assert message.strip() and needles, "thông báo (và điều kiện kiểm tra) không được rỗng"
    assert any(ch in message for ch in VIETNAMESE), f"thông báo phải bằng tiếng Việt: {message}"
    for needle in needles:
        assert needle and needle in message, f"thiếu {needle!r} trong: {message}"
    return message


def refused(model, bad, *needles) -> str:
    """`bad(model)` phải ném CourseError sạch và không đổi mã băm của mô hình."""
    before = model_hash(model)
    with pytest.raises(CourseError) as info:
        bad(model)
    message = assert_clean(info, *needles)
    assert model_hash(model) == before, "mô hình bị thay đổi dù thao tác bị từ chối"
    return message


# ---------------------------------------------------------------- 1. cấu hình (giá trị sai của từng trường)
CONFIG_CASES = [
    ("LoRA r = 0", lambda m: apply_lora(m, LoRAConfig(r=0)), ["nhận được 0", "nguyên dương"]),
    ("LoRA r âm", lambda m: apply_lora(m, LoRAConfig(r=-4)), ["-4", "nguyên dương"]),
    ("LoRA r là chuỗi", lambda m: apply_lora(m, LoRAConfig(r="8")), ["'8'", "nguyên dương"]),
    ("LoRA r = 8.0", lambda m: apply_lora(m, LoRAConfig(r=8.0)), ["8.0", "nguyên dương"]),
    ("LoRA r lớn hơn lớp", lambda m: apply_lora(m, LoRAConfig(r=5000)), ["5000", "1 … 192"]),
    ("LoRA α = 0", lambda m: apply_lora(m, LoRAConfig(alpha=0)), ["alpha", "nhận được 0", "dương"]),
    ("LoRA α = inf", lambda m: apply_lora(m, LoRAConfig(alpha=float("inf"))), ["alpha", "inf", "hữu hạn"]),
    ("LoRA α = nan", lambda m: apply_lora(m, LoRAConfig(alpha=float("nan"))), ["alpha", "nan", "hữu hạn"]),
    ("LoRA dropout = 1", lambda m: apply_lora(m, LoRAConfig(dropout=1.0)), ["dropout", "1.0", "[0, 1)"]),
    ("LoRA rslora là chuỗi", lambda m: apply_lora(m, LoRAConfig(rslora="false")), ["rslora", "'false'", "True"]),
    ("LoRA đích là chuỗi", lambda m: apply_lora(m, LoRAConfig(target_modules="c_attn")), ["'c_attn'", "danh sách"]),
    ("LoRA tên mô-đun không có", lambda m: apply_lora(m, LoRAConfig(target_modules=["q_proj", "k_proj"])),
     ["'q_proj'", "'k_proj'", "c_attn"]),
    ("LoRA đích là LayerNorm", lambda m: apply_lora(m, LoRAConfig(target_modules=["ln_1"])), ["LayerNorm", "c_attn"]),
    ("LoRA cấu hình bị gán lại sau khi tạo", lambda m: apply_lora(m, _mutated(LoRAConfig(), r=0)), ["r", "0"]),
    ("LoRA config không phải LoRAConfig", lambda m: apply_lora(m, {"r": 8}), ["dict", "LoRAConfig"]),
    ("DoRA r = 0", lambda m: apply_dora(m, DoRAConfig(r=0)), ["nhận được 0", "nguyên dương"]),
    ("DoRA r > lớp", lambda m: apply_dora(m, DoRAConfig(r=200, target_modules=["c_attn"])), ["200", "1 … 192"]),
    ("adapter r = 0", lambda m: apply_adapters(m, AdapterConfig(r=0)), ["nhận được 0", "nguyên dương"]),
    ("adapter r > d", lambda m: apply_adapters(m, AdapterConfig(r=1000)), ["1000", "1 … 192"]),
    ("adapter vị trí lạ", lambda m: apply_adapters(m, AdapterConfig(placement="middle")), ["'middle'", "'houlsby'"]),
    ("adapter hàm kích hoạt lạ", lambda m: apply_adapters(m, AdapterConfig(activation="sin")), ["'sin'", "'relu'"]),
    ("BitFit nhóm bias lạ", lambda m: apply_bitfit(m, BitFitConfig(which="query")), ["'query'", "'attention_query'"]),
    ("BitFit cấu hình bị gán lại", lambda m: apply_bitfit(m, _mutated(BitFitConfig(), which="bias")),
     ["'bias'", "'all'"]),
    ("prefix k = 0", lambda m: apply_prefix(m, PrefixConfig(num_virtual_tokens=0)), ["num_virtual_tokens", "0"]),
    ("prefix k vượt ngữ cảnh", lambda m: apply_prefix(m, PrefixConfig(num_virtual_tokens=500)), ["500", "1 … 127"]),
    ("prefix init_std = nan", lambda m: apply_prefix(m, PrefixConfig(init_std=float("nan"))), ["init_std", "nan",
                                                                                                "hữu hạn"]),
    ("prefix init_std = inf", lambda m: apply_prefix(m, PrefixConfig(init_std=float("inf"))), ["init_std", "inf"]),
    ("prefix init_std âm", lambda m: apply_prefix(m, PrefixConfig(init_std=-0.1)), ["init_std", "-0.1", "≥ 0"]),
    ("prefix id token ngoài từ vựng", lambda m: apply_prefix(m, PrefixConfig(init_token_ids=[99999])),
     ["99999", "0 … 3999"]),
    ("prompt k âm", lambda m: apply_prompt(m, PromptConfig(num_virtual_tokens=-1)), ["num_virtual_tokens", "-1"]),
    ("model không phải Module", lambda m: apply_lora("gpt2", LoRAConfig()), ["str", "torch.nn.Module"]),
]


def _mutated(config, **changes):
    """Cấu hình hợp lệ lúc tạo rồi bị gán lại một trường (dataclass không đóng băng): áp phải kiểm tra lại."""
    for key, value in changes.items():
        setattr(config, key, value)
    return config


@pytest.mark.parametrize("name,bad,needles", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config(base, name, bad, needles):
    refused(copy.deepcopy(base[0]), bad, *needles)


# ---------------------------------------------------------------- 2. chồng phương pháp (một guard chung)
def _peft_lora(m):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(m, LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))


PRIORS = {  # tên → (áp phương pháp thứ nhất, trả về mô hình; chuỗi phải có trong thông báo)
    "LoRA": (lambda m: apply_lora(m, LoRAConfig(r=2)) and m, "LoRA"),
    "DoRA": (lambda m: apply_dora(m, DoRAConfig(r=2, target_modules=["c_attn"])) and m, "DoRA"),
    "LoRA đã gộp": (lambda m: apply_lora(m, LoRAConfig(r=2, target_modules=["c_fc"])) and merge_lora(m) and m,
                    "LoRA"),
    "BitFit": (lambda m: apply_bitfit(m, BitFitConfig("attention_query")) and m, "BitFit"),
    "BitFit bằng freeze": (lambda m: freeze(m, r"\.bias$") and m, "BitFit"),
    "adapter": (lambda m: apply_adapters(m, AdapterConfig(r=4)) and m, "adapter"),
    "prefix": (lambda m: apply_prefix(m, PrefixConfig(4)) and m, "prefix tuning"),
    "prompt": (lambda m: apply_prompt(m, PromptConfig(4)) and m, "prompt tuning"),
    "khối cuối (freeze một phần)": (lambda m: freeze(m, r"transformer\.h\.3\.") and m, "đóng băng"),
    "peft LoRA": (_peft_lora, "một phương pháp của huggingface/peft"),
}
SECOND = {
    "LoRA": lambda m: apply_lora(m, LoRAConfig(r=2, target_modules=["c_attn"])),
    "DoRA": lambda m: apply_dora(m, DoRAConfig(r=2, target_modules=["c_attn"])),
    "BitFit": lambda m: apply_bitfit(m, BitFitConfig()),
    "adapter": lambda m: apply_adapters(m, AdapterConfig(r=4)),
    "prefix tuning": lambda m: apply_prefix(m, PrefixConfig(4)),
    "prompt tuning": lambda m: apply_prompt(m, PromptConfig(4)),
}


@pytest.mark.parametrize("second", list(SECOND))
@pytest.mark.parametrize("first", list(PRIORS))
def test_stacking(base, first, second):
    prepare, found = PRIORS[first]
    model = prepare(copy.deepcopy(base[0]))
    refused(model, SECOND[second], f"đã có {found}" if found != "đóng băng" else found, f"không áp {second}",
            "mô hình nền mới")


def test_stacking_load_adapter_on_bitfit(base, tmp_path):
    donor = copy.deepcopy(base[0])
    apply_lora(donor, LoRAConfig(r=2, target_modules=["c_attn"]))
    save_adapter(donor, tmp_path / "a")
    model = copy.deepcopy(base[0])
    apply_bitfit(model)
    refused(model, lambda m: load_adapter(m, tmp_path / "a"), "đã có BitFit", "không áp LoRA")


# ---------------------------------------------------------------- 3. nạp bộ chuyển (trường peft, kiểu JSON)
def _saved(base, folder: Path, **changes) -> Path:
    model = copy.deepcopy(base[0])
    apply_lora(model, LoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    save_adapter(model, folder)
    cfg = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    (folder / CONFIG_NAME).write_text(json.dumps({**cfg, **changes}), encoding="utf-8")
    return folder


LOAD_CASES = [
    ("alpha_pattern", {"alpha_pattern": {"c_attn": 32}}, ["alpha_pattern", "32"]),
    ("rank_pattern", {"rank_pattern": {"c_attn": 2}}, ["rank_pattern"]),
    ("layers_to_transform", {"layers_to_transform": [0, 1]}, ["layers_to_transform", "[0, 1]"]),
    ("bias = all", {"bias": "all"}, ["bias = 'all'"]),
    ("modules_to_save", {"modules_to_save": ["lm_head"]}, ["modules_to_save", "lm_head"]),
    ("use_qalora", {"use_qalora": True}, ["use_qalora"]),
    ("trường lạ của peft mới", {"lora_future_trick": 3}, ["lora_future_trick = 3"]),
    ("use_rslora là chuỗi", {"use_rslora": "false"}, ["use_rslora", "'false'", "true/false"]),
    ("use_dora là số", {"use_dora": 1}, ["use_dora", "1", "true/false"]),
    ("r là chuỗi", {"r": "4"}, ["r phải", "'4'"]),
    ("r là số thực", {"r": 4.0}, ["r phải", "4.0"]),
    ("lora_alpha là bool", {"lora_alpha": True}, ["lora_alpha", "True"]),
    ("lora_dropout là chuỗi", {"lora_dropout": "0.1"}, ["lora_dropout", "'0.1'"]),
    ("target_modules là regex", {"target_modules": ".*c_attn"}, ["target_modules", "'.*c_attn'"]),
    ("peft_type khác", {"peft_type": "IA3"}, ["peft_type", "IA3", "'LORA'"]),
]


@pytest.mark.parametrize("name,changes,needles", LOAD_CASES, ids=[c[0] for c in LOAD_CASES])
def test_load_adapter(base, tmp_path, name, changes, needles):
    folder = _saved(base, tmp_path / "adapter", **changes)
    files = files_hash(tmp_path)
    refused(copy.deepcopy(base[0]), lambda m: load_adapter(m, folder), *needles)
    assert files_hash(tmp_path) == files


def test_load_adapter_path_none(base):
    refused(copy.deepcopy(base[0]), lambda m: load_adapter(m, None), "path", "None")


# ---------------------------------------------------------------- 4. huấn luyện (đối số, phân kỳ)
def _small(data, n):
    from peft_course.data import TaskData

    return TaskData(*(t[:n] for t in (data.input_ids, data.attention_mask, data.labels, data.answer_pos, data.y)),
                    data.label_token_ids)


TRAIN_CASES = [
    ("val_data sai kiểu", {"val_data": "validation"}, ["val_data", "str", "TaskData"]),
    ("lr = inf", {"lr": float("inf")}, ["lr", "inf", "hữu hạn"]),
    ("lr = nan", {"lr": float("nan")}, ["lr", "nan", "hữu hạn"]),
    ("lr là chuỗi", {"lr": "1e-3"}, ["lr", "'1e-3'"]),
    ("weight_decay âm", {"weight_decay": -0.1}, ["weight_decay", "-0.1", "≥ 0"]),
    ("warmup âm", {"warmup": -5}, ["warmup", "-5", "≥ 0"]),
    ("warmup số thực", {"warmup": 2.5}, ["warmup", "2.5"]),
    ("seed bool", {"seed": True}, ["seed", "True"]),
    ("eval_every bool", {"eval_every": True}, ["eval_every", "True"]),
    ("progress chuỗi", {"progress": "no"}, ["progress", "'no'", "True hoặc False"]),
    ("steps numpy âm", {"steps": np.int64(-2)}, ["steps", "-2"]),
    ("batch_size lớn hơn tập", {"batch_size": 1000}, ["batch_size", "1000", "1 … 32"]),
]


@pytest.mark.parametrize("name,kwargs,needles", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_arguments(base, task_data, name, kwargs, needles):
    tr = _small(task_data[1], 32)
    refused(copy.deepcopy(base[0]), lambda m: train(m, tr, **{"steps": 2, "progress": False, **kwargs}), *needles)


def test_train_val_data_from_other_task(base, task_data):
    tr, val = _small(task_data[1], 32), _small(task_data[2], 8)
    val.label_token_ids = val.label_token_ids.flip(0)
    refused(copy.deepcopy(base[0]), lambda m: train(m, tr, val, steps=2, progress=False), "val_data", "FeedbackTask")


def test_train_token_outside_vocabulary(base, task_data):
    tr = _small(task_data[1], 32)
    tr.input_ids = tr.input_ids.clone()
    tr.input_ids[0, 0] = 4000
    refused(copy.deepcopy(base[0]), lambda m: train(m, tr, steps=2, progress=False), "4000", "0 … 3999")


@pytest.mark.parametrize("method", ["full", "LoRA"])
def test_train_divergence_stops_and_restores(base, task_data, method):
    """lr = 1e4: mất mát thành nan sau vài bước → CourseError nêu bước và gợi ý lr nhỏ hơn; mô hình như trước."""
    model = copy.deepcopy(base[0])
    if method == "LoRA":
        apply_lora(model, LoRAConfig(r=4, target_modules=["c_attn"]))
    tr = _small(task_data[1], 64)
    message = refused(model, lambda m: train(m, tr, steps=20, lr=1e4, batch_size=8, warmup=0, progress=False),
                      "bước", "lr = 10000", "nhỏ hơn", "trả về trạng thái")
    assert "nan" in message or "inf" in message


# ---------------------------------------------------------------- 5. dữ liệu (dòng sai, nguồn sai)
DATA_CASES = [
    ("văn bản rỗng", {"text": ["Hay.", ""], "label": [2, 0]}, ["dòng 1", "''", "không rỗng"]),
    ("văn bản chỉ khoảng trắng", {"text": ["   "], "label": [0]}, ["dòng 0", "'   '"]),
    ("văn bản None", {"text": ["Hay.", None], "label": [2, 0]}, ["dòng 1", "None"]),
    ("văn bản là số", {"text": [42], "label": [0]}, ["dòng 0", "42"]),
    ("3 văn bản 1 nhãn", {"text": ["a b", "c d", "e f"], "label": [1]}, ["3 văn bản", "1 nhãn"]),
    ("nhãn True", {"text": ["Hay."], "label": [True]}, ["dòng 0", "Nhãn True", "0 … 2"]),
    ("nhãn 1.0", {"text": ["Hay."], "label": [1.0]}, ["dòng 0", "Nhãn 1.0", "0 … 2"]),
    ("nhãn âm", {"text": ["Hay."], "label": [-1]}, ["Nhãn -1", "0 … 2"]),
    ("nhãn chuỗi", {"text": ["Hay."], "label": ["tích cực"]}, ["Nhãn 'tích cực'", "0 … 2"]),
    ("nhãn 5", {"text": ["Hay."], "label": [5]}, ["Nhãn 5", "0 … 2"]),
    ("tập rỗng", {"text": [], "label": []}, ["rỗng"]),
    ("thiếu cột label", {"text": ["Hay."], "sentiment": [1]}, ["'label'", "sentiment"]),
    ("quá dài so với ngữ cảnh", {"text": ["rất " * 300], "label": [2]}, ["dòng 0", "vượt ngữ cảnh 128"]),
]


@pytest.mark.parametrize("name,rows,needles", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_rows(base, name, rows, needles):
    task = FeedbackTask(base[1])
    before = repr(rows)
    with pytest.raises(CourseError) as info:
        task.encode(rows)
    assert_clean(info, *needles)
    assert repr(rows) == before


@pytest.mark.parametrize("name,needles", [
    ("", ["''", "uit-vsfc"]), (3, ["3", "uit-vsfc"]), ("khong-co/bo-nay", ["'khong-co/bo-nay'", "uit-vsfc"]),
])
def test_load_feedback_bad_source(name, needles):
    with pytest.raises(CourseError) as info:
        load_feedback(name)
    assert_clean(info, *needles)


# ---------------------------------------------------------------- 6. tệp (save_adapter nguyên tử, không ghi đè lặng lẽ)
@pytest.fixture
def lora_model(base):
    model = copy.deepcopy(base[0])
    apply_lora(model, LoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01)
    return model


def _refused_files(tmp_path, action, *needles):
    before = files_hash(tmp_path)
    with pytest.raises(CourseError) as info:
        action()
    assert_clean(info, *needles)
    assert files_hash(tmp_path) == before, "tệp bị thay đổi dù thao tác bị từ chối"


def test_save_refuses_non_empty_folder(base, tmp_path, lora_model):
    save_adapter(copy.deepcopy(lora_model), tmp_path / "a")
    other = copy.deepcopy(base[0])
    apply_lora(other, LoRAConfig(r=2, target_modules=["c_fc"]))
    _refused_files(tmp_path, lambda: save_adapter(other, tmp_path / "a"), "không rỗng", "overwrite=True")


def test_save_overwrite_refuses_foreign_files(tmp_path, lora_model):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "bai_tap.py").write_text("x = 1", encoding="utf-8")
    _refused_files(tmp_path, lambda: save_adapter(lora_model, tmp_path / "notes", overwrite=True), "bai_tap.py",
                   CONFIG_NAME)


def test_save_refuses_a_file_path(tmp_path, lora_model):
    (tmp_path / "adapter.json").write_text("{}", encoding="utf-8")
    _refused_files(tmp_path, lambda: save_adapter(lora_model, tmp_path / "adapter.json"), "adapter.json",
                   "là một tệp")


def test_save_parent_is_a_file(tmp_path, lora_model):
    (tmp_path / "f").write_text("", encoding="utf-8")
    _refused_files(tmp_path, lambda: save_adapter(lora_model, tmp_path / "f" / "a"), "Không ghi được",
                   str(tmp_path / "f" / "a"))


@pytest.mark.parametrize("bad", [{"overwrite": "yes"}, {"path": ""}, {"path": None}])
def test_save_bad_arguments(tmp_path, lora_model, bad):
    kwargs = {"path": tmp_path / "a", **bad}
    needle = "overwrite" if "overwrite" in bad else "path"
    _refused_files(tmp_path, lambda: save_adapter(lora_model, **kwargs), needle, repr(list(bad.values())[0]))


def test_save_failing_weights_write_leaves_old_adapter(base, tmp_path, lora_model, monkeypatch):
    """Ghi trọng số thất bại giữa chừng (đĩa đầy): bộ chuyển cũ còn nguyên và vẫn nạp được, không tệp tạm sót lại."""
    import peft_course.export as export

    save_adapter(lora_model, tmp_path / "a")

    def disk_full(*args, **kwargs):
        Path(args[1]).write_bytes(b"\x00" * 10)  # một tệp dở dang trong thư mục tạm
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "save_file", disk_full)
    _refused_files(tmp_path, lambda: save_adapter(lora_model, tmp_path / "a", overwrite=True), "Không ghi được",
                   "No space left")
    monkeypatch.undo()
    fresh = copy.deepcopy(base[0])
    load_adapter(fresh, tmp_path / "a")


def test_save_overwrite_true_replaces_adapter(base, tmp_path, lora_model):
    save_adapter(lora_model, tmp_path / "a")
    other = copy.deepcopy(base[0])
    apply_lora(other, LoRAConfig(r=2, alpha=4, target_modules=["c_fc"]))
    save_adapter(other, tmp_path / "a", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # không thư mục tạm/cũ nào sót lại
    assert json.loads((tmp_path / "a" / CONFIG_NAME).read_text(encoding="utf-8"))["target_modules"] == ["c_fc"]
    assert (tmp_path / "a" / WEIGHTS_NAME).is_file()


# ---------------------------------------------------------------- 7. mục nhỏ
def test_freeze_refuses_without_touching_requires_grad(base):
    model = copy.deepcopy(base[0])
    freeze(model, r"ln_f")  # trạng thái hỗn hợp: refuse phải giữ nguyên đúng trạng thái này
    refused(model, lambda m: freeze(m, r"khong_co_lop_nay"), "'khong_co_lop_nay'", "ví dụ tên")
    refused(model, lambda m: freeze(m, r"(ln_f"), "'(ln_f'", "biểu thức chính quy")


def _gpt_bigcode(multi_query=True):
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    torch.manual_seed(0)
    cfg = GPTBigCodeConfig(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=64, multi_query=multi_query,
                           bos_token_id=0, eos_token_id=0)
    return GPTBigCodeForCausalLM(cfg).eval()


@pytest.mark.parametrize("apply", [lambda m: apply_prefix(m, PrefixConfig(4)),
                                   lambda m: apply_prompt(m, PromptConfig(4))], ids=["prefix", "prompt"])
def test_prefix_refuses_multi_query(apply):
    refused(_gpt_bigcode(), apply, "gpt_bigcode", "multi_query", "GPT-2")


# ---------------------------------------------------------------- những trường hợp chạy đúng (không lỗi)
def test_numpy_integers_are_accepted(base):
    model = copy.deepcopy(base[0])
    names = apply_lora(model, LoRAConfig(r=np.int64(4), target_modules=["c_attn"]))
    layer = model.get_submodule(names[0])
    assert type(layer.r) is int and layer.lora_A.shape == (4, 192)
    assert AdapterConfig(r=np.int32(8)).r == 8


def test_bitfit_attention_query_on_multi_query_trains_whole_query_bias():
    model = _gpt_bigcode()
    c_attn = model.transformer.h[0].attn.c_attn
    assert c_attn.bias.numel() == 32 + 2 * 8  # q (d) + một đầu k, một đầu v (d/H mỗi cái)
    apply_bitfit(model, BitFitConfig("attention_query"))
    delta = model.transformer.h[0].attn.c_attn
    assert delta.delta.numel() == 32 and delta.offset == 0  # cả phần q, không phải 48 // 3 = 16

"""Lưu và nạp bộ chuyển LoRA/DoRA tự xây theo đúng định dạng của huggingface/peft.

Thư mục gồm `adapter_config.json` và `adapter_model.safetensors` với khóa
`base_model.model.<đường dẫn mô-đun>.lora_A.weight` (r, in), `.lora_B.weight` (out, r) và, với DoRA,
`.lora_magnitude_vector` (out,). Vì vậy `peft.PeftModel.from_pretrained(base, path)` nạp được tệp ta lưu,
và `load_adapter` nạp được tệp peft lưu. Chỉ dùng safetensors: không có gì bị unpickle.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .dora import DoRALinear
from .errors import CourseError, is_int, is_real, require, require_bool
from .inject import find_targets, layer_dims, refuse_if_adapted, require_module
from .lora import LoRAConfig, LoRALinear, apply_layers, lora_layers

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PREFIX = "base_model.model."
ADAPTER_FILES = {CONFIG_NAME, WEIGHTS_NAME, "README.md"}  # những tệp overwrite=True được phép thay
# Trường của peft.LoraConfig mà khóa học cài đặt (kiểu được kiểm tra trong `_lora_config`).
IMPLEMENTED = {"peft_type", "r", "lora_alpha", "target_modules", "lora_dropout", "use_rslora", "use_dora",
               "fan_in_fan_out"}
# Trường chỉ là thông tin, hoặc chỉ ảnh hưởng khởi tạo (trọng số được nạp đè): giá trị nào cũng được.
METADATA = {"task_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "inference_mode",
            "init_lora_weights", "megatron_core", "qalora_group_size", "runtime_config"}


def _adapter_kind(layers: dict[str, LoRALinear]) -> tuple[LoRAConfig, bool]:
    """Cấu hình chung của mọi lớp và cờ DoRA; báo lỗi nếu các lớp không cùng cấu hình."""
    require(len(layers) > 0, "Mô hình không có lớp LoRA/DoRA nào để lưu; hãy gọi apply_lora/apply_dora trước.")
    configs = {id(m.config) for m in layers.values()}
    kinds = {isinstance(m, DoRALinear) for m in layers.values()}
    require(len(configs) == 1 and len(kinds) == 1, "Các lớp LoRA/DoRA trong mô hình không cùng một cấu hình; "
                                                    "định dạng của peft chỉ chứa một cấu hình cho cả bộ chuyển.")
    first = next(iter(layers.values()))
    return first.config, isinstance(first, DoRALinear)


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Các tensor của bộ chuyển theo tên khóa của peft (chỉ A, B và độ lớn; không có trọng số nền)."""
    layers = lora_layers(model)
    _adapter_kind(layers)
    state = {}
    for name, layer in layers.items():
        state[f"{PREFIX}{name}.lora_A.weight"] = layer.lora_A.detach().cpu().contiguous()
        state[f"{PREFIX}{name}.lora_B.weight"] = layer.lora_B.detach().cpu().contiguous()
        if isinstance(layer, DoRALinear):
            state[f"{PREFIX}{name}.lora_magnitude_vector"] = layer.magnitude.detach().cpu().contiguous()
    return state


def _peft_config(model: nn.Module, layers: dict[str, LoRALinear], base_model_name_or_path: str | None) -> dict:
    """Nội dung `adapter_config.json` theo định dạng của peft cho các lớp LoRA/DoRA `layers`."""
    config, is_dora = _adapter_kind(layers)
    if base_model_name_or_path is None:
        base_model_name_or_path = str(getattr(getattr(model, "config", None), "name_or_path", "") or "") or None
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": config.r,
        "lora_alpha": config.alpha,
        "target_modules": list(config.target_modules),
        "fan_in_fan_out": any(m.fan_in_fan_out for m in layers.values()),  # peft tự sửa theo từng lớp
        "use_dora": is_dora,
        "use_rslora": config.rslora,
        "lora_dropout": config.dropout,
        "bias": "none",
        "init_lora_weights": True,
        "inference_mode": True,
        "modules_to_save": None,
        "base_model_name_or_path": base_model_name_or_path,
    }


def _check_destination(out: Path, overwrite: bool) -> None:
    """Từ chối ghi vào một tệp, hay vào thư mục không rỗng khi overwrite=False (hoặc không phải bộ chuyển)."""
    require(not out.exists() or out.is_dir(), f"path = {str(out)!r} là một tệp, không phải thư mục; hãy chọn một "
                                              "thư mục (chưa có hoặc rỗng) cho bộ chuyển.")
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not present:
        return
    require(overwrite, f"Thư mục {str(out)!r} không rỗng (có {present[:4]}); save_adapter không ghi đè lặng lẽ: "
                       "gọi với overwrite=True để thay bộ chuyển cũ, hoặc chọn thư mục khác.")
    foreign = [n for n in present if n not in ADAPTER_FILES]
    require(not foreign, f"Thư mục {str(out)!r} có tệp không thuộc một bộ chuyển ({foreign[:4]}); overwrite=True chỉ "
                         f"thay một thư mục chỉ chứa {sorted(ADAPTER_FILES)}. Hãy chọn thư mục khác.")


def _write_folder(out: Path, state: dict[str, torch.Tensor], peft_config: dict) -> None:
    """Ghi vào một thư mục tạm cạnh `out` (trọng số trước, cấu hình sau) rồi đổi tên: không bao giờ dở dang."""
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        (tmp / CONFIG_NAME).write_text(json.dumps(peft_config, ensure_ascii=False, indent=2), encoding="utf-8")
        old = tmp.with_name(tmp.name.replace(".tmp-", ".old-"))
        if out.exists():
            out.rename(old)  # thư mục cũ (rỗng, hoặc bộ chuyển cũ khi overwrite=True) giữ lại tới khi thay xong
        try:
            tmp.rename(out)
        except OSError:
            if old.exists():
                old.rename(out)  # đặt lại thư mục cũ
            raise
        tmp = None
        shutil.rmtree(old, ignore_errors=True)
    except Exception as e:  # OSError, lỗi của safetensors khi đĩa đầy…
        raise CourseError(f"Không ghi được bộ chuyển vào {str(out)!r} ({type(e).__name__}: {e}); thư mục đích "
                          "giữ nguyên như trước. Hãy chọn một thư mục ghi được.") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def save_adapter(
    model: nn.Module,  # mô hình đã áp apply_lora hoặc apply_dora
    path: str | Path,  # thư mục đích (tạo nếu chưa có; phải rỗng, trừ khi overwrite=True)
    base_model_name_or_path: str | None = None,  # ghi vào cấu hình; mặc định lấy từ model.config
    *,
    overwrite: bool = False,  # True: thay một bộ chuyển đã có ở `path`
) -> Path:
    """Ghi `adapter_config.json` + `adapter_model.safetensors` theo định dạng peft; trả về thư mục.

    Ghi nguyên tử: cả hai tệp vào một thư mục tạm rồi đổi tên, nên một lỗi giữa chừng (đĩa đầy, quyền)
    để lại thư mục đích y như trước. Thư mục không rỗng bị từ chối, trừ khi overwrite=True.
    """
    require_module(model)
    require(isinstance(path, (str, Path)) and str(path).strip() != "",
            f"path phải là đường dẫn thư mục (chuỗi hoặc Path, không rỗng), nhận được {path!r}.")
    require_bool("overwrite", overwrite)
    require(base_model_name_or_path is None or isinstance(base_model_name_or_path, str),
            f"base_model_name_or_path phải là None hoặc chuỗi, nhận được {base_model_name_or_path!r}.")
    layers = lora_layers(model)
    peft_config = _peft_config(model, layers, base_model_name_or_path)
    state = adapter_state(model)
    out = Path(path)
    _check_destination(out, overwrite)
    _write_folder(out, state, peft_config)
    return out


def _is_off(value: object) -> bool:
    """Giá trị "tắt" của một trường peft: None, False, {} hoặc []."""
    return value is None or value is False or (isinstance(value, (dict, list)) and len(value) == 0)


def _lora_config(raw: dict) -> tuple[LoRAConfig, bool]:
    """LoRAConfig và cờ DoRA từ nội dung `adapter_config.json`; từ chối mọi trường không cài đặt hay sai kiểu."""
    unsupported = {k: v for k, v in raw.items() if k not in IMPLEMENTED | METADATA and not _is_off(v)
                   and not (k == "bias" and v == "none")}
    require(not unsupported, f"{CONFIG_NAME} dùng trường peft mà khóa học không cài đặt: "
                             f"{', '.join(f'{k} = {v!r}' for k, v in list(unsupported.items())[:4])}. "
                             f"Chỉ hỗ trợ {sorted(IMPLEMENTED)} (các trường khác phải để mặc định: None, False, "
                             "{}, [] hoặc bias = 'none').")
    missing = [k for k in ("r", "lora_alpha", "target_modules") if k not in raw]
    require(not missing, f"{CONFIG_NAME} thiếu trường {missing}; thiếu lora_alpha thì peft tự đặt 8 và lặng lẽ "
                         "đổi hệ số, nên ở đây ta từ chối.")
    types = {"r": (is_int, "số nguyên"), "lora_alpha": (is_real, "số"), "lora_dropout": (is_real, "số"),
             "use_rslora": (lambda v: isinstance(v, bool), "true/false"),
             "use_dora": (lambda v: isinstance(v, bool), "true/false"),
             "fan_in_fan_out": (lambda v: isinstance(v, bool), "true/false")}
    for key, (check, kind) in types.items():
        require(key not in raw or check(raw[key]), f"{CONFIG_NAME}: {key} phải là {kind} kiểu JSON, nhận được "
                                                   f"{raw[key]!r} ({type(raw[key]).__name__}).")
    targets = raw["target_modules"]
    require(isinstance(targets, list), f"target_modules trong {CONFIG_NAME} phải là danh sách tên; nhận được "
                                       f"{targets!r} (biểu thức chính quy của peft không được hỗ trợ ở đây).")
    config = LoRAConfig(r=raw["r"], alpha=raw["lora_alpha"], target_modules=targets,
                        dropout=raw.get("lora_dropout", 0.0), rslora=raw.get("use_rslora", False))
    return config, raw.get("use_dora", False)


def read_adapter(path: str | Path) -> tuple[LoRAConfig, bool, dict[str, torch.Tensor]]:
    """Đọc (cấu hình, cờ DoRA, các tensor) từ một thư mục bộ chuyển; báo lỗi rõ khi thiếu tệp hay tệp hỏng."""
    require(isinstance(path, (str, Path)) and str(path).strip() != "",
            f"path phải là đường dẫn thư mục (chuỗi hoặc Path, không rỗng), nhận được {path!r}.")
    folder = Path(path)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        require((folder / name).is_file(), f"Không thấy tệp {name} trong {str(folder)!r}: một bộ chuyển theo định "
                                           f"dạng peft cần cả {CONFIG_NAME} và {WEIGHTS_NAME}.")
    try:
        raw = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CourseError(f"Tệp {CONFIG_NAME} trong {str(folder)!r} không phải JSON hợp lệ ({e}).") from None
    require(isinstance(raw, dict) and raw.get("peft_type") == "LORA",
            f"{CONFIG_NAME}: peft_type phải là 'LORA', nhận được {raw.get('peft_type') if isinstance(raw, dict) else raw!r}.")
    config, dora = _lora_config(raw)
    try:
        state = load_file(str(folder / WEIGHTS_NAME))
    except Exception as e:  # safetensors báo lỗi riêng cho tệp cụt/hỏng
        raise CourseError(f"Tệp {WEIGHTS_NAME} trong {str(folder)!r} bị hỏng hoặc không phải safetensors ({e}).") from None
    return config, dora, state


def _expected_shapes(model: nn.Module, names: list[str], r: int, dora: bool) -> dict[str, tuple[int, ...]]:
    """Khóa và hình dạng mà tệp phải có cho các lớp `names` của mô hình với hạng r."""
    shapes = {}
    for name in names:
        module = model.get_submodule(name)
        d_in, d_out, _ = layer_dims(module.base_layer if isinstance(module, LoRALinear) else module)
        shapes[f"{PREFIX}{name}.lora_A.weight"] = (r, d_in)
        shapes[f"{PREFIX}{name}.lora_B.weight"] = (d_out, r)
        if dora:
            shapes[f"{PREFIX}{name}.lora_magnitude_vector"] = (d_out,)
    return shapes


def load_adapter(
    model: nn.Module,  # mô hình nền (sẽ được áp LoRA/DoRA theo tệp) hoặc mô hình đã áp đúng cấu hình ấy
    path: str | Path,  # thư mục do save_adapter hoặc peft `save_pretrained` ghi
) -> list[str]:
    """Nạp bộ chuyển vào mô hình; trả về tên các lớp đã nạp.

    Kiểm tra hết trước khi sửa: thiếu khóa, thừa khóa, sai hình dạng (sai hạng, sai mô hình), tệp hỏng
    đều báo CourseError và mô hình giữ nguyên.
    """
    require_module(model)
    config, dora, state = read_adapter(path)
    layers = lora_layers(model)
    if layers:
        have, have_dora = _adapter_kind(layers)
        require(have_dora == dora, f"Mô hình đang có lớp {'DoRA' if have_dora else 'LoRA'} nhưng tệp là "
                                   f"{'DoRA' if dora else 'LoRA'}.")
        require(have.r == config.r and abs(have.scaling() - config.scaling()) < 1e-12,
                f"Mô hình có r = {have.r}, hệ số {have.scaling():g}; tệp có r = {config.r}, hệ số {config.scaling():g}.")
        require(not any(m.merged for m in layers.values()), "Mô hình đang ở dạng đã gộp; gọi unmerge_lora trước khi nạp.")
        names = list(layers)
    else:
        refuse_if_adapted(model, "DoRA" if dora else "LoRA")
        names = find_targets(model, list(config.target_modules), "DoRA" if dora else "LoRA")
    expected = _expected_shapes(model, names, config.r, dora)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    require(not missing, f"Tệp thiếu {len(missing)} khóa mà mô hình cần, ví dụ {missing[:2]}: tệp không khớp mô hình này.")
    require(not extra, f"Tệp có {len(extra)} khóa mô hình không có, ví dụ {extra[:2]}: tệp không khớp mô hình này.")
    wrong = [f"{k}: tệp {tuple(state[k].shape)}, mô hình cần {s}" for k, s in expected.items() if tuple(state[k].shape) != s]
    require(not wrong, f"Sai hình dạng ở {len(wrong)} tensor (sai hạng r hoặc sai mô hình), ví dụ {wrong[:2]}.")
    bad = [k for k, t in state.items() if not t.is_floating_point() or not torch.isfinite(t).all()]
    require(not bad, f"Tensor không phải số thực hữu hạn: {bad[:2]}.")
    if not layers:
        apply_layers(model, config, DoRALinear if dora else LoRALinear)
        layers = lora_layers(model)
    with torch.no_grad():
        for name, layer in layers.items():
            layer.lora_A.copy_(state[f"{PREFIX}{name}.lora_A.weight"])
            layer.lora_B.copy_(state[f"{PREFIX}{name}.lora_B.weight"])
            if dora:
                layer.magnitude.copy_(state[f"{PREFIX}{name}.lora_magnitude_vector"])
    return names

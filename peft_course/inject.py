"""Phần chung của mọi `apply_*`: tìm lớp đích, thay một mô-đun, đóng băng mô hình nền, từ chối mô hình đã áp.

Mỗi phương pháp (LoRA, DoRA, BitFit, adapter, prefix/prompt) chỉ còn việc riêng của nó: kiểm tra cấu hình,
dựng lớp bọc. Thứ tự luôn là *kiểm tra hết → đóng băng → thay*, nên một lỗi không bao giờ để lại mô hình sửa dở.

Khóa học chọn **không chồng phương pháp**: một mô hình đã có bất kỳ phương pháp nào (lớp bọc LoRA/DoRA/BitFit/
adapter, token ảo của prefix/prompt, bias đã mở băng kiểu BitFit, một phần đã đóng băng) bị từ chối, với thông
báo nêu phương pháp tìm thấy. Lý do: áp phương pháp thứ hai sẽ đóng băng lặng lẽ tham số của phương pháp thứ nhất
(hoặc bọc lớp bọc, làm hỏng gộp/lưu). Muốn so sánh hai phương pháp, hãy áp từng cái lên một mô hình nền mới.
"""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn
from transformers.pytorch_utils import Conv1D

from .errors import CourseError, require
from .params import freeze

LINEAR_TYPES = (nn.Linear, Conv1D)  # các loại lớp tuyến tính mà LoRA/DoRA/adapter bọc được
PREFIX_ATTN = "peft_course_prefix"  # tên hàm attention mà prefix/prompt tuning đăng ký với transformers


def require_module(model: object) -> nn.Module:
    """Kiểm tra `model` là một torch.nn.Module (lỗi tiếng Việt thay vì AttributeError về sau)."""
    require(isinstance(model, nn.Module), f"model phải là torch.nn.Module, nhận được {type(model).__name__}.")
    return model


def layer_dims(layer: nn.Module, method: str = "LoRA") -> tuple[int, int, bool]:
    """(in_features, out_features, fan_in_fan_out) của một nn.Linear hoặc Conv1D.

    nn.Linear lưu W dạng (out, in) và tính x·Wᵀ; Conv1D của GPT-2 lưu W dạng (in, out) và tính x·W.
    """
    if isinstance(layer, Conv1D):
        return layer.weight.shape[0], layer.weight.shape[1], True
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features, False
    raise CourseError(f"{method} chỉ bọc nn.Linear hoặc Conv1D, nhận được {type(layer).__name__}.")


def find_targets(
    model: nn.Module,  # mô hình cần tìm lớp đích
    targets: Sequence[str],  # tên đầy đủ hoặc đuôi tên ('c_attn', 'mlp.c_proj'), quy tắc khớp của peft
    method: str = "LoRA",  # tên phương pháp, để thông báo lỗi nói rõ ai đang tìm
    kinds: tuple[type, ...] = LINEAR_TYPES,  # loại mô-đun được phép bọc
) -> list[str]:
    """Tên các mô-đun khớp `targets` (tên bằng đích hoặc kết thúc bằng '.' + đích), theo thứ tự trong mô hình.

    Mọi đích không khớp mô-đun nào được nêu cùng lúc, kèm danh sách tên dùng được; đích khớp một mô-đun
    không thuộc `kinds` (ví dụ LayerNorm) cũng bị từ chối.
    """
    modules = dict(model.named_modules())
    available = sorted({n.split(".")[-1] for n, m in modules.items() if isinstance(m, kinds)})
    kind_names = "/".join(k.__name__ for k in kinds)
    hits = {t: [n for n in modules if n == t or n.endswith("." + t)] for t in targets}
    unknown = [t for t, h in hits.items() if not h]
    require(not unknown, f"{method}: tên đích {', '.join(map(repr, unknown))} không khớp mô-đun nào trong "
                         f"{type(model).__name__}; các tên {kind_names} có sẵn: {available}.")
    chosen: list[str] = []
    for target, names in hits.items():
        wrong = [n for n in names if not isinstance(modules[n], kinds)]
        if wrong:
            raise CourseError(f"{method}: đích {target!r} khớp {wrong[0]!r} là {type(modules[wrong[0]]).__name__}, "
                              f"không phải {kind_names}; các tên dùng được: {available}.")
        chosen += [n for n in names if n not in chosen]
    order = list(modules)
    return sorted(chosen, key=order.index)


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Thay mô-đun con tên `name` (dạng 'transformer.h.0.attn.c_attn') bằng `new`."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def freeze_base(model: nn.Module) -> None:
    """Đóng băng mọi tham số đang có; tham số của lớp bọc tạo *sau* đó là phần duy nhất được huấn luyện."""
    freeze(model)


def inject(
    model: nn.Module,  # mô hình đã qua mọi kiểm tra
    names: Sequence[str],  # tên các mô-đun sẽ được bọc, theo thứ tự (thứ tự khởi tạo ngẫu nhiên)
    wrap: Callable[[str, nn.Module], nn.Module],  # (tên, mô-đun gốc) → lớp bọc
) -> list[str]:
    """Đóng băng mô hình nền rồi thay từng mô-đun `names` bằng `wrap(tên, mô-đun)`; trả về `names`.

    Chỉ gọi sau khi đã kiểm tra hết: từ đây mô hình bị sửa.
    """
    freeze_base(model)
    for name in names:
        old = model.get_submodule(name)
        new = wrap(name, old)
        new.train(old.training)  # mô-đun mới (dropout…) theo chế độ train/eval của chỗ nó thay, không mặc định train
        replace_module(model, name, new)
    return list(names)


def _wrapper_found(model: nn.Module) -> str | None:
    """Mô tả lớp bọc hoặc móc tiền tố đầu tiên tìm thấy, hoặc None.

    Lớp của khóa học (có thuộc tính lớp `course_method`) được tìm trước, để thông báo nêu đúng tên phương pháp.
    """
    modules = [(name or "(gốc)", module, type(module)) for name, module in model.named_modules()]
    for where, _, cls in modules:
        if getattr(cls, "course_method", None):
            return f"{cls.course_method} (lớp {cls.__name__} ở {where})"
    for where, module, cls in modules:
        if cls.__module__.startswith("peft."):
            return f"một phương pháp của huggingface/peft (lớp {cls.__name__} ở {where})"
        if "prefix_kv" in vars(module):
            return f"token ảo của prefix/prompt tuning (ở {where})"
        if isinstance(getattr(module, "base_layer", None), nn.Module):
            return f"một lớp bọc {cls.__name__} ở {where} (có base_layer)"
    if getattr(getattr(model, "config", None), "_attn_implementation", None) == PREFIX_ATTN:
        return f"prefix/prompt tuning (attn_implementation = {PREFIX_ATTN!r})"
    return None


def _freezing_found(model: nn.Module) -> str | None:
    """Mô tả một mô hình đóng băng một phần (BitFit kiểu requires_grad, vài khối cuối…), hoặc None."""
    named = list(model.named_parameters())
    trainable = [n for n, p in named if p.requires_grad]
    if not trainable or len(trainable) == len(named):
        return None  # toàn bộ huấn luyện được (mô hình nền) hoặc đóng băng hết: không có gì bị mất
    if all(n.endswith("bias") for n in trainable):
        return f"BitFit (chỉ bias được huấn luyện, ví dụ {trainable[0]!r})"
    return f"một phần tham số đã đóng băng ({len(trainable)} tensor còn huấn luyện, ví dụ {trainable[0]!r})"


def adapted_by(model: nn.Module) -> str | None:
    """Phương pháp PEFT mà mô hình đang mang (mô tả tiếng Việt, có tên lớp và vị trí), hoặc None."""
    return _wrapper_found(model) or _freezing_found(model)


def refuse_if_adapted(
    model: nn.Module,  # mô hình sắp được áp phương pháp
    method: str,  # tên phương pháp sắp áp, ví dụ "LoRA"
) -> None:
    """Báo CourseError nếu mô hình đã mang một phương pháp của khóa học (hay của peft); không sửa gì.

    Khóa học không chồng phương pháp: áp thêm sẽ đóng băng lặng lẽ phần đã học, hoặc bọc một lớp bọc.
    """
    found = adapted_by(require_module(model))
    require(found is None, f"Mô hình đã có {found}; không áp {method} chồng lên (không áp hai lần, không trộn hai "
                           "phương pháp). Hãy áp lên một mô hình nền mới (course.fresh_model()).")

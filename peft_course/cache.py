"""Bộ đệm các lần chạy: một lần huấn luyện giống hệt (cùng mô hình lúc bắt đầu, công thức, dữ liệu, mã, thiết bị,
phiên bản thư viện) được nạp lại thay vì huấn luyện lại.

Mỗi mục gồm run-<khóa>.json (kết quả) và run-<khóa>.safetensors (tham số đã học). Ghi nguyên tử (tệp tạm rồi đổi
tên; .json ghi sau cùng nên có .json là mục đã đầy đủ). Một mục hỏng được phát hiện *trước khi* chép gì vào mô hình:
cảnh báo kèm đường dẫn, rồi huấn luyện lại. Thư mục không ghi được: cảnh báo, kết quả vẫn được trả về.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .report import Result
from .training import History


class CacheWarning(UserWarning):
    """Cảnh báo của bộ đệm: mục hỏng bị bỏ qua, hoặc không ghi được thư mục bộ đệm."""


def cache_dir() -> Path:
    """Thư mục bộ đệm: $PEFT_COURSE_CACHE, mặc định ~/.cache/peft_course."""
    return Path(os.environ.get("PEFT_COURSE_CACHE", Path.home() / ".cache" / "peft_course"))


def model_fingerprint(model: nn.Module) -> str | None:
    """Mã băm của mô hình lúc bắt đầu: tham số (tên, hình dạng, requires_grad, giá trị), mã nguồn và thuộc tính
    đơn giản (r, α, hệ số…) của mọi mô-đun. None nếu không đọc được mã nguồn của một lớp (khi đó không dùng bộ đệm).
    """
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(f"{name}|{tuple(p.shape)}|{p.dtype}|{p.requires_grad}".encode())
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    sources: dict[type, str] = {}
    for name, m in model.named_modules():
        cls = type(m)
        if cls not in sources:
            try:
                sources[cls] = inspect.getsource(cls)
            except (OSError, TypeError):
                return None
        attrs = sorted((k, v if isinstance(v, (bool, str)) else float(v)) for k, v in vars(m).items()  # 16 ≡ 16.0
                       if isinstance(v, (bool, int, float, str)) and k != "training" and not k.startswith("_"))
        hooks = (len(m._forward_pre_hooks), len(m._forward_hooks))
        h.update(f"{name}|{cls.__module__}.{cls.__qualname__}|{attrs}|{hooks}".encode())
    for src in sorted(sources.values()):
        h.update(src.encode())
    return h.hexdigest()


def cache_path(course, model: nn.Module, recipe: list | dict) -> Path | None:
    """Tệp bộ đệm (.json; tham số đã học ở .safetensors cạnh nó) cho một lần chạy, hoặc None nếu không băm được.

    Đây là nơi duy nhất dựng khóa. Khóa gồm: dấu vân tay của mô hình, công thức (`recipe`, mọi tham số huấn luyện),
    dữ liệu ba tập, mã nguồn gói peft_course, thiết bị, phiên bản torch/transformers.
    """
    import transformers

    model_key = model_fingerprint(model)
    if model_key is None:
        return None
    package = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        package.update(f.read_bytes())
    data = hashlib.sha256()
    for split in (course.train, course.validation, course.test):
        data.update(split.input_ids.numpy().tobytes() + split.y.numpy().tobytes())
    key = json.dumps([model_key, recipe, data.hexdigest(), package.hexdigest(), course.device.type,
                      torch.__version__, transformers.__version__], sort_keys=True)
    return cache_dir() / f"run-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def _atomic_write(path: Path, write) -> None:
    """Ghi `path` qua một tệp tạm cùng thư mục rồi đổi tên: không bao giờ để lại tệp ghi dở."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_run(path: Path, model: nn.Module, result: Result) -> bool:
    """Lưu tham số đã học và kết quả; trả về False (kèm CacheWarning) nếu không ghi được, không bao giờ ném lỗi."""
    from safetensors.torch import save_file

    learned = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    text = json.dumps(asdict(result))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path.with_suffix(".safetensors"), lambda tmp: save_file(learned, tmp))
        _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    except OSError as e:
        warnings.warn(f"Không ghi được bộ đệm {path} ({e.strerror or e}); kết quả vẫn được trả về nhưng lần sau sẽ "
                      "huấn luyện lại. Đặt PEFT_COURSE_CACHE tới một thư mục ghi được.", CacheWarning, stacklevel=3)
        return False
    return True


def _read_entry(path: Path, model: nn.Module, name: str) -> tuple[Result, dict[str, torch.Tensor]]:
    """Đọc và kiểm tra trọn một mục (JSON hợp lệ, đủ trường, tensor khớp tên và hình dạng tham số huấn luyện)."""
    from safetensors.torch import load_file

    data = json.loads(path.read_text(encoding="utf-8"))
    result = Result(**{**data, "name": name, "history": History(**data["history"])})
    learned = load_file(str(path.with_suffix(".safetensors")))
    expected = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(learned) != set(expected):
        raise ValueError(f"tên tensor không khớp tham số huấn luyện ({len(learned)} so với {len(expected)})")
    bad = [n for n, v in learned.items() if v.shape != expected[n].shape]
    if bad:
        raise ValueError(f"hình dạng không khớp ở {bad[0]}")
    return result, learned


def load_run(path: Path, model: nn.Module, name: str) -> Result | None:
    """Nạp một mục vào `model` và trả về Result; None (kèm CacheWarning, mô hình không đổi) nếu mục hỏng.

    Mọi kiểm tra chạy trước khi chép: một mục hỏng không bao giờ sửa mô hình được nửa chừng.
    """
    try:
        result, learned = _read_entry(path, model, name)
    except Exception as e:  # JSON hỏng, thiếu tệp, safetensors cụt, trường lạ…: mục không dùng được
        warnings.warn(f"Mục bộ đệm hỏng, bỏ qua và huấn luyện lại: {path} ({type(e).__name__}: {e})",
                      CacheWarning, stacklevel=3)
        return None
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, value in learned.items():
            params[n].copy_(value.to(params[n].device))
    return result


def remove_run(path: Path) -> None:
    """Xóa một mục (cả .json và .safetensors) nếu có."""
    path.unlink(missing_ok=True)
    path.with_suffix(".safetensors").unlink(missing_ok=True)

"""Nạp mô hình nền: mô hình GPT-2 tiếng Việt đóng gói sẵn trong gói, hoặc một mô hình khác (hub/đường dẫn).

Mô hình đóng gói được nạp qua đúng `from_pretrained` của transformers, không cần mạng.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from .errors import require, require_choice

PACKAGED_MODEL = Path(__file__).parent / "assets" / "model"


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Thiết bị để chạy: nếu không chỉ định thì lần lượt thử cuda, mps, rồi cpu."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    require(isinstance(device, (str, torch.device)), f"device phải là chuỗi hoặc torch.device, nhận được {device!r}.")
    kind = device.type if isinstance(device, torch.device) else device.split(":")[0]
    require_choice("device", kind, ["cpu", "cuda", "mps"])
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    require(available[kind], f"device = {device!r} không dùng được trên máy này; hãy dùng 'cpu' hoặc để None (tự chọn).")
    return torch.device(device)


def load_base_model(
    name_or_path: str | Path | None = None,  # None: mô hình đóng gói; hoặc id trên hub / thư mục cục bộ
    device: str | torch.device | None = None,  # None: tự chọn cuda → mps → cpu
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Trả về (model, tokenizer) ở chế độ eval, đã tắt các cảnh báo vô ích.

    Mặc định là mô hình GPT-2 tiếng Việt của khóa học (đi kèm gói, không cần mạng). Một id trên hub
    (ví dụ "gpt2") hay một thư mục cục bộ đi qua đúng đoạn mã `from_pretrained` ấy, cho ai muốn thử
    mô hình lớn hơn trên Colab.
    """
    require(name_or_path is None or isinstance(name_or_path, (str, Path)),
            f"name_or_path phải là None, chuỗi hoặc Path, nhận được {type(name_or_path).__name__}.")
    dev = pick_device(device)
    hf_logging.disable_progress_bar()
    local = name_or_path is None or Path(name_or_path).exists()
    source = PACKAGED_MODEL if name_or_path is None else name_or_path
    if not local:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        require(not offline, f"Không tìm thấy thư mục {str(name_or_path)!r} và HF_HUB_OFFLINE đang bật, nên không "
                             "tải được từ hub. Dùng None (mô hình đóng gói) hoặc một thư mục có config.json.")
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.loss_type = "ForCausalLM"
    return model.to(dev).eval(), tokenizer

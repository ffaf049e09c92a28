"""Thông tin môi trường in ở đầu mỗi bài học: phiên bản thư viện và thiết bị."""

from __future__ import annotations

import platform
import sys


def environment_report() -> str:
    """Chuỗi mô tả phiên bản Python/torch/transformers/datasets/peft và thiết bị (tên, bộ nhớ GPU nếu có)."""
    import datasets
    import torch
    import transformers

    from . import __version__
    from .model import pick_device

    try:
        import peft

        peft_version = peft.__version__
    except ImportError:
        peft_version = "chưa cài"
    device = pick_device()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        where = f"GPU {props.name}, {props.total_memory / 2**30:.1f} GiB"
    elif device.type == "mps":
        where = "Apple GPU (mps)"
    else:
        where = f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} luồng"
    return (f"Python {sys.version.split()[0]} | torch {torch.__version__} | transformers {transformers.__version__} | "
            f"datasets {datasets.__version__} | peft {peft_version} | peft_course {__version__}\nThiết bị: {where}")

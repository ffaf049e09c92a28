"""Cấu hình chung cho bộ kiểm thử: không mạng, không hub, dùng CPU và seed cố định."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def base():
    """(model, tokenizer) của mô hình đóng gói, trên CPU; không được sửa trong kiểm thử (hãy nạp bản mới)."""
    from peft_course import load_base_model

    return load_base_model(device="cpu")


@pytest.fixture(scope="session")
def task_data(base):
    """(task, train, validation, test) đã mã hóa."""
    from peft_course import FeedbackTask, load_feedback

    task = FeedbackTask(base[1])
    ds = load_feedback()
    return (task, *(task.encode(ds[s]) for s in ("train", "validation", "test")))

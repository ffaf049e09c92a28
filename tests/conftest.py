"""Cấu hình chung cho bộ kiểm thử: không mạng, không hub, dùng CPU và seed cố định."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))  # .ci/run: 1 luồng mỗi việc song song

from peft_course.errors import CourseError  # noqa: E402

# Đếm mọi đầu vào sai mà bộ kiểm thử đã thử: mỗi CourseError được tạo ra là một lần bị từ chối.
BAD_INPUT_MESSAGES: list[str] = []
_original_init = CourseError.__init__


def _counting_init(self, *args, **kwargs):
    BAD_INPUT_MESSAGES.append(str(args[0]) if args else "")
    _original_init(self, *args, **kwargs)


CourseError.__init__ = _counting_init


def pytest_terminal_summary(terminalreporter):
    """In số đầu vào sai đã thử (số thông báo lỗi khác nhau) ở cuối lần chạy."""
    distinct = len(set(BAD_INPUT_MESSAGES))
    terminalreporter.write_line(f"Đầu vào sai đã thử: {distinct} trường hợp khác nhau "
                                f"({len(BAD_INPUT_MESSAGES)} lần CourseError), mỗi trường hợp có thông báo tiếng Việt.")


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

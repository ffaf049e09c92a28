"""peft_course: mã dùng chung của khóa học PEFT tiếng Việt (mô hình nền, dữ liệu, vòng huấn luyện, đo đạc)."""

from .data import LABELS, PROMPT, FeedbackTask, TaskData, load_feedback
from .env import environment_report
from .errors import CourseError
from .model import PACKAGED_MODEL, load_base_model, pick_device
from .params import ParameterCount, count_parameters, freeze
from .training import History, PeakMemory, evaluate, set_seed, train


def _version() -> str:
    """Phiên bản của gói đã cài (một nguồn duy nhất: `version` trong pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("peft-course")
    except PackageNotFoundError:  # chạy thẳng từ mã nguồn chưa cài (PYTHONPATH)
        return "0+unknown"


__version__ = _version()

__all__ = [
    "LABELS", "PROMPT", "FeedbackTask", "TaskData", "load_feedback", "CourseError", "PACKAGED_MODEL",
    "load_base_model", "pick_device", "ParameterCount", "count_parameters", "freeze", "History",
    "PeakMemory", "evaluate", "set_seed", "train", "environment_report",
]

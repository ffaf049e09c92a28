"""peft_course: mã dùng chung của khóa học PEFT tiếng Việt (mô hình nền, dữ liệu, vòng huấn luyện, đo đạc)."""

from .data import LABELS, PROMPT, FeedbackTask, TaskData, load_feedback
from .env import environment_report
from .errors import CourseError
from .model import PACKAGED_MODEL, load_base_model, pick_device
from .params import ParameterCount, count_parameters, freeze
from .training import History, PeakMemory, evaluate, set_seed, train

__version__ = "0.1.0"

__all__ = [
    "LABELS", "PROMPT", "FeedbackTask", "TaskData", "load_feedback", "CourseError", "PACKAGED_MODEL",
    "load_base_model", "pick_device", "ParameterCount", "count_parameters", "freeze", "History",
    "PeakMemory", "evaluate", "set_seed", "train", "environment_report",
]

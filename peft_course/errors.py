"""Lỗi của khóa học: thông báo tiếng Việt nêu rõ giá trị sai và giá trị hợp lệ."""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

import numpy as np


class CourseError(ValueError):
    """Lỗi đầu vào mà sinh viên sửa được; thông báo luôn nói giá trị nhận được và điều hợp lệ."""


def require(condition: bool, message: str) -> None:
    """Ném CourseError(message) khi điều kiện sai; dùng ở đầu mỗi hàm công khai."""
    if not condition:
        raise CourseError(message)


def is_int(value: Any) -> bool:
    """Số nguyên thật (int của Python hay numpy), không phải bool hay số thực 8.0."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """Số thực (int, float, numpy), không phải bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def require_positive_int(name: str, value: Any, *, maximum: int | None = None) -> int:
    """Kiểm tra `value` là số nguyên dương (và ≤ maximum nếu có), trả lại nó dạng int của Python.

    Số nguyên numpy (np.int64, ví dụ lấy từ một mảng) được nhận; bool, 2.0 hay "8" thì không.
    """
    ok = is_int(value) and value > 0
    require(ok, f"{name} phải là số nguyên dương, nhận được {value!r}.")
    value = int(value)
    if maximum is not None:
        require(value <= maximum, f"{name} = {value} quá lớn: giá trị hợp lệ là 1 … {maximum}.")
    return value


def require_finite_number(name: str, value: Any) -> float:
    """Kiểm tra `value` là số thực hữu hạn (không nan, không ±inf), trả lại dạng float."""
    require(is_real(value), f"{name} phải là một số thực, nhận được {value!r}.")
    require(math.isfinite(value), f"{name} phải là số hữu hạn, nhận được {value!r} (nan và ±inf không hợp lệ).")
    return float(value)


def require_positive_number(name: str, value: Any) -> float:
    """Kiểm tra `value` là số thực dương hữu hạn, trả lại dạng float."""
    value = require_finite_number(name, value)
    require(value > 0, f"{name} phải là số dương, nhận được {value!r}.")
    return value


def require_bool(name: str, value: Any) -> bool:
    """Kiểm tra `value` đúng là True/False (chuỗi "false" hay số 0/1 không được nhận lặng lẽ)."""
    require(isinstance(value, (bool, np.bool_)), f"{name} phải là True hoặc False, nhận được {value!r}.")
    return bool(value)


def require_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Kiểm tra `value` thuộc `choices`, liệt kê các lựa chọn hợp lệ khi sai."""
    choices = list(choices)
    require(value in choices, f"{name} = {value!r} không hợp lệ; chọn một trong: {', '.join(map(repr, choices))}.")
    return value

"""Lỗi của khóa học: thông báo tiếng Việt nêu rõ giá trị sai và giá trị hợp lệ."""

from __future__ import annotations

from typing import Any, Iterable


class CourseError(ValueError):
    """Lỗi đầu vào mà sinh viên sửa được; thông báo luôn nói giá trị nhận được và điều hợp lệ."""


def require(condition: bool, message: str) -> None:
    """Ném CourseError(message) khi điều kiện sai; dùng ở đầu mỗi hàm công khai."""
    if not condition:
        raise CourseError(message)


def require_positive_int(name: str, value: Any, *, maximum: int | None = None) -> int:
    """Kiểm tra `value` là số nguyên dương (và ≤ maximum nếu có), trả lại chính nó."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    require(ok, f"{name} phải là số nguyên dương, nhận được {value!r}.")
    if maximum is not None:
        require(value <= maximum, f"{name} = {value} quá lớn: giá trị hợp lệ là 1 … {maximum}.")
    return value


def require_positive_number(name: str, value: Any) -> float:
    """Kiểm tra `value` là số thực dương hữu hạn."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
    require(ok, f"{name} phải là số dương, nhận được {value!r}.")
    return float(value)


def require_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Kiểm tra `value` thuộc `choices`, liệt kê các lựa chọn hợp lệ khi sai."""
    choices = list(choices)
    require(value in choices, f"{name} = {value!r} không hợp lệ; chọn một trong: {', '.join(map(repr, choices))}.")
    return value

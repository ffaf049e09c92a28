"""Không mạng: mọi kết nối ra ngoài loopback bị chặn trong lúc kiểm thử, và không có đường nào tới hub."""

import socket

import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError

from peft_course import CourseError, load_base_model


def test_outside_connections_are_blocked():
    """pytest-socket (addopts trong pyproject.toml, nên cả `pytest` trần) chặn trước khi có gói tin nào đi ra.

    Một máy không có mạng cũng làm kết nối thất bại (OSError), nên chỉ chấp nhận đúng lỗi của pytest-socket;
    địa chỉ IP (không tên miền) để không phụ thuộc vào việc máy có phân giải tên được hay không.
    """
    for address in (("1.1.1.1", 443), ("8.8.8.8", 53)):
        with pytest.raises((SocketBlockedError, SocketConnectBlockedError)):
            socket.create_connection(address, timeout=2)


def test_hub_id_is_refused_clearly_offline():
    with pytest.raises(CourseError, match="gpt2"):
        load_base_model("gpt2", device="cpu")


def test_importing_the_package_opens_no_socket():
    """Nhập gói và mọi mô-đun con trong một tiến trình mới (không làm bẩn sys.modules của các kiểm thử khác)."""
    import subprocess
    import sys

    code = (
        "import pkgutil, socket, importlib\n"
        "opened = []\n"
        "socket.socket.connect = lambda self, addr: opened.append(addr)\n"
        "import peft_course\n"
        "names = [m.name for m in pkgutil.iter_modules(peft_course.__path__)]\n"
        "for n in names: importlib.import_module('peft_course.' + n)\n"
        "print(len(names), len(opened))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n_modules, n_opened = map(int, out.stdout.split()[-2:])
    assert n_modules >= 10 and n_opened == 0

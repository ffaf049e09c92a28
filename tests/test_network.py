"""Không mạng: mọi kết nối ra ngoài loopback bị chặn trong lúc kiểm thử, và không có đường nào tới hub."""

import os
import socket

import pytest

from peft_course import CourseError, load_base_model


def test_outside_connections_are_blocked():
    with pytest.raises(Exception) as info:
        socket.create_connection(("huggingface.co", 443), timeout=2)
    assert "Socket" in type(info.value).__name__ or isinstance(info.value, OSError)


def test_hub_is_offline_in_tests():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


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

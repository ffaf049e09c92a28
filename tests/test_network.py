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


def test_importing_the_package_opens_no_socket(monkeypatch):
    import importlib
    import sys

    opened = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: opened.append(addr))
    for name in [m for m in sys.modules if m.startswith("peft_course")]:
        del sys.modules[name]
    importlib.import_module("peft_course")
    assert opened == []

"""Một trình khách Chrome DevTools Protocol tối giản cho kiểm thử trang tài liệu (chỉ thư viện chuẩn).

Chromium không giao diện nói chuyện qua hai ống (--remote-debugging-pipe: đọc lệnh ở fd 3, ghi kết quả ở
fd 4, mỗi thông điệp JSON kết thúc bằng byte 0), nên không cần cổng mạng hay thư viện websocket.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    """Đường dẫn tới chromium (hoặc chrome) nếu máy có."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Một tiến trình chromium không giao diện và một tab, điều khiển qua CDP."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="peft-docs-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:  # trong tiến trình con: fd 3 đọc lệnh, fd 4 ghi kết quả
            # Chép lên fd ≥ 10 trước: nếu ống đã là fd 3 hoặc 4 thì dup2(3, 3) không làm gì và fd vẫn đóng khi exec.
            r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w))
            os.dup2(r, 3)  # dup2 đặt cờ kế thừa: chỉ fd 3, 4 sống qua exec (PEP 446)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds, close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    # -- giao thức -----------------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise TimeoutError("chromium không trả lời kịp")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium đã thoát")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, timeout: float = 60, **params) -> dict:
        """Gửi một lệnh CDP và chờ kết quả; các sự kiện đến trong lúc chờ được giữ trong self.events."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == method:
                    self.events.remove(event)
                    return event
            self.events.append(self._read_message(deadline))

    # -- tiện ích ------------------------------------------------------------------------------------
    def open(self, url: str, timeout: float = 60) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, timeout: float = 60):
        """Chạy một biểu thức JavaScript (có thể là Promise) trong trang và trả về giá trị JSON."""
        result = self.call("Runtime.evaluate", session=True, timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"Lỗi JavaScript: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def set_width(self, width: int, height: int = 900) -> None:
        """Đổi bề rộng khung nhìn (390 px: điện thoại; 1280 px: máy tính)."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)

    def platform_fonts(self, selector: str, index: int = 0) -> list[dict]:
        """Phông chữ thật sự dùng để vẽ chữ của phần tử thứ `index` khớp `selector` (CSS.getPlatformFontsForNode):
        mỗi phần tử có familyName, isCustomFont (phông tải từ trang, @font-face) và glyphCount."""
        self.call("DOM.enable", session=True)
        self.call("CSS.enable", session=True)
        root = self.call("DOM.getDocument", session=True, depth=0)["root"]["nodeId"]
        nodes = self.call("DOM.querySelectorAll", session=True, nodeId=root, selector=selector)["nodeIds"]
        if index >= len(nodes):
            return []
        return self.call("CSS.getPlatformFontsForNode", session=True, nodeId=nodes[index])["fonts"]

    def drag(self, x: float, y: float, dx: float) -> None:
        """Kéo chuột từ (x, y) sang ngang dx px (kéo thanh trượt)."""
        for kind, px in (("mousePressed", x), ("mouseMoved", x + dx / 2), ("mouseMoved", x + dx),
                         ("mouseReleased", x + dx)):
            self.call("Input.dispatchMouseEvent", session=True, type=kind, x=px, y=y, button="left",
                      buttons=0 if kind == "mouseReleased" else 1, clickCount=1)

    def type_text(self, text: str) -> None:
        self.call("Input.insertText", session=True, text=text)

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def failures(self) -> list[str]:
        """Yêu cầu mạng hỏng, phản hồi lỗi HTTP, ngoại lệ JavaScript và lỗi trong console."""
        out = []
        urls = {e["params"]["requestId"]: e["params"]["request"]["url"]
                for e in self.events if e["method"] == "Network.requestWillBeSent"}
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Network.loadingFailed" and not p.get("canceled"):
                out.append(f"tải hỏng {urls.get(p['requestId'], '?')}: {p.get('errorText')}")
            elif e["method"] == "Network.responseReceived" and p["response"]["status"] >= 400:
                out.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
            elif e["method"] == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                out.append(f"ngoại lệ JS: {details.get('exception', {}).get('description') or details.get('text')}")
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] == "error":
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self.profile, ignore_errors=True)

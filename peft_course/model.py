"""Nạp mô hình nền: mô hình GPT-2 tiếng Việt đóng gói sẵn trong gói, hoặc một mô hình khác (hub/đường dẫn).

Mô hình đóng gói được nạp qua đúng `from_pretrained` của transformers, không cần mạng. Lỗi của thư viện
(thư mục thiếu tệp, trọng số hỏng, không có mạng, hết bộ nhớ GPU) được đổi thành `CourseError` tiếng Việt
nêu đường dẫn/id nhận được và điều cần có.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from .errors import CourseError, require, require_choice

PACKAGED_MODEL = Path(__file__).parent / "assets" / "model"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}  # dtype của mô hình nền
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")  # một trong các tệp trọng số transformers đọc được
HUB_TIMEOUT_S = 3.0  # chờ kết nối tới hub tối đa bấy nhiêu giây trước khi báo lỗi


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Thiết bị để chạy: nếu không chỉ định thì lần lượt thử cuda, mps, rồi cpu."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    require(isinstance(device, (str, torch.device)), f"device phải là chuỗi hoặc torch.device, nhận được {device!r}.")
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError:
            raise CourseError(f"device = {device!r} không phải tên thiết bị hợp lệ; dùng 'cpu', 'cuda', 'cuda:0', "
                              "'mps' hoặc None (tự chọn).") from None
    require_choice("device", device.type, ["cpu", "cuda", "mps"])
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    require(available[device.type], f"device = {str(device)!r} không dùng được trên máy này; hãy dùng 'cpu' hoặc để "
                                    "None (tự chọn).")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        require(device.index < count,
                f"device = {str(device)!r}: máy này chỉ có {count} GPU (cuda:0 … cuda:{count - 1}).")
    return device


def hub_offline() -> bool:
    """Chế độ ngoại tuyến của hub, đọc đúng như huggingface_hub: HF_HUB_OFFLINE (hoặc TRANSFORMERS_OFFLINE) là một
    trong 1/ON/YES/TRUE, không phân biệt hoa thường. "0", "off", "false", rỗng: trực tuyến."""
    try:
        from huggingface_hub.constants import ENV_VARS_TRUE_VALUES
    except ImportError:  # phiên bản rất cũ
        ENV_VARS_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return value is not None and value.upper() in ENV_VARS_TRUE_VALUES


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """Mở được kết nối TCP tới hub (HF_ENDPOINT, mặc định huggingface.co:443) trong `timeout` giây không.

    Chạy trong một luồng phụ và chỉ chờ `timeout` giây, vì phân giải tên miền (DNS) không tôn trọng timeout của socket.
    """
    import threading

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((url.hostname, port), timeout=timeout):
                ok.append(True)
        except Exception:  # OSError, hết giờ, hoặc socket bị chặn (pytest-socket): đều là "không tới được"
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)


def _check_local_folder(path: Path) -> None:
    """Thư mục mô hình cục bộ phải có config.json và một tệp trọng số; báo lỗi nêu đường dẫn và tệp thiếu."""
    require(path.is_dir(), f"{str(path)!r} là một tệp, không phải thư mục mô hình: cần một thư mục có config.json "
                           f"và trọng số ({', '.join(WEIGHT_FILES[::2])}).")
    require((path / "config.json").is_file(), f"Thư mục {str(path)!r} không có config.json: không phải thư mục mô hình "
                                              "transformers (lưu bằng model.save_pretrained(thư_mục)).")
    require(any((path / f).is_file() for f in WEIGHT_FILES),
            f"Thư mục {str(path)!r} có config.json nhưng không có tệp trọng số ({', '.join(WEIGHT_FILES)}).")


def _resolve_source(name_or_path: str | Path | None) -> tuple[str | Path, bool]:
    """(nguồn cho from_pretrained, chỉ đọc tệp cục bộ?) sau khi kiểm tra đường dẫn, chế độ ngoại tuyến và mạng."""
    if name_or_path is None:
        return PACKAGED_MODEL, True
    text = str(name_or_path).strip()
    require(text != "", "name_or_path là chuỗi rỗng; dùng None (mô hình đóng gói), một id trên hub như 'gpt2' hoặc "
                        "'Qwen/Qwen2.5-0.5B', hay đường dẫn tới một thư mục mô hình.")
    path = Path(name_or_path).expanduser()
    if path.exists() or isinstance(name_or_path, Path) or text.startswith((".", "/", "~")):
        require(path.exists(), f"Không tìm thấy thư mục {str(path)!r}.")
        _check_local_folder(path)
        return path, True
    if hub_offline():
        return text, True  # chỉ bộ đệm của hub; lỗi (nếu chưa tải) được báo ở _load
    behind_proxy = any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    if not behind_proxy and not hub_reachable():  # qua proxy thì không thử kết nối thẳng được: để thư viện tự thử
        return text, True  # không có mạng: thử bộ đệm, báo lỗi ngay nếu không có
    return text, False


def _load(source: str | Path, local: bool, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """from_pretrained cho tokenizer và mô hình; lỗi thư viện → CourseError nêu nguồn."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local, dtype=dtype)
    except CourseError:
        raise
    except Exception as err:  # OSError, ValueError, SafetensorError, EnvironmentError… của transformers/hub
        if local and not Path(source).exists():
            why = ("HF_HUB_OFFLINE đang bật" if hub_offline() else
                   f"không kết nối được {os.environ.get('HF_ENDPOINT', 'https://huggingface.co')} trong "
                   f"{HUB_TIMEOUT_S:.0f} giây")
            raise CourseError(f"Không nạp được {str(source)!r}: {why} và mô hình này chưa có trong bộ đệm của hub. "
                              "Hãy bật mạng (trên Colab), tắt HF_HUB_OFFLINE, hoặc dùng None (mô hình đóng gói)."
                              ) from err
        raise CourseError(f"Không nạp được mô hình {str(source)!r}: cần một id trên hub (ví dụ 'gpt2') hoặc thư mục "
                          f"có config.json, tokenizer và trọng số đọc được. Lỗi của thư viện: "
                          f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}") from err
    return model, tokenizer


def _check_fits(model: PreTrainedModel, device: torch.device, source: str | Path) -> None:
    """Ước lượng: trọng số (số tham số × số byte) phải chiếm dưới 80% bộ nhớ GPU còn trống, để còn chỗ cho
    kích hoạt và trạng thái Adam; nếu không, báo lỗi kèm các con số và cách giảm."""
    if device.type != "cuda":
        return
    need = sum(p.numel() * p.element_size() for p in model.parameters())
    free, total = torch.cuda.mem_get_info(device)
    require(need < 0.8 * free,
            f"Mô hình {str(source)!r} cần {need / 2**30:.2f} GiB cho trọng số nhưng GPU chỉ còn trống "
            f"{free / 2**30:.2f} "
            f"GiB (tổng {total / 2**30:.1f} GiB). Hãy nạp ở bf16 (dtype='bfloat16'), chọn mô hình nhỏ hơn, hoặc "
            "giải phóng mô hình cũ (del model; torch.cuda.empty_cache()).")


@contextlib.contextmanager
def explain_oom(what: str):
    """Đổi torch.cuda.OutOfMemoryError thành CourseError tiếng Việt nêu việc đang làm và cách giảm bộ nhớ."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        torch.cuda.empty_cache()
        raise CourseError(f"Hết bộ nhớ GPU khi {what}. Hãy giảm batch_size, nạp mô hình ở bf16 "
                          "(load_base_model(..., dtype='bfloat16')), hoặc chọn mô hình nhỏ hơn.") from err


def trainable_dtype(dtype: torch.dtype) -> torch.dtype:
    """dtype cho tham số *huấn luyện* của một phương pháp: float32 khi mô hình nền ở bf16/fp16.

    Như peft (`autocast_adapter_dtype=True`): AdamW cập nhật thẳng trong bf16 làm mất các bước nhỏ (bf16 chỉ có
    8 bit phần định trị), nên ma trận LoRA, adapter, δ của BitFit, tiền tố được giữ ở fp32; đầu vào được đổi sang
    fp32 khi vào nhánh học được và kết quả đổi về dtype của mô hình.
    """
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _pick_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """dtype của mô hình nền: None → float32 (con số của khóa học đo ở fp32); bf16/fp16 theo yêu cầu."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        names = {v: k for k, v in DTYPES.items()}
        require(dtype in names, f"dtype = {dtype} không hỗ trợ; chọn một trong: {', '.join(DTYPES)}.")
        dtype = names[dtype]
    require_choice("dtype", dtype, DTYPES)
    if dtype == "bfloat16" and device.type == "cuda":
        require(torch.cuda.is_bf16_supported(), f"GPU {torch.cuda.get_device_name(device)} không hỗ trợ bfloat16; "
                                                "hãy dùng dtype='float16' hoặc None (float32).")
    return DTYPES[dtype]


def load_base_model(
    name_or_path: str | Path | None = None,  # None: mô hình đóng gói; hoặc id trên hub / thư mục cục bộ
    device: str | torch.device | None = None,  # None: tự chọn cuda → mps → cpu
    dtype: str | torch.dtype | None = None,  # None: float32; "bfloat16" (GPU): một nửa bộ nhớ, như Colab cần
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Trả về (model, tokenizer) ở chế độ eval, đã tắt các cảnh báo vô ích.

    Mặc định là mô hình GPT-2 tiếng Việt của khóa học (đi kèm gói, không cần mạng). Một id trên hub
    (ví dụ "gpt2") hay một thư mục cục bộ đi qua đúng đoạn mã `from_pretrained` ấy, cho ai muốn thử
    mô hình lớn hơn trên Colab. Không có mạng thì báo lỗi sau vài giây (HUB_TIMEOUT_S), không treo.
    """
    require(name_or_path is None or isinstance(name_or_path, (str, Path)),
            f"name_or_path phải là None, chuỗi hoặc Path, nhận được {type(name_or_path).__name__}.")
    dev = pick_device(device)
    torch_dtype = _pick_dtype(dtype, dev)
    hf_logging.disable_progress_bar()
    source, local = _resolve_source(name_or_path)
    model, tokenizer = _load(source, local, torch_dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.loss_type = "ForCausalLM"
    _check_fits(model, dev, source)
    with explain_oom(f"chuyển mô hình {str(source)!r} lên {dev}"):
        return model.to(dev).eval(), tokenizer

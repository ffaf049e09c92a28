# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Bài 4 — DoRA: tách trọng số thành độ lớn và hướng
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/04_dora.ipynb)

# %%
# Thiết lập: trên Colab cài gói peft_course (ghim phiên bản); nơi khác không làm gì.
import subprocess
import sys

if "google.colab" in sys.modules:
    pkg = "peft-course @ git+https://github.com/peft-course/peft-course@v0.1.0"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", pkg], check=True)

# %%
from peft_course import environment_report

print(environment_report())

# %% [markdown]
# ## Mục tiêu
#
# Sau bài này bạn sẽ:
# - viết được một lớp **DoRA** bằng cách thêm vào lớp LoRA của bài 3 một vectơ **độ lớn** — một số cho mỗi
#   đặc trưng **đầu ra** — và chuẩn hóa **hướng** $W_0 + sBA$;
# - lấy chuẩn theo đúng trục cho cả `nn.Linear` (out, in) lẫn `Conv1D` của GPT-2 (in, out);
# - giải thích vì sao chuẩn được tách khỏi đồ thị gradient (*detach*), như bài báo (mục 4.3) và peft;
# - gộp DoRA vào trọng số và tách ra lại; đo DoRA tốn thêm bao nhiêu so với LoRA khi huấn luyện và khi suy
#   luận chưa gộp;
# - chứng minh bản tự xây cho cùng logit với `peft` (`use_dora=True`), và đọc đúng cách so DoRA với LoRA:
#   cùng tốc độ học và mỗi bên ở tốc độ học tốt nhất, qua nhiều seed (số liệu của bench).
#
# Bài này dựa trên bài 3 (LoRA: `LoRALinear`, `apply_lora`, gộp/tách, xuất tệp peft).

# %% [markdown]
# ### Thư viện và mô hình của bài

# %%
import copy
import warnings

import matplotlib.pyplot as plt
import torch
from torch import nn

from peft_course import (
    CourseError,
    arch,
    count_parameters,
    evaluate,
    experiments,
    report,
)
from peft_course.inject import layer_dims
from peft_course.lora import LoRAConfig, LoRALinear, apply_lora, lora_layers, merge_lora
from peft_course.plots import FIG_WIDTH, use_course_style

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại
# transformers 5 báo ngừng một thuộc tính mà peft còn đọc: không liên quan tới bài
warnings.filterwarnings(
    "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
)
_ = torch.manual_seed(0)

# %% tags=["colab-model", "nbval-ignore-output"]
# Mô hình của bài. None = mô hình GPT-2 tiếng Việt đóng gói (2,57 triệu tham số,
# chạy offline, dùng trong CI). Trên Colab có GPU, đổi MỘT dòng để chạy cùng bài
# trên mô hình thật, ví dụ:
#   MODEL = "gpt2"                # GPT-2 small của OpenAI, 124 triệu tham số, vừa T4
#   MODEL = "Qwen/Qwen2.5-0.5B"   # Qwen2.5 0,5 tỉ tham số (GQA, RoPE), vừa T4
# và DATA = "uit-vsfc" để dùng bộ UIT-VSFC thật (16 nghìn câu) thay dữ liệu đóng gói.
MODEL = None
DATA = None
DTYPE = None  # None: float32; "bfloat16" trên GPU cho mô hình từ 1 tỉ tham số
course = experiments.prepare(MODEL, dtype=DTYPE, data=DATA)
model = course.fresh_model()
print(
    "Mô hình:",
    "đóng gói của khóa học (offline)" if MODEL is None else MODEL,
    "|",
    arch.describe(model),
)
print(
    "Dữ liệu:",
    "đóng gói" if DATA is None else DATA,
    f"| {len(course.train)} câu huấn luyện | thiết bị {course.device}",
)

# %% [markdown]
# ## Ý tưởng
#
# Mọi ma trận trọng số đều viết được thành **độ lớn** nhân **hướng**: với mỗi đặc trưng đầu ra $j$ (một hàng
# $w_j$ của $W$ dạng (out, in)), $w_j = \lVert w_j \rVert \cdot \frac{w_j}{\lVert w_j \rVert}$. Liu và cộng sự (2024)
# so sánh tinh chỉnh toàn bộ với LoRA theo hai phần ấy và thấy chúng cư xử khác nhau: tinh chỉnh toàn bộ hay đổi
# nhiều hướng mà ít độ lớn (hoặc ngược lại), còn LoRA đổi cả hai theo cùng chiều. DoRA tách hẳn hai phần: học
# độ lớn $m$ trực tiếp, và học hướng bằng LoRA:
#
# $$W' = m \odot \frac{W_0 + sBA}{\lVert W_0 + sBA \rVert_c}, \qquad
# m_j \text{ khởi tạo} = \lVert (W_0)_j \rVert \;\Rightarrow\; W' = W_0 \text{ ở bước 0}.$$
#
# **Trục của chuẩn.** Bài báo viết $W \in \mathbb{R}^{d \times k}$ và $\lVert \cdot \rVert_c$ là "chuẩn theo từng
# cột"; mã chính thức (NVlabs/DoRA) và peft lấy chuẩn theo `dim=1` của trọng số `nn.Linear` dạng (out, in): **mỗi
# đặc trưng đầu ra một độ lớn**, chuẩn lấy theo chiều đầu vào. Với `Conv1D` dạng (in, out) đó là chuẩn của từng
# *cột* (`dim=0`). (Bản rasbt/dora-from-scratch chuẩn hóa theo trục kia, và lớp chưa gộp của nó không tương
# đương DoRA: đừng dùng làm mẫu.)
#
# **Số tham số huấn luyện** của một lớp $n \to m$: $r(m + n) + m$ — đúng LoRA cộng $m$ số độ lớn.
#
# **Chuẩn được detach.** Gradient qua $\lVert W_0 + sBA \rVert_c$ cần giữ cả ma trận $m \times n$ cho lan truyền
# ngược. Bài báo (mục 4.3) coi chuẩn là hằng số khi lan truyền ngược: nó vẫn theo $\Delta W$ khi truyền xuôi, nhưng
# không nhận gradient. peft luôn làm vậy. Khi đó
#
# $$y = \frac{m}{\lVert W_0 + sBA \rVert_c} \odot \big(W_0 x + s\,B A x\big) + b,$$
#
# với hệ số $m / \lVert \cdot \rVert_c$ (một vectơ $m$ chiều) như một hằng số nhân vào đầu ra của LoRA. Gộp:
# $W \leftarrow \frac{m}{\lVert W_0 + sBA \rVert_c} \odot (W_0 + sBA)$, và ta giữ lại chuẩn để tách ra đúng.
#
# **Dropout.** Công thức trên là lúc suy luận (hoặc dropout $= 0$, như lớp ta tự viết dưới đây). Với dropout
# $> 0$, peft và tác giả DoRA áp dropout lên $x$ trước cả hai nhánh: đầu ra là
# $\mathrm{base}(x) + (k - 1)\,W_0\,\mathrm{dropout}(x) + k\,sBA\,\mathrm{dropout}(x)$ với
# $k = m/\lVert W_0 + sBA \rVert_c$; `peft_course.dora` làm đúng như vậy.

# %% [markdown]
# ## Xây từ đầu
# ### Độ lớn ban đầu: chuẩn của từng đặc trưng đầu ra
# Lớp đích đầu tiên của mô hình (với GPT-2: `c_attn` của khối 0, một `Conv1D` dạng (in, out)); kích thước
# đọc từ chính lớp đó.

# %%
base_model = model  # mô hình nền: không bao giờ bị sửa, là mốc so sánh của cả bài
TARGETS = arch.lora_targets(base_model)  # GPT-2: ["c_attn", "c_proj", "c_fc"]
first_name = next(
    n for n, _ in base_model.named_modules() if n.endswith("." + TARGETS[0])
)
first = base_model.get_submodule(first_name)
n_in, n_out, conv1d = layer_dims(first)  # Conv1D: trọng số (in, out)
W = first.weight.detach()
per_output = W.norm(dim=0) if conv1d else W.norm(dim=1)  # mỗi đầu ra một số
wrong_axis = W.norm(dim=1) if conv1d else W.norm(dim=0)  # trục sai: mỗi đầu vào một số
assert per_output.shape == (n_out,)
print(
    f"{first_name}: {n_in} → {n_out}; độ lớn theo đầu ra: {tuple(per_output.shape)}, "
    f"từ {per_output.min():.2f} đến {per_output.max():.2f}; "
    f"trục sai cho {tuple(wrong_axis.shape)}"
)

# %% [markdown]
# ### Lớp `DoRALinear`: kế thừa `LoRALinear` của bài 3
# `LoRALinear` (trong `peft_course.lora`) đã có `base_layer`, `lora_A`, `lora_B`, `scaling`, `lora_branch(x)`
# $= s\,BA\,\mathrm{dropout}(x)$ và `fan_in_fan_out` (True với `Conv1D`). Ta chỉ thêm độ lớn và thay lượt
# truyền xuôi.


# %% tags=["teach"]
class DoRALinear(LoRALinear):
    """W' = m · (W₀ + sBA) / ‖W₀ + sBA‖ (chuẩn theo chiều đầu vào, detach).

    m học được, mỗi đặc trưng đầu ra một số; hướng học bằng LoRA.
    """

    def __init__(self, base: nn.Module, config: LoRAConfig):
        super().__init__(base, config)
        # ‖W₀‖ từng đầu ra ⇒ bước 0 = mô hình nền
        self.magnitude = nn.Parameter(self.weight_norm())

    def base_weight(self) -> torch.Tensor:
        """W₀ dạng (out, in) cho cả nn.Linear lẫn Conv1D (in, out)."""
        w = self.base_layer.weight
        return w.T if self.fan_in_fan_out else w

    def weight_norm(self) -> torch.Tensor:
        """‖W₀ + sBA‖ theo chiều đầu vào, (out,); detach: không nhận gradient (§4.3)."""
        w = self.base_weight() + self.scaling * (self.lora_B @ self.lora_A)
        return w.norm(dim=1).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.magnitude / self.weight_norm()
        y = scale * (x @ self.base_weight().T + self.lora_branch(x))
        bias = self.base_layer.bias
        return y if bias is None else y + bias


# %%
cfg = LoRAConfig(r=8, alpha=16, target_modules=[TARGETS[0]])
layer = DoRALinear(copy.deepcopy(first), cfg)
x = torch.randn(2, 5, n_in)
assert layer.magnitude.shape == (n_out,) and torch.allclose(layer.magnitude, per_output)
assert torch.allclose(layer(x), first(x), atol=1e-5)  # bước 0: như mô hình nền
assert not layer.weight_norm().requires_grad
trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
assert trainable == 8 * (n_in + n_out) + n_out
print(
    f"bước 0: |Δy| ≤ {(layer(x) - first(x)).abs().max():.1e}; "
    f"tham số huấn luyện: {trainable:,} = r(m+n) + m"
)

# %% [markdown]
# Chuẩn được detach nhưng vẫn theo $B$ khi truyền xuôi; còn $m$ nhận gradient. Ta kiểm tra bằng một bước
# lan truyền ngược sau khi cho $B$ một giá trị ngẫu nhiên: cả ba ($A$, $B$, $m$) có gradient, còn hướng đã được
# chuẩn hóa lại đúng độ dài 1 trước khi nhân với $m$.

# %%
with torch.no_grad():
    layer.lora_B.normal_(0, 0.05)
layer(x).pow(2).mean().backward()
assert all(p.grad is not None for p in (layer.lora_A, layer.lora_B, layer.magnitude))
V = layer.base_weight() + layer.scaling * layer.lora_B @ layer.lora_A  # (out, in)
direction = V / layer.weight_norm()[:, None]
assert torch.allclose(direction.norm(dim=1), torch.ones(n_out))
print("gradient có ở A, B, m; ‖hướng‖ = 1 cho mọi đầu ra")

# %% [markdown]
# ### Bản trong gói: `peft_course.dora`
# `DoRALinear` của gói là lớp ở trên, cộng thêm: gộp/tách (giữ chuẩn lúc gộp để tách đúng), dropout như peft,
# dtype/thiết bị của mô hình, và `apply_dora` dùng chung cơ chế chọn lớp, đóng băng và kiểm tra của
# `peft_course.inject` (từ chối mô hình đã có một phương pháp, báo lỗi tiếng Việt). Nó viết cùng công thức dưới
# dạng "đầu ra nền + phần hiệu chỉnh", $y = \mathrm{base}(x) + (k - 1)\,W_0 x + k\,sBAx$ với
# $k = m/\lVert W_0 + sBA \rVert_c$: bằng nhau về đại số, và là đúng thứ tự phép tính của peft nên logit trùng
# peft. Một phép thử nhanh (`tests/test_teaching.py`) chứng minh lớp tự viết ở trên cho cùng đầu ra với lớp của
# gói trên cùng $A$, $B$, $m$.

# %% tags=["nbval-ignore-output"]
import inspect

from peft_course import dora as dora_module

print(inspect.getsource(dora_module.DoRALinear))

# %% [markdown]
# Áp lên cả mô hình: mọi lớp đích, số tham số đúng công thức.

# %%
from peft_course.dora import DoRAConfig, apply_dora

torch.manual_seed(0)
dora = course.fresh_model()
names = apply_dora(dora, DoRAConfig(r=8, alpha=16, target_modules=TARGETS))
with torch.no_grad():
    for l in lora_layers(dora).values():
        l.lora_B.normal_(0, 0.02)
        # lệch khỏi ‖W₀‖ để phép so với peft ở dưới có nội dung
        l.magnitude.mul_(1 + 0.05 * torch.randn_like(l.magnitude))

# %% tags=["nbval-check-output"]
counts = count_parameters(dora)
layers = lora_layers(dora).values()
formula = sum(8 * (l.in_features + l.out_features) + l.out_features for l in layers)
assert counts.trainable == formula
lora_only = sum(8 * (l.in_features + l.out_features) for l in layers)
print(f"DoRA r=8 trên {TARGETS}: {formula:,} tham số huấn luyện")
print(f"  = LoRA {lora_only:,} + độ lớn {formula - lora_only:,}")

# %% [markdown]
# ## Đối chiếu với huggingface/peft
# `LoraConfig(use_dora=True)` (với `Conv1D` của GPT-2 thêm `fan_in_fan_out=True`); chép $A$, $B$ và $m$ (peft
# gọi là `lora_magnitude_vector`).

# %%
from peft import LoraConfig, get_peft_model

fan_in_fan_out = next(iter(lora_layers(dora).values())).fan_in_fan_out
peft_config = LoraConfig(
    r=8,
    lora_alpha=16,
    target_modules=TARGETS,
    use_dora=True,
    fan_in_fan_out=fan_in_fan_out,
    task_type="CAUSAL_LM",
)
reference = get_peft_model(course.fresh_model(), peft_config)
state = reference.state_dict()
with torch.no_grad():
    for n, l in lora_layers(dora).items():
        prefix = f"base_model.model.{n}"
        state[f"{prefix}.lora_A.default.weight"].copy_(l.lora_A)
        state[f"{prefix}.lora_B.default.weight"].copy_(l.lora_B)
        state[f"{prefix}.lora_magnitude_vector.default.weight"].copy_(l.magnitude)
    batch = course.validation.batch(slice(0, 32), course.device)
    ours_logits = dora(**batch).logits
    gap = (reference(**batch).logits - ours_logits).abs().max().item()
assert gap < 1e-5
peft_trainable = sum(p.numel() for p in reference.parameters() if p.requires_grad)
assert peft_trainable == counts.trainable
print(f"peft (use_dora=True): |Δlogit| = {gap:.1e}")

# %% tags=["nbval-check-output"]
reference.print_trainable_parameters()
print(
    f"bản tự xây: trainable params: {counts.trainable:,} "
    f"|| all params: {counts.total:,}"
)

# %% [markdown]
# ## Gộp và tách
# Gộp ghi $W \leftarrow \frac{m}{\lVert W_0 + sBA \rVert_c} \odot (W_0 + sBA)$: sau đó chuẩn của mỗi đặc trưng đầu
# ra của trọng số *đúng bằng* $m$. Tách dùng chuẩn đã lưu lúc gộp, nên trả lại $W_0$.

# %%
from peft_course.dora import merge_dora, unmerge_dora


def output_norms(l: LoRALinear) -> torch.Tensor:
    """Chuẩn từng đặc trưng đầu ra của trọng số (đã gộp) của lớp."""
    w = l.base_layer.weight
    return w.norm(dim=0) if l.fan_in_fan_out else w.norm(dim=1)


merge_dora(dora)
last_name, merged = list(lora_layers(dora).items())[-1]  # GPT-2: mlp.c_proj khối cuối
assert torch.allclose(output_norms(merged), merged.magnitude, rtol=1e-5)
assert torch.allclose(dora(**batch).logits, ours_logits, rtol=1e-5, atol=1e-4)
unmerge_dora(dora)
restore = max(
    (l.base_layer.weight - base_model.get_submodule(n).weight).abs().max().item()
    for n, l in lora_layers(dora).items()
)
assert restore < 1e-6
print(
    f"sau khi gộp ({last_name}): chuẩn từng đầu ra = m; "
    f"sau khi tách: |W − W₀| ≤ {restore:.1e}"
)

# %% [markdown]
# ## DoRA tốn thêm bao nhiêu?
# Chưa gộp, so với LoRA, mỗi lớp DoRA làm thêm hai việc ở mỗi lượt truyền xuôi: dựng $W_0 + sBA$ và lấy chuẩn của nó
# (chi phí cỡ $mn$, không phụ thuộc số token), và vài phép tính từng phần tử trên toàn bộ đầu ra của lớp (nhân
# với $k$, cộng; chi phí tỉ lệ với số token, và lan truyền ngược cũng phải đi qua chúng). Đã gộp thì DoRA, cũng
# như LoRA, là một mô hình nền bình thường: cùng trọng số về hình dạng, cùng số phép tính.
#
# Ô dưới đo trực tiếp độ trễ suy luận (lô 32 câu) của mô hình nền, LoRA chưa gộp, DoRA chưa gộp và DoRA đã gộp
# trên máy đang chạy bài: một **phép đo minh họa**, dao động theo tải của máy (trên một máy bận, các tỉ số có thể
# lệch xa). Tỉ số thời gian đã công bố đến từ bench, ở phần so sánh DoRA và LoRA bên dưới.

# %% tags=["nbval-ignore-output", "live-timing"]
from IPython.display import Markdown, display

from peft_course.costs import latency_ms  # trung vị (ms) một lượt truyền xuôi

lora_model = course.fresh_model()
apply_lora(lora_model, LoRAConfig(r=8, alpha=16, target_modules=TARGETS))
latency = {
    "mô hình nền": latency_ms(base_model, batch),
    "LoRA chưa gộp": latency_ms(lora_model, batch),
    "DoRA chưa gộp": latency_ms(dora, batch),
}
merge_dora(dora)
latency["DoRA đã gộp"] = latency_ms(dora, batch)
unmerge_dora(dora)
rows = [
    f"| {k} | {v:.1f} | {v / latency['mô hình nền']:.2f}× |" for k, v in latency.items()
]
display(
    Markdown(
        "| mô hình | độ trễ (ms) | so với mô hình nền |\n|---|---:|---:|\n"
        + "\n".join(rows)
    )
)

# %% [markdown]
# Tài liệu của peft ghi nhận DoRA chưa gộp chậm hơn LoRA nhiều (khoảng +139% trên một mô hình 8B) và khuyên gộp
# trước khi suy luận.
#
# ## Thí nghiệm với widget
# ### Hạng $r$ và số tham số
# DoRA chỉ thêm $m$ số mỗi lớp so với LoRA (một số cho mỗi đặc trưng đầu ra), không phụ thuộc $r$. Ở $r$ nhỏ
# phần ấy đáng kể. Nhưng nó **không** nhiều hơn $A$ và $B$: ở một lớp $n \to m$ với $r = 1$, $A$ và $B$ có
# $n + m$ số, độ lớn có $m$ số. Ô dưới đếm trên mô hình thật.

# %% tags=["nbval-check-output"]
from peft_course.widgets import knob_explorer, training_explorer

P = count_parameters(base_model).total


def dora_count(r: int) -> int:
    """Số tham số huấn luyện của DoRA hạng r trên mọi lớp đích."""
    m = copy.deepcopy(base_model)
    apply_dora(m, DoRAConfig(r=r, alpha=16, target_modules=TARGETS))
    return count_parameters(m).trainable


magnitude_total = formula - lora_only  # mọi lớp đích, không phụ thuộc r
assert dora_count(1) == lora_only // 8 + magnitude_total
ab_first = n_in + n_out  # A (1 × n) và B (m × 1) của lớp đầu, r = 1
print(
    f"r = 1, {first_name}: A và B {ab_first:,} số, độ lớn {n_out:,} số "
    f"({n_out / ab_first:.0%} của A và B)"
)
print(
    f"r = 1, mọi lớp đích: độ lớn {magnitude_total:,} / {dora_count(1):,} tham số "
    f"({magnitude_total / dora_count(1):.0%}); r = 8: {magnitude_total / formula:.0%}"
)

# %% tags=["nbval-ignore-output"]
COLAB_URL = (
    "https://colab.research.google.com/github/peft-course/peft-course/blob/main/"
    "notebooks/04_dora.ipynb"
)
dora_counts = knob_explorer(
    [1, 2, 4, 8, 16, 32, 64], dora_count, full=P, knob="r", value=8
)

# %% [markdown]
# ### Huấn luyện DoRA ở hạng đã chọn (minh họa)
# Như bài 3, **widget giữ $\alpha = 16$ cố định** (nên $s = 16/r$) và dùng công thức chung của bài học
# (`experiments.RECIPES["dora"]`, 150 bước, một seed). Mặc định $r = 8$ chạy ngay. Đây là một **lần chạy minh
# họa ngắn** để bạn thấy đường cong; nó không đủ để xếp hạng DoRA với LoRA.

# %%
full = experiments.full_baseline(course)
base = experiments.base_result(course)
trained: dict = {}


def make_dora(r: int) -> nn.Module:
    """Mô hình nền mới với DoRA hạng r (α = 16) trên mọi lớp đích."""
    m = course.fresh_model()
    apply_dora(m, DoRAConfig(r=r, alpha=16, target_modules=TARGETS))
    trained[("dora", r)] = m
    return m


# %% tags=["nbval-ignore-output"]
explored = training_explorer(
    course,
    make_dora,
    "dora",
    [1, 4, 8, 16],
    baseline=full,
    knob="r",
    value=8,
    colab_url=COLAB_URL,
)

# %% [markdown]
# ### DoRA và LoRA $r = 8$: lần chạy minh họa
# LoRA $r = 8$ đã được huấn luyện ở bài 3; nếu bạn đã chạy bài đó, kết quả được đọc lại từ bộ đệm
# (`experiments.run(..., cache=True)`), không huấn luyện lại. Lưu ý: hai lần chạy này **không cùng cấu hình** —
# mỗi phương pháp dùng tốc độ học của công thức riêng (ô dưới in ra), một seed, 150 bước. Thời gian mỗi bước
# là số đo trực tiếp, chỉ so được khi hai lần chạy ở cùng một máy, cùng lúc.

# %% tags=["nbval-ignore-output", "live-timing"]
from peft_course.plots import plot_histories

lora_model = course.fresh_model()
apply_lora(lora_model, LoRAConfig(r=8, alpha=16, target_modules=TARGETS))
lora_run = experiments.run(
    course, "LoRA r=8", lora_model, "lora", progress=False, cache=True
)  # bài 3 đã chạy đúng lần này
dora_run = explored[8]
dora_run.name = "DoRA r=8"
plot_histories(
    {
        "tinh chỉnh toàn bộ": full.history,
        "LoRA r=8": lora_run.history,
        "DoRA r=8": dora_run.history,
    },
    title="DoRA và LoRA r=8 (minh họa)",
)
plt.show()
lrs = {m: experiments.RECIPES[m]["lr"] for m in ("lora", "dora")}
print(f"tốc độ học: LoRA {lrs['lora']:g}, DoRA {lrs['dora']:g} (khác nhau)")
print(
    f"thời gian/bước: DoRA {1000 * dora_run.time_per_step_s:.1f} ms, "
    f"LoRA {1000 * lora_run.time_per_step_s:.1f} ms"
)
print(
    f"acc test: DoRA {dora_run.test_accuracy:.3f}, LoRA {lora_run.test_accuracy:.3f}, "
    f"tinh chỉnh toàn bộ {full.test_accuracy:.3f}"
)

# %% [markdown]
# ### DoRA và LoRA: so sánh công bằng (số liệu đã công bố)
# Hỏi "DoRA có hơn LoRA không?" cần hai so sánh: ở **cùng tốc độ học** (tốc độ học LoRA chọn trên validation), và
# **mỗi bên ở tốc độ học tốt nhất của mình** (chọn trên validation trong ×⅓, ×1, ×3 công thức), mỗi cái qua
# nhiều seed, huấn luyện tới khi validation đã phẳng, giữ checkpoint tốt nhất. Đó là việc của
# `bench/compare.py` (giao thức đo chung, bài 0 và bài 6); ô dưới đọc kết quả của nó qua `peft_course.report`.
# Khác biệt nhỏ hơn độ lệch chuẩn giữa các seed thì không phải khác biệt.


# %% tags=["nbval-ignore-output"]
def published_or_none() -> dict | None:
    """Kết quả bench đã công bố, hoặc None (kèm một dòng giải thích) khi chưa có."""
    if not report.RESULTS_PATH.exists():
        print("Kết quả bench chưa có: chạy python bench/compare.py")
        return None
    try:
        return report.load_results()
    except CourseError as e:  # tệp cũ hoặc hỏng: lời nhắn nêu lệnh sinh lại
        print(e)
        return None


def show_dora_vs_lora(results: dict) -> None:
    """In DoRA và LoRA ở cùng tốc độ học và mỗi bên ở tốc độ học tốt nhất (acc test)."""
    d = report.dora_vs_lora(results)
    eq, best = d["equal_lr"], d["each_best"]
    n = eq["lora"].n
    print(
        f"cùng tốc độ học {eq['lr']:g} ({n} seed): LoRA {eq['lora']}, DoRA {eq['dora']}"
    )
    print(
        f"mỗi bên tốt nhất: LoRA (lr {best['lora_lr']:g}) {best['lora']}, "
        f"DoRA (lr {best['dora_lr']:g}) {best['dora']}"
    )
    for m in ("lora", "dora"):
        share = report.gain_share(results, m).fmt(".0f", unit="%")
        step = report.stat(results, m, "step_time_median_s").fmt(".1f", 1000)
        print(f"{m}: {share} phần tăng của toàn bộ; {step} ms/bước (bench)")


published = published_or_none()
if MODEL is not None:
    print("Số đã công bố là của mô hình đóng gói, không phải", MODEL)
if published is not None:
    try:
        show_dora_vs_lora(published)
    except CourseError as e:
        print("Kết quả bench chưa đủ cho so sánh này; chạy python bench/compare.py")
        print(e)

# %% [markdown]
# ### DoRA đổi độ lớn và hướng thế nào?
# Bài báo đo, cho mỗi lớp, $\Delta M$ = trung bình $|m' - m_0|$ (độ lớn đổi bao nhiêu) và $\Delta D$ = trung bình
# $1 - \cos(w'_j, (w_0)_j)$ (hướng đổi bao nhiêu), trên các đặc trưng đầu ra. Ta tính hai đại lượng ấy cho mọi lớp
# đích của LoRA và DoRA vừa huấn luyện, từ trọng số đã gộp.


# %%
def magnitude_direction_change(model: nn.Module) -> tuple[list[float], list[float]]:
    """(ΔM, ΔD) của từng lớp đích: trọng số đã gộp, dạng (out, in), so với nền."""
    dm, dd = [], []
    model = copy.deepcopy(
        model
    )  # gộp trên một bản sao: mô hình đã huấn luyện giữ nguyên
    merge_lora(model)
    for name, l in lora_layers(model).items():
        w0 = base_model.get_submodule(name).weight.detach()
        w1 = l.base_layer.weight.detach()
        if l.fan_in_fan_out:  # Conv1D (in, out) → (out, in)
            w0, w1 = w0.T, w1.T
        dm.append((w1.norm(dim=1) - w0.norm(dim=1)).abs().mean().item())
        dd.append((1 - torch.cosine_similarity(w1, w0, dim=1)).mean().item())
    return dm, dd


fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.4))
for label, m in (("LoRA r=8", lora_model), ("DoRA r=8", trained[("dora", 8)])):
    dm, dd = magnitude_direction_change(m)
    ax.scatter(dd, dm, label=label)
ax.set(
    xlabel="ΔD (hướng đổi: 1 − cos)",
    ylabel="ΔM (độ lớn đổi)",
    title=f"Độ lớn và hướng của {len(dm)} lớp đích",
)
ax.legend()
plt.show()

# %% [markdown]
# Với LoRA, độ lớn và hướng chỉ đổi *qua cùng một* tích $BA$, nên hai đại lượng bị ràng buộc với nhau; DoRA có
# riêng $m$ để chỉnh độ lớn mà không phải xoay hướng (và ngược lại). Bài báo thấy tinh chỉnh toàn bộ và DoRA
# có tương quan âm giữa $\Delta M$ và $\Delta D$, LoRA có tương quan dương. Trên mô hình nhỏ và 150 bước, hình của
# bạn có thể không rõ như vậy: hãy xem như một phép đo, không phải một định lý. Lưu ý thêm: ở đây DoRA học với
# tốc độ học của công thức riêng (lớn hơn của LoRA), nên trọng số của nó đi xa hơn cả về độ lớn lẫn hướng; phần
# đó không do cách tách độ lớn/hướng.
#
# ## Đo đạc
# Bảng các lần chạy minh họa của bài (một seed, 150 bước) cạnh tinh chỉnh toàn bộ (bộ đệm từ bài 0). Thời gian
# mỗi bước là lúc huấn luyện, DoRA và LoRA đều chưa gộp; cột bộ nhớ là RSS của tiến trình. Số liệu so sánh đã
# công bố (nhiều seed, checkpoint tốt nhất) ở ô trên và ở bài 6.

# %% tags=["nbval-ignore-output", "live-timing"]
display(
    Markdown(experiments.results_table([full, lora_run, dora_run, base], full, base))
)

# %% [markdown]
# ## Xuất theo định dạng peft
# DoRA dùng chung định dạng với LoRA, thêm khóa `<đường dẫn>.lora_magnitude_vector` (không có `.weight`) và
# `"use_dora": true` trong cấu hình.

# %%
import json
import tempfile
from pathlib import Path

from peft import PeftModel
from safetensors import safe_open

from peft_course.export import load_adapter, save_adapter

dora8 = trained[("dora", 8)]
folder = save_adapter(dora8, Path(tempfile.mkdtemp()) / "dora_r8")
with safe_open(str(folder / "adapter_model.safetensors"), "pt") as f:
    keys = [k for k in f.keys() if k.split(".lora_")[0].endswith(first_name)]
print("\n".join(keys))
config_json = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
print("use_dora:", config_json["use_dora"])
peft_loaded = PeftModel.from_pretrained(course.fresh_model(), str(folder))
with torch.no_grad():
    loaded_logits = peft_loaded(**batch).logits
    assert torch.allclose(loaded_logits, dora8(**batch).logits, rtol=0, atol=1e-5)
again = course.fresh_model()
load_adapter(again, folder)
assert evaluate(again, course.test)["accuracy"] == dora_run.test_accuracy
print(
    "peft nạp bộ chuyển DoRA của ta: cùng logit; "
    "load_adapter nạp lại: cùng độ chính xác test"
)

# %% [markdown]
# ## Tóm tắt
# - DoRA viết $W' = m \odot \frac{W_0 + sBA}{\lVert W_0 + sBA \rVert_c}$: một độ lớn cho mỗi đặc trưng **đầu ra**
#   (chuẩn theo chiều đầu vào: `dim=1` của dạng (out, in), `dim=0` của `Conv1D` (in, out)), khởi tạo bằng chuẩn
#   của $W_0$ nên bước 0 là mô hình nền.
# - Tham số huấn luyện: $r(m+n) + m$ mỗi lớp — LoRA cộng một vectơ; ở $r = 1$ vectơ ấy vẫn ít hơn $A$ và $B$.
# - Chuẩn được detach (bài báo §4.3, peft): nó theo $\Delta W$ khi truyền xuôi nhưng không nhận gradient. Với
#   dropout, dropout áp lên $x$ trước cả hai nhánh.
# - Gộp: chuẩn từng đầu ra của trọng số gộp đúng bằng $m$; suy luận sau gộp không tốn thêm phép tính. Chưa gộp,
#   DoRA tốn hơn LoRA vì phải dựng $W_0 + sBA$ ở mỗi lượt.
# - Bản tự xây bằng peft (`use_dora=True`) về logit, gradient (kiểm thử) và số tham số; tệp xuất ra nạp được
#   bằng `PeftModel.from_pretrained`.
# - DoRA hơn LoRA hay không phải đọc từ so sánh công bằng của bench (cùng tốc độ học, và mỗi bên ở tốc độ học
#   tốt nhất, nhiều seed), không từ một lần chạy minh họa.

# %% [markdown]
# ## Bài tập
#
# Mỗi bài có một hàm kiểm tra: khi bạn chưa viết gì nó chỉ nhắc "chưa làm"; khi bạn viết xong nó chấm.
#
# **Bài 1 (dễ).** DoRA $r = 4$ chỉ trên lớp đích đầu tiên (`c_attn` với GPT-2) của mô hình có bao nhiêu tham số
# huấn luyện?


# %%
def check_count(n: int | None) -> None:
    """Chấm số tham số DoRA r = 4 trên lớp đích đầu tiên của mọi khối."""
    if n is None:
        print("Chưa làm: gán my_count bằng số của bạn.")
        return
    m = course.fresh_model()
    apply_dora(m, DoRAConfig(r=4, alpha=8, target_modules=[TARGETS[0]]))
    real = count_parameters(m).trainable
    assert n == real, (
        f"Chưa đúng: {n:,} ≠ {real:,}. Gợi ý: LoRA r(m+n) cộng m độ lớn, "
        f"mỗi khối một {TARGETS[0]} {n_in}→{n_out}."
    )
    print(f"Đúng: {real:,} tham số huấn luyện.")


my_count = None  # ví dụ: L * (4 * (n + m) + ...)
check_count(my_count)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Với mô hình đóng gói ($L = 4$, `c_attn` $192 \to 576$, ví dụ tính tay):
# $L\,\big(r(d + 3d) + 3d\big) = 4 \cdot (4 \cdot 768 + 576) = 14{,}592$. Tổng quát:
# `len(arch.blocks(model)) * (4 * (n_in + n_out) + n_out)`.
#
# </details>
#
# **Bài 2 (vừa).** Viết hàm `initial_magnitude(layer)` trả về độ lớn ban đầu của DoRA cho một lớp `nn.Linear`
# *hoặc* `Conv1D` (mỗi đặc trưng đầu ra một số). Hàm kiểm tra thử trên cả hai loại.


# %%
def check_magnitude(fn) -> None:
    """Chấm initial_magnitude trên nn.Linear và Conv1D (6 đầu vào, 10 đầu ra)."""
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    for layer in (nn.Linear(6, 10), Conv1D(10, 6)):
        got = fn(layer)
        if got is None:
            print("Chưa làm: viết initial_magnitude (hàm đang trả về None).")
            return
        name = type(layer).__name__
        assert got.shape == (10,), (
            f"{name}: cần 10 số (mỗi đầu ra một số), nhận {tuple(got.shape)}."
        )
        cfg_ = LoRAConfig(r=2, alpha=4, target_modules=["x"])
        assert torch.allclose(got, DoRALinear(layer, cfg_).magnitude), (
            f"{name}: sai trục chuẩn."
        )
    print("Đúng cho cả nn.Linear (out, in) và Conv1D (in, out).")


def initial_magnitude(layer):
    return None  # viết ở đây


check_magnitude(initial_magnitude)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def initial_magnitude(layer):
#     from transformers.pytorch_utils import Conv1D
#     w = layer.weight.detach()
#     return w.norm(dim=0) if isinstance(layer, Conv1D) else w.norm(dim=1)
# ```
#
# </details>
#
# **Bài 3 (vừa).** Viết trọng số đã gộp của một lớp DoRA dạng `Conv1D` (GPT-2) từ $W_0$ (in, out), $A$, $B$,
# $s$ và $m$, rồi so với `merge_dora`. Nhớ: hệ số $m/\lVert\cdot\rVert$ nhân theo *cột* khi trọng số ở dạng
# (in, out).


# %%
def check_merge(fn) -> None:
    """Chấm my_dora_merge trên lớp đích đầu tiên của DoRA r = 8 vừa huấn luyện."""
    model_ = copy.deepcopy(trained[("dora", 8)])
    l = next(iter(lora_layers(model_).values()))
    if not l.fan_in_fan_out:
        print(
            f"Bài này dành cho Conv1D của GPT-2; "
            f"{type(l.base_layer).__name__} lưu (out, in)."
        )
        return
    got = fn(
        l.base_layer.weight.detach().clone(),
        l.lora_A.detach(),
        l.lora_B.detach(),
        l.scaling,
        l.magnitude.detach(),
    )
    if got is None:
        print("Chưa làm: viết my_dora_merge (hàm đang trả về None).")
        return
    merge_dora(model_)
    assert got.shape == l.base_layer.weight.shape, "Cần cùng hình dạng (in, out)."
    assert torch.allclose(got, l.base_layer.weight, atol=1e-6), (
        "Chưa khớp: kiểm tra trục của chuẩn và chuyển vị."
    )
    print("Đúng: trùng với merge_dora.")


def my_dora_merge(w0, A, B, s, m):
    return None  # viết ở đây


check_merge(my_dora_merge)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def my_dora_merge(w0, A, B, s, m):
#     v = w0 + s * (B @ A).T            # (in, out)
#     return v * (m / v.norm(dim=0))    # mỗi cột (đầu ra) nhân m_j / ‖v_j‖
# ```
#
# </details>
#
# **Bài 4 (mở).** Bài báo DoRA thấy DoRA hơn LoRA nhiều hơn khi hạng nhỏ. Huấn luyện DoRA và LoRA với $r = 1$
# (dùng widget ở trên cho DoRA và `experiments.run` cho LoRA) và so sánh với $r = 8$. Hàm kiểm tra in bảng. Để so
# sánh công bằng, chạy cả hai ở cùng tốc độ học (`lr=`) và với vài seed (`seed=`).


# %%
def check_low_rank(dora_r1, lora_r1) -> None:
    """Kiểm tra hai lần chạy r = 1 và in bảng cạnh hai lần chạy r = 8."""
    extra = sum(l.out_features for l in lora_layers(dora).values())
    assert dora_r1.trainable - lora_r1.trainable == extra, (
        "Cần DoRA r=1 và LoRA r=1 cùng lớp đích."
    )
    table = [lora_r1, dora_r1, lora_run, dora_run]
    display(Markdown(experiments.results_table(table, full, base)))


# lora1 = course.fresh_model()
# apply_lora(lora1, LoRAConfig(r=1, alpha=16, target_modules=TARGETS))
# check_low_rank(explored[1], experiments.run(course, "LoRA r=1", lora1, "lora"))

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Chọn $r = 1$ trong widget rồi bấm "Huấn luyện" (kết quả vào `explored[1]`), rồi chạy ba dòng chú thích ở trên.
# Với $r = 1$, LoRA chỉ đổi được mỗi lớp theo một hướng; DoRA còn chỉnh được độ lớn của từng đầu ra (ô "Hạng
# $r$ và số tham số" đếm chúng), nên có thể giữ được nhiều hơn. Số cụ thể tùy máy và seed; cái cần nhìn là khoảng
# cách DoRA − LoRA ở $r = 1$ so với ở $r = 8$, so với độ lệch giữa các seed, và cái giá: thời gian mỗi bước.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Liu, S.-Y., Wang, C.-Y., Yin, H., Molchanov, P., Wang, Y.-C. F., Cheng, K.-T. và Chen, M.-H. (2024). *DoRA:
#   Weight-Decomposed Low-Rank Adaptation*. ICML 2024. arXiv:2402.09353.
# - Hu, E. J. và cộng sự (2021). *LoRA: Low-Rank Adaptation of Large Language Models*. arXiv:2106.09685 (bài 3).
# - Kalajdzievski, D. (2023). *A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA* (rsLoRA).
#   arXiv:2312.03732.
# - huggingface/peft: `src/peft/tuners/lora/dora.py` và `variants.py` (chuẩn detach, gộp/tách với chuẩn lưu lại);
#   NVlabs/DoRA (mã chính thức).

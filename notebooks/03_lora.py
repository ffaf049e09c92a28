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
# # Bài 3 — LoRA: thích ứng hạng thấp, xây từ đầu và đối chiếu với peft
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/03_lora.ipynb)

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
# - viết được một lớp **LoRA** (thích ứng hạng thấp) bọc quanh một lớp tuyến tính đã **đóng băng**, cho cả
#   `nn.Linear` lẫn `Conv1D` của GPT-2 (trọng số lưu chuyển vị), và chọn lớp đích theo tên như huggingface/peft;
# - tính số **tham số huấn luyện** $r(m+n)$ và kiểm tra nó bằng số đếm thật trên mô hình;
# - giải thích hệ số tỉ lệ $\alpha/r$ (và $\alpha/\sqrt{r}$ của rsLoRA) bằng một phép đo;
# - **gộp** $\Delta W$ vào trọng số để suy luận không tốn thêm gì, và **tách** ra lại;
# - chứng minh bản tự xây cho *cùng logit* với `peft.get_peft_model`;
# - đọc độ chính xác của LoRA so với tinh chỉnh toàn bộ từ số liệu công bố của khóa học, và thử hạng $r$
#   bằng widget.
#
# Bài này dựa trên bài 0 (bài toán, vòng huấn luyện, mốc tinh chỉnh toàn bộ) và bài 2 (adapter: thêm một
# nút cổ chai $d \to m \to d$ vào mô hình, nên suy luận chậm hơn; LoRA cũng là một nút cổ chai, nhưng tuyến tính
# và đặt song song với trọng số, nên gộp được).
#
# **Cách đọc bài.** Phần **cốt lõi** (từ "Ý tưởng" đến hết "Số liệu công bố") là điều cần nắm. Phần
# **Đào sâu** ở cuối (phổ giá trị kỳ dị của $\Delta W$, gộp cả mô hình và độ trễ, xuất tệp cho peft) có thể để
# lần đọc sau; nó dùng lại các mô hình đã huấn luyện ở phần cốt lõi, không huấn luyện thêm.

# %% [markdown]
# ## Ý tưởng
#
# Một lớp tuyến tính tính $h = W_0 x$ với $W_0 \in \mathbb{R}^{m \times n}$ ($n$ đầu vào, $m$ đầu ra).
# Tinh chỉnh toàn bộ học một $\Delta W$ đầy đủ $m \times n$. Hu và cộng sự (2021) giả thuyết rằng cập nhật cần
# cho một bài toán mới có **hạng thấp**, nên viết nó thành tích của hai ma trận mỏng:
#
# $$h = W_0 x + \Delta W x = W_0 x + \frac{\alpha}{r}\, B A x, \qquad
# B \in \mathbb{R}^{m \times r},\; A \in \mathbb{R}^{r \times n},\; r \ll \min(m, n).$$
#
# $W_0$ đóng băng; chỉ $A$ và $B$ được huấn luyện. Số tham số huấn luyện của một lớp:
#
# $$\underbrace{r(m + n)}_{\text{LoRA}} \quad \text{so với} \quad \underbrace{mn}_{\text{tinh chỉnh toàn bộ}}.$$
#
# - **Khởi tạo**: $B = 0$ và $A$ ngẫu nhiên (Kaiming-uniform với $a = \sqrt{5}$, đúng như `nn.Linear` và peft;
#   bài báo viết "Gaussian", peft có tùy chọn ấy). Vì $B = 0$ nên $\Delta W = 0$: **ở bước 0 mô hình không đổi**.
# - **Hệ số** $s = \alpha/r$: đổi $r$ mà giữ $\alpha$ thì $s$ đổi, nhưng mức giảm mất mát sau bước huấn luyện
#   đầu tiên gần như không đổi (mục "Vì sao chia cho $r$?" đo điều này và giải thích vì sao). rsLoRA
#   (Kalajdzievski 2023) dùng $s = \alpha/\sqrt{r}$.
# - **Dropout** chỉ đặt trên đầu vào của nhánh LoRA: $h = W_0 x + s\,B A\,\mathrm{dropout}(x)$; nhánh nền không
#   bị đụng tới.
# - **Gộp**: sau khi huấn luyện, $W \leftarrow W_0 + sBA$ là một ma trận $m \times n$ như cũ, nên suy luận không
#   tốn thêm phép tính nào. Tách: $W_0 = W - sBA$.
#
# Ví dụ trong bài viết gốc: $m = n = 1000$, $r = 100$.

# %%
m_ex, n_ex, r_ex = 1000, 1000, 100
lora_ex, full_ex = r_ex * (m_ex + n_ex), m_ex * n_ex
print(
    f"LoRA: r(m+n) = {lora_ex:,} | toàn bộ: mn = {full_ex:,} | "
    f"tỉ lệ {lora_ex / full_ex:.0%}"
)
print(
    f"cùng lớp với r = 8: {8 * (m_ex + n_ex):,} = "
    f"{8 * (m_ex + n_ex) / full_ex:.1%} của mn"
)

# %% [markdown]
# $r = 100$ vẫn là 20% của lớp — không "nhỏ" lắm. Sức mạnh của LoRA đến từ chỗ $r$ rất nhỏ (1–16) thường đã đủ.
# Hộp *Bài viết gốc nói / Đo được* ở mục "Kiểm tra số tham số" đối chiếu công thức với số đếm trên mô hình thật.
#
# ## Chuẩn bị: thư viện và mô hình

# %%
import copy
import inspect
import json
import math
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from matplotlib.patches import Rectangle
from torch import nn
from transformers.pytorch_utils import Conv1D

from peft_course import CourseError, arch, count_parameters, evaluate, experiments
from peft_course import inject, lora, report
from peft_course.inject import layer_dims
from peft_course.lora import LoRAConfig, apply_lora, lora_layers, merge_lora
from peft_course.lora import unmerge_lora
from peft_course.plots import FIG_WIDTH, use_course_style

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại
# cảnh báo nội bộ giữa peft và transformers khi tạo PeftModel, không liên quan bài học
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
_ = torch.manual_seed(0)

# %% tags=["colab-model", "nbval-ignore-output"]
# Mô hình của bài. None = mô hình GPT-2 tiếng Việt đóng gói (2,57 triệu tham số,
# chạy offline, dùng trong CI). Trên Colab có GPU, đổi MỘT dòng để chạy cùng bài
# trên mô hình thật, ví dụ:
#   MODEL = "gpt2"  # GPT-2 small của OpenAI, 124 triệu tham số, vừa T4 ở float32
#   MODEL = "Qwen/Qwen2.5-0.5B"  # Qwen2.5 0,5 tỉ tham số (GQA, RoPE,
#                                # không bias LayerNorm), vừa T4
# và DATA = "uit-vsfc" để dùng bộ UIT-VSFC thật (16 nghìn câu) thay cho dữ liệu
# đóng gói.
MODEL = None
DATA = None
# None: float32; "bfloat16" trên GPU cho mô hình từ 1 tỉ tham số
# (tham số học vẫn ở float32)
DTYPE = None
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
# Các lớp đích của LoRA đọc từ kiến trúc (`arch.lora_targets`): với GPT-2 là `c_attn`, `c_proj` (khớp cả
# `attn.c_proj` lẫn `mlp.c_proj`) và `c_fc`, tức mọi phép chiếu tuyến tính trong các khối. Kích thước $n, m$
# của lớp đích đầu tiên cũng đọc từ mô hình, không gõ tay.

# %%
base_model = model  # mô hình nền: các ô sau chỉ đọc nó, không sửa
TARGETS = arch.lora_targets(base_model)
FIRST = inject.find_targets(base_model, TARGETS)[0]  # lớp đích đầu tiên của khối 0
n_in, m_out, _ = layer_dims(base_model.get_submodule(FIRST))  # n đầu vào, m đầu ra
d = arch.attention_shape(base_model).hidden
print(f"đích: {TARGETS} | lớp đầu tiên {FIRST}: n = {n_in} → m = {m_out} | d = {d}")


# %%
def draw_lora_shapes(m: int, n: int, r: int = 8, name: str = "c_attn") -> None:
    """Vẽ W₀ (m×n), B (m×r), A (r×n) theo đúng tỉ lệ kích thước."""
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 2.6))
    k = 1 / m  # quy về chiều cao 1
    x_b = n * k + 0.35  # B đứng sau dấu "+"
    boxes = [
        (0, 0, n * k, m * k, "tab:gray", f"$W_0$\n{m}×{n}\nđóng băng"),
        (x_b, 0, r * k, m * k, "tab:orange", f"$B$\n{m}×{r}"),
        (x_b + r * k + 0.1, m * k - r * k, n * k, r * k, "tab:blue", f"$A$: {r}×{n}"),
    ]
    for x, y, w, h, c, label in boxes:
        ax.add_patch(Rectangle((x, y), w, h, color=c, alpha=0.7))
        wide, tall = w > 0.1, h > 0.1
        ax.text(
            x + w / 2 if wide else x + w + 0.02,
            y + h / 2 if tall else y - 0.1,
            label,
            ha="center" if wide else "left",
            va="center",
            fontsize=8,
        )
    ax.text(n * k + 0.17, 0.5, "+", fontsize=18, ha="center", va="center")
    ax.set(
        xlim=(-0.05, 2 * n * k + 0.6),
        ylim=(-0.2, 1.05),
        aspect="equal",
    )
    title = f"LoRA r={r} trên {name}:\n{r * (m + n):,} tham số học thay vì {m * n:,}"
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    plt.show()


draw_lora_shapes(m_out, n_in, name=FIRST.rpartition(".")[2])

# %% [markdown]
# **`c_attn` của GPT-2 là phép chiếu q/k/v gộp**: một ma trận $d \to 3d$ tính cả query, key và value. Một
# cập nhật hạng thấp trên `c_attn` vì vậy phủ cả ba cùng lúc (chung một $A$, tức chung một không gian con $r$
# chiều của đầu vào). Bài báo LoRA thích ứng riêng $W_q$ và $W_v$ (mỗi cái một cặp $A, B$); Llama và Qwen có
# sẵn `q_proj`, `k_proj`, `v_proj` tách rời.
#
# ## Xây từ đầu
#
# ### Lớp đích: `Conv1D` của GPT-2 lưu trọng số dạng (in, out)
# `nn.Linear` lưu $W$ dạng (out, in) và tính $x W^\top + b$. `Conv1D` của GPT-2 lưu dạng (in, out) và tính
# $x W + b$. Ta giữ $A$ (r, in) và $B$ (out, r) theo bố cục của `nn.Linear` như peft, và chỉ chuyển vị $\Delta W$
# khi gộp (peft gọi là `fan_in_fan_out=True`).

# %%
layer0 = base_model.get_submodule(FIRST)
x = torch.randn(2, 5, n_in)
if arch.model_type(base_model) == "gpt2":
    assert isinstance(layer0, Conv1D) and layer0.weight.shape == (
        n_in,
        m_out,
    )  # (in, out)
    assert torch.allclose(layer0(x), x @ layer0.weight + layer0.bias, atol=1e-6)
    print(
        type(layer0).__name__, "trọng số", tuple(layer0.weight.shape), "→ y = x·W + b"
    )
else:
    print(
        f"Ô này minh họa bên trong GPT-2; {MODEL} là {arch.model_type(base_model)}: "
        "bỏ qua (phần dùng gói vẫn chạy)."
    )

# %% [markdown]
# ### Lớp `LoRALinear`
# Lớp gốc được giữ nguyên dưới tên `base_layer` (như peft) và đóng băng. Nhánh LoRA tính $s \cdot B(A\,x)$
# bằng hai phép nhân mỏng, không dựng ma trận $m \times n$.


# %% tags=["teach"]
class LoRALinear(nn.Module):
    """y = base(x) + s·B·A·dropout(x), s = α/r (hoặc α/√r); chỉ A, B học."""

    def __init__(
        self,
        base: nn.Module,
        r: int,
        alpha: float,
        dropout: float = 0.0,
        rslora: bool = False,
    ):
        super().__init__()
        self.fan_in_fan_out = isinstance(base, Conv1D)  # Conv1D: W dạng (in, out)
        w = base.weight
        n_in, n_out = w.shape if self.fan_in_fan_out else w.shape[::-1]
        self.base_layer = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, n_in))  # (r, in), bố cục nn.Linear
        self.lora_B = nn.Parameter(
            torch.zeros(n_out, r)
        )  # (out, r), 0 ⇒ ΔW = 0 lúc đầu
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # như nn.Linear và peft
        self.scaling = alpha / (math.sqrt(r) if rslora else r)
        self.dropout = nn.Dropout(dropout)  # chỉ trên nhánh LoRA
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """ΔW = s·BA theo bố cục của trọng số nền."""
        delta = self.scaling * (self.lora_B @ self.lora_A)  # (out, in)
        return delta.T if self.fan_in_fan_out else delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        if self.merged:
            return y
        return y + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling


# %% [markdown]
# Kiểm tra: hình dạng của $A$, $B$; ở bước 0 đầu ra giống hệt lớp gốc; số tham số huấn luyện bằng $r(n + m)$.

# %%
layer = LoRALinear(copy.deepcopy(layer0), r=8, alpha=16)
assert layer.lora_A.shape == (8, n_in) and layer.lora_B.shape == (m_out, 8)
assert torch.equal(layer(x), layer0(x))  # B = 0: bước 0 không đổi, từng bit
n_train = sum(p.numel() for p in layer.parameters() if p.requires_grad)
assert n_train == 8 * (n_in + m_out)
print(f"bước 0: đầu ra giống hệt lớp gốc; tham số huấn luyện: {n_train:,} = 8·(n + m)")

# %% [markdown]
# Dropout chỉ chạm nhánh LoRA: ở chế độ huấn luyện với $B = 0$, đầu ra vẫn đúng bằng lớp gốc (nếu dropout đặt
# trên đầu vào của cả lớp, điều này sai).

# %%
noisy = LoRALinear(copy.deepcopy(layer0), r=8, alpha=16, dropout=0.5).train()
assert torch.equal(noisy(x), layer0(x))
print("dropout = 0.5, chế độ train, B = 0: đầu ra vẫn bằng lớp gốc")

# %% [markdown]
# ### Gộp và tách
# Gộp cộng $\Delta W$ (đã chuyển vị cho `Conv1D`) vào trọng số nền; tách trừ đi.


# %% tags=["teach"]
@torch.no_grad()
def merge(layer: LoRALinear) -> None:
    layer.base_layer.weight += layer.delta_weight()
    layer.merged = True


@torch.no_grad()
def unmerge(layer: LoRALinear) -> None:
    layer.base_layer.weight -= layer.delta_weight()
    layer.merged = False


# %% [markdown]
# Kiểm tra: cho $B$ một giá trị ngẫu nhiên để phép thử có nội dung; gộp giữ nguyên đầu ra, tách trả lại $W_0$.

# %%
with torch.no_grad():
    layer.lora_B.normal_(0, 0.02)
w0 = layer.base_layer.weight.clone()
y_unmerged = layer(x)
merge(layer)
assert torch.allclose(layer(x), y_unmerged, atol=1e-5)  # cùng đầu ra, một phép nhân
unmerge(layer)
assert (layer.base_layer.weight - w0).abs().max() < 1e-6  # W₀ trở lại (sai số làm tròn)
print(
    f"gộp: |Δy| ≤ {(layer(x) - y_unmerged).abs().max():.1e}; tách: |W − W₀| ≤ "
    f"{(layer.base_layer.weight - w0).abs().max():.1e}"
)

# %% [markdown]
# ### Chọn lớp đích theo tên, như peft
# peft chọn một mô-đun nếu tên của nó **bằng** một đích hoặc **kết thúc bằng** `"." + đích`. Một tên không khớp
# gì phải báo lỗi (gõ nhầm `c_atn` mà lặng lẽ không huấn luyện gì là lỗi khó tìm nhất).


# %% tags=["teach"]
def add_lora(
    model: nn.Module, targets: list[str], r: int, alpha: float, **kw
) -> list[str]:
    """Bọc lớp khớp `targets` bằng LoRALinear, đóng băng phần còn lại; trả về tên."""
    names = [
        n
        for n, _ in model.named_modules()
        if any(n == t or n.endswith("." + t) for t in targets)
    ]
    unknown = [
        t for t in targets if not any(n == t or n.endswith("." + t) for n in names)
    ]
    if unknown:
        raise CourseError(f"target_modules {unknown} không khớp mô-đun nào.")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        parent, _, child = name.rpartition(".")
        new = LoRALinear(model.get_submodule(name), r, alpha, **kw)
        setattr(model.get_submodule(parent), child, new)
    return names


# %%
torch.manual_seed(0)
scratch = course.fresh_model()
names = add_lora(scratch, TARGETS, r=8, alpha=16)
print(len(names), "lớp:", names[:2], "…")

# %% [markdown]
# ### Kiểm tra số tham số
# Số tham số theo công thức $\sum r(m+n)$ trên các lớp đích phải bằng số tham số huấn luyện mà
# `count_parameters` đếm trên mô hình thật; ở bước 0 logit của cả mô hình không đổi.
#
# > **Bài viết gốc nói** (§4.2.2): LoRA có $P_{\text{LoRA}} = r(m+n)$ tham số so với $P_{\text{full}} = mn$;
# > ví dụ $m = n = 1000$, $r = 100$: $2 \times 10^5$ so với $10^6$, "rất nhỏ".
# >
# > **Đo được** (ô dưới, trên mô hình của bài): công thức đúng cho từng lớp — tổng $\sum r(m+n)$ trên các lớp
# > đích bằng đúng số tham số huấn luyện đếm được. Nhưng ví dụ của bài viết là 20% của lớp (ô ở mục "Ý
# > tưởng"), và trên mô hình của bài $r = 100$ tốn một phần lớn của chính các lớp đích (dòng cuối của ô dưới).
# > Hơn nữa "tinh chỉnh toàn bộ" thật huấn luyện *cả mô hình* (embedding, LayerNorm, bias), không chỉ $mn$
# > của các lớp đích.
# >
# > **Kết luận**: công thức đúng; ví dụ chọn $r$ quá lớn để nói "rất nhỏ". LoRA rẻ vì $r$ rất nhỏ so với
# > $\min(m, n)$ (ở đây $r = 8$), và phải so với *toàn bộ* số tham số của mô hình.

# %% tags=["nbval-check-output"]
lora_modules = {n: scratch.get_submodule(n) for n in names}


def layer_sum(r: int) -> int:
    """Σ r(m+n) trên các lớp đích, đọc m, n từ A và B của từng lớp."""
    return sum(
        r * (l.lora_A.shape[1] + l.lora_B.shape[0]) for l in lora_modules.values()
    )


mn_sum = sum(l.lora_A.shape[1] * l.lora_B.shape[0] for l in lora_modules.values())
counts = count_parameters(scratch)
assert counts.trainable == layer_sum(8)
P = count_parameters(base_model).total
print(
    f"LoRA r=8: Σ r(m+n) = {layer_sum(8):,} = số tham số huấn luyện đếm được "
    f"({counts.trainable:,})"
)
print(f"  = {100 * layer_sum(8) / mn_sum:.1f}% của Σ mn các lớp đích ({mn_sum:,})")
print(
    f"  = {100 * counts.trainable / counts.total:.3f}% của mô hình nền + LoRA "
    f"({counts.total:,}, mẫu số như peft)"
)
print(
    f"tinh chỉnh toàn bộ huấn luyện {P:,} tham số; các lớp đích chỉ là "
    f"{100 * mn_sum / P:.0f}% trong số đó"
)
r_big = min(100, n_in, m_out)
print(
    f"r = {r_big}: Σ r(m+n) = {layer_sum(r_big):,} = "
    f"{100 * layer_sum(r_big) / mn_sum:.0f}% "
    f"của Σ mn các lớp đích"
)
block0 = [
    n for n in names if n.split(".")[:3] == FIRST.split(".")[:3]
]  # các lớp khối 0
for name in block0:
    l = lora_modules[name]
    m_, n_ = l.lora_B.shape[0], l.lora_A.shape[1]
    kind = name[len(FIRST.rsplit(".", 2)[0]) + 1 :]
    print(
        f"  {kind:14s} n={n_:4d} → m={m_:4d}: "
        f"r(m+n) = {8 * (m_ + n_):7,} | mn = {m_ * n_:9,}"
    )

# %%
batch = course.validation.batch(slice(0, 32), course.device)
with torch.no_grad():
    assert torch.equal(scratch(**batch).logits, base_model(**batch).logits)
print("bước 0: logit của cả mô hình giống hệt mô hình nền")

# %% [markdown]
# ### Vì sao chia cho $r$? Một phép đo
# Ô dưới áp LoRA lên lớp đích đầu tiên của mỗi khối (`c_attn` với GPT-2; hạng $r$ = 1, 4, 16, 64;
# $\alpha = 16$), chạy
# **đúng một bước AdamW** (lr = $10^{-4}$) trên một lô cố định 16 câu, và đo hai đại lượng:
# 1. **mất mát giảm bao nhiêu** sau bước đó: phần của cập nhật đi theo hướng có ích (hướng gradient);
# 2. **$\lVert \Delta W \rVert_F = s\,\lVert BA \rVert_F$** (gộp trên các lớp): độ lớn "thô" của cập nhật.
#
# với ba cách đặt hệ số: $s = \alpha/r$, $s = \alpha/\sqrt{r}$ (rsLoRA) và $s = \alpha$ (không chia).
#
# **Dự đoán trước khi đo.** Lúc đầu $B = 0$, nên bước đầu của Adam nhích *mỗi* phần tử của $B$ một lượng
# $\approx$ lr ngược dấu gradient của nó, bất kể gradient lớn hay nhỏ. Thay đổi bậc nhất của mất mát là
# $\langle \nabla_W \mathcal{L}, \Delta W \rangle = s \sum_{k=1}^{r} \langle B_{:,k}, G\,a_k \rangle$ (với
# $G = \nabla_W \mathcal{L}$ và $a_k$ là hàng $k$ của $A$): $r$ số hạng cùng dấu âm và cùng cỡ, nên mức giảm
# **tỉ lệ với $s \cdot r$**. Còn $\lVert BA \rVert_F$ là tổng của $r$ ma trận hạng 1 theo các hướng $a_k$ gần
# trực giao, cộng kiểu Pythagore: **tỉ lệ với $\sqrt{r}$**, nên $\lVert \Delta W \rVert_F \propto s\sqrt{r}$.
#
# | hệ số $s$ | mức giảm mất mát $\propto s\,r$ | $\lVert \Delta W \rVert_F \propto s\sqrt{r}$ |
# |---|---|---|
# | $\alpha$ (không chia) | tăng $\propto r$ | tăng $\propto \sqrt{r}$ |
# | $\alpha/r$ | **không đổi** | giảm $\propto 1/\sqrt{r}$ |
# | $\alpha/\sqrt{r}$ (rsLoRA) | tăng $\propto \sqrt{r}$ | **không đổi** |

# %%
probe = course.train.batch(slice(0, 16), course.device)
RULES = {"α/r": lambda r: 1.0, "α/√r": lambda r: 1.0, "α": lambda r: float(r)}


def first_step(r: int, rule: str, alpha: float = 16.0, lr: float = 1e-4) -> tuple:
    """(mất mát giảm, ‖ΔW‖_F) sau một bước AdamW trên lô `probe`, hệ số theo `rule`."""
    torch.manual_seed(0)
    m = copy.deepcopy(base_model)
    a = alpha * RULES[rule](r)  # "α": s = α bất kể r, tức alpha của cấu hình = α·r
    cfg = LoRAConfig(
        r=r, alpha=a, target_modules=[FIRST.rpartition(".")[2]], rslora=rule == "α/√r"
    )
    apply_lora(m, cfg)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr)
    m.train()
    loss0 = m(**probe).loss
    loss0.backward()
    opt.step()
    m.eval()
    with torch.no_grad():
        drop = loss0.item() - m(**probe).loss.item()
        sq = sum(l.delta_weight().pow(2).sum() for l in lora_layers(m).values())
    return drop, sq.sqrt().item()


RANKS = [1, 4, 16, 64]
measured = {rule: [first_step(r, rule) for r in RANKS] for rule in RULES}
fig, axes = plt.subplots(2, 1, figsize=(FIG_WIDTH, 5.4), sharex=True)
for i, what in enumerate(["mất mát giảm sau 1 bước", "‖ΔW‖_F sau 1 bước"]):
    for rule, pairs in measured.items():
        axes[i].plot(RANKS, [p[i] for p in pairs], marker="o", label=f"s = {rule}")
    axes[i].set(xscale="log", yscale="log", ylabel=what)
axes[1].set(xlabel="hạng r")
axes[1].set_xticks(RANKS, [str(r) for r in RANKS])
axes[0].set_title("Bước đầu tiên theo r (α = 16, lr = 1e-4)")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Tỉ số giữa $r = 64$ và $r = 1$ (hai hạng xa nhất), đo được và dự đoán từ bảng trên:

# %%
predicted = {"α/r": (1, 1 / 8), "α/√r": (8, 1), "α": (64, 8)}  # (mức giảm, ‖ΔW‖): 64/1
print(f"{'hệ số':7s} {'mức giảm r=64/r=1':>22s} {'‖ΔW‖ r=64/r=1':>22s}")
for rule, pairs in measured.items():
    ratio = [pairs[-1][i] / pairs[0][i] for i in (0, 1)]
    print(
        f"{rule:7s} "
        + " ".join(
            f"{v:8.3f} (dự đoán {p:6.3f})" for v, p in zip(ratio, predicted[rule])
        )
    )
    for v, p in zip(ratio, predicted[rule]):  # khớp dự đoán trong khoảng hai lần
        assert p / 2 < v < 2 * p, (rule, v, p)

# %% [markdown]
# Phép đo khớp bảng dự đoán. Với $s = \alpha/r$, **mức giảm mất mát của bước đầu gần như bằng nhau ở mọi
# $r$**: đổi $r = 8$ thành $r = 32$ làm $s$ nhỏ đi 4 lần ($16/32 = 0.5$ so với $16/8 = 2$), nhưng $B$ có gấp 4
# cột, mỗi cột góp một phần cùng chiều vào mức giảm, bù đúng phần $s$ mất đi. Cái nhỏ đi là
# $\lVert \Delta W \rVert_F$, và chỉ khoảng $\sqrt{4} = 2$ lần, không phải 4 lần: phần nhỏ đi là phần của
# $\Delta W$ không theo hướng gradient, vốn không góp gì vào mức giảm. Vì vậy với $\alpha/r$ ta thử một $r$ mới mà khỏi chỉnh lại tốc độ
# học (bài báo: "đặt $\alpha$ bằng $r$ đầu tiên thử và không chỉnh nữa"; xem microsoft/LoRA issue 101). Không
# chia ($s = \alpha$) thì cả hai đại lượng lớn vọt theo $r$: mỗi $r$ cần một tốc độ học riêng.
#
# rsLoRA ($\alpha/\sqrt{r}$) giữ đại lượng thứ hai không đổi. Kalajdzievski (2023) chứng minh rằng chỉ
# $s \propto 1/\sqrt{r}$ giữ cho đầu ra và gradient của nhánh LoRA có độ lớn ổn định khi $r$ lớn (với
# $\alpha/r$ chúng nhỏ dần như $1/\sqrt{r}$, đúng như đường $\lVert \Delta W \rVert_F$ ở trên), và đo thấy
# hạng cao khi đó thực sự dùng được sức chứa thêm. Cái giá: với rsLoRA, mức giảm mất mát ban đầu tăng theo
# $\sqrt{r}$, tức $r$ lớn học như với tốc độ học lớn hơn. Bài tập 4 thử cả hai ở $r = 32$.
#
# ## Đối chiếu
# ### Với `peft_course.lora`
# `LoRALinear` ở trên cố ý tối giản. Bản trong gói, mà bài 4–7 import, là như sau; `tests/test_teaching.py`
# chứng minh hai bản cho cùng đầu ra (cùng $A, B$ ⇒ sai khác ≤ $10^{-5}$) và cùng số tham số huấn luyện, với
# `Conv1D` lẫn `nn.Linear`, có và không có rsLoRA. Bản trong gói thêm: kiểm tra cấu hình ngay khi tạo
# (`CourseError` bằng tiếng Việt nêu giá trị nhận được), $A, B$ ở float32 trên thiết bị của lớp nền kể cả khi
# mô hình nền là bfloat16 (như peft), gộp/tách có kiểm tra trạng thái, và `extra_repr` để in mô hình dễ đọc.

# %% tags=["nbval-ignore-output"]
print(inspect.getsource(lora.LoRALinear))

# %% [markdown]
# Chọn đích, đóng băng mô hình nền và thay mô-đun không nằm trong `lora.py`: chúng ở mô-đun dùng chung
# `peft_course.inject`, mà LoRA, DoRA, BitFit và adapter cùng gọi. `find_targets` dùng đúng quy tắc khớp của
# peft (tên bằng đích hoặc kết thúc bằng `"." + đích`), báo mọi đích không khớp cùng lúc kèm các tên có sẵn;
# `inject` đóng băng rồi thay từng lớp. Trước đó, mọi `apply_*` gọi `refuse_if_adapted`: một mô hình đã có một
# phương pháp (ví dụ đã có LoRA) bị từ chối, nêu tên phương pháp tìm thấy, thay vì lặng lẽ chồng hai phương pháp.

# %% tags=["nbval-ignore-output"]
print(inspect.getsource(inject.find_targets))
print(inspect.getsource(inject.inject))

# %% [markdown]
# Bản trong gói báo lỗi rõ ràng và không sửa mô hình khi đầu vào sai, ví dụ một tên đích của kiến trúc khác
# (`q_proj` là tên của Llama/Qwen, GPT-2 không có):

# %% tags=["nbval-check-output"]
wrong = "q_proj" if arch.model_type(base_model) == "gpt2" else "c_attn"
victim = course.fresh_model()
try:
    apply_lora(victim, LoRAConfig(r=8, target_modules=[*TARGETS, wrong]))
except CourseError as e:
    print("CourseError:", e)
assert inject.adapted_by(victim) is None  # mô hình không bị sửa
print(
    "mô hình sau lỗi: không có phương pháp nào, tham số huấn luyện được:",
    f"{count_parameters(victim).trainable:,} (nguyên vẹn)",
)

# %% [markdown]
# ### Với huggingface/peft
# `get_peft_model` với cùng cấu hình (`fan_in_fan_out=True` khi lớp đích là `Conv1D`), chép cùng $A, B$ vào
# các mô-đun của peft, rồi so logit và số tham số huấn luyện. $B$ được cho giá trị ngẫu nhiên để phép so có
# nội dung.

# %%
from peft import LoraConfig, get_peft_model

torch.manual_seed(1)
with torch.no_grad():
    for l in lora_modules.values():
        l.lora_B.normal_(0, 0.02)  # B ≠ 0 để so sánh có nội dung
    ours_logits = scratch(**batch).logits
fan = layer_dims(base_model.get_submodule(FIRST))[2]  # True với Conv1D của GPT-2
peft_cfg = LoraConfig(
    r=8,
    lora_alpha=16,
    target_modules=TARGETS,
    fan_in_fan_out=fan,
    task_type="CAUSAL_LM",
)
reference = get_peft_model(course.fresh_model(), peft_cfg)
state = reference.state_dict()
with torch.no_grad():
    for n, l in lora_modules.items():
        state[f"base_model.model.{n}.lora_A.default.weight"].copy_(l.lora_A)
        state[f"base_model.model.{n}.lora_B.default.weight"].copy_(l.lora_B)
    diff = (reference(**batch).logits - ours_logits).abs().max().item()
assert diff < 1e-5
peft_trainable = sum(p.numel() for p in reference.parameters() if p.requires_grad)
assert peft_trainable == counts.trainable
print(f"peft: |Δlogit| = {diff:.1e}")

# %% tags=["nbval-check-output"]
reference.print_trainable_parameters()
print(
    f"bản tự xây: trainable params: {counts.trainable:,} || "
    f"all params: {counts.total:,}"
)

# %% [markdown]
# ## Thí nghiệm với widget
# ### Hạng $r$ và số tham số
# Thanh trượt chọn $r$; số tham số huấn luyện được *đếm trên mô hình thật* sau `apply_lora` (mọi lớp đích),
# so với tinh chỉnh toàn bộ. Hình của mỗi giá trị được vẽ sẵn, nên thanh trượt chạy cả trên trang web tĩnh.

# %%
from peft_course.widgets import knob_explorer, training_explorer


def lora_count(r: int) -> int:
    """Số tham số huấn luyện của LoRA hạng r trên mọi lớp đích, đếm trên mô hình."""
    m = copy.deepcopy(base_model)
    apply_lora(m, LoRAConfig(r=r, alpha=16, target_modules=TARGETS))
    return count_parameters(m).trainable


r_max = min(min(layer_dims(l.base_layer)[:2]) for l in lora_modules.values())
R_VALUES = sorted({*(2**k for k in range(8) if 2**k < r_max), min(r_max, 192)})
assert all(lora_count(r) == layer_sum(r) for r in (1, R_VALUES[-1]))

# %% tags=["nbval-ignore-output"]
r_counts = knob_explorer(R_VALUES, lora_count, full=P, knob="r", value=8)

# %% [markdown]
# Đường LoRA tăng tuyến tính theo $r$. Với từng lớp, LoRA rẻ hơn chính lớp đó chỉ khi $r(m+n) < mn$, tức
# $r < mn/(m+n)$; ô dưới in ngưỡng đó cho các lớp của một khối, rồi so tổng số tham số LoRA ở $r$ lớn nhất
# của thanh trượt với $\sum mn$ của các lớp đích. Trên mô hình đóng gói ($d = 192$), $r = 192$ vượt mọi
# ngưỡng: LoRA khi đó tốn *nhiều* tham số hơn tinh chỉnh chính các lớp ấy.

# %% tags=["nbval-check-output"]
for name in block0:
    l = lora_modules[name]
    m_, n_ = l.lora_B.shape[0], l.lora_A.shape[1]
    kind = name[len(FIRST.rsplit(".", 2)[0]) + 1 :]
    print(f"{kind:14s} mn/(m+n) = {m_ * n_ / (m_ + n_):.0f}")
print(
    f"r = {R_VALUES[-1]}: {layer_sum(R_VALUES[-1]):,} tham số LoRA "
    f"so với Σ mn = {mn_sum:,}"
)

# %% [markdown]
# ### Huấn luyện ở hạng đã chọn
# Chọn $r$ rồi bấm "Huấn luyện": 150 bước theo công thức chung (`experiments.RECIPES["lora"]`), vẽ cạnh tinh
# chỉnh toàn bộ (lần chạy mốc của bài 0, đọc lại từ bộ đệm nếu đã có). **Widget giữ $\alpha = 16$ cố định**
# (đúng cách bài báo làm), nên $s = 16/r$: theo phép đo ở trên, bước đầu tiên giảm mất mát cùng một mức với
# mọi $r$, nên khác biệt giữa các $r$ đến từ *sức chứa* của hạng chứ không từ tốc độ học hiệu dụng. $r = 8$
# và $r = 1$ được huấn luyện sẵn khi chạy ô (trang web tĩnh xem được hai giá trị này); các giá trị khác cần
# kernel (Colab hoặc Jupyter).
#
# Đây là **những lần chạy minh họa**: 150 bước, một seed, chọn kết quả ở bước cuối. Con số để so sánh các
# phương pháp là số liệu công bố ở mục sau.

# %%
full_model = course.fresh_model()
# Cùng lần chạy với experiments.full_baseline(course) ở bài 0, nên đọc lại từ bộ
# đệm nếu có; gọi thẳng experiments.run để giữ mô hình đã học cho phần Đào sâu.
full = experiments.run(
    course, "tinh chỉnh toàn bộ", full_model, "full", progress=False, cache=True
)
base = report.base_result(course)
trained: dict = {}  # giữ lại mô hình đã huấn luyện để xem ΔW, gộp, xuất tệp


def make_lora(r: int, alpha: float = 16.0, rslora: bool = False) -> nn.Module:
    """Mô hình nền mới với LoRA hạng r trên mọi lớp đích (ghi lại vào `trained`)."""
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=r, alpha=alpha, target_modules=TARGETS, rslora=rslora))
    trained[(r, alpha, rslora)] = m
    return m


COLAB = (
    "https://colab.research.google.com/github/peft-course/peft-course/blob/main/"
    "notebooks/03_lora.ipynb"
)

# %% tags=["nbval-ignore-output"]
explored = training_explorer(
    course,
    make_lora,
    "lora",
    [1, 4, 8, 16, 32],
    baseline=full,
    knob="r",
    value=8,
    precompute=[1],
    colab_url=COLAB,
)

# %% [markdown]
# ### Hai hạng: 1 và 8
# Hai lần chạy của widget, vẽ chung với tinh chỉnh toàn bộ. Với vài trăm câu test, một độ chính xác có sai số
# chuẩn cỡ một đến hai điểm phần trăm (in cạnh mỗi số): khác biệt nhỏ hơn cỡ đó giữa hai lần chạy minh họa
# không nói lên hạng nào tốt hơn.

# %% tags=["nbval-ignore-output"]
from peft_course.plots import plot_histories

runs = {1: explored[1], 8: explored[8]}
for r, res in runs.items():
    res.name = f"LoRA r={r}, α=16"
plot_histories(
    {"tinh chỉnh toàn bộ": full.history, **{v.name: v.history for v in runs.values()}},
    title="LoRA r=1, r=8 và tinh chỉnh toàn bộ",
)
plt.show()
n_test = len(course.test)
for res in [*runs.values(), full]:
    p = res.test_accuracy
    print(
        f"{res.name:20s} {res.trainable:>10,} tham số | "
        f"acc validation {res.val_accuracy:.3f}"
        f" | acc test {p:.3f} ± {math.sqrt(p * (1 - p) / n_test):.3f} (sai số chuẩn)"
    )

# %% [markdown]
# ### Số liệu công bố: LoRA so với tinh chỉnh toàn bộ
# Để so sánh phương pháp, khóa học dùng số đo của `bench/compare.py` theo giao thức chung (bài 0 và trang so
# sánh): tốc độ học chọn trên validation, checkpoint tốt nhất trên validation, ngân sách đủ để đường validation
# phẳng, nhiều seed (≥ 3), trung bình ± độ lệch chuẩn. Ô dưới đọc chúng từ tệp kết quả đi kèm gói
# (`peft_course.report`). Bench đo LoRA ở một hạng ($r = 8$); ảnh hưởng của $r$ trong bài này chỉ đến từ các
# lần chạy minh họa ở trên và widget.


# %%
def published_lines(res: dict) -> list[str]:
    """Các dòng số đã công bố của LoRA r=8 so với tinh chỉnh toàn bộ (tệp kết quả)."""
    lo, fu = report.stat(res, "lora"), report.stat(res, "full")
    if lo.mean is None or fu.mean is None:
        return ["Kết quả bench chưa đủ (LoRA hoặc tinh chỉnh toàn bộ chưa chạy xong): "
                f"chạy {report.REFRESH_COMMAND}"]
    lr = {m: report.chosen_lr(res, m) for m in ("lora", "full")}
    steps = {m: report.stat(res, m, "steps_to_target").fmt(".0f") for m in lr}
    ms = {m: report.stat(res, m, "step_time_median_s").mean for m in lr}
    c_lo, c_fu = report.cost(res, "lora"), report.cost(res, "full")
    share = report.gain_share(res, "lora").fmt(".0f", unit="%")
    lines = [
        f"acc test, {lo.n} seed, checkpoint tốt nhất trên validation:",
        f"  LoRA r=8            {lo}   (tốc độ học chọn {lr['lora']:g})",
        f"  tinh chỉnh toàn bộ  {fu}   (tốc độ học chọn {lr['full']:g})",
        f"  mô hình nền         {report.base_accuracy(res):.3f}",
        f"LoRA r=8 đạt {share} phần tăng của tinh chỉnh toàn bộ",
        "bước tới 90% acc validation tốt nhất của toàn bộ: "
        f"LoRA {steps['lora']}, toàn bộ {steps['full']}",
        f"tham số học: LoRA {c_lo['trainable']:,}, toàn bộ {c_fu['trainable']:,}; "
        f"FLOP một bước LoRA/toàn bộ: {c_lo['flops_ratio']:.2f}×",
    ]
    if ms["lora"] and ms["full"]:
        lines.append(f"thời gian một bước LoRA/toàn bộ: {ms['lora'] / ms['full']:.2f}×")
    return lines


def published_lora(path=None) -> None:
    """In số đã công bố, hoặc một dòng nói vì sao chưa có (tệp thiếu, cũ, chưa đủ)."""
    try:
        lines = published_lines(report.load_results(path))
    except (CourseError, KeyError, TypeError) as e:
        lines = [f"Kết quả bench chưa có: chạy {report.REFRESH_COMMAND}", f"({e})"]
    if MODEL is not None or DATA is not None:
        lines.append("Số liệu công bố là của mô hình và dữ liệu đóng gói; với "
                     "MODEL/DATA của bạn chỉ có các lần chạy minh họa ở trên.")
    print("\n".join(lines))


published_lora()

# %% [markdown]
# LoRA huấn luyện một phần rất nhỏ số tham số, nhưng thời gian một bước (tỉ số ở ô trên) không giảm theo tỉ lệ
# số tham số: lan truyền xuôi và lan truyền ngược qua activation vẫn đi hết mô hình (bài 0); LoRA chỉ bỏ được
# gradient trọng số và bước Adam của phần đóng băng. Trang so sánh của khóa học (bài 6) đặt mọi phương pháp
# cạnh nhau theo cùng giao thức.
#
# Bảng của các lần chạy minh họa trong bài (máy của bạn, một seed, 150 bước, đọc ở bước cuối; cột thời gian
# và RSS là số đo trực tiếp, thay đổi theo độ bận của máy):

# %% tags=["nbval-ignore-output", "live-timing"]
# không có cột "% phần tăng": con số ấy chỉ lấy từ số liệu công bố ở trên
display(Markdown(report.results_table([full, *runs.values(), base])))

# %% [markdown]
# ---
# ## Đào sâu
# Phần này không cần để làm bài 4–7; nó dùng lại các mô hình đã huấn luyện ở trên (LoRA $r = 8$ của widget và
# lần chạy tinh chỉnh toàn bộ), không huấn luyện thêm.
#
# ### Đào sâu 1 — "Hạng thấp" trông thế nào: phổ giá trị kỳ dị của $\Delta W$
# Ta lấy $\Delta W$ của lớp đích đầu tiên (`c_attn` ở khối đầu với GPT-2): với LoRA là $sBA$ (hạng tối đa
# $r = 8$); với tinh chỉnh toàn bộ là $W_{\text{sau}} - W_0$ của lần chạy mốc ở trên (150 bước). Nếu giả
# thuyết của LoRA đúng, năng lượng của $\Delta W$ toàn bộ cũng dồn vào vài hướng đầu, và không gian con LoRA
# tìm được trùng với các hướng ấy nhiều hơn mức ngẫu nhiên.

# %%
w_before = base_model.get_submodule(FIRST).weight.detach()
w_after = full_model.get_submodule(FIRST).weight.detach()
delta_full = (w_after - w_before).T if fan else w_after - w_before  # (out, in)
lora8 = lora_layers(trained[(8, 16.0, False)])[FIRST]
delta_lora = (lora8.scaling * lora8.lora_B @ lora8.lora_A).detach()  # (out, in)
sv_full = torch.linalg.svdvals(delta_full)
sv_lora = torch.linalg.svdvals(delta_lora)
assert (sv_lora[8:] < 1e-5 * sv_lora[0]).all()  # hạng của sBA ≤ 8
energy = ((sv_full[:8] ** 2).sum() / (sv_full**2).sum()).item()
energy_flat = 8 / len(sv_full)  # phổ phẳng: 8 hướng giữ đúng phần tỉ lệ với số hướng

U_full = torch.linalg.svd(delta_full)[0][:, :8]
U_lora = torch.linalg.svd(delta_lora)[0][:, :8]
overlap = (U_lora.T @ U_full).pow(2).sum().item() / 8  # 1: cùng không gian con
chance = 8 / m_out  # hai không gian con 8 chiều ngẫu nhiên trong R^m

k = min(40, len(sv_full))
fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.2))
ax.semilogy(
    range(1, k + 1),
    (sv_full / sv_full[0])[:k],
    marker=".",
    label="toàn bộ: $W_{sau} - W_0$",
)
ax.semilogy(
    range(1, k + 1),
    (sv_lora / sv_lora[0]).clamp_min(1e-8)[:k],
    marker=".",
    label="LoRA r=8: $sBA$",
)
ax.axvline(8.5, color="gray", linestyle=":")
ax.set(
    xlabel="chỉ số i",
    ylabel="σ_i / σ_1 (log)",
    ylim=(1e-4, 1.5),
    title=f"Giá trị kỳ dị của ΔW ở {FIRST.rpartition('.')[2]}, khối đầu",
)
ax.legend()
fig.tight_layout()
plt.show()
print(
    f"8 hướng đầu giữ {energy:.0%} năng lượng (‖·‖²) của ΔW toàn bộ "
    f"(phổ phẳng: {energy_flat:.0%})"
)
print(
    f"độ trùng không gian con 8 chiều (đầu ra) LoRA–toàn bộ: {overlap:.2f} "
    f"(ngẫu nhiên ≈ {chance:.3f})"
)

# %% [markdown]
# LoRA đúng là hạng 8: sau giá trị thứ 8 phổ rơi về 0. $\Delta W$ của tinh chỉnh toàn bộ có đủ giá trị kỳ dị
# khác 0, và ô trên in hai con số để đối chiếu với giả thuyết: phần năng lượng mà 8 hướng đầu giữ (so với
# một phổ phẳng) và độ trùng giữa không gian con của LoRA với 8 hướng đầu ấy (so với mức ngẫu nhiên). Đó là
# ý nghĩa đo được của "cập nhật có hạng nội tại thấp" (Hu et al. 2021, mục 7) trên mô hình này.
#
# ### Đào sâu 2 — Gộp cả mô hình: suy luận không tốn thêm
# `merge_lora` gộp mọi lớp LoRA của mô hình (và từ chối lớp có trọng số dùng chung, bài tập 3); `unmerge_lora`
# tách ra. Ta đo độ trễ của một lượt truyền xuôi (lô 32 câu validation) cho ba mô hình: mô hình nền, LoRA chưa
# gộp và LoRA đã gộp. Trung vị của nhiều lần đo; các số phụ thuộc máy và độ bận của nó.

# %%
from peft_course.costs import latency_ms  # trung vị (ms) một lượt truyền xuôi

model8 = trained[(8, 16.0, False)]
packaged = copy.deepcopy(model8)
unmerged_logits = packaged(**batch).logits.detach()
t_unmerged = latency_ms(packaged, batch)
merge_lora(packaged)
assert torch.allclose(packaged(**batch).logits, unmerged_logits, atol=1e-4)
t_merged = latency_ms(packaged, batch)
t_base = latency_ms(base_model, batch)
unmerge_lora(packaged)
restore = max(
    (l.base_layer.weight - base_model.get_submodule(n).weight).abs().max().item()
    for n, l in lora_layers(packaged).items()
)
assert restore < 1e-6

# %% tags=["nbval-ignore-output", "live-timing"]
table = {"mô hình nền": t_base, "LoRA chưa gộp": t_unmerged, "LoRA đã gộp": t_merged}
display(
    Markdown(
        "| mô hình | độ trễ (ms) | so với mô hình nền |\n|---|---:|---:|\n"
        + "\n".join(f"| {k} | {v:.1f} | {v / t_base:.2f}× |" for k, v in table.items())
    )
)
print(f"tách sau khi gộp: |W − W₀| ≤ {restore:.1e}")

# %% [markdown]
# Đã gộp thì mô hình *là* một GPT-2 bình thường: cùng số phép tính như mô hình nền (chênh lệch còn lại trong
# bảng là nhiễu đo). Chưa gộp thì mỗi lớp đích thêm $r(m+n)$ phép nhân mỗi token, nhỏ so với $mn$ nhưng vẫn là
# thêm lượt gọi hàm. Adapter ở bài 2 không gộp được vì có hàm phi tuyến ở giữa.
#
# ### Đào sâu 3 — Xuất bộ chuyển theo định dạng peft
# `save_adapter` ghi `adapter_config.json` và `adapter_model.safetensors` với đúng tên khóa của peft
# (`base_model.model.<đường dẫn>.lora_A.weight` dạng (r, in), `.lora_B.weight` dạng (out, r)). Ta lưu mô hình
# $r = 8$ vừa huấn luyện, để `peft.PeftModel.from_pretrained` nạp lên một mô hình nền mới, và so sánh.

# %%
from peft import PeftModel

from peft_course.export import load_adapter, save_adapter

folder = Path(tempfile.mkdtemp()) / "lora_r8"
save_adapter(model8, folder)
config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
size_kb = (folder / "adapter_model.safetensors").stat().st_size / 1024
full_mb = 4 * P / 2**20
peft_loaded = PeftModel.from_pretrained(course.fresh_model(), str(folder))
with torch.no_grad():
    gap = (peft_loaded(**batch).logits - model8(**batch).logits).abs().max().item()
assert gap < 1e-5
mine = course.fresh_model()
load_adapter(
    mine, folder
)  # nạp lại vào bản của gói, kiểm tra khớp hình dạng trước khi sửa
assert evaluate(mine, course.test)["accuracy"] == explored[8].test_accuracy
keys = ("peft_type", "task_type", "r", "lora_alpha", "target_modules", "fan_in_fan_out")
print({k: config[k] for k in keys})
print(
    f"peft nạp tệp của ta: |Δlogit| = {gap:.1e}; tệp {size_kb:.0f} KB so với "
    f"{full_mb:.1f} MB của cả mô hình fp32"
)

# %% [markdown]
# Tệp bộ chuyển chỉ chứa $A$ và $B$; với GPT-3 175B, bài báo LoRA báo checkpoint giảm từ 350 GB xuống 35 MB.
# `load_adapter` từ chối tệp không khớp mô hình (sai hạng, thiếu khóa, sai mô hình, tệp hỏng, trường peft mà
# gói không hỗ trợ) bằng thông báo tiếng Việt, và chỉ đọc safetensors: không có gì bị unpickle.

# %%
bad = Path(tempfile.mkdtemp())
(bad / "adapter_config.json").write_text(
    json.dumps({**config, "r": 4}), encoding="utf-8"
)
weights = (folder / "adapter_model.safetensors").read_bytes()
(bad / "adapter_model.safetensors").write_bytes(weights)
try:
    load_adapter(course.fresh_model(), bad)
except CourseError as e:
    print("CourseError:", str(e)[:220], "…")

# %% [markdown]
# ## Tóm tắt
# - LoRA học $\Delta W = \frac{\alpha}{r} BA$ với $B \in \mathbb{R}^{m \times r}$ (khởi tạo 0) và
#   $A \in \mathbb{R}^{r \times n}$ (Kaiming-uniform): $r(m+n)$ tham số huấn luyện thay vì $mn$, và ở bước 0 mô
#   hình không đổi. Công thức khớp số đếm trên mô hình thật; nó chỉ "rất nhỏ" khi $r \ll \min(m, n)$.
# - `Conv1D` của GPT-2 lưu $W$ dạng (in, out): giữ $A, B$ theo bố cục `nn.Linear`, chỉ chuyển vị $\Delta W$ khi
#   gộp (`fan_in_fan_out=True`). `c_attn` là q/k/v gộp: một cập nhật phủ cả ba.
# - Với $s = \alpha/r$, mức giảm mất mát của bước đầu gần như không đổi khi đổi $r$ (đo được): $s$ nhỏ đi bao
#   nhiêu lần thì $B$ có thêm bấy nhiêu cột góp cùng chiều; $\lVert \Delta W \rVert_F$ nhỏ đi như $1/\sqrt{r}$.
#   rsLoRA ($\alpha/\sqrt{r}$) giữ $\lVert \Delta W \rVert_F$ không đổi.
# - Gộp $W \leftarrow W_0 + sBA$: suy luận không tốn thêm; tách trả lại $W_0$ đến sai số làm tròn.
# - Bản tự xây cho cùng logit và cùng số tham số huấn luyện với `peft.get_peft_model`; bản của gói dùng mô-đun
#   chung `peft_course.inject` và xuất tệp mà `PeftModel.from_pretrained` nạp được.
# - So sánh với tinh chỉnh toàn bộ đọc từ số liệu công bố (nhiều seed, checkpoint tốt nhất), không từ một lần
#   chạy minh họa 150 bước.


# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** Chỉ đặt LoRA $r = 4$ lên `c_attn` (với mô hình khác: lớp đích đầu tiên, `FIRST`). Mô hình có
# bao nhiêu tham số huấn luyện? Tính bằng công thức (theo số khối $L$ và $n$, $m$ của lớp), rồi kiểm tra.


# %%
def check_count(n: int) -> None:
    """So số của bạn với số tham số huấn luyện đếm trên mô hình thật."""
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=4, alpha=8, target_modules=[FIRST.rpartition(".")[2]]))
    real = count_parameters(m).trainable
    L = arch.attention_shape(m).num_layers
    hint = f"Gợi ý: lớp là {n_in}→{m_out}, có {L} khối."
    assert n == real, f"Chưa đúng: {n:,} ≠ {real:,}. {hint}"
    print(f"Đúng: {real:,} tham số huấn luyện.")


my_count = None  # ví dụ: 4 * 4 * (192 + 576)
if my_count is not None:
    check_count(my_count)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# $L \cdot r\,(n + m)$; với mô hình đóng gói ($L = 4$, `c_attn` là $d \to 3d$, $d = 192$):
# $4 \cdot 4 \cdot (192 + 576) = 12{,}288$.
#
# </details>
#
# **Bài 2 (vừa).** Viết hàm trả về trọng số đã gộp của một lớp `Conv1D` (dạng (in, out)) từ $W_0$, $A$ (r, in),
# $B$ (out, r) và $s$, *không* dùng `.merge()`. Hàm kiểm tra so với `merge_lora` trên mô hình đã huấn luyện.


# %%
def check_merged_weight(fn) -> None:
    """So trọng số bạn tính với trọng số sau merge_lora, ở lớp đích cuối cùng."""
    m = copy.deepcopy(model8)
    l = lora_layers(m)[names[-1]]
    w0 = l.base_layer.weight.detach().clone()
    expected = fn(w0, l.lora_A.detach(), l.lora_B.detach(), l.scaling)
    merge_lora(m)
    layout = "(in, out)" if l.fan_in_fan_out else "(out, in)"
    assert expected.shape == l.base_layer.weight.shape, (
        f"Hình dạng {tuple(expected.shape)}, cần {layout}."
    )
    assert torch.allclose(expected, l.base_layer.weight, atol=1e-6), (
        "Giá trị chưa khớp: nhớ chuyển vị BA với Conv1D."
    )
    print("Đúng: trùng với trọng số sau merge_lora.")


def my_merged_weight(w0, A, B, s):
    return None  # viết ở đây


if (
    my_merged_weight(torch.zeros(2, 3), torch.zeros(1, 2), torch.zeros(3, 1), 1.0)
    is not None
):
    check_merged_weight(my_merged_weight)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def my_merged_weight(w0, A, B, s):
#     return w0 + s * (B @ A).T   # BA dạng (out, in); Conv1D cần (in, out)
# ```
#
# </details>
#
# **Bài 3 (vừa).** Đặt LoRA lên `lm_head` (lớp đầu ra, trọng số *dùng chung* với bảng embedding token) rồi
# gọi `merge_lora`. Vì sao `peft_course` từ chối gộp? Hàm kiểm tra nhận câu trả lời là tên mô-đun sẽ bị đổi
# ngầm nếu gộp.


# %%
def check_tied(module_name: str) -> None:
    """In lỗi của merge_lora trên lm_head, rồi kiểm tra tên mô-đun bạn đưa."""
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=4, alpha=8, target_modules=["lm_head"]))
    try:
        merge_lora(m)
    except CourseError as e:
        print("CourseError:", e)
    embed = arch.arch_of(m).embed_tokens  # "transformer.wte" với GPT-2
    assert module_name in (embed, embed.rpartition(".")[2]), (
        "Chưa đúng: lm_head.weight là cùng một tensor với embedding nào?"
    )
    print(f"Đúng: gộp vào lm_head cũng cộng ΔW vào embedding đầu vào {embed}.")


my_module = None  # ví dụ "transformer.xxx"
if my_module is not None:
    check_tied(my_module)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# `lm_head.weight` *là* `transformer.wte.weight` (một tensor). Chưa gộp thì đúng: nhánh LoRA chỉ cộng vào đầu ra.
# Gộp thì $W \leftarrow W + sBA$ đổi luôn embedding đầu vào, và mô hình đã gộp không còn bằng mô hình chưa gộp.
# `check_tied("transformer.wte")`.
#
# </details>
#
# **Bài 4 (vừa).** Huấn luyện LoRA $r = 32$ với rsLoRA ($\alpha = 16$, nên $s = 16/\sqrt{32} \approx 2.83$ thay vì
# $0.5$) và so với LoRA $r = 32$ thường ($\alpha/r$) và `runs[8]`. Hạng cao có dùng được sức chứa của nó không? Hàm
# kiểm tra nhận hai `Result` của bạn: $r = 32$ thường, rồi $r = 32$ rsLoRA.


# %%
def check_rslora(plain, result) -> None:
    """Kiểm tra hai lần chạy r = 32 (α/r và rsLoRA) rồi in bảng cạnh r = 8."""
    for key, s in (
        ((32, 16.0, False), 16 / 32),
        ((32, 16.0, True), 16 / math.sqrt(32)),
    ):
        assert key in trained, (
            f"Chưa có mô hình make_lora{key}: "
            f"tạo bằng make_lora(32, 16.0, rslora={key[2]})."
        )
        layer = next(iter(lora_layers(trained[key]).values()))
        assert abs(layer.scaling - s) < 1e-9, (
            f"make_lora{key} phải có hệ số s = {s:.3f}, nhận {layer.scaling:.3f}."
        )
    assert plain.trainable == result.trainable, "Hai lần chạy phải cùng r = 32."
    display(Markdown(report.results_table([runs[8], plain, result], full, base)))


# plain = experiments.run(course, "LoRA r=32, α/r", make_lora(32, 16.0), "lora")
# rs = experiments.run(
#     course, "LoRA r=32, rsLoRA", make_lora(32, 16.0, rslora=True), "lora"
# )
# check_rslora(plain, rs)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# plain = experiments.run(course, "LoRA r=32, α/r", make_lora(32, 16.0), "lora")
# rs = experiments.run(
#     course, "LoRA r=32, rsLoRA", make_lora(32, 16.0, rslora=True), "lora"
# )
# check_rslora(plain, rs)
# ```
# Với $\alpha/r$, hệ số của $r = 32$ nhỏ hơn 4 lần so với $r = 8$ ($s = 0.5$ so với $2$), nhưng như phép đo ở
# mục "Vì sao chia cho $r$?", bước đầu của hai hạng giảm mất mát gần như bằng nhau. rsLoRA cho $r = 32$ hệ số
# $s \approx 2.83$, lớn gấp $\sqrt{32} \approx 5.7$ lần $\alpha/r$, nên bước đầu của nó giảm mất mát nhiều hơn
# cỡ chừng ấy lần: so rsLoRA với $\alpha/r$ là so cả quy tắc tỉ lệ lẫn tốc độ học hiệu dụng. Kalajdzievski
# (2023) cho thấy trên mô hình lớn rsLoRA làm hạng cao học tốt hơn hẳn; trên bài toán nhỏ này, 150 bước, một
# seed, khác biệt có thể nhỏ hơn sai số chuẩn hoặc ngược chiều — muốn kết luận, chạy vài seed và chọn tốc độ
# học trên validation như giao thức đo của khóa học.
#
# </details>
#
# **Bài 5 (mở).** Cùng $r = 8$, so sánh LoRA chỉ trên `c_attn` với LoRA chỉ trên `c_fc` (MLP). Lớp nào đáng
# đặt LoRA hơn trên bài toán này, tính theo độ chính xác trên mỗi tham số? Hàm kiểm tra nhận hai `Result`.


# %%
def check_placement(attn_result, mlp_result) -> None:
    """In độ chính xác trên mỗi tham số của hai vị trí, kiểm tra đúng cấu hình r = 8."""
    for target, res in (("c_attn", attn_result), ("c_fc", mlp_result)):
        expected = lora_count_on(target)
        assert res.trainable == expected, (
            f"{target}: {res.trainable:,} tham số, cần {expected:,} "
            f"(r = 8 chỉ trên {target})."
        )
        per = 1e4 * (res.val_accuracy - base.val_accuracy) / res.trainable
        print(
            f"{target}: {res.trainable:,} tham số, "
            f"acc validation {res.val_accuracy:.3f}, "
            f"{per:.3f} điểm/10⁴ tham số"
        )


def lora_count_on(target: str) -> int:
    """Số tham số huấn luyện của LoRA r = 8 chỉ trên `target`, đếm trên mô hình thật."""
    m = copy.deepcopy(base_model)
    apply_lora(m, LoRAConfig(r=8, alpha=16, target_modules=[target]))
    return count_parameters(m).trainable


# attn = experiments.run(course, "c_attn", <mô hình LoRA chỉ c_attn>, "lora")
# mlp = experiments.run(course, "c_fc", <mô hình LoRA chỉ c_fc>, "lora")
# check_placement(attn, mlp)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def only(target):
#     m = course.fresh_model()
#     apply_lora(m, LoRAConfig(r=8, alpha=16, target_modules=[target]))
#     return m
# check_placement(experiments.run(course, "c_attn", only("c_attn"), "lora"),
#                 experiments.run(course, "c_fc", only("c_fc"), "lora"))
# ```
# Kết quả tùy máy và mô hình; điều cần thấy là vị trí đặt LoRA quan trọng ngang với $r$. Bài báo LoRA (mục 7.1)
# thấy rằng trải một ngân sách tham số cho nhiều loại ma trận ($W_q, W_v$) tốt hơn dồn hết vào một loại với $r$
# lớn.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Hu, E. J., Shen, Y., Wallis, P., Allen-Zhu, Z., Li, Y., Wang, S., Wang, L. và Chen, W. (2021). *LoRA:
#   Low-Rank Adaptation of Large Language Models*. arXiv:2106.09685 (ICLR 2022).
# - Kalajdzievski, D. (2023). *A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA* (rsLoRA).
#   arXiv:2312.03732.
# - Liu, S.-Y. và cộng sự (2024). *DoRA: Weight-Decomposed Low-Rank Adaptation*. ICML 2024 (bài 4).
# - huggingface/peft: `src/peft/tuners/lora/layer.py` (lớp LoRA, `fan_in_fan_out`, gộp/tách); microsoft/LoRA
#   issue 101 (vì sao chia cho $r$).

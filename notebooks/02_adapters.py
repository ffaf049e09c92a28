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
# # Bài 2 — Adapter nút cổ chai: Houlsby và Pfeiffer
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/02_adapters.ipynb)

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
# Bài này dựa trên bài 0 (tinh chỉnh toàn bộ, `freeze`, mốc so sánh) và bài 1 (BitFit: học một phần nhỏ của chính
# mô hình). Lần này ta **thêm** tham số mới vào mô hình. Sau bài này bạn sẽ:
# - viết một adapter **nút cổ chai** (chiếu xuống $d \to r$, phi tuyến, chiếu lên $r \to d$, cộng phần dư) là
#   phép đồng nhất lúc khởi tạo;
# - chèn nó vào các khối GPT-2 thật theo hai cách đặt: Houlsby (sau attention và sau MLP) và Pfeiffer (chỉ sau
#   MLP), và đếm tham số bằng công thức $2dr + d + r$ mỗi adapter;
# - huấn luyện adapter, chọn bề rộng $r$ bằng widget, so với tinh chỉnh toàn bộ;
# - đo cái giá lúc suy luận: adapter không gộp được vào trọng số nên mỗi lượt xuôi chậm hơn.

# %% [markdown]
# ## Ý tưởng
#
# Houlsby và cộng sự (2019) chèn vào mỗi khối transformer một mạng nhỏ hình nút cổ chai, đặt ngay sau lớp chiếu
# ra của nhánh con, trước khi cộng vào dòng dư:
#
# $$\mathrm{Adapter}(h) = h + W_{\text{up}}\, f\big(W_{\text{down}}\, h + b_{\text{down}}\big) + b_{\text{up}},
# \qquad W_{\text{down}} \in \mathbb{R}^{r \times d},\; W_{\text{up}} \in \mathbb{R}^{d \times r},\; r \ll d.$$
#
# Khởi tạo $W_{\text{up}} = 0$, $b_{\text{up}} = 0$ thì $\mathrm{Adapter}(h) = h$: ở bước 0 mô hình **không đổi**,
# và quá trình học bắt đầu từ đúng mô hình nền. Mô hình nền đóng băng; chỉ các adapter được học.
#
# Trong một khối GPT-2 (`ln_1 → attn → c_proj`, cộng dư, `ln_2 → c_fc → GELU → c_proj`, cộng dư):
#
# ```
# x ─┬─ ln_1 ─ attn ─ attn.c_proj ─[adapter]*─(+)─┬─ ln_2 ─ c_fc ─ GELU ─ mlp.c_proj ─[adapter]─(+)─► ra
#    └────────────────────────────────────────────┘└──────────────────────────────────────────────┘
#   * chỉ Houlsby; Pfeiffer (2020) chỉ giữ adapter sau MLP
# ```
#
# **Số tham số** (tính cả bias; bài báo Houlsby đếm $2dr$, bỏ bias):
#
# $$N_{\text{adapter}} = \underbrace{dr + r}_{\text{chiếu xuống}} + \underbrace{rd + d}_{\text{chiếu lên}} = 2dr + d + r,
# \qquad N_{\text{Houlsby}} = 2L\,(2dr + d + r), \qquad N_{\text{Pfeiffer}} = L\,(2dr + d + r).$$
#
# Trên GPT-2 small ($d = 768$, $L = 12$, $r = 48$): $74{,}544$ mỗi adapter, Pfeiffer $894{,}528$ ($0{,}72\%$),
# Houlsby $1{,}789{,}056$ ($1{,}44\%$).
#
# **Cái giá.** LoRA (bài sau) có thể gộp vào $W$; adapter thì không: nó nằm *giữa* hai lớp, có phi tuyến, nên lúc
# suy luận mỗi khối phải chạy thêm hai phép nhân ma trận nối tiếp. Ở lô nhỏ, độ trễ tăng thấy rõ (bài báo LoRA đo
# +20–30% trên GPT-2 medium, lô 1).

# %% [markdown]
# ## Xây từ đầu
#
# ### Mô-đun adapter

# %%
import warnings

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from torch import nn

from peft_course import CourseError, arch, count_parameters, experiments, report
from peft_course.adapter import AdapterConfig, BottleneckAdapter, apply_adapters
from peft_course.plots import plot_histories, use_course_style

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại
# cảnh báo ngừng hỗ trợ của transformers: không liên quan tới bài
warnings.filterwarnings("ignore", category=FutureWarning)
_ = torch.manual_seed(0)

# %% tags=["colab-model", "nbval-ignore-output"]
# Mô hình của bài. None = mô hình GPT-2 tiếng Việt đóng gói (2,57 triệu tham số,
# chạy offline, dùng trong CI).
# Trên Colab có GPU, đổi MỘT dòng để chạy cùng bài trên mô hình thật, ví dụ:
#   MODEL = "gpt2"                # GPT-2 small của OpenAI, 124 triệu tham số, vừa T4
#   MODEL = "Qwen/Qwen2.5-0.5B"   # Qwen2.5 0,5 tỉ tham số (GQA, RoPE, không bias LN)
# và DATA = "uit-vsfc" để dùng bộ UIT-VSFC thật (16 nghìn câu) thay dữ liệu đóng gói.
MODEL = None
DATA = None
DTYPE = None  # None: float32; "bfloat16" trên GPU cho mô hình từ 1 tỉ tham số
course = experiments.prepare(MODEL, dtype=DTYPE, data=DATA)
model = course.fresh_model()
print("Mô hình:", "đóng gói (offline)" if MODEL is None else MODEL)
print(arch.describe(model))
print(
    "Dữ liệu:",
    "đóng gói" if DATA is None else DATA,
    f"| {len(course.train)} câu huấn luyện | thiết bị {course.device}",
)


# %% tags=["teach"]
class Adapter(nn.Module):
    """h ↦ h + up(relu(down(h))); up = 0 lúc khởi tạo nên adapter là phép đồng nhất."""

    def __init__(self, d: int, r: int) -> None:
        super().__init__()
        self.down = nn.Linear(d, r)  # W_down: r × d (nn.Linear lưu ra × vào)
        self.up = nn.Linear(r, d)  # W_up: d × r
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(torch.relu(self.down(h)))


def adapter_size(d: int, r: int) -> int:
    """Số tham số một adapter: dr + r (chiếu xuống) + rd + d (chiếu lên)."""
    return 2 * d * r + d + r


# %% [markdown]
# Kiểm tra với $d$ đọc từ mô hình: đúng hình dạng, là phép đồng nhất ở bước 0, số tham số bằng công thức (và
# con số tham chiếu của GPT-2 small, $d = 768$, $r = 48$).

# %%
base_model = model  # mô hình nền, không bao giờ bị sửa trong bài
shape = arch.attention_shape(base_model)
d, L = shape.hidden, shape.num_layers
P = count_parameters(base_model).total
IS_GPT2 = (
    arch.model_type(base_model) == "gpt2"
)  # ô minh họa bên trong GPT-2 cần điều này
SKIP = (
    f"Ô này minh họa bên trong GPT-2; {MODEL} là {arch.model_type(base_model)}: bỏ qua."
)

a = Adapter(d, 16)
h = torch.randn(2, 7, d)
assert a(h).shape == h.shape and torch.equal(a(h), h)  # đồng nhất ở bước 0
assert sum(p.numel() for p in a.parameters()) == adapter_size(d, 16)
assert sum(p.numel() for p in Adapter(768, 48).parameters()) == 74_544  # GPT-2 small
print(
    f"một adapter d={d}, r=16: {adapter_size(d, 16):,} tham số "
    f"(bài báo, không bias: {2 * d * 16:,})"
)

# %% [markdown]
# ### Chèn vào GPT-2
# Ta bọc lớp chiếu ra của nhánh con (`attn.c_proj`, `mlp.c_proj`): lớp bọc gọi lớp gốc rồi đưa đầu ra qua
# adapter. Khối GPT-2 không biết gì về adapter; nó vẫn gọi `self.c_proj(x)` như cũ. Số chiều $d$ của adapter
# đọc từ `model.config` của chính mô hình được chèn.


# %% tags=["teach"]
class WithAdapter(nn.Module):
    """Bọc lớp gốc (đóng băng): y = adapter(base_layer(x))."""

    def __init__(self, base_layer: nn.Module, adapter: Adapter) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base_layer(x))


def insert_adapters(model: nn.Module, r: int, placement: str = "houlsby") -> nn.Module:
    """Đóng băng mô hình, chèn adapter sau mlp.c_proj (cả hai cách) và sau attn.c_proj
    (chỉ Houlsby)."""
    d = model.config.n_embd
    for p in model.parameters():
        p.requires_grad_(False)
    for block in model.transformer.h:
        if placement == "houlsby":
            block.attn.c_proj = WithAdapter(block.attn.c_proj, Adapter(d, r))
        block.mlp.c_proj = WithAdapter(block.mlp.c_proj, Adapter(d, r))
    return model


# %%
batch = course.validation.batch(slice(0, 32), course.device)
with torch.no_grad():
    base_logits = base_model(**batch).logits
if IS_GPT2:
    for placement, per_block in [("houlsby", 2), ("pfeiffer", 1)]:
        m = insert_adapters(course.fresh_model(), 16, placement)
        n = count_parameters(m).trainable
        assert n == per_block * L * adapter_size(d, 16)
        with torch.no_grad():
            same = torch.allclose(m(**batch).logits, base_logits, atol=1e-6, rtol=0)
        assert same  # bước 0: như mô hình nền
else:
    print(SKIP)

# %% [markdown]
# Bản trong gói, `peft_course.adapter` (`BottleneckAdapter`, `AdaptedLayer`, `apply_adapters`), làm đúng việc
# trên và thêm: chọn phi tuyến, kiểm tra đầu vào với lỗi tiếng Việt, tìm chỗ đặt theo kiến trúc (GPT-2, Llama,
# Qwen2… qua `peft_course.arch`), đúng dtype/thiết bị, và từ chối một mô hình đã mang một phương pháp. Phép thử
# `tests/test_teaching.py` chứng minh `Adapter`, `WithAdapter`, `insert_adapters` ở trên cho cùng đầu ra, cùng
# tên trạng thái và cùng số tham số huấn luyện với bản của gói.

# %% tags=["nbval-ignore-output"]
import inspect

from peft_course import adapter

print(inspect.getsource(adapter.apply_adapters))

# %% [markdown]
# ### Số tham số trên mô hình thật


# %% tags=["nbval-check-output"]
def adapted(r: int, placement: str) -> nn.Module:
    """Mô hình nền mới đã chèn adapter của gói (chạy trên mọi kiến trúc được hỗ trợ)."""
    m = course.fresh_model()
    apply_adapters(m, AdapterConfig(r=r, placement=placement, activation="relu"))
    return m


for placement, per_block in [("houlsby", 2), ("pfeiffer", 1)]:
    for r in (4, 16, 64):
        n = count_parameters(adapted(r, placement)).trainable
        assert n == per_block * L * adapter_size(d, r)
        print(
            f"{placement:>8} r={r:3d}: {per_block * L:2d} adapter"
            f" × {adapter_size(d, r):6,}"
            f" = {n:8,} tham số ({100 * n / (P + n):.2f}% của nền + adapter)"
        )

# %% [markdown]
# Phần trăm ở đây dùng mẫu số *nền + adapter* (mọi tham số đang có trong mô hình), giống
# `print_trainable_parameters` của huggingface/peft và `count_parameters` của khóa học.
#
# > **Bài viết gốc nói** (mục 4.1): $h' = h + W_{\text{up}}\,\sigma(W_{\text{down}} h)$ với
# > $W_{\text{down}} \in \mathbb{R}^{d \times r}$, $W_{\text{up}} \in \mathbb{R}^{r \times d}$; và (mục 4.1.2) adapter
# > có $P_{\text{adapter}} = 2dr$ tham số, so với $P_{\text{full}} = d^2$.
# >
# > **Đo được** (ô dưới, trên mô hình của bài):
# > - *Hình dạng*: viết $W_{\text{down}} h$ (nhân bên trái một vectơ cột $h \in \mathbb{R}^d$) thì
# >   $W_{\text{down}} \in \mathbb{R}^{r \times d}$ và $W_{\text{up}} \in \mathbb{R}^{d \times r}$; các hình dạng của bài
# >   viết là của cách viết vectơ hàng $h W_{\text{down}}$, bị đảo khi nhân bên trái (phép nhân không xác định).
# >   `nn.Linear` lưu trọng số dạng (ra × vào) = $(r, d)$ cho phép chiếu xuống.
# > - *Số tham số*: mỗi adapter có $2dr + r + d$ tham số (hai bias), không phải $2dr$. Và tinh chỉnh toàn bộ học
# >   **cả mô hình** (embedding, mọi khối, LayerNorm), không phải một ma trận $d \times d$: tỉ lệ thật là số tham số
# >   adapter của cả mô hình chia cho số tham số của cả mô hình, không phải $2r/d$.

# %% tags=["nbval-check-output"]
r = 16
houlsby_model = adapted(r, "houlsby")
one = next(m for m in houlsby_model.modules() if isinstance(m, BottleneckAdapter))
print(
    "W_down (nn.Linear lưu ra × vào):",
    tuple(one.down.weight.shape),
    f"= (r, d) = ({r}, {d})",
)
print(
    "W_up:                           ",
    tuple(one.up.weight.shape),
    f"= (d, r) = ({d}, {r})",
)
h_col = torch.randn(d, 1)
assert (one.down.weight @ h_col).shape == (r, 1)  # W_down ∈ R^{r×d}: nhân bên trái được
try:
    torch.randn(d, r) @ h_col  # hình dạng của bài viết, W_down ∈ R^{d×r}
except RuntimeError:
    print(f"W_down ∈ R^{{d×r}} nhân bên trái h ∈ R^{d}: không xác định (lỗi hình dạng)")

per_adapter = sum(p.numel() for p in one.parameters())
n_adapters = sum(isinstance(m, BottleneckAdapter) for m in houlsby_model.modules())
trainable = count_parameters(houlsby_model).trainable
print(
    f"một adapter: bài viết 2dr = {2 * d * r:,}; đếm thật {per_adapter:,} = 2dr + r + d"
)
print(f"Houlsby r={r}: {n_adapters} adapter, {trainable:,} tham số huấn luyện")
print(f"tinh chỉnh toàn bộ: bài viết d² = {d * d:,}; cả mô hình thật {P:,}")
print(
    f"tỉ lệ adapter/toàn bộ: bài viết 2r/d = {2 * r / d:.3f}; thật {trainable / P:.3f}"
)
assert per_adapter == 2 * d * r + r + d and trainable == n_adapters * per_adapter

# %% [markdown]
# Trên mô hình đóng gói (từ vựng lớn so với $d$, chỉ 4 khối) tỉ lệ thật nhỏ hơn nhiều so với $2r/d$, vì mẫu số là cả
# mô hình; trên một mô hình lớn có nhiều khối, số adapter tăng theo $L$ nhưng cả mô hình cũng vậy. Hãy đọc các
# dòng in ra thay vì tin một công thức một-ma-trận.
#
# ### Huấn luyện (Pfeiffer, $r = 16$): một lần chạy minh họa
# Công thức chung của các bài: 150 bước, lô 32, tốc độ học `RECIPES["adapter"]`. Đây là **một lần chạy ngắn để minh
# họa**, một seed; số so sánh của khóa học ở phần *Đo đạc* (bench: tới 600 bước, 3 seed). Sau huấn luyện, mọi
# trọng số nền giống hệt từng bit.

# %% tags=["nbval-ignore-output"]
full = experiments.full_baseline(course)  # từ bộ đệm của bài 0 (huấn luyện nếu chưa có)
base = experiments.base_result(course)
print("tốc độ học:", experiments.RECIPES["adapter"])
if IS_GPT2:
    scratch = insert_adapters(course.fresh_model(), 16, "pfeiffer")
else:  # kiến trúc khác: bản của gói, cùng phép tính
    scratch = adapted(16, "pfeiffer")
pfeiffer = experiments.run(
    course, "adapter Pfeiffer r=16 (tự xây)", scratch, "adapter", progress=False
)
plot_histories(
    {"tinh chỉnh toàn bộ": full.history, pfeiffer.name: pfeiffer.history},
    title=f"Adapter Pfeiffer (minh họa, {experiments.DEFAULT_STEPS} bước)",
)
plt.show()
print(
    f"Pfeiffer r=16: acc test {pfeiffer.test_accuracy:.3f} | toàn bộ: "
    f"{full.test_accuracy:.3f} | nền: {base.test_accuracy:.3f}"
)

# %%
base_state = dict(base_model.named_parameters())
for name, p in scratch.named_parameters():
    if ".adapter." in name:
        assert p.requires_grad
    else:
        assert torch.equal(p, base_state[name.replace(".base_layer", "")]), name
        assert p.grad is None, name
ups = [m.up.weight for n, m in scratch.named_modules() if n.endswith(".adapter")]
assert len(ups) == L and all(w.abs().sum() > 0 for w in ups)  # adapter đã học
print("Trọng số nền giống hệt từng bit; adapter đã học.")

# %% [markdown]
# ### Cái giá lúc suy luận
# Đo độ trễ một lượt xuôi ở lô 1 (một câu phản hồi), trung vị của nhiều lần đo, cho mô hình nền, Pfeiffer và
# Houlsby. Số đo phụ thuộc máy và tải (ô này là số đo trực tiếp, không phải số đã công bố); không có `assert` ở đây.

# %% tags=["nbval-ignore-output", "live-timing"]
from peft_course.costs import latency_ms  # trung vị thời gian một lượt xuôi (ms)

one_batch = course.validation.batch(slice(0, 1), course.device)
one_batch = {k: v for k, v in one_batch.items() if k != "labels"}
latency_models = {
    "mô hình nền": base_model,
    "Pfeiffer r=16": adapted(16, "pfeiffer"),
    "Houlsby r=16": adapted(16, "houlsby"),
    "Houlsby r=64": adapted(64, "houlsby"),
}
latency = {}
for _ in range(2):  # đo xen kẽ hai vòng, lấy vòng sau (máy đã "nóng")
    latency = {
        k: latency_ms(m, one_batch, repeats=60, warmup=5)
        for k, m in latency_models.items()
    }
lines = [
    "| mô hình | adapter | độ trễ lô 1 (ms) | so với nền |",
    "|---|---:|---:|---:|",
]
for k, ms in latency.items():
    count = sum(isinstance(x, BottleneckAdapter) for x in latency_models[k].modules())
    lines.append(f"| {k} | {count} | {ms:.2f} | {ms / latency['mô hình nền']:.2f}× |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# Số FLOP thêm vào rất ít (mỗi adapter $\approx 4dr$ phép nhân-cộng mỗi token so với $\approx 24d^2$ của một khối),
# nhưng ở lô 1 thời gian chủ yếu là *số phép tính nối tiếp*, không phải số FLOP: mỗi adapter thêm hai phép nhân
# ma trận và một phi tuyến không chạy song song được với phần còn lại; Houlsby có gấp đôi số adapter của Pfeiffer.
# Trên mô hình rất nhỏ này và trên một CPU đang bận, phần chậm thêm ở $r$ nhỏ có thể lẫn vào nhiễu đo; ở $r$ lớn
# hoặc trên GPU (nơi mỗi phép tính nhỏ tốn một lần khởi chạy kernel) nó thấy rõ hơn. Hãy đọc bảng của bạn.
# LoRA (bài 3) tránh được cái giá này vì gộp được vào trọng số.

# %% [markdown]
# ## Đối chiếu
#
# ### Với `peft_course.adapter`
# `apply_adapters(model, AdapterConfig(r, placement, activation))` đặt adapter ở đúng những chỗ bản tự xây đặt.
# Ta so tên các chỗ đặt và số tham số, rồi chép trọng số adapter đã học của bản tự xây sang bản của gói: logits
# phải trùng.

# %%
facts = arch.arch_of(base_model)
ref = course.fresh_model()
names = apply_adapters(
    ref, AdapterConfig(r=16, placement="pfeiffer", activation="relu")
)
assert names == [f"{facts.blocks}.{i}.{facts.mlp_out}" for i in range(L)]
assert count_parameters(ref).trainable == count_parameters(scratch).trainable
assert count_parameters(ref).trainable == L * adapter_size(d, 16)
with torch.no_grad():
    for name in names:  # cùng tên: down, up
        mine = scratch.get_submodule(name).adapter
        ref.get_submodule(name).adapter.load_state_dict(mine.state_dict())
    assert torch.allclose(ref(**batch).logits, scratch(**batch).logits, atol=1e-5)
print("Bản tự xây = bản của gói (cùng chỗ đặt, cùng số tham số, cùng logits).")

# %% [markdown]
# Một mô hình đã mang adapter thì không chèn thêm được (không áp hai lần, không trộn hai phương pháp): gói từ
# chối và nêu phương pháp đã thấy.

# %% tags=["nbval-check-output"]
try:
    apply_adapters(ref, AdapterConfig(r=16, placement="houlsby"))
except CourseError as e:
    print("CourseError:", e)

# %% [markdown]
# Và trên GPT-2 small (thiết bị `meta`: đúng hình dạng, không tốn bộ nhớ), số tham số khớp các con số tham chiếu
# ($r = 48$). huggingface/peft không có adapter nút cổ chai (thư viện `adapters` của AdapterHub thì có); các con số
# này lấy từ cấu hình của AdapterHub.

# %% tags=["nbval-check-output"]
from transformers import GPT2Config, GPT2LMHeadModel

for placement, expected in [("pfeiffer", 894_528), ("houlsby", 1_789_056)]:
    with torch.device("meta"):
        small = GPT2LMHeadModel(GPT2Config())
    apply_adapters(small, AdapterConfig(r=48, placement=placement))
    c = count_parameters(small)
    assert c.trainable == expected
    print(
        f"GPT-2 small, {placement}, r=48: {c.trainable:,} tham số "
        f"({100 * c.trainable / (c.total - c.trainable):.2f}% của nền, "
        f"{c.percent:.2f}% của nền + adapter)"
    )

# %% [markdown]
# ## Thí nghiệm với widget
# Núm: bề rộng nút cổ chai $r$ (cách đặt Houlsby). Thanh trượt vẽ số tham số huấn luyện theo $r$, so với tinh chỉnh
# toàn bộ (hình vẽ sẵn cho mọi $r$, nên trang web tĩnh cũng đổi được): số tham số tăng tuyến tính theo $r$.
# Hộp chọn và nút "Huấn luyện" chạy 150 bước ở $r$ đã chọn (Houlsby) và vẽ cạnh tinh chỉnh toàn bộ; $r = 16$
# được huấn luyện sẵn, các giá trị khác cần một kernel (Colab hoặc Jupyter). Đây cũng là lần chạy minh họa.

# %% tags=["nbval-ignore-output"]
from peft_course.widgets import knob_explorer, training_explorer

COLAB_URL = (
    "https://colab.research.google.com/github/peft-course/peft-course/blob/main/"
    "notebooks/02_adapters.ipynb"
)


def houlsby(r: int) -> nn.Module:
    """Mô hình nền mới đã chèn adapter Houlsby bề rộng r (phi tuyến mặc định)."""
    m = course.fresh_model()
    apply_adapters(m, AdapterConfig(r=r, placement="houlsby"))
    return m


r_values = sorted({r for r in (1, 2, 4, 8, 16, 32, 64, 128) if r <= d} | {d})
r_counts = knob_explorer(
    r_values,
    lambda r: count_parameters(houlsby(r)).trainable,
    full=P,
    knob="r",
    value=16,
)
assert all(r_counts[r] == 2 * L * adapter_size(d, r) for r in r_values)

# %% tags=["nbval-ignore-output"]
explored = training_explorer(
    course,
    houlsby,
    "adapter",
    [4, 16, 64],
    baseline=full,
    knob="r",
    value=16,
    colab_url=COLAB_URL,
)
for v, res in explored.items():
    res.name = f"adapter Houlsby r={v}"

# %% [markdown]
# ## Đo đạc
#
# ### Số đã công bố: Houlsby và Pfeiffer (bench, hội tụ, 3 seed)
# Mọi so sánh về độ chính xác và "% phần tăng của tinh chỉnh toàn bộ" lấy từ kết quả của `bench/compare.py` theo
# giao thức đo chung của khóa học: tốc độ học chọn trên validation, tới 600 bước, giữ checkpoint tốt nhất trên
# validation, 3 seed (trung bình ± độ lệch chuẩn), trên mô hình đóng gói, $r = 16$. Ô dưới đọc chúng qua
# `peft_course.report`; nếu tệp kết quả chưa có, nó nói cách sinh ra.


# %% tags=["nbval-ignore-output"]
def load_published(methods: list[str]) -> tuple[dict | None, list[str]]:
    """Kết quả bench đã công bố và các phương pháp trong `methods` đã có số.

    Chưa có tệp (bench đang chạy): in lý do và lệnh sinh ra, trả về (None, [])."""
    if not report.RESULTS_PATH.exists():
        print("Kết quả bench chưa có (peft_course/assets/results/comparison.json).")
        print("Sinh bằng:", report.REFRESH_COMMAND)
        return None, []
    try:
        results = report.load_results()
    except CourseError as e:  # tệp hỏng hoặc lược đồ cũ: lời báo nêu lệnh sinh lại
        print(e)
        return None, []
    ready = []
    for key in methods:
        try:
            report.stat(results, key)
            ready.append(key)
        except (CourseError, KeyError):
            print(f"Kết quả bench chưa có cho {key!r}: chạy {report.REFRESH_COMMAND}")
    if MODEL is not None:
        print("Số đã công bố đo trên mô hình đóng gói, không phải", MODEL)
    return results, ready


published, ready = load_published(["full", "houlsby", "pfeiffer"])
if "full" in ready and len(ready) > 1:
    display(Markdown(report.published_table(published, ready)))
    for key in ready[1:]:
        share = report.gain_share(published, key)
        best = report.stat(published, key, "best_step")
        print(
            f"{key.capitalize()}: {share.fmt('.0f', unit='%')} phần tăng của toàn bộ, "
            f"checkpoint tốt nhất ở bước {best.fmt('.0f')} ({share.n} seed)"
        )

# %% [markdown]
# So với lần chạy minh họa 150 bước ở trên: một lần chạy cắt ở 150 bước đo ngân sách chứ không đo phương pháp.
# Nếu adapter chưa tới checkpoint tốt nhất của nó (dòng "checkpoint tốt nhất ở bước …" ở trên), phần tăng trông
# nhỏ hơn khi đã hội tụ; bench chạy tới khi validation phẳng. Ô dưới tính phần tăng của lần chạy minh họa để bạn
# so với số đã công bố.

# %% tags=["nbval-ignore-output"]
gain = full.test_accuracy - base.test_accuracy
demo_share = (
    (pfeiffer.test_accuracy - base.test_accuracy) / gain if gain > 0 else float("nan")
)
print(
    f"Pfeiffer, lần chạy minh họa ({experiments.DEFAULT_STEPS} bước, 1 seed):"
    f" {100 * demo_share:.0f}% phần tăng"
)
if "pfeiffer" in ready:
    share = report.gain_share(published, "pfeiffer")
    print(f"Pfeiffer, bench (hội tụ, {share.n} seed): {share.fmt('.0f', unit='%')}")

# %% [markdown]
# ### Số đo trên máy của bạn (minh họa)
# Bảng dưới là các lần chạy minh họa trong bài (một seed, 150 bước), do máy của bạn đo; cột bộ nhớ là RSS đỉnh
# của tiến trình, không phải bộ nhớ theo phần của bench. Thời gian mỗi bước gần với tinh chỉnh toàn bộ hơn ta
# tưởng: lan truyền ngược vẫn đi qua cả mạng (adapter nằm ở mọi khối, kể cả khối đầu), chỉ bỏ được gradient và
# trạng thái Adam của trọng số nền.

# %% tags=["nbval-ignore-output", "live-timing"]
rows = [full, pfeiffer, *explored.values(), base]
display(Markdown(experiments.results_table(rows, full, base)))
plot_histories(
    {r.name: r.history for r in [full, pfeiffer, *explored.values()]},
    title=f"Adapter, minh họa {experiments.DEFAULT_STEPS} bước",
)
plt.show()

# %% [markdown]
# ## Tóm tắt
# - Adapter nút cổ chai: $h + W_{\text{up}} f(W_{\text{down}} h + b_{\text{down}}) + b_{\text{up}}$, đồng nhất lúc
#   khởi tạo nhờ $W_{\text{up}} = 0$; $2dr + d + r$ tham số mỗi adapter (bài báo bỏ bias: $2dr$).
# - Houlsby: hai adapter mỗi khối (sau attention và sau MLP); Pfeiffer: một (sau MLP), một nửa số tham số.
# - Chèn bằng cách bọc lớp chiếu ra của nhánh con; trọng số nền không đổi một bit.
# - Adapter không gộp được vào trọng số: mỗi lượt xuôi chậm hơn, rõ nhất ở lô nhỏ.
# - Bài viết gốc viết $W_{\text{down}} \in \mathbb{R}^{d \times r}$ (đảo khi nhân bên trái) và so $2dr$ với $d^2$:
#   đếm thật là $2dr + r + d$ mỗi adapter, so với số tham số của *cả* mô hình.
# - So sánh độ chính xác chỉ đọc từ bench (hội tụ, 3 seed); một lần chạy 150 bước đánh giá thấp các adapter.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** Với GPT-2 small ($d = 768$, $L = 12$), Houlsby với $r = 64$ có bao nhiêu tham số? Bao nhiêu nếu
# đếm như bài báo (không bias)?


# %%
def check_count(with_bias: int, without_bias: int) -> None:
    assert with_bias == 24 * (2 * 768 * 64 + 768 + 64), "24 adapter × (2dr + d + r)."
    assert without_bias == 24 * 2 * 768 * 64, "24 adapter × 2dr."
    print(f"Đúng: {with_bias:,} (có bias) và {without_bias:,} (không bias).")


my_with, my_without = None, None
if my_with is not None:
    check_count(my_with, my_without)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# $24 \cdot (2 \cdot 768 \cdot 64 + 768 + 64) = 2{,}379{,}264$; không bias: $24 \cdot 98{,}304 = 2{,}359{,}296$.
#
# </details>
#
# **Bài 2 (vừa).** Vì sao phải khởi tạo $W_{\text{up}} = 0$ mà không phải $W_{\text{down}} = 0$? Viết một adapter
# khởi tạo *ngược lại* ($W_{\text{down}} = 0$, $b_{\text{down}} = 0$, $W_{\text{up}}$ ngẫu nhiên) và kiểm tra: nó cũng
# là đồng nhất ở bước 0, nhưng sau một lần lan truyền ngược, gradient của $W_{\text{up}}$ và $W_{\text{down}}$ ra sao?


# %%
def check_reverse_init(adapter: nn.Module) -> None:
    h = torch.randn(4, 5, d)
    assert torch.allclose(adapter(h), h), "Adapter phải là đồng nhất ở bước 0."
    adapter(h).pow(2).sum().backward()
    g_up, g_down = (
        adapter.up.weight.grad.abs().max().item(),
        adapter.down.weight.grad.abs().max().item(),
    )
    print(f"max |grad W_up| = {g_up:.2e}, max |grad W_down| = {g_down:.2e}")
    assert g_up == 0.0, (
        "Với ReLU và W_down = 0, b_down = 0: ReLU(0) = 0 nên W_up không nhận gradient."
    )


def reverse_adapter() -> nn.Module:
    raise NotImplementedError  # viết ở đây


try:
    check_reverse_init(reverse_adapter())
except NotImplementedError:
    print("Chưa làm bài 2.")

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def reverse_adapter():
#     a = Adapter(d, 16)
#     nn.init.zeros_(a.down.weight); nn.init.zeros_(a.down.bias)
#     nn.init.normal_(a.up.weight, std=0.02)
#     return a
# ```
# Với $W_{\text{down}} = 0$ đầu vào của ReLU bằng 0, ReLU(0) = 0 và đạo hàm của ReLU tại 0 (theo PyTorch) cũng bằng 0:
# không tham số nào nhận gradient, adapter kẹt mãi ở phép đồng nhất. Với $W_{\text{up}} = 0$, $W_{\text{down}}$ ngẫu
# nhiên cho tầng giữa khác 0 nên $W_{\text{up}}$ nhận gradient ngay ở bước đầu (LoRA dùng đúng mẹo này: $B = 0$).
#
# </details>
#
# **Bài 3 (vừa).** Chèn adapter *song song* thay vì nối tiếp (He và cộng sự, 2022): $y = \text{mlp}(x) +
# \mathrm{up}(f(\mathrm{down}(x)))$, tức adapter đọc *đầu vào* của nhánh MLP (đầu ra của `ln_2`) thay vì đầu ra của
# nó. Viết lớp bọc `ParallelMLP` cho `block.mlp`, kiểm tra bước 0 không đổi và số tham số bằng Pfeiffer.


# %%
def check_parallel(make_model) -> None:
    m = make_model(16)
    n = count_parameters(m).trainable
    assert n == L * adapter_size(d, 16), "Cần đúng L adapter d → 16 → d."
    with torch.no_grad():
        same = torch.allclose(m(**batch).logits, base_logits, atol=1e-6)
    assert same, "Bước 0 phải như mô hình nền."
    print(
        "Đúng. Thử huấn luyện: "
        "experiments.run(course, 'song song', make_model(16), 'adapter')."
    )


def parallel_model(r: int) -> nn.Module:
    raise NotImplementedError  # viết ở đây


try:
    check_parallel(parallel_model)
except NotImplementedError:
    print("Chưa làm bài 3.")

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# class ParallelMLP(nn.Module):
#     def __init__(self, mlp, r):
#         super().__init__()
#         self.mlp, self.down, self.up = mlp, nn.Linear(d, r), nn.Linear(r, d)
#         nn.init.zeros_(self.up.weight); nn.init.zeros_(self.up.bias)
#
#     def forward(self, x):
#         return self.mlp(x) + self.up(torch.relu(self.down(x)))
#
# def parallel_model(r):
#     m = course.fresh_model()
#     for p in m.parameters():
#         p.requires_grad_(False)
#     for block in m.transformer.h:
#         block.mlp = ParallelMLP(block.mlp, r)
#     return m
# ```
#
# </details>
#
# **Bài 4 (mở).** Dùng widget huấn luyện với $r = 4, 16, 64$. Độ chính xác có tăng theo $r$ không, hay bão hòa từ
# rất sớm? Đo độ trễ lô 1 và lô 64 bằng `latency_ms` cho Houlsby $r = 64$: phần trăm chậm thêm thay đổi thế
# nào khi lô lớn lên, và vì sao?


# %%
def check_latency(batch_size: int = 64) -> None:
    big = course.validation.batch(slice(0, batch_size), course.device)
    big = {k: v for k, v in big.items() if k != "labels"}
    m = latency_models["Houlsby r=64"]
    for name, inputs in [("lô 1", one_batch), (f"lô {batch_size}", big)]:
        slow = latency_ms(m, inputs, repeats=20) / latency_ms(
            base_model, inputs, repeats=20
        )
        print(f"{name}: Houlsby r=64 chậm hơn nền {100 * (slow - 1):.0f}%")


# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Gọi `check_latency()`. Ở lô lớn, thời gian do số FLOP quyết định nhiều hơn, và FLOP của adapter nhỏ so với khối
# ($4dr$ so với khoảng $24d^2$ mỗi token, cộng attention), nên phần trăm chậm thêm thường giảm; ở lô 1, chi phí cố
# định của mỗi phép tính thêm chiếm ưu thế. Về độ chính xác, trên bài toán nhỏ này $r$ nhỏ thường đã đủ.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Houlsby, N. và cộng sự (2019). *Parameter-Efficient Transfer Learning for NLP*. ICML. arXiv:1902.00751.
# - Pfeiffer, J., Kamath, A., Rücklé, A., Cho, K. và Gurevych, I. (2020). *AdapterFusion: Non-Destructive Task
#   Composition for Transfer Learning*. arXiv:2005.00247 (EACL 2021).
# - Pfeiffer, J. và cộng sự (2020). *AdapterHub: A Framework for Adapting Transformers*. EMNLP (demo).
# - He, J. và cộng sự (2022). *Towards a Unified View of Parameter-Efficient Transfer Learning*. ICLR (adapter song song).
# - Hu, E. và cộng sự (2021). *LoRA: Low-Rank Adaptation of Large Language Models* (độ trễ suy luận của adapter).

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
# # Bài 5 — Prefix tuning: token ảo bên trong cơ chế chú ý
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/05_prefix_tuning.ipynb)

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
# - giải thích được prefix tuning (tinh chỉnh tiền tố): ở **mỗi lớp**, thêm $k$ cặp key/value (khóa/giá trị)
#   học được vào trước các key/value thật, và mọi token thật chú ý thêm tới $k$ **token ảo** ấy — và vì sao số
#   tham số là $2 \cdot L \cdot k \cdot d$ chứ không phải $k \cdot d$ như bài viết gốc ghi;
# - cài nó từ đầu *bên trong* phép tính chú ý của GPT-2, sao cho đúng cả khi huấn luyện, khi chạy một lượt
#   truyền xuôi đầy đủ, và khi sinh văn bản có bộ đệm (`generate` với KV cache) — và kiểm chứng cả ba;
# - đối chiếu từng logit với huggingface/peft, và đọc đúng số liệu so sánh (bench nhiều seed, không phải một lần
#   chạy 150 bước).
#
# Bài có hai phần. **Phần chính** (tới hết "Đo đạc") là điều mọi người cần. **Phần "Đào sâu"** (đánh dấu rõ ở
# dưới) dành cho ai muốn đi xa hơn: chỗ peft 0.21.2 sai khi sinh văn bản, tái tham số hóa bằng MLP, prompt tuning
# (token ảo chỉ ở đầu vào) và cái giá của chuỗi dài thêm $k$ token.
#
# Bài dựa trên bài 0 (mô hình nền, bài toán, vòng huấn luyện, mốc tinh chỉnh toàn bộ) và so sánh với LoRA (bài 3).

# %% [markdown]
# ### Thư viện và mô hình của bài

# %%
import functools
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from torch import nn

from peft_course import CourseError, arch, count_parameters, experiments, report
from peft_course.plots import FIG_WIDTH, use_course_style
from peft_course.prefix import PrefixConfig, PromptConfig, apply_prefix, apply_prompt

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại
# transformers 5 báo ngừng một thuộc tính mà peft còn đọc: không liên quan tới bài
warnings.filterwarnings(
    "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
)
# peft còn đưa tiền tố qua `past_key_values` (tên cũ): mục Đào sâu 1 đo hệ quả của nó
warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
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

# %%
base_model = model  # mô hình nền: không bao giờ bị sửa, là mốc so sánh của cả bài
tok = course.tokenizer
s = arch.attention_shape(base_model)  # L, d, số đầu, số đầu key/value, chiều mỗi đầu
L, d = s.num_layers, s.hidden
H, d_kv = s.num_kv_heads, s.kv_dim  # GPT-2: H = số đầu, d_kv = d (không GQA)
IS_GPT2 = arch.model_type(base_model) == "gpt2"
SKIP = (
    f"Ô này minh họa bên trong GPT-2; {MODEL} là {arch.model_type(base_model)}: "
    "bỏ qua (phần dùng gói vẫn chạy)."
)
print(f"L = {L}, d = {d}, đầu key/value = {H} × {s.head_dim} = {d_kv}")

# %% [markdown]
# ## Ý tưởng
#
# Ở lớp $l$, mỗi đầu chú ý $h$ tính $Q = XW_Q$, $K = XW_K$, $V = XW_V$ từ $T$ token thật $X \in \mathbb{R}^{T \times d}$.
# Prefix tuning (Li & Liang, 2021) ghép trước $K$ và $V$ hai ma trận học được $P^K_{l}, P^V_{l} \in \mathbb{R}^{k \times d}$
# (chia cho các đầu như $K$, $V$):
#
# $$\mathrm{head}_h = \mathrm{softmax}\!\left(\frac{Q_h\,[P^K_{l,h};\,K_h]^\top}{\sqrt{d_h}} + M\right)[P^V_{l,h};\,V_h],$$
#
# trong đó $[\,\cdot\,;\,\cdot\,]$ là ghép theo chiều chuỗi, $d_h = d/H$, và mặt nạ $M$ có thêm $k$ cột đầu
# bằng $0$: **mọi** token thật được chú ý tới mọi vị trí ảo (còn giữa các token thật vẫn là mặt nạ nhân quả và
# mặt nạ đệm). Token ảo không có query và không có trạng thái ẩn: chúng chỉ là key/value. Trọng số của mô hình
# nền đóng băng hết. Số tham số huấn luyện:
#
# $$|\theta_t| = 2 \cdot L \cdot k \cdot d \qquad (k \cdot d \text{ cho key và } k \cdot d \text{ cho value, ở mỗi lớp}).$$
#
# Với attention nhóm (GQA, như Llama/Qwen2), key/value chỉ có $n_{kv} < H$ đầu, nên $d$ ở đây thay bằng
# $n_{kv} \cdot d_h$: $2 \cdot L \cdot k \cdot n_{kv} \cdot d_h$. Ví dụ tính tay với GPT-2 small
# ($L = 12$, $d = 768$) và $k = 20$: $20 \cdot 2 \cdot 12 \cdot 768 = 368{,}640$.
#
# Tách softmax thành hai phần cho thấy tiền tố làm gì (He et al., 2022): với $\lambda(x)$ là tổng trọng số chú ý
# rơi vào tiền tố,
#
# $$\mathrm{head}(x) = (1 - \lambda(x))\,\mathrm{Attn}(x; K, V) + \lambda(x)\,\mathrm{Attn}(x; P^K, P^V):$$
#
# đầu ra cũ bị kéo về phía một tổ hợp của $k$ vector giá trị học được. Vì thế prefix tuning **không thể** bắt đầu
# đúng bằng mô hình nền như LoRA ($B = 0$): ngay ở bước 0, một phần chú ý đã bị tiền tố lấy đi.
#
# > **Bài viết gốc nói / Đo được** (mục 4.3 và 4.3.2)
# >
# > - **Bài viết gốc nói:** prefix tuning ghép $X' = [P; X]$ với $P \in \mathbb{R}^{k \times d}$ ở đầu vào, rồi
# >   $Q, K, V = X'W_Q, X'W_K, X'W_V$; chỉ $P$ được huấn luyện, nên $P_{\text{prefix}} = kd$, "rất nhỏ".
# > - **Đo được:** mô tả và con số ấy là của **prompt tuning** (token ảo ở đầu vào, có cả query, đi qua mọi lớp
# >   đóng băng): $k \cdot d$ tham số. Prefix tuning của Li & Liang đặt $k$ key và $k$ value riêng ở **mọi lớp**,
# >   token ảo không có query: $2 \cdot L \cdot k \cdot d$ (GQA: $2 \cdot L \cdot k \cdot n_{kv} \cdot d_h$), gấp
# >   $2L \cdot n_{kv} d_h / d$ lần. Ô dưới đếm cả hai trên mô hình thật bằng `apply_prefix` và `apply_prompt`.
# > - **Kết luận:** công thức $kd$ đúng cho prompt tuning, sai cho prefix tuning; cả hai vẫn rất nhỏ so với mô
# >   hình, nhưng là hai phương pháp khác nhau (phần "Đào sâu" đối chiếu cả hai với peft).

# %% tags=["nbval-check-output"]
k_box = 10
counts_box = {}
for name_, apply_, config_ in (
    ("prefix", apply_prefix, PrefixConfig(num_virtual_tokens=k_box)),
    ("prompt", apply_prompt, PromptConfig(num_virtual_tokens=k_box)),
):
    m_ = course.fresh_model()
    apply_(m_, config_)
    counts_box[name_] = count_parameters(m_).trainable
assert counts_box["prompt"] == k_box * d  # công thức của bài viết: k·d
assert counts_box["prefix"] == 2 * L * k_box * H * s.head_dim  # 2·L·k·n_kv·d_h
print(f"k = {k_box}: prompt tuning {counts_box['prompt']:,} = k·d = {k_box}·{d}")
print(
    f"        prefix tuning {counts_box['prefix']:,} = 2·L·k·n_kv·d_h "
    f"= 2·{L}·{k_box}·{H}·{s.head_dim}"
)
print(
    f"prefix / prompt = {counts_box['prefix'] / counts_box['prompt']:.0f} lần "
    f"(tỉ lệ tham số của mô hình: "
    f"{counts_box['prefix'] / count_parameters(model).total:.3%})"
)

# %% [markdown]
# ## Xây từ đầu
#
# ### Chọn chỗ móc vào GPT-2 của transformers 5
# Cách quen thuộc (mã gốc của Li & Liang, và peft) là nhét tiền tố vào `past_key_values`, như thể đó là bộ đệm
# của $k$ token đã đọc trước. Cách ấy phụ thuộc vào kiểu và hình dạng của đối tượng bộ đệm, thứ đã đổi nhiều lần:
# transformers 5 không nhận tuple nữa (phải dựng `DynamicCache`), và bản 5.24 đổi tên tham số `past_key_values`
# thành `cache` — peft 0.21.2 vì thế **bỏ qua tiền tố khi `generate` có bộ đệm** (đo ở phần "Đào sâu").
#
# Ta đọc `GPT2Attention.forward` để tìm chỗ ít phụ thuộc nhất:

# %%
import inspect

from transformers.models.gpt2 import modeling_gpt2

source = inspect.getsource(modeling_gpt2.GPT2Attention.forward).splitlines()
keys = (
    "def forward",
    "cache: Cache",
    "self.c_attn(hidden_states)",
    "curr_cache.update(",
    "attention_interface: Callable",
    "attn_output, attn_weights = attention_interface(",
    "self.c_proj(attn_output)",
)
for i, line in enumerate(source):
    if any(key in line for key in keys):
        print(f"{i:3d}: {line.strip()}")

# %% [markdown]
# Thứ tự là: `c_attn` tính Q, K, V của token mới → bộ đệm nối K, V cũ vào (`cache.update`) → **hàm attention**
# nhận Q, K, V đầy đủ và mặt nạ → `c_proj`. Ba chỗ có thể móc:
#
# | chỗ móc | phụ thuộc vào | vấn đề |
# |---|---|---|
# | nhét vào bộ đệm (`past_key_values`) | kiểu, hình dạng, tên tham số của bộ đệm | gãy khi thư viện đổi (đã gãy ở peft 0.21.2); vị trí, độ dài bộ đệm bị lệch $k$ |
# | viết lại cả `GPT2Attention.forward` | tên tham số bộ đệm (đã đổi nhiều lần: `layer_past`, `past_key_value`, `past_key_values`, `cache`) | chép lại mọi nhánh (cross-attention, bộ đệm) |
# | **hàm attention** (`AttentionInterface`) | chữ ký `(module, query, key, value, attention_mask, scaling, dropout)` | API công khai để thay phép tính chú ý; mặt nạ có thể là `None`, bool hoặc số thực |
#
# Ta chọn hàm attention: nó chạy *sau* khi bộ đệm đã cập nhật, nên bộ đệm chỉ chứa token thật, và tiền tố được
# ghép lại ở mọi lần gọi — khi huấn luyện (không bộ đệm), khi truyền xuôi đầy đủ, và ở từng bước của `generate`.
# Ta không hề chạm vào bộ đệm. Cái giá: phải xử lý ba định dạng mặt nạ, và đăng ký một tên
# `attn_implementation` riêng (nếu ai đó đổi lại thành `"sdpa"`, tiền tố sẽ lặng lẽ biến mất — gói
# `peft_course` kiểm tra điều này ở mỗi lượt truyền xuôi và báo lỗi).
#
# ### Bảng tiền tố
# Mọi key/value ảo nằm trong **một** tensor $P \in \mathbb{R}^{k \times 2Ld}$, cùng bố cục với `prompt_embeddings`
# của peft: cột xếp theo (lớp, key/value, đầu, chiều đầu). Lớp $l$ cắt lấy phần của mình.


# %% tags=["teach"]
class MyPrefix(nn.Module):
    """Bảng P (k, 2·L·d): lớp l lấy k key và k value ảo, mỗi cái chia thành H đầu.

    H, d: số đầu và số chiều của key/value (GPT-2: số đầu chú ý và n_embd).
    """

    def __init__(self, k: int, L: int, H: int, d: int, std: float = 0.5):
        super().__init__()
        self.k, self.L, self.H, self.d = k, L, H, d
        # thang cỡ K, V thật của mô hình
        self.weight = nn.Parameter(torch.randn(k, 2 * L * d) * std)

    def layer_kv(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Key và value ảo của lớp `layer`, mỗi cái (H, k, d/H)."""
        p = self.weight.view(self.k, self.L, 2, self.H, self.d // self.H)[:, layer]
        return p[:, 0].transpose(0, 1), p[:, 1].transpose(0, 1)


# %%
k = 5
prefix = MyPrefix(k, L, H, d_kv)
pk, pv = prefix.layer_kv(2)
d_h = d_kv // H
assert pk.shape == pv.shape == (H, k, d_h)
# lớp 2, value, đầu 1, token 3: cột 2·2·d + d + 1·d_h trong P
assert torch.equal(pv[1, 3], prefix.weight[3, 2 * 2 * d_kv + d_kv + 1 * d_h :][:d_h])
assert sum(p.numel() for p in prefix.parameters()) == k * 2 * L * d_kv
print(
    f"P: {tuple(prefix.weight.shape)} = {prefix.weight.numel():,} số; "
    f"mỗi lớp: key {tuple(pk.shape)}, value {tuple(pv.shape)}"
)

# %% [markdown]
# ### Hàm attention có tiền tố
# Query, key, value đến với dạng $(B, H, T, d_h)$; key/value đã gồm cả token trong bộ đệm ($n \ge T$ vị trí).
# Ta ghép $P^K, P^V$ vào trước và thêm $k$ cột "được chú ý" vào trước mặt nạ. Khi không có token đệm,
# transformers bỏ mặt nạ (`None`) và trông vào `is_causal`; ta không dùng được cờ đó (nó sẽ che mất tiền tố), nên
# tự dựng mặt nạ nhân quả: query thứ $i$ là token thứ $n - T + i$, được nhìn các key $j \le n - T + i$.


# %% tags=["teach"]
def my_prefix_attention(
    module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs
):
    """softmax(Q [P_K; K]ᵀ·scaling + mặt nạ) [P_V; V]; mặt nạ None hoặc bool (sdpa)."""
    b, _, t, _ = query.shape
    n = key.shape[2]  # số token thật (gồm cả bộ đệm)
    pk, pv = module.prefix_kv()  # (H, k, d_h)
    key = torch.cat([pk.expand(b, -1, -1, -1), key], dim=2)
    value = torch.cat([pv.expand(b, -1, -1, -1), value], dim=2)
    if attention_mask is None:  # transformers bỏ mặt nạ khi chỉ cần nhân quả
        ones = torch.ones(t, n, dtype=torch.bool, device=query.device)
        attention_mask = ones.tril(n - t)[None, None]
    see_prefix = torch.ones(
        *attention_mask.shape[:-1], pk.shape[1], dtype=torch.bool, device=query.device
    )
    mask = torch.cat([see_prefix, attention_mask], dim=-1)
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, dropout_p=dropout, scale=scaling
    )
    return out.transpose(
        1, 2
    ), None  # (B, T, H, d_h), như các hàm attention của transformers


# %%
# Kiểm tra bằng công thức viết tay trên tensor ngẫu nhiên: 2 câu, 6 token mới
# sau 3 token trong bộ đệm.
fake = nn.Module()
fake.prefix_kv = functools.partial(prefix.layer_kv, 0)
q, kk, vv = (torch.randn(2, H, n_, d_h) for n_ in (6, 9, 9))
out, _ = my_prefix_attention(fake, q, kk, vv, None, scaling=d_h**-0.5)
pk, pv = prefix.layer_kv(0)
scores = q @ torch.cat([pk.expand(2, -1, -1, -1), kk], 2).transpose(-1, -2) * d_h**-0.5
causal = torch.ones(6, 9, dtype=torch.bool).tril(3)
scores[..., k:] = scores[..., k:].masked_fill(~causal, float("-inf"))
manual = scores.softmax(-1) @ torch.cat([pv.expand(2, -1, -1, -1), vv], 2)
assert out.shape == (2, 6, H, d_h)
assert torch.allclose(out, manual.transpose(1, 2), atol=1e-5)
print(
    "hàm attention có tiền tố = công thức viết tay (có bộ đệm, mặt nạ nhân quả lệch 3)"
)

# %% [markdown]
# Hình dưới là mặt nạ cho $k = 3$ token ảo, 5 token thật trong đó token cuối là token đệm: ba cột đầu sáng
# đậm hết — mọi token thật nhìn mọi token ảo — phần còn lại là mặt nạ nhân quả và đệm quen thuộc.

# %%
from peft_course.prefix import extend_mask

real_mask = torch.ones(5, 5, dtype=torch.bool).tril()
real_mask[:, 4] = False  # token thứ 5 là token đệm
shown = extend_mask(real_mask[None, None], 3, 5, 5, torch.device("cpu"))[0, 0]
fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.2))
ax.imshow(shown, cmap="Blues", vmin=-0.3, vmax=1.2)
ax.set_xticks(
    range(8), [f"p{i + 1}" for i in range(3)] + [f"x{i + 1}" for i in range(5)]
)
ax.set_yticks(range(5), [f"x{i + 1}" for i in range(5)])
ax.axvline(2.5, color="tab:red", linestyle="--")
ax.set(
    xlabel="key (3 token ảo | 5 token thật)",
    ylabel="query (token thật)",
    title="Mặt nạ chú ý với tiền tố (đậm = được chú ý)",
)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Gắn vào mô hình
# Bốn việc: đóng băng mọi trọng số nền; đăng ký hàm attention (và cách tạo mặt nạ: như sdpa, ra bool hoặc
# `None`) dưới một tên riêng rồi `set_attn_implementation`; cho mỗi `GPT2Attention` một hàm `prefix_kv` trỏ
# vào phần của lớp nó trong $P$ (gán qua `__dict__` để không thành mô-đun con, tránh đếm/lưu trùng);
# và dời vị trí token thật. $L$, $H$, $d$ đọc từ `model.config` của chính mô hình được áp.
#
# **Vị trí.** Trong peft (và mã gốc), tiền tố nằm trong bộ đệm có độ dài $k$, nên GPT-2 đánh số token thật từ
# $k$: vị trí $k, k+1, \dots$. Ta làm y hệt, bằng một móc trước `transformer.wpe` cộng $k$ vào `position_ids` —
# một móc nhỏ, chạy ở mọi lượt truyền xuôi, kể cả từng bước `generate`. Hệ quả: chuỗi thật chỉ còn tối đa
# $n_{\text{positions}} - k$ token. (Đánh số từ 0 cũng là một lựa chọn hợp lý; khi đó sẽ không khớp peft.)

# %% tags=["teach"]
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask


def my_apply_prefix(model: nn.Module, k: int) -> nn.Module:
    """Prefix tuning k token ảo trên một GPT-2: chỉ bảng P được huấn luyện."""
    # đăng ký hàm attention và cách tạo mặt nạ dưới tên riêng (đăng ký lại: vô hại)
    AttentionInterface.register("my_prefix", my_prefix_attention)
    AttentionMaskInterface.register("my_prefix", sdpa_mask)
    cfg = model.config
    for p in model.parameters():
        p.requires_grad_(False)  # đóng băng mô hình nền
    # tham số duy nhất được huấn luyện
    model.prefix = MyPrefix(k, cfg.n_layer, cfg.n_head, cfg.n_embd)
    model.set_attn_implementation("my_prefix")
    for i, block in enumerate(model.transformer.h):
        block.attn.__dict__["prefix_kv"] = functools.partial(model.prefix.layer_kv, i)
    # vị trí token thật bắt đầu từ k
    model.transformer.wpe.register_forward_pre_hook(lambda module, args: (args[0] + k,))
    return model


# %%
text = tok(
    [
        "Phản hồi: thầy dạy rất hay\nCảm xúc:",
        "Phản hồi: phòng học nóng, không có quạt\nCảm xúc:",
    ],
    padding=True,
    return_tensors="pt",
).to(course.device)
real = text["attention_mask"].bool()
if IS_GPT2:
    torch.manual_seed(1)
    mine = my_apply_prefix(course.fresh_model(), k=5)
    assert count_parameters(mine).trainable == 5 * 2 * L * d  # công thức = số thật
    assert {n for n, p in mine.named_parameters() if p.requires_grad} == {
        "prefix.weight"
    }
    with torch.no_grad():
        logits = mine(**text).logits
        plain = base_model(**text).logits
    assert logits.shape == plain.shape  # chỉ có vị trí thật: token ảo không có logit
    print(
        f"{count_parameters(mine)}; |logit có tiền tố − logit nền| lớn nhất: "
        f"{(logits - plain).abs().max():.2f}"
    )
else:
    print(SKIP)

# %% [markdown]
# Như đã nói ở phần ý tưởng, tiền tố ngẫu nhiên đổi mô hình ngay ở bước 0. Có một cách khởi tạo mà ta *biết*
# mô hình ở bước 0 là gì (Li & Liang khuyên dùng khi ít dữ liệu): lấy $P$ bằng key/value mà chính mô hình đóng băng tính
# cho $k$ **từ thật**. Khi ấy mô hình có tiền tố phải cho đúng logit của mô hình nền đọc $k$ từ ấy rồi mới đọc câu
# — một phép kiểm tra mạnh cho cả hàm attention, mặt nạ lẫn vị trí. `peft_course.prefix.frozen_kv` chạy các
# khối đóng băng trên $k$ vector đầu vào và trả về (K, V) ở mỗi lớp.

# %%
from peft_course.prefix import frozen_kv

# như công thức chung (recipes.PREFIX_INIT): cùng khởi tạo với bench
init_ids = tok("Cảm xúc của phản hồi sinh viên là tiêu cực, trung lập hay tích cực")[
    "input_ids"
]
if IS_GPT2:
    ids5 = torch.tensor(init_ids[:5], device=course.device)
    with torch.no_grad():
        kv = frozen_kv(mine.transformer, mine.transformer.wte.weight[ids5])
        table = torch.stack(
            [torch.stack([K.transpose(0, 1), V.transpose(0, 1)], 1) for K, V in kv], 1
        )
        mine.prefix.weight.copy_(table.reshape(5, -1))
        with_prefix = mine(**text).logits
        ones = torch.ones_like(text["attention_mask"][:, :5])
        read_first = base_model(
            input_ids=torch.cat([ids5.expand(2, -1), text["input_ids"]], 1),
            attention_mask=torch.cat([ones, text["attention_mask"]], 1),
        )
        read_first = read_first.logits[:, 5:]
    assert torch.allclose(with_prefix[real], read_first[real], atol=1e-4)
    print(
        f"tiền tố = K, V của {tok.decode(ids5)!r}: "
        "logit = mô hình nền đọc cụm từ ấy trước "
        f"(sai khác lớn nhất {(with_prefix - read_first)[real].abs().max():.1e})"
    )
else:
    print(SKIP)

# %% [markdown]
# ### Sinh văn bản có bộ đệm
# Ở bước đầu của `generate`, bộ đệm rỗng và lời nhắc đi qua một lượt; ở mỗi bước sau chỉ một token mới đi qua,
# key/value cũ lấy từ bộ đệm. Tiền tố phải được chú ý ở **mọi** bước. Kiểm tra: sinh tham lam 15 token có bộ đệm
# và không bộ đệm (mỗi bước chạy lại cả chuỗi) phải ra cùng từng token; logit bước đầu phải bằng logit của một
# lượt truyền xuôi đầy đủ; logit bước cuối bằng truyền xuôi đầy đủ trên cả chuỗi đã sinh.


# %%
def greedy(model, prompt: str, use_cache: bool, n: int = 15):
    """Sinh tham lam đúng n token, trả cả logit từng bước."""
    x = tok(prompt, return_tensors="pt").to(course.device)
    with torch.no_grad():
        return model.generate(
            **x,
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            use_cache=use_cache,
            output_logits=True,
            return_dict_in_generate=True,
        )


prompt = "Phản hồi: thầy dạy rất hay"
if IS_GPT2:
    torch.manual_seed(2)
    mine = my_apply_prefix(course.fresh_model(), k=5)  # tiền tố ngẫu nhiên khác 0
    cached, uncached = greedy(mine, prompt, True), greedy(mine, prompt, False)
    with torch.no_grad():
        first = mine(**tok(prompt, return_tensors="pt").to(course.device)).logits[:, -1]
        last = mine(input_ids=cached.sequences[:, :-1]).logits[:, -1]
    assert torch.equal(cached.sequences, uncached.sequences)
    assert torch.allclose(cached.logits[0], first, atol=1e-5)
    assert torch.allclose(cached.logits[-1], last, atol=1e-4)
    print("có bộ đệm   :", cached.sequences[0, -15:].tolist())
    print("không bộ đệm:", uncached.sequences[0, -15:].tolist())
else:
    print(SKIP)

# %% [markdown]
# ## Đối chiếu
# ### Với `peft_course.prefix`
# Gói có cùng cơ chế, thêm: kiểm tra đầu vào (lỗi tiếng Việt), mặt nạ số thực, tái tham số hóa, prompt tuning,
# từ chối mô hình đã có một phương pháp, và các họ Llama/Qwen2/Mistral (GQA: key/value ảo có $n_{kv}$ đầu, được
# lặp cho các đầu query như key/value thật). Một phép thử nhanh (`tests/test_teaching.py`) chứng minh ba mảnh tự
# viết ở trên bằng bản của gói; ở đây: cùng giá trị $P$ thì cùng logit.

# %% tags=["nbval-ignore-output"]
from peft_course import prefix as prefix_module

print(inspect.getsource(prefix_module.prefix_attention))

# %%
from peft_course.prefix import fold_prefix, prefix_parameter_count

pkg = course.fresh_model()
changed = apply_prefix(pkg, PrefixConfig(num_virtual_tokens=5))
assert count_parameters(pkg).trainable == prefix_parameter_count(5, L, d_kv)
if IS_GPT2:
    with torch.no_grad():
        pkg.prefix.weight.copy_(mine.prefix.weight)
        assert torch.allclose(pkg(**text).logits, mine(**text).logits, atol=1e-6)
    assert count_parameters(pkg).trainable == count_parameters(mine).trainable
print("apply_prefix đổi:", changed[:3], "…" if len(changed) > 3 else "")

# %% [markdown]
# ### Với huggingface/peft
# `get_peft_model` với `PrefixTuningConfig` (tác vụ `CAUSAL_LM`) trên một mô hình nền mới; chép cùng $P$ vào
# `prompt_encoder` của nó. Ta so logit của lượt truyền xuôi (đường peft làm đúng), số tham số huấn luyện trên mô
# hình của bài, và trên một mô hình dáng GPT-2 small dựng trên thiết bị `meta` (chỉ có hình dạng, không
# tốn bộ nhớ) với các số trong tài liệu tham chiếu.

# %%
from peft import PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

warnings.filterwarnings("ignore", module="peft")
CAUSAL = TaskType.CAUSAL_LM
peft_model = get_peft_model(
    course.fresh_model(), PrefixTuningConfig(task_type=CAUSAL, num_virtual_tokens=5)
)
with torch.no_grad():
    peft_model.prompt_encoder["default"].embedding.weight.copy_(pkg.prefix.weight)
    theirs = peft_model(**text, use_cache=False).logits
    ours = pkg(**text).logits
assert torch.allclose(ours[real], theirs[real], atol=1e-5)
assert peft_model.get_nb_trainable_parameters()[0] == count_parameters(pkg).trainable


def meta_counts(ours_config, peft_config) -> tuple[int, int]:
    """(số của ta, số của peft) trên GPT-2 small ngẫu nhiên dựng trên thiết bị meta."""
    apply_ = apply_prefix if isinstance(ours_config, PrefixConfig) else apply_prompt
    with torch.device("meta"):
        m = GPT2LMHeadModel(GPT2Config())
        apply_(m, ours_config)
        theirs_ = get_peft_model(GPT2LMHeadModel(GPT2Config()), peft_config)
        return count_parameters(m).trainable, theirs_.get_nb_trainable_parameters()[0]


small = {
    "prefix, 20 token ảo": meta_counts(
        PrefixConfig(20), PrefixTuningConfig(task_type=CAUSAL, num_virtual_tokens=20)
    ),
    "prefix + MLP (h = 768), khi huấn luyện": meta_counts(
        PrefixConfig(20, reparameterize=True, hidden=768),
        PrefixTuningConfig(
            task_type=CAUSAL,
            num_virtual_tokens=20,
            prefix_projection=True,
            encoder_hidden_size=768,
        ),
    ),
    "prompt tuning, 20 token ảo": meta_counts(
        PromptConfig(20), PromptTuningConfig(task_type=CAUSAL, num_virtual_tokens=20)
    ),
}
assert [v[0] for v in small.values()] == [368_640, 14_780_160, 15_360]  # REFERENCE.md
assert all(a == b for a, b in small.values())

# %% tags=["nbval-check-output"]
n_peft = peft_model.get_nb_trainable_parameters()[0]
print(
    f"mô hình của bài, k = 5: ta {count_parameters(pkg).trainable:,} = peft {n_peft:,}"
    f" = 5·2·{L}·{d_kv}"
)
print("GPT-2 small (124,439,808 tham số):")
for name, (a, b) in small.items():
    print(f"  {name}: ta {a:,} | peft {b:,}")

# %% [markdown]
# Logit bằng nhau tới $10^{-5}$ (thực tế là bằng hệt: cùng phép tính).
#
# ## Thí nghiệm với widget
# Núm là số token ảo $k$: số tham số tăng tuyến tính, $2 L d$ mỗi token (đếm trên mô hình thật).

# %%
from peft_course.widgets import knob_explorer, training_explorer

COLAB_URL = (
    "https://colab.research.google.com/github/peft-course/peft-course/blob/main/"
    "notebooks/05_prefix_tuning.ipynb"
)
full = experiments.full_baseline(course)
P_full = count_parameters(base_model).total
ks = [1, 2, 5, 10, 20, 40, 80]


def count_prefix(k: int) -> int:
    """Số tham số huấn luyện của prefix tuning k token ảo trên mô hình của bài."""
    m = course.fresh_model()
    apply_prefix(m, PrefixConfig(num_virtual_tokens=k))
    return count_parameters(m).trainable


assert all(count_prefix(k) == k * 2 * L * d_kv for k in (1, 20))
print(f"mỗi token ảo: 2·L·d = {count_prefix(1):,} tham số")

# %% tags=["nbval-ignore-output"]
prefix_counts = knob_explorer(
    ks, count_prefix, full=P_full, knob="k (số token ảo)", value=10
)

# %% [markdown]
# Huấn luyện ở $k$ đã chọn, 150 bước theo công thức chung (`experiments.RECIPES["prefix"]`), cạnh tinh chỉnh
# toàn bộ: một **lần chạy minh họa** (một seed, ngân sách ngắn của bài học). Tiền tố khởi tạo từ key/value của cụm
# từ mô tả bài toán ở trên (lặp lại cho đủ $k$): thử trên tập kiểm định, cách này tốt hơn rõ so với khởi tạo ngẫu
# nhiên ở số bước ít như vậy.


# %%
def prefix_model(k: int) -> nn.Module:
    """Mô hình nền mới, prefix tuning k token ảo khởi tạo từ cụm từ mô tả bài toán."""
    m = course.fresh_model()
    apply_prefix(m, PrefixConfig(num_virtual_tokens=k, init_token_ids=init_ids))
    return m


# %% tags=["nbval-ignore-output"]
explored = training_explorer(
    course,
    prefix_model,
    "prefix",
    [5, 10, 20],
    baseline=full,
    knob="k",
    value=10,
    colab_url=COLAB_URL,
)

# %% [markdown]
# ## Đo đạc
# ### Lần chạy minh họa: prefix $k = 10$, LoRA, tinh chỉnh toàn bộ
# LoRA ở đây là `peft_course.lora` ($r = 8$, $\alpha = 16$ trên mọi lớp chiếu), bản bài 3 xây từ đầu; nếu bạn đã
# chạy bài 3, lần chạy giống hệt này được đọc lại từ bộ đệm (`experiments.run(..., cache=True)`), không huấn luyện
# lại. Mỗi lần chạy 150 bước, một seed: bảng dưới là **minh họa**, cột thời gian và RSS là số đo trực tiếp.

# %% tags=["nbval-ignore-output", "live-timing"]
from peft_course.lora import LoRAConfig, apply_lora
from peft_course.plots import plot_histories

results = {10: explored[10]}
lora = course.fresh_model()
apply_lora(lora, LoRAConfig(r=8, alpha=16.0, target_modules=arch.lora_targets(lora)))
lora_result = experiments.run(
    course, "LoRA r=8", lora, "lora", progress=False, cache=True
)
base = experiments.base_result(course)
ordered = [full, lora_result, results[10], base]
display(Markdown(experiments.results_table(ordered, full, base)))
drawn = {r.name: r.history for r in ordered[:-1]}
plot_histories(drawn, title=", ".join(drawn))
plt.show()

# %% [markdown]
# ### Số liệu đã công bố: ngân sách quyết định xếp hạng
# Ở 150 bước, prefix tuning (và prompt tuning) mới rời mức đoán mò được một đoạn: bảng cũ của khóa học, đọc ở
# 150 bước, cho prefix chỉ một phần nhỏ phần tăng của tinh chỉnh toàn bộ. Đó là **hệ quả của ngân sách**, không
# phải của phương pháp: tinh chỉnh toàn bộ đạt đỉnh validation sớm, còn prefix/prompt tuning cần nhiều bước hơn
# (ô dưới đọc điều đó từ chính các đường cong ở trên: bước có acc validation tốt nhất của mỗi lần chạy).
# Bench (`bench/compare.py`, giao thức đo chung) huấn luyện mỗi phương pháp tới khi validation phẳng, giữ
# checkpoint tốt nhất, nhiều seed; ô dưới đặt con số minh họa ở trên cạnh số đã công bố.


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


def share(r: experiments.Result) -> float:
    """Phần tăng (acc test so với mô hình nền) theo phần tăng của tinh chỉnh toàn bộ."""
    return (r.test_accuracy - base.test_accuracy) / (
        full.test_accuracy - base.test_accuracy
    )


def show_published(
    results_: dict, methods=("full", "lora", "prefix", "prompt")
) -> None:
    """In acc test, % phần tăng và bước của checkpoint tốt nhất đã công bố."""
    for m in methods:
        try:
            acc, gain = report.stat(results_, m), report.gain_share(results_, m)
            best = report.stat(results_, m, "best_step")
        except CourseError as e:
            print(f"{m}: chưa có trong kết quả bench ({e})")
            continue
        print(
            f"{m}: acc test {acc} | {gain.fmt('.0f', unit='%')} phần tăng | "
            f"checkpoint tốt nhất ở bước {best.fmt('.0f')} ({acc.n} seed)"
        )
        if m == "prefix" and best.mean is not None and best.mean > 150:
            print("  → checkpoint tốt nhất của prefix nằm sau bước 150: "
                  "con số 150 bước đo ngân sách")


print(
    f"minh họa (150 bước, 1 seed): prefix k=10 đạt {share(results[10]):.0%} "
    f"phần tăng của toàn bộ, LoRA r=8 {share(lora_result):.0%}"
)
for r in (full, results[10]):
    h = r.history
    peak = h.eval_steps[h.eval_accuracy.index(max(h.eval_accuracy))]
    print(f"  {r.name}: acc validation cao nhất ở bước {peak}/{h.eval_steps[-1]}")
published = published_or_none()
if MODEL is not None:
    print("Số đã công bố là của mô hình đóng gói, không phải", MODEL)
if published is not None:
    show_published(published)

# %% [markdown]
# Đọc hai dòng cho prefix: nếu checkpoint tốt nhất đã công bố nằm xa sau bước 150, con số 150 bước chỉ đo ngân
# sách. Prefix/prompt tuning bắt kịp thêm khi mô hình lớn (Lester et al. thấy khoảng cách với tinh chỉnh toàn bộ
# gần biến mất từ khoảng 10 tỉ tham số); trên mô hình 4 lớp này, bảng của bench (và bài 6) là nơi đọc xếp hạng.
#
# Kiểm tra lời hứa "trọng số nền không đổi": sau huấn luyện, mọi tham số ngoài `prefix` của một mô hình
# $k = 5$ (huấn luyện vài bước) giống hệt từng bit một mô hình nền mới nạp.

# %%
trained = prefix_model(5)
experiments.run(
    course, "kiểm tra", trained, "prefix", steps=5, progress=False, eval_every=None
)
fresh_state = course.fresh_model().state_dict()
for name, value in trained.state_dict().items():
    if not name.startswith("prefix."):
        assert torch.equal(value, fresh_state[name]), name
print("sau huấn luyện: mọi trọng số nền giống hệt từng bit; chỉ prefix.weight đổi")

# %% [markdown]
# ---
# ## Đào sâu (không bắt buộc)
# Phần chính của bài kết thúc ở trên. Bốn mục dưới dành cho ai muốn đi xa hơn; bài tập ở cuối chỉ bài 5 cần
# mục prompt tuning.
#
# ### Đào sâu 1 — `generate` có bộ đệm của peft
# Đo điều tài liệu tham chiếu cảnh báo: `generate` *có bộ đệm* của peft trên transformers 5. Ta so logit bước đầu
# của nó với ba ứng viên: mô hình có tiền tố (đúng), mô hình nền, và mô hình nền với vị trí dời $k$. Ô này *in*
# kết quả đo chứ không khẳng định, để khi peft sửa lỗi thì bài vẫn chạy và in ra điều mới. Lời nhắn mà
# transformers đưa ra trong lúc đó được bắt lại và in thành một dòng.

# %%
x = tok(prompt, return_tensors="pt").to(course.device)
with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    peft_first = peft_model.generate(
        **x,
        max_new_tokens=1,
        do_sample=False,
        output_logits=True,
        return_dict_in_generate=True,
    ).logits[0]
with torch.no_grad():
    correct = pkg(**x).logits[:, -1]
    base_first = base_model(**x).logits[:, -1]
    if s.max_positions is not None:  # vị trí học được (GPT-2): dời k như peft
        positions = torch.arange(5, 5 + x["input_ids"].shape[1], device=course.device)
        base_shifted = base_model(**x, position_ids=positions[None]).logits[:, -1]
gaps = {"mô hình có tiền tố (đúng)": correct, "mô hình nền": base_first}
if s.max_positions is not None:
    gaps["mô hình nền, vị trí dời k"] = base_shifted
for name, ref in gaps.items():
    print(f"|generate(peft) − {name}| lớn nhất = {(peft_first - ref).abs().max():.2e}")
for message in dict.fromkeys(str(w.message).split(". ")[0] for w in caught):
    print("transformers nhắn:\n ", message[:86])  # câu đầu của mỗi lời nhắn
ignores = (peft_first - correct).abs().max() > 1e-3
print(
    "peft",
    __import__("peft").__version__,
    "trên transformers",
    __import__("transformers").__version__,
    "→",
    "generate có bộ đệm BỎ QUA tiền tố"
    if ignores
    else "generate có bộ đệm dùng đúng tiền tố",
)

# %% [markdown]
# Trên máy tạo bài này (peft 0.21.2, transformers 5.24), bước đầu của `generate` trong peft bằng mô hình nền *với
# vị trí dời $k$*: tiền tố bị bỏ, nhưng vị trí vẫn bị dời. Nguyên nhân: peft đưa tiền tố qua `past_key_values`,
# `generate` của transformers 5.24 truyền bộ đệm (rỗng) của nó qua `cache`, và khi có cả hai thì
# `past_key_values` bị bỏ. Một lỗi kiểu "thư viện đổi tên một tham số" mà cách móc vào hàm attention của ta
# không mắc.
#
# ### Đào sâu 2 — Tái tham số hóa: huấn luyện qua MLP, lưu một bảng
# Li & Liang thấy tối ưu trực tiếp $P$ kém ổn định, nên sinh nó từ một MLP nhỏ:
# $P = \mathrm{MLP}(E)$ với $E \in \mathbb{R}^{k \times d}$ là embedding, MLP $= \mathrm{Linear}(d, h) \to \tanh \to
# \mathrm{Linear}(h, 2Ld)$. Số tham số khi huấn luyện: $kd + (dh + h) + (2Ldh + 2Ld)$. Sau huấn luyện ta tính $P$ một
# lần rồi bỏ MLP (`fold_prefix`): chỉ $k \cdot 2Ld$ số được lưu, và đầu ra không đổi.

# %%
torch.manual_seed(0)
rep = course.fresh_model()
apply_prefix(rep, PrefixConfig(num_virtual_tokens=10, reparameterize=True, hidden=192))
training_count = count_parameters(rep).trainable
with torch.no_grad():
    before = rep(**text).logits
    saved_count = fold_prefix(rep)
    after = rep(**text).logits
assert saved_count == 10 * 2 * L * d_kv == count_parameters(rep).trainable
assert not hasattr(rep.prefix, "mlp")
assert torch.allclose(before, after, atol=1e-6)
if not s.grouped:
    assert training_count == prefix_parameter_count(10, L, d, hidden=192)

# %% tags=["nbval-check-output"]
print(
    f"k = 10, h = 192: khi huấn luyện {training_count:,} tham số (MLP) "
    f"→ lưu {saved_count:,} (bảng P sau khi gộp)"
)

# %% [markdown]
# ### Đào sâu 3 — Prompt tuning: token ảo chỉ ở đầu vào
# Prompt tuning (Lester et al., 2021) học $k$ vector embedding đặt trước câu — một "lời nhắc mềm" — và chỉ thế:
# $k \cdot d$ tham số, không phụ thuộc số lớp (đây là điều bài viết gốc mô tả ở mục 4.3). Có một nhận xét làm
# nó thành họ hàng gần của prefix tuning: vì mặt nạ nhân quả, $k$ token ảo đứng đầu **không bao giờ nhìn thấy**
# token thật, nên key/value của chúng ở mọi lớp chỉ phụ thuộc vào $k$ vector ấy. Vậy prompt tuning *là* prefix
# tuning với $P$ bị ràng buộc: $P = f_{\text{đóng băng}}(E)$ thay vì tự do. `apply_prompt` cài đúng như vậy — mỗi
# lượt truyền xuôi chạy các khối đóng băng trên $k$ vector rồi dùng lại cùng hàm attention — nên cũng đúng khi sinh
# văn bản có bộ đệm, và logit chỉ có ở vị trí thật. Đối chiếu với peft (`PromptTuningConfig`, peft trả thêm $k$
# logit ở đầu, ta bỏ đi):

# %%
prompt_model = course.fresh_model()
apply_prompt(prompt_model, PromptConfig(num_virtual_tokens=4))
with torch.no_grad():
    emb = prompt_model.prompt.embedding
    emb.add_(0.3 * torch.randn_like(emb))
peft_prompt = get_peft_model(
    course.fresh_model(), PromptTuningConfig(task_type=CAUSAL, num_virtual_tokens=4)
)
with torch.no_grad():
    peft_prompt.prompt_encoder["default"].embedding.weight.copy_(emb)
    theirs = peft_prompt(**text).logits[:, 4:]
    ours = prompt_model(**text).logits
assert torch.allclose(ours[real], theirs[real], atol=1e-4)
n_prompt = count_parameters(prompt_model).trainable
assert n_prompt == 4 * d == peft_prompt.get_nb_trainable_parameters()[0]
same = torch.equal(
    greedy(prompt_model, prompt, True).sequences,
    greedy(prompt_model, prompt, False).sequences,
)
assert same
print(
    f"prompt tuning k = 4: {n_prompt:,} tham số = k·d; logit = peft "
    f"(sai khác {(ours - theirs)[real].abs().max():.1e}); "
    "generate có/không bộ đệm trùng nhau"
)

# %% [markdown]
# ### Đào sâu 4 — Cái giá của chuỗi dài thêm $k$
# Mỗi lớp, mỗi đầu tính $T \times (k + T)$ điểm chú ý thay vì $T \times T$, và nhân với $k + T$ value: phần chú ý
# tốn thêm tỉ lệ $(k+T)/T$. Phần còn lại của mô hình (các phép chiếu, MLP, `lm_head`) không đổi, nên trên câu ngắn
# thời gian cả bước tăng chậm hơn nhiều. Ta đo trực tiếp thời gian một bước huấn luyện (xuôi + ngược + AdamW) trên
# cùng một lô 32 câu — một **số đo minh họa**, dao động theo tải của máy — và đếm phép nhân của phần chú ý theo
# công thức (tất định).

# %% tags=["nbval-ignore-output", "live-timing"]
import time

bench_batch = course.train.batch(slice(0, 32), course.device)
T_pad = bench_batch["input_ids"].shape[1]


def step_time(model: nn.Module, reps: int = 3) -> float:
    """Trung vị thời gian một bước huấn luyện trên bench_batch (bỏ lần khởi động)."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        model(**bench_batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[reps // 2]


bench_ks = [1, 10, 40, 80]
times = {k_b: step_time(prefix_model(k_b)) for k_b in bench_ks}
full_time = step_time(course.fresh_model())
# QKᵀ và (điểm)·V, mọi đầu
attention_flops = {k_b: 2 * L * T_pad * (k_b + T_pad) * d for k_b in bench_ks}
fig, ax = plt.subplots(2, 1, figsize=(FIG_WIDTH, 5.2))
ax[0].plot(
    bench_ks, [1000 * times[k_b] for k_b in bench_ks], marker="o", label="prefix tuning"
)
ax[0].axhline(
    1000 * full_time, color="tab:red", linestyle="--", label="tinh chỉnh toàn bộ"
)
ax[0].set(
    xlabel="k (số token ảo)",
    ylabel="ms / bước",
    title="Một bước huấn luyện (lô 32, đo trực tiếp)",
)
ax[1].plot(
    bench_ks,
    [attention_flops[k_b] / attention_flops[1] for k_b in bench_ks],
    marker="o",
)
ax[1].set(
    xlabel="k (số token ảo)",
    ylabel="× so với k = 1",
    title=f"Phép nhân của phần chú ý (T = {T_pad})",
)
ax[0].legend()
fig.tight_layout()
plt.show()
for k_b in bench_ks:
    print(
        f"k = {k_b:2d}: {1000 * times[k_b]:6.1f} ms/bước "
        f"({times[k_b] / full_time:.2f}× toàn bộ); "
        f"phần chú ý ×{(k_b + T_pad) / T_pad:.1f} so với không tiền tố"
    )

# %% [markdown]
# Hai điều cần nhớ. (1) Bước huấn luyện của prefix tuning vẫn phải lan truyền ngược qua **mọi** lớp (tiền tố có ở
# lớp 0), nên nó không rẻ hơn tinh chỉnh toàn bộ theo tỉ lệ tham số; nó chỉ bỏ được gradient trọng số và bước Adam
# của mô hình nền (thời gian mỗi bước đã công bố nằm trong bảng của bài 6). (2) Token ảo chiếm chỗ: với câu dài và
# $k$ lớn, phần chú ý tăng theo $(k+T)/T$, và với GPT-2 (vị trí học được) $k$ vị trí bị lấy khỏi ngữ cảnh
# $n_{\text{positions}}$ (theo cách đánh số của peft) — khi suy luận, khác LoRA đã gộp, mô hình luôn mang theo
# $k$ key/value thừa ở mỗi lớp.

# %% [markdown]
# ## Tóm tắt
# - Prefix tuning thêm $k$ key và $k$ value học được vào trước key/value thật ở **mọi lớp**; token thật chú ý tới
#   chúng, mô hình nền đóng băng. Số tham số: $2 \cdot L \cdot k \cdot d$ (GQA: $d \to n_{kv} d_h$); $k \cdot d$
#   (con số của bài viết gốc) là của prompt tuning.
# - Cài bên trong hàm attention (`AttentionInterface`): tiền tố được ghép sau khi bộ đệm cập nhật, nên huấn luyện,
#   truyền xuôi đầy đủ và `generate` có bộ đệm đều đúng — ta đã kiểm tra từng token, và logit khớp peft tới
#   $10^{-5}$.
# - Vị trí token thật bắt đầu từ $k$ như peft, nên $k + T \le n_{\text{positions}}$.
# - Lần chạy 150 bước trong bài là minh họa; xếp hạng và "% phần tăng" đọc từ bench (hội tụ, nhiều seed):
#   ở ngân sách ngắn, prefix tuning trông kém hơn thực tế.
# - Đào sâu: peft 0.21.2 bỏ qua tiền tố khi `generate` có bộ đệm; tái tham số hóa bằng MLP chỉ tồn tại lúc
#   huấn luyện (`fold_prefix`); prompt tuning ($k \cdot d$) là prefix tuning với $P$ do mạng đóng băng sinh ra.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** GPT-2 medium có $L = 24$, $d = 1024$. Prefix tuning với $k = 16$ có bao nhiêu tham số huấn
# luyện? Prompt tuning với $k = 16$?


# %%
def check_medium(prefix_params: int, prompt_params: int) -> None:
    assert prefix_params == 16 * 2 * 24 * 1024, (
        "Prefix: k · 2 · L · d (key và value ở mỗi lớp)."
    )
    assert prompt_params == 16 * 1024, "Prompt: k · d (chỉ ở đầu vào)."
    print(
        f"Đúng: prefix {prefix_params:,}, prompt {prompt_params:,} "
        "— prefix gấp 2L = 48 lần."
    )


my_prefix_params, my_prompt_params = None, None  # thay bằng số của bạn
if my_prefix_params is not None:
    check_medium(my_prefix_params, my_prompt_params)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Prefix: $16 \cdot 2 \cdot 24 \cdot 1024 = 786{,}432$. Prompt: $16 \cdot 1024 = 16{,}384$. Tỉ lệ là $2L = 48$.
#
# </details>
#
# **Bài 2 (vừa).** Hàm `my_prefix_attention` ở trên chỉ nhận mặt nạ `None` hoặc bool. Với `attn_implementation =
# "eager"`, transformers đưa mặt nạ **số thực** cộng vào điểm chú ý ($0$ = được chú ý, một số rất âm = bị che).
# Viết `extend_float_mask(mask, k)` thêm $k$ cột "được chú ý" vào trước một mặt nạ như vậy, dạng $(B, 1, T, n)$.


# %%
def check_float_mask(fn) -> None:
    neg = torch.finfo(torch.float32).min
    mask = torch.zeros(2, 1, 3, 4).masked_fill(
        ~torch.ones(3, 4, dtype=torch.bool).tril(1), neg
    )
    out = fn(mask, 2)
    assert out.shape == (2, 1, 3, 6), f"Hình dạng {tuple(out.shape)}, cần (2, 1, 3, 6)."
    assert out.dtype == mask.dtype and torch.equal(out[..., 2:], mask), (
        "Phần mặt nạ cũ phải giữ nguyên, sau k cột mới."
    )
    assert torch.equal(out[..., :2], torch.zeros(2, 1, 3, 2)), (
        "Cột tiền tố phải là 0 (được chú ý), không phải 1."
    )
    assert torch.equal(out, extend_mask(mask, 2, 3, 4, mask.device))
    print("Đúng: khớp với extend_mask của gói.")


def extend_float_mask(mask: torch.Tensor, k: int) -> torch.Tensor:
    return None  # viết mã của bạn ở đây


if extend_float_mask(torch.zeros(1, 1, 1, 1), 1) is not None:
    check_float_mask(extend_float_mask)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def extend_float_mask(mask, k):
#     return torch.cat([mask.new_zeros(*mask.shape[:-1], k), mask], dim=-1)
# ```
# Mặt nạ cộng vào điểm: $0$ giữ nguyên điểm, nên cột tiền tố là $0$ (không phải $1$ như mặt nạ bool).
#
# </details>
#
# **Bài 3 (vừa).** Chỉ đặt tiền tố ở nửa trên của mô hình (lớp $L/2 \dots L-1$). Viết `top_half_prefix(k)` trả về
# một mô hình như vậy (gợi ý: sau `apply_prefix`, xóa `prefix_kv` khỏi các attention ở nửa dưới —
# `del block.attn.__dict__["prefix_kv"]` — hàm attention của gói coi lớp không có `prefix_kv` là attention
# thường). Số tham số *thật sự dùng* là bao nhiêu? Huấn luyện và so với tiền tố đủ các lớp.


# %%
def check_top_half(make) -> None:
    """Chấm top_half_prefix: tiền tố chỉ ở nửa trên; nửa dưới của P không đổi logit."""
    if not IS_GPT2:
        print(SKIP)
        return
    m = make(5)
    layers = [
        i for i, b in enumerate(m.transformer.h) if "prefix_kv" in b.attn.__dict__
    ]
    assert layers == list(range(L // 2, L)), (
        f"Các lớp có tiền tố: {layers}; cần {list(range(L // 2, L))}."
    )
    x = tok("Phản hồi: bài giảng dễ hiểu\nCảm xúc:", return_tensors="pt")
    with torch.no_grad():
        m.prefix.weight[:, : 2 * (L // 2) * d] = 1e3  # nửa dưới của P không được dùng…
        a = m(**x).logits
        m.prefix.weight[:, : 2 * (L // 2) * d] = -1e3
        assert torch.equal(a, m(**x).logits), "…nên đổi nó không được làm đổi logit."
    used = 5 * 2 * (L - L // 2) * d
    print(
        f"Đúng: tiền tố ở lớp {layers}; tham số thật sự dùng: "
        f"5 · 2 · {L - L // 2} · {d} = {used:,}."
    )


def top_half_prefix(k: int) -> nn.Module:
    return None  # viết mã của bạn ở đây


if top_half_prefix(5) is not None:
    check_top_half(top_half_prefix)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def top_half_prefix(k):
#     m = prefix_model(k)
#     for block in m.transformer.h[: L // 2]:
#         del block.attn.__dict__["prefix_kv"]
#     return m
# ```
# Tham số dùng: $k \cdot 2 \cdot (L/2) \cdot d$, một nửa (nửa dưới của $P$ vẫn nằm trong mô hình và vẫn được đếm
# là tham số huấn luyện, nhưng gradient của nó luôn bằng 0 nên nó không đổi). Li & Liang so tiền tố ở mọi
# lớp với tiền tố chỉ ở lớp embedding (gần như prompt tuning) và thấy bản chỉ-embedding kém hơn rõ; còn nửa
# trên thì sao? Chạy
# `experiments.run(course, "nửa trên", top_half_prefix(10), "prefix")` để tự xem trên mô hình này.
#
# </details>
#
# **Bài 4 (mở).** Vị trí: ta đánh số token thật từ $k$ (như peft). Thử đánh số từ $0$: tạo mô hình bằng
# `prefix_model(10)` rồi gỡ móc dời vị trí (`m.transformer.wpe._forward_pre_hooks.clear()` — và nhớ rằng kiểm tra
# `attn_implementation` cũng nằm trong móc ấy). Ở bước 0 (khởi tạo từ từ thật) mô hình nào gần mô hình nền hơn?
# Sau 150 bước độ chính xác khác nhau không (một seed: chỉ là gợi ý)? Hàm kiểm tra so hai mô hình trên một câu và in khoảng cách.


# %%
def check_positions(shifted: nn.Module, unshifted: nn.Module) -> None:
    x = tok("Phản hồi: thầy dạy rất hay\nCảm xúc:", return_tensors="pt")
    with torch.no_grad():
        a, b, ref = shifted(**x).logits, unshifted(**x).logits, base_model(**x).logits
    assert not torch.equal(a, b), "Hai mô hình cho cùng logit: móc vị trí chưa được gỡ?"
    print(
        f"|dời k − nền| = {(a - ref).abs().mean():.3f}; "
        f"|từ 0 − nền| = {(b - ref).abs().mean():.3f} (trung bình)"
    )


my_unshifted = None  # mô hình đã gỡ móc vị trí
if my_unshifted is not None:
    check_positions(prefix_model(10), my_unshifted)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# my_unshifted = prefix_model(10)
# my_unshifted.transformer.wpe._forward_pre_hooks.clear()
# check_positions(prefix_model(10), my_unshifted)
# ```
# Với tiền tố khởi tạo từ từ thật, bản dời $k$ chính là "mô hình nền đọc cụm từ ấy trước", một văn cảnh hợp lệ;
# bản đánh số từ $0$ đặt hai token vào cùng vị trí, một tình huống mô hình chưa từng gặp. Sau huấn luyện, khác biệt
# thường nhỏ vì tiền tố tự thích nghi. Bản đánh số từ 0 không còn giới hạn $k + T \le 128$ từ bảng vị trí, nhưng
# không khớp peft nữa.
#
# </details>
#
# **Bài 5 (vừa, cần mục Đào sâu 3).** Prompt tuning với $k = 10$ (khởi tạo mặc định: embedding của 10 từ thật) có $k \cdot d$ tham số,
# ít hơn prefix $k = 10$ bao nhiêu lần? Huấn luyện nó theo công thức chung (`experiments.run(..., "prompt")`) và so
# độ chính xác với prefix $k = 10$ ở trên: số tham số ít hơn có phải trả bằng độ chính xác không? Hàm kiểm tra nhận
# `Result` của bạn.


# %%
def check_prompt_run(result) -> None:
    """Chấm lần chạy prompt tuning k = 10 và in bảng cạnh prefix k = 10."""
    assert result.trainable == 10 * d, (
        f"Prompt tuning k=10 phải có 10 · {d} = {10 * d:,} tham số, "
        f"nhận {result.trainable:,}."
    )
    table = [full, results[10], result, base]
    display(Markdown(experiments.results_table(table, full, base)))
    ratio = results[10].trainable / result.trainable
    print(f"prefix k=10 / prompt k=10: {ratio:.0f} lần tham số")


my_prompt_result = None  # Result của lần huấn luyện prompt tuning k=10
if my_prompt_result is not None:
    check_prompt_run(my_prompt_result)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# prompt_run = course.fresh_model()
# apply_prompt(prompt_run, PromptConfig(num_virtual_tokens=10))
# my_prompt_result = experiments.run(course, "prompt k=10", prompt_run, "prompt")
# check_prompt_run(my_prompt_result)
# ```
# Tiền tố có $2L$ lần tham số của prompt ở cùng $k$ (một cặp key/value mỗi lớp thay vì một embedding; $2L = 8$
# với mô hình đóng gói). Prompt tuning chỉ đổi được đầu vào, còn key/value ở mọi lớp bị ràng buộc bởi các khối
# đóng băng. Một lần chạy 150 bước, một seed, chưa đủ để xếp hạng: so với số đã công bố của prefix và prompt
# tuning ở ô "Số liệu đã công bố" (hội tụ, nhiều seed). Lester et al. thấy khoảng cách với tinh chỉnh toàn bộ khép
# lại khi mô hình rất lớn.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Li, X. L. và Liang, P. (2021). *Prefix-Tuning: Optimizing Continuous Prompts for Generation*. ACL.
# - Lester, B., Al-Rfou, R. và Constant, N. (2021). *The Power of Scale for Parameter-Efficient Prompt Tuning*. EMNLP.
# - He, J. và cộng sự (2022). *Towards a Unified View of Parameter-Efficient Transfer Learning*. ICLR
#   (viết prefix tuning thành phép nội suy giữa hai attention).
# - Hu, E. và cộng sự (2021). *LoRA: Low-Rank Adaptation of Large Language Models*.
# - huggingface/peft: `src/peft/tuners/prefix_tuning/model.py`, `src/peft/peft_model.py` (`get_prompt`).
# - transformers: [Attention Interface](https://huggingface.co/docs/transformers/en/attention_interface).

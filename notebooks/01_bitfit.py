# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Bài 1 — BitFit: chỉ huấn luyện bias
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/01_bitfit.ipynb)

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
# Bài này dựa trên bài 0 (mô hình, bài toán, tách $\theta = (\theta_f, \theta_t)$ bằng `freeze`, mốc tinh chỉnh
# toàn bộ). Sau bài này bạn sẽ:
# - huấn luyện **chỉ các bias** của GPT-2 (BitFit), theo bốn nhóm: mọi bias, bias của query, bias của MLP,
#   bias của LayerNorm; đếm số tham số bằng công thức và khớp với số thật;
# - biết cách chỉ huấn luyện *một phần* của một tensor (bias q/k/v của GPT-2 là một tensor gộp);
# - thấy bằng số đo một bias làm được gì và không làm được gì: nó cộng **cùng một vectơ** vào mọi vị trí ở chỗ
#   nó đi vào, nhưng sau LayerNorm, softmax của attention và GELU thì thay đổi đã khác nhau giữa các token;
# - so BitFit với tinh chỉnh toàn bộ: số tham số huấn luyện, thời gian mỗi bước, bộ nhớ, và độ chính xác đã
#   công bố của bench (hội tụ, 3 seed) — khác hẳn một lần chạy ngắn;
# - đối chiếu một nhận định của bài viết gốc ("bias chỉ dịch phân phối") với số đo trên trạng thái ẩn.

# %% [markdown]
# ## Ý tưởng
#
# Mọi lớp tuyến tính của GPT-2 có dạng $y = xW + b$ và mọi LayerNorm có dạng
# $y = \gamma \odot \frac{x - \mu}{\sigma} + \beta$. BitFit (Ben Zaken và cộng sự, 2021) đóng băng mọi ma trận
# $W$, $\gamma$ và embedding, chỉ học các bias $b, \beta$:
#
# $$\theta_t = \{\, b \,\}, \qquad y = x W_{\text{nền}} + (b_{\text{nền}} + \delta).$$
#
# Viết bias mới là $b_{\text{nền}} + \delta$ với $\delta$ khởi tạo bằng 0 là cùng một phương pháp (gradient theo
# $\delta$ bằng gradient theo $b$), nhưng giữ nguyên trọng số nền và chỉ cần lưu $\delta$.
#
# **Số tham số.** Mỗi khối GPT-2 có bias ở `ln_1` ($d$), `attn.c_attn` ($3d$: q, k, v gộp), `attn.c_proj` ($d$),
# `ln_2` ($d$), `mlp.c_fc` ($4d$), `mlp.c_proj` ($d$); thêm `ln_f` ($d$) ở cuối:
#
# $$N_{\text{mọi bias}} = 11dL + d, \quad N_{\text{query}} = dL, \quad N_{\text{MLP}} = 5dL,
# \quad N_{\text{LayerNorm}} = 2dL + d.$$
#
# Trên GPT-2 small ($d = 768$, $L = 12$): $11 \cdot 768 \cdot 12 + 768 = 102{,}144$ tham số, khoảng $0{,}08\%$.
#
# **Bias của attention.** Với một đầu chú ý, $q_i = x_i W_q + b_q$, $k_j = x_j W_k + b_k$ và trọng số chú ý
# $a_{ij} = \mathrm{softmax}_j\big(q_i^\top k_j / \sqrt{d_h}\big)$. Khai triển:
#
# $$q_i^\top k_j = \underbrace{(x_i W_q)^\top (x_j W_k)}_{\text{nội dung}} + \underbrace{b_q^\top (x_j W_k)}_{\text{phụ thuộc } j}
# + \underbrace{(x_i W_q)^\top b_k + b_q^\top b_k}_{\text{không phụ thuộc } j}.$$
#
# Softmax theo $j$ không đổi khi cộng cùng một số vào mọi $j$, nên **bias của k không có tác dụng** (gradient của
# nó bằng 0), còn bias của q thêm một "sở thích" cố định cho những key nào đó. Bias của v thì, vì
# $\sum_j a_{ij} = 1$, cộng đúng $b_v$ vào đầu ra của mọi vị trí: một phép dịch hằng. Đó là lý do phương án
# "query" của bài báo là bias đáng học nhất trong attention.

# %% [markdown]
# ## Xây từ đầu
#
# ### Các bias của mô hình và công thức đếm

# %%
import warnings

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from torch import nn

from peft_course import CourseError, arch, count_parameters, experiments, freeze, report
from peft_course.plots import FIG_WIDTH, plot_histories, use_course_style

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại
# cảnh báo ngừng hỗ trợ của transformers khi peft dựng mô hình: không liên quan tới bài
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

# %% [markdown]
# Các công thức đếm ở trên là của GPT-2. Ta đọc $d$, $L$ từ chính mô hình và so công thức với số thật; trên
# một họ mô hình khác (Qwen2 chỉ có bias ở q, k, v; Llama không có bias nào) ta chỉ đếm số thật.

# %%
shape = arch.attention_shape(model)
d, L = shape.hidden, shape.num_layers
P = count_parameters(model).total
IS_GPT2 = (
    arch.model_type(model) == "gpt2"
)  # các ô minh họa bên trong GPT-2 cần điều này
SKIP = f"Ô này minh họa bên trong GPT-2; {MODEL} là {arch.model_type(model)}: bỏ qua."

formula = {  # công thức đếm của GPT-2
    "all": 11 * d * L + d,
    "attention_query": d * L,
    "mlp": 5 * d * L,
    "layernorm": 2 * d * L + d,
}
biases = {n: p for n, p in model.named_parameters() if n.endswith(".bias")}
n_biases = sum(p.numel() for p in biases.values())
if IS_GPT2:
    assert n_biases == formula["all"]

# %% tags=["nbval-check-output"]
for n, p in list(biases.items())[:6]:
    print(f"{n:32s} {tuple(p.shape)}")
print(
    f"… {len(biases)} tensor bias, tổng {n_biases:,}"
    f" ({100 * n_biases / P:.3f}% của {P:,})"
)
if IS_GPT2:
    for which, n in formula.items():
        print(f"{which:>16}: {n:6,} tham số ({100 * n / P:.3f}%)")
print(f"Ví dụ GPT-2 small (d = 768, L = 12), mọi bias: {11 * 768 * 12 + 768:,}")

# %% [markdown]
# ### BitFit đơn giản nhất: mở băng các tensor `.bias`
# Với nhóm "mọi bias", chỉ cần `freeze(model, r"\.bias$")`: mỗi tensor bias được huấn luyện tại chỗ.

# %%
n = freeze(model, r"\.bias$")
assert n == n_biases == count_parameters(model).trainable
assert all(
    p.requires_grad == name.endswith(".bias") for name, p in model.named_parameters()
)

# %% [markdown]
# Kiểm tra phần khai triển ở trên: sau một lần lan truyền ngược, gradient của phần k trong bias gộp `c_attn`
# (các phần tử $d \dots 2d$) bằng 0 (đến sai số làm tròn), còn phần q và v thì không.

# %%
batch = course.train.batch(slice(0, 64), course.device)
if IS_GPT2:
    model(**batch).loss.backward()
    g = model.transformer.h[0].attn.c_attn.bias.grad
    q_grad = g[:d].abs().max().item()
    k_grad = g[d : 2 * d].abs().max().item()
    v_grad = g[2 * d :].abs().max().item()
    print(
        f"max |grad| phần q: {q_grad:.2e} | phần k: {k_grad:.2e} | phần v: {v_grad:.2e}"
    )
    assert k_grad < 1e-5 * max(q_grad, v_grad)
    model.zero_grad(set_to_none=True)
else:
    print(SKIP)

# %% [markdown]
# ### Chỉ bias của query: một phần của tensor gộp
# `c_attn.bias` có $3d$ phần tử $[\,b_q \mid b_k \mid b_v\,]$ và `requires_grad` chỉ bật/tắt được cho cả tensor.
# Có hai cách: (1) huấn luyện cả tensor nhưng nhân gradient với một mặt nạ 0/1 (hook trên gradient) — khi đó
# AdamW vẫn cấp trạng thái cho cả $3d$ phần tử, và nếu có weight decay thì phần bị che vẫn bị kéo về 0; hoặc
# (2) bọc lớp bằng một vectơ $\delta \in \mathbb{R}^d$ riêng cộng vào phần q của đầu ra. Khóa học dùng cách
# (2): số tham số huấn luyện đúng bằng $dL$ và bias nền không bị động tới.


# %% tags=["teach"]
class QueryBias(nn.Module):
    """Bọc attn.c_attn: cộng δ ∈ R^d (khởi tạo 0) vào phần q của đầu ra [q | k | v]."""

    def __init__(self, c_attn: nn.Module, d: int) -> None:
        super().__init__()
        self.base_layer = c_attn  # lớp gốc, đóng băng
        self.delta = nn.Parameter(torch.zeros(d, device=c_attn.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        d = self.delta.numel()
        return torch.cat([y[..., :d] + self.delta, y[..., d:]], dim=-1)


def query_bitfit(model: nn.Module) -> nn.Module:
    """BitFit chỉ phần q: đóng băng mọi tham số, bọc mỗi attn.c_attn bằng QueryBias."""
    for p in model.parameters():
        p.requires_grad_(False)
    for block in model.transformer.h:
        block.attn.c_attn = QueryBias(block.attn.c_attn, model.config.n_embd)
    return model


# %% [markdown]
# Kiểm tra trên mô hình thật: ở bước 0 ($\delta = 0$) logits không đổi, và số tham số huấn luyện đúng bằng $dL$.

# %%
base_model = course.fresh_model()
if IS_GPT2:
    query_model = query_bitfit(course.fresh_model())
    with torch.no_grad():
        same = torch.equal(query_model(**batch).logits, base_model(**batch).logits)
    assert same  # bước 0: không đổi
    assert count_parameters(query_model).trainable == formula["attention_query"]
    print(f"query: {count_parameters(query_model)}")
else:
    print(SKIP)

# %% [markdown]
# Bản trong gói, `peft_course.bitfit.BiasDelta`, làm cùng phép tính ($y = \text{lớp}(x) + \delta$, với $\delta$
# đặt vào đoạn `[offset, offset + size)` của bias) cho mọi lớp có bias, và thêm: kiểm tra đầu vào với lỗi tiếng
# Việt, đúng dtype/thiết bị của bias, `merged_bias()` để gộp lại, và `apply_bitfit` từ chối một mô hình đã mang
# một phương pháp. Phép thử `tests/test_teaching.py` chứng minh `QueryBias` và `query_bitfit` ở trên cho cùng
# đầu ra và cùng số tham số huấn luyện với bản của gói.

# %% tags=["nbval-ignore-output"]
import inspect

from peft_course import bitfit

print(inspect.getsource(bitfit.BiasDelta))

# %% [markdown]
# ### Huấn luyện BitFit (mọi bias): một lần chạy minh họa
# Dùng công thức chung của các bài (150 bước, lô 32, tốc độ học `RECIPES["bitfit"]`, cao hơn nhiều so với tinh
# chỉnh toàn bộ vì mỗi bias chỉ dịch một chút). Đây là **một lần chạy ngắn để minh họa**, một seed, chưa hội tụ;
# các con số so sánh của khóa học nằm ở phần *Đo đạc* (bench, tới 600 bước, 3 seed). Sau huấn luyện: mọi trọng
# số không phải bias giống hệt mô hình nền từng bit, các bias đã đổi.

# %% tags=["nbval-ignore-output"]
full = experiments.full_baseline(course)  # từ bộ đệm của bài 0 (huấn luyện nếu chưa có)
base = experiments.base_result(course)
print("tốc độ học:", experiments.RECIPES["bitfit"])
bitfit_all = experiments.run(
    course, "BitFit (mọi bias, tự xây)", model, "bitfit", progress=False
)
plot_histories(
    {"tinh chỉnh toàn bộ": full.history, bitfit_all.name: bitfit_all.history},
    title=f"BitFit (minh họa, {experiments.DEFAULT_STEPS} bước)",
)
plt.show()
print(
    f"BitFit: acc test {bitfit_all.test_accuracy:.3f}"
    f" | toàn bộ: {full.test_accuracy:.3f}"
    f" | nền: {base.test_accuracy:.3f}"
)

# %%
for (name, p), (_, p0) in zip(model.named_parameters(), base_model.named_parameters()):
    if name.endswith(".bias"):
        assert not torch.equal(p, p0) or ".attn.c_attn" in name, name
    else:
        assert torch.equal(p, p0) and p.grad is None, name
assert bitfit_all.trainable == n_biases
print("Mọi trọng số không phải bias giống hệt mô hình nền; các bias đã đổi.")

# %% [markdown]
# ### Một bias làm được gì? Đo trên trạng thái ẩn
# Ở chỗ bias đi vào, nó cộng **cùng một vectơ** vào mọi vị trí của mọi câu. Ta ghi đầu ra của vài mô-đun (bằng
# forward hook) trên cùng một lô, cho mô hình nền và mô hình sau BitFit, rồi xét độ lệch
# $\Delta_t = h^{\text{BitFit}}_t - h^{\text{nền}}_t$ tại mọi token thật $t$. Nếu $\Delta_t$ là một phép dịch hằng
# thì $\Delta_t$ bằng nhau ở mọi token; ta đo phần *không* hằng:
#
# $$\rho = \frac{\lVert \Delta - \bar{\Delta} \rVert}{\lVert \Delta \rVert}, \qquad
# \bar{\Delta} = \text{trung bình của } \Delta_t \text{ trên các token}.$$
#
# $\rho = 0$: thay đổi là một phép dịch hằng; $\rho$ gần 1: thay đổi khác nhau ở từng token. Một phép dịch hằng
# giữ nguyên mọi hiệu $h_s - h_t$ giữa hai token, tức giữ nguyên **cấu trúc** của biểu diễn (khoảng cách, hình
# dạng đám điểm); chỉ phần không hằng làm đổi cấu trúc ấy.


# %%
def capture(m: nn.Module, batch: dict, sites: list[str]) -> dict[str, torch.Tensor]:
    """Đầu ra các mô-đun `sites` (phần tử đầu nếu là tuple), ghi bằng forward hook."""
    outs, hooks = {}, []
    for name in sites:

        def hook(_, __, out, name=name):
            outs[name] = (out[0] if isinstance(out, tuple) else out).detach()

        hooks.append(m.get_submodule(name).register_forward_hook(hook))
    with torch.no_grad():
        m(**batch)
    for h in hooks:
        h.remove()
    return outs


def non_constant_share(delta: torch.Tensor) -> float:
    """ρ = ‖Δ − trung bình của Δ‖ / ‖Δ‖ trên các token (mỗi hàng một token)."""
    return ((delta - delta.mean(0)).norm() / delta.norm()).item()


# %%
PROBE = slice(0, 64)  # 64 câu validation
probe = course.validation.batch(PROBE, course.device)
real = probe["attention_mask"].bool()  # chỉ các token thật, bỏ phần đệm
if IS_GPT2:
    sites = [
        "transformer.h.0.ln_1",
        "transformer.h.0.attn.c_attn",
        "transformer.h.0.attn",
        "transformer.h.0.ln_2",
        "transformer.h.0.mlp.c_fc",
        "transformer.h.0.mlp",
        "transformer.h.1.ln_1",
        f"transformer.h.{L - 1}",
        "transformer.ln_f",
    ]
    h_base, h_fit = capture(base_model, probe, sites), capture(model, probe, sites)
    rho = {s: non_constant_share((h_fit[s] - h_base[s])[real]) for s in sites}

    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.4))
    colors = ["tab:green" if rho[s] < 1e-3 else "tab:blue" for s in sites]
    ax.bar(range(len(sites)), [rho[s] for s in sites], color=colors)
    for i, s in enumerate(sites):  # cột ≈ 0 không thấy được: ghi chữ
        if rho[s] < 1e-3:
            ax.text(i, 0.01, "≈ 0", ha="center", va="bottom", color="tab:green")
    short = [s.replace("transformer.", "") for s in sites]
    ax.set_xticks(range(len(sites)), short, rotation=30, ha="right")
    ax.set(
        ylabel="ρ (phần không hằng của Δ)", title="Sau BitFit: Δ có là phép dịch hằng?"
    )
    fig.tight_layout()
    plt.show()
    for s in sites:
        print(f"{s:30s} ρ = {rho[s]:.2e}")
    assert (
        rho["transformer.h.0.ln_1"] < 1e-3 and rho["transformer.h.0.attn.c_attn"] < 1e-3
    )
    # sau attention: không còn hằng
    assert min(rho[s] for s in sites[2:]) > 100 * max(rho[s] for s in sites[:2])
else:
    print(SKIP)

# %% [markdown]
# Đọc hình:
# - `h.0.ln_1`: chỗ đầu tiên có bias ($\beta$ của LayerNorm; embedding không đổi). Độ lệch là đúng $\delta$,
#   giống nhau ở mọi token ($\rho \approx 0$).
# - `h.0.attn.c_attn`: vẫn là phép dịch hằng, vì một phép dịch hằng đi qua lớp tuyến tính
#   ($(x + c)W + b + \delta = xW + b + (cW + \delta)$) vẫn là phép dịch hằng.
# - `h.0.attn` trở đi: query dịch đi một vectơ hằng làm đổi trọng số chú ý *khác nhau ở từng token* (số hạng
#   $b_q^\top k_j$), nên $\rho$ lớn. Sau đó LayerNorm chuẩn hóa lại theo từng token, GELU bật/tắt các đơn vị tùy
#   dấu của đầu vào đã dịch: những phép dịch hằng ban đầu trở thành thay đổi phụ thuộc đầu vào.
#
# Còn một phép đo nữa, trực tiếp về "cấu trúc biểu diễn": biểu diễn mà bộ phân loại đọc là trạng thái ẩn cuối
# (`ln_f`) ở token cuối của mỗi câu. Ta so ma trận khoảng cách giữa các câu trước và sau BitFit,
# $\lVert D^{\text{BitFit}} - D^{\text{nền}} \rVert / \lVert D^{\text{nền}} \rVert$ (bằng 0 nếu chỉ là phép dịch), và
# đếm số câu đổi nhãn dự đoán.


# %%
def sentence_vectors(m: nn.Module) -> torch.Tensor:
    """Trạng thái ẩn cuối ở vị trí trả lời của mỗi câu (chỗ đầu LM đoán token nhãn)."""
    with torch.no_grad():
        h = m(**probe, output_hidden_states=True).hidden_states[-1]
    pos = course.validation.answer_pos[PROBE].to(h.device)
    return h[torch.arange(h.shape[0], device=h.device), pos]


def predicted_labels(m: nn.Module) -> torch.Tensor:
    """Nhãn dự đoán: token nhãn có logit lớn nhất ở vị trí trả lời (như `evaluate`)."""
    with torch.no_grad():
        logits = m(**probe).logits
    return course.validation.label_logits(logits, PROBE).argmax(-1)


v_base, v_fit = sentence_vectors(base_model), sentence_vectors(model)
D_base, D_fit = torch.cdist(v_base, v_base), torch.cdist(v_fit, v_fit)
structure_change = ((D_fit - D_base).norm() / D_base.norm()).item()
flipped = (predicted_labels(model) != predicted_labels(base_model)).sum()
shift = (v_fit - v_base).mean(0)
D_shift = torch.cdist(v_base + shift, v_base + shift)  # cùng Δ trung bình, chỉ dịch
shift_change = ((D_shift - D_base).norm() / D_base.norm()).item()
print(
    f"Khoảng cách giữa {len(v_base)} câu ở trạng thái ẩn cuối"
    f" đổi {100 * structure_change:.1f}%"
)
print(f"(một phép dịch hằng cùng cỡ: {100 * shift_change:.1e}%)")
print(f"Số câu đổi nhãn dự đoán: {int(flipped)}/{len(v_base)}")

# %% [markdown]
# > **Bài viết gốc nói** (mục 4.4.2): bias "chủ yếu dịch chuyển phân phối", $P'(y \mid x) = P(y - b \mid x)$,
# > "ảnh hưởng yếu tới cấu trúc biểu diễn".
# >
# > **Đo được** (ô trên và ô dưới, trên mô hình của bài): đúng **cho một lớp affine**: ở chỗ bias đi vào và qua
# > lớp tuyến tính kế tiếp, độ lệch là một phép dịch hằng ($\rho \approx 0$), khoảng cách giữa các token không
# > đổi. **Sai cho cả mạng**: sau attention, LayerNorm và GELU, độ lệch khác nhau theo từng token ($\rho$ lớn),
# > khoảng cách giữa các câu ở trạng thái ẩn cuối đổi, và nhãn dự đoán đổi theo — đó chính là cách BitFit học
# > được bài toán. Giới hạn thật của BitFit là *số* bậc tự do ($11dL + d$ trên GPT-2) và việc chúng chỉ tác động
# > qua những phép dịch ấy, không phải là nó "chỉ dịch phân phối". Kết luận in dưới đây được tính từ chính các số
# > đo.

# %% tags=["nbval-ignore-output"]
if IS_GPT2:
    local = max(rho[s] for s in sites[:2])
    after = min(rho[s] for s in sites[2:])
    final = rho["transformer.ln_f"]
    print(
        f"Tại chỗ bias đi vào (ln_1, c_attn của khối 0): ρ ≤ {local:.1e} → "
        + ("đúng là phép dịch hằng." if local < 1e-3 else "KHÔNG phải phép dịch hằng.")
    )
    print(
        f"Sau attention của khối 0: ρ ≥ {after:.2f} ({after / local:,.0f} lần); "
        f"ở ln_f: ρ = {final:.2f} → "
        + ("không còn là phép dịch." if final > 0.1 else "vẫn gần như phép dịch.")
    )
print(
    f"Cấu trúc biểu diễn cuối: khoảng cách giữa các câu đổi"
    f" {100 * structure_change:.1f}%, "
    f"{int(flipped)}/{len(v_base)} câu đổi nhãn → "
    + (
        "ảnh hưởng tới cấu trúc không yếu."
        if structure_change > 0.01 and flipped > 0
        else "ảnh hưởng yếu trong lần chạy này."
    )
)

# %% [markdown]
# ## Đối chiếu
#
# ### Với `peft_course.bitfit`
# Bản của khóa học bọc mỗi lớp bằng `BiasDelta` ($y = \text{lớp}(x) + \delta$). Ta kiểm tra: số tham số theo
# từng nhóm bằng công thức; bước 0 không đổi; huấn luyện $\delta$ cho đúng cùng mất mát từng bước như huấn luyện
# thẳng các bias (ở đây các bias được huấn luyện tại chỗ bằng `freeze`, còn `apply_bitfit(which="all")` bọc
# chúng trong `BiasDelta`: cùng số tham số, cùng gradient); và `merged_bias()` chỉ đổi phần q của bias gộp.

# %%
from peft_course import train
from peft_course.bitfit import BiasDelta, BitFitConfig, apply_bitfit

groups = ["attention_query", "layernorm", "mlp", "all"] if IS_GPT2 else ["all"]
for which in groups:
    m = course.fresh_model()
    names = apply_bitfit(m, BitFitConfig(which))
    n = count_parameters(m).trainable
    assert n == (formula[which] if IS_GPT2 else n_biases), which
    with torch.no_grad():
        assert torch.equal(m(**batch).logits, base_model(**batch).logits), which
    print(f"{which:>16}: {n:6,} tham số, bọc {len(names)} mô-đun, ví dụ {names[0]}")

direct, wrapped = course.fresh_model(), course.fresh_model()
freeze(direct, r"\.bias$")
apply_bitfit(wrapped, BitFitConfig("all"))
a = train(direct, course.train, steps=5, lr=1e-2, progress=False).loss
b = train(wrapped, course.train, steps=5, lr=1e-2, progress=False).loss
assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4
print("mất mát (bias tại chỗ):", [round(x, 4) for x in a])
print("mất mát (δ của gói):   ", [round(x, 4) for x in b])

# %%
if IS_GPT2:
    ref = course.fresh_model()
    apply_bitfit(ref, BitFitConfig("attention_query"))
    q0 = ref.transformer.h[0].attn.c_attn
    with torch.no_grad():
        q0.delta.normal_()
    merged = q0.merged_bias()
    assert torch.equal(merged[d:], q0.base_layer.bias[d:])
    assert not torch.equal(merged[:d], q0.base_layer.bias[:d])
    print("merged_bias() chỉ đổi phần q (d phần tử đầu) của bias gộp.")
else:
    print(SKIP)

# %% [markdown]
# Một mô hình đã mang một phương pháp thì không áp thêm phương pháp khác lên (kể cả BitFit lần hai): gói từ
# chối và nêu phương pháp đã thấy. Mô hình `model` ở trên đã được mở băng các bias bằng `freeze`:

# %% tags=["nbval-check-output"]
try:
    apply_bitfit(model, BitFitConfig("attention_query"))
except CourseError as e:
    print("CourseError:", e)

# %% [markdown]
# ### Với huggingface/peft
# huggingface/peft (và thư viện `adapters`) không có BitFit như một phương pháp riêng. Gần nhất là tùy chọn
# `bias="all"` của `LoraConfig`: nó huấn luyện LoRA *cộng thêm* mọi tham số có tên chứa `bias`. Trừ phần LoRA
# ($r(d + 3d)$ mỗi lớp `c_attn`) đi, số còn lại phải đúng bằng $11dL + d$.

# %% tags=["nbval-check-output"]
from peft import LoraConfig, get_peft_model

if IS_GPT2:
    r = 4
    cfg = LoraConfig(r=r, target_modules=["c_attn"], bias="all", fan_in_fan_out=True)
    pm = get_peft_model(course.fresh_model(), cfg)
    peft_trainable = sum(p.numel() for p in pm.parameters() if p.requires_grad)
    lora_part = L * r * (d + 3 * d)
    assert peft_trainable - lora_part == formula["all"]
    print(
        f"peft LoRA r={r} + bias='all': {peft_trainable:,} = LoRA {lora_part:,}"
        f" + bias {peft_trainable - lora_part:,}"
    )
else:
    print(SKIP)

# %% [markdown]
# ## Thí nghiệm với widget
# Núm: nhóm bias được huấn luyện. Thanh trượt vẽ số tham số huấn luyện theo nhóm, so với tinh chỉnh toàn bộ
# (hình vẽ sẵn cho mọi nhóm, nên trang web tĩnh cũng đổi được). Hộp chọn và nút "Huấn luyện" chạy 150 bước với
# nhóm đã chọn và vẽ cạnh tinh chỉnh toàn bộ; nhóm "attention_query" được huấn luyện sẵn, các nhóm khác cần một
# kernel (Colab hoặc Jupyter). Đây cũng là lần chạy minh họa, một seed.

# %% tags=["nbval-ignore-output"]
from peft_course.widgets import knob_explorer, training_explorer

COLAB_URL = (
    "https://colab.research.google.com/github/peft-course/peft-course/blob/main/"
    "notebooks/01_bitfit.ipynb"
)


def bitfit_model(which: str) -> nn.Module:
    """Mô hình nền mới đã áp BitFit với nhóm bias `which`."""
    m = course.fresh_model()
    apply_bitfit(m, BitFitConfig(which))
    return m


knob_counts = knob_explorer(
    groups,
    lambda w: count_parameters(bitfit_model(w)).trainable,
    full=P,
    knob="nhóm bias",
    value=groups[0],
)
if IS_GPT2:
    assert knob_counts == {w: formula[w] for w in groups}

# %% tags=["nbval-ignore-output"]
explored = training_explorer(
    course,
    bitfit_model,
    "bitfit",
    groups,
    baseline=full,
    knob="nhóm bias",
    value=groups[0],
    colab_url=COLAB_URL,
)
for v, res in explored.items():
    res.name = f"BitFit ({v})"

# %% [markdown]
# ## Đo đạc
#
# ### Số đã công bố (bench, hội tụ, 3 seed)
# Mọi so sánh về độ chính xác và "% phần tăng của tinh chỉnh toàn bộ" lấy từ kết quả của `bench/compare.py` theo
# giao thức đo chung của khóa học: tốc độ học chọn trên validation, tới 600 bước, giữ checkpoint tốt nhất trên
# validation, 3 seed (trung bình ± độ lệch chuẩn), trên mô hình đóng gói. Ô dưới đọc chúng qua `peft_course.report`;
# nếu tệp kết quả chưa có, nó nói cách sinh ra.


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


published, ready = load_published(["full", "bitfit"])
if ready == ["full", "bitfit"]:
    display(Markdown(report.published_table(published, ready)))
    share = report.gain_share(published, "bitfit")
    best = report.stat(published, "bitfit", "best_step")
    full_best = report.stat(published, "full", "best_step")
    print(
        f"BitFit (mọi bias): {share.fmt('.0f', unit='%')} phần tăng của tinh chỉnh "
        f"toàn bộ, {share.n} seed"
    )
    print(
        f"Bước của checkpoint tốt nhất: BitFit {best.fmt('.0f')}, "
        f"toàn bộ {full_best.fmt('.0f')}"
    )
    if best.mean is not None and full_best.mean is not None:
        more = "cần nhiều" if best.mean > full_best.mean else "không cần nhiều"
        print(f"→ BitFit {more} bước hơn tinh chỉnh toàn bộ")

# %% [markdown]
# So với lần chạy minh họa 150 bước ở trên: BitFit cập nhật ít tham số, với tốc độ học lớn; dòng "bước của
# checkpoint tốt nhất" ở trên cho biết nó cần bao nhiêu bước so với tinh chỉnh toàn bộ. Một lần chạy cắt ở 150
# bước đo ngân sách chứ không đo phương pháp: nếu phương pháp chưa tới checkpoint tốt nhất của nó, phần tăng
# trông nhỏ hơn khi đã hội tụ. Ô dưới tính phần tăng của lần chạy minh họa để bạn so với số đã công bố.

# %% tags=["nbval-ignore-output"]
gain = full.test_accuracy - base.test_accuracy
demo_share = (
    (bitfit_all.test_accuracy - base.test_accuracy) / gain if gain > 0 else float("nan")
)
print(
    f"Lần chạy minh họa ({experiments.DEFAULT_STEPS} bước, 1 seed):"
    f" {100 * demo_share:.0f}%"
    " phần tăng của toàn bộ"
)
if "bitfit" in ready:
    share = report.gain_share(published, "bitfit")
    print(f"Bench (hội tụ, {share.n} seed):", share.fmt(".0f", unit="%"))

# %% [markdown]
# ### Số đo trên máy của bạn (minh họa)
# Bảng dưới là các lần chạy minh họa trong bài (một seed, 150 bước), do máy của bạn đo; cột bộ nhớ là RSS đỉnh
# của tiến trình, không phải bộ nhớ theo phần của bench. Thời gian mỗi bước của BitFit không nhỏ đi theo tỉ lệ số
# tham số: lan truyền ngược vẫn phải đi qua mọi lớp (bias của `ln_1` lớp đầu tiên cần gradient của activation đi
# ngược qua cả mạng); chỉ gradient của các ma trận trọng số và bước Adam cho chúng là được bỏ.

# %% tags=["nbval-ignore-output", "live-timing"]
rows = [full, bitfit_all, *explored.values(), base]
display(Markdown(experiments.results_table(rows, full, base)))
plot_histories(
    {r.name: r.history for r in [full, bitfit_all, *explored.values()]},
    title=f"BitFit, minh họa {experiments.DEFAULT_STEPS} bước",
)
plt.show()

# %% [markdown]
# ## Tóm tắt
# - BitFit chỉ học các bias: $11dL + d$ tham số cho mọi bias của GPT-2 ($102{,}144$ trên GPT-2 small, $0{,}08\%$);
#   có thể học một phần (chỉ query: $dL$).
# - Bias gộp q/k/v của GPT-2 buộc ta chọn: mặt nạ gradient hay một $\delta$ riêng cho phần q. Khóa học dùng $\delta$
#   riêng (`BiasDelta`): đúng số tham số, trọng số nền không đổi, gộp lại bằng $b + \delta$.
# - Bias của k vô dụng (softmax bất biến khi cộng hằng), bias của v là một phép dịch hằng ở đầu ra attention.
# - Một bias là phép dịch hằng ở chỗ nó đi vào ($\rho \approx 0$), nhưng sau attention, LayerNorm và GELU thay đổi
#   đã phụ thuộc đầu vào, khoảng cách giữa các câu ở trạng thái ẩn cuối đổi và nhãn dự đoán đổi: "bias chỉ dịch
#   phân phối" của bài viết gốc đúng cho một lớp affine, không đúng cho cả mạng.
# - So sánh độ chính xác chỉ đọc từ bench (hội tụ, checkpoint tốt nhất, 3 seed): một lần chạy 150 bước đánh giá
#   thấp BitFit vì nó cần nhiều bước hơn tinh chỉnh toàn bộ.
# - Mỗi bước huấn luyện không rẻ đi theo tỉ lệ số tham số: lan truyền ngược vẫn đi qua cả mạng.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** GPT-2 medium có $d = 1024$, $L = 24$. BitFit với mọi bias có bao nhiêu tham số? Chỉ query?


# %%
def check_medium(all_biases: int, query_only: int) -> None:
    assert all_biases == 11 * 1024 * 24 + 1024, "Mỗi khối 11d bias, thêm d của ln_f."
    assert query_only == 1024 * 24, "Chỉ phần q của c_attn: d mỗi khối."
    print(f"Đúng: {all_biases:,} và {query_only:,}.")


my_all, my_query = None, None
if my_all is not None:
    check_medium(my_all, my_query)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# $11 \cdot 1024 \cdot 24 + 1024 = 271{,}360$; chỉ query: $1024 \cdot 24 = 24{,}576$.
#
# </details>
#
# **Bài 2 (vừa).** Gộp BitFit vào một mô hình thường: viết `merge_bitfit(wrapped)` trả về một mô hình nền mới
# (không có lớp bọc) mà bias của mỗi lớp được thay bằng `merged_bias()` của `BiasDelta` tương ứng. Mô hình gộp
# phải cho cùng logits với mô hình bọc.


# %%
def check_merge(merge_fn) -> None:
    wrapped_model = bitfit_model("attention_query")
    with torch.no_grad():
        for m in wrapped_model.modules():
            if isinstance(m, BiasDelta):
                m.delta.normal_(std=0.1)
    merged_model = merge_fn(wrapped_model)
    assert not any(isinstance(m, BiasDelta) for m in merged_model.modules()), (
        "Mô hình gộp vẫn còn BiasDelta."
    )
    with torch.no_grad():
        assert torch.allclose(
            merged_model(**batch).logits, wrapped_model(**batch).logits, atol=1e-5
        ), "Logits khác."
    print("Đúng: mô hình gộp cho cùng logits, không còn lớp bọc.")


def merge_bitfit(wrapped_model: nn.Module) -> nn.Module:
    raise NotImplementedError  # viết ở đây


try:
    check_merge(merge_bitfit)
except NotImplementedError:
    print("Chưa làm bài 2.")

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def merge_bitfit(wrapped_model):
#     merged = course.fresh_model()
#     with torch.no_grad():
#         for name, m in wrapped_model.named_modules():
#             if isinstance(m, BiasDelta):
#                 merged.get_submodule(name).bias.copy_(m.merged_bias())
#     return merged
# ```
# Vì BitFit chỉ đổi bias, gộp lại không tốn gì lúc suy luận — khác với adapter (bài 2).
#
# </details>
#
# **Bài 3 (vừa).** Bài báo BitFit có một biến thể rất nhỏ: chỉ bias của query và của lớp MLP giữa (`mlp.c_fc`).
# Tự áp nó bằng `BiasDelta` (phần q của `c_attn` và cả bias của `c_fc` ở mọi khối), đóng băng phần còn lại, và
# kiểm tra số tham số bằng $dL + 4dL = 5dL$.


# %%
def check_query_fc(m: nn.Module) -> None:
    assert count_parameters(m).trainable == 5 * d * L, (
        f"Cần {5 * d * L:,}, đang có {count_parameters(m).trainable:,}."
    )
    wrapped_names = sorted(n for n, x in m.named_modules() if isinstance(x, BiasDelta))
    assert len(wrapped_names) == 2 * L and all(
        n.endswith(("attn.c_attn", "mlp.c_fc")) for n in wrapped_names
    )
    with torch.no_grad():
        assert torch.equal(m(**batch).logits, base_model(**batch).logits), (
            "Bước 0 phải không đổi (δ = 0)."
        )
    print(f"Đúng: {5 * d * L:,} tham số ({100 * 5 * d * L / P:.3f}%).")


def query_and_fc_model() -> nn.Module:
    raise NotImplementedError  # viết ở đây


try:
    check_query_fc(query_and_fc_model())
except NotImplementedError:
    print("Chưa làm bài 3.")

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def query_and_fc_model():
#     m = course.fresh_model()
#     for p in m.parameters():
#         p.requires_grad_(False)
#     for block in m.transformer.h:
#         block.attn.c_attn = BiasDelta(block.attn.c_attn, size=d)  # phần q: d đầu
#         block.mlp.c_fc = BiasDelta(block.mlp.c_fc)
#     return m
# ```
# Huấn luyện nó bằng `experiments.run(course, "BitFit q + c_fc", m, "bitfit")` và so với hàng "mọi bias" trong bảng.
#
# </details>
#
# **Bài 4 (mở).** Dùng widget huấn luyện với cả bốn nhóm. Nhóm nào tốt nhất trên mỗi tham số? Thử thêm một mô hình
# chỉ có $\delta$ cho phần **k** của `c_attn` (`BiasDelta(c_attn, size=d, offset=d)`): độ chính xác có khác mô hình
# nền không? Giải thích bằng khai triển $q_i^\top k_j$ ở phần Ý tưởng.


# %%
def check_key_only(result) -> None:
    gap = abs(result.test_accuracy - base.test_accuracy)
    print(
        f"chỉ bias k: acc test {result.test_accuracy:.3f}, "
        f"mô hình nền {base.test_accuracy:.3f} (chênh {gap:.3f})"
    )
    assert gap < 0.01, (
        "Bias k không được có tác dụng: kiểm tra lại offset (phần k là [d, 2d))."
    )
    print("Đúng: bias của k không đổi được dự đoán nào.")


# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# m = course.fresh_model()
# for p in m.parameters():
#     p.requires_grad_(False)
# for block in m.transformer.h:
#     block.attn.c_attn = BiasDelta(block.attn.c_attn, size=d, offset=d)
# check_key_only(experiments.run(course, "chỉ bias k", m, "bitfit", progress=False))
# ```
# Gradient theo bias k bằng 0 đến sai số làm tròn. (Adam chia gradient cho độ lớn của nó, nên $\delta$ vẫn trôi
# theo nhiễu làm tròn — nhưng $\delta$ nào cũng không đổi được softmax.) Độ chính xác bằng của mô hình nền, có thể
# lệch một ví dụ do làm tròn. Về bốn nhóm: hãy đọc bảng của bạn, nhớ rằng đó là các lần chạy 150 bước, một seed.
# Nhóm "query" ($dL$ tham số) chỉ thêm một sở thích key cố định $b_q^\top k_j$ ở mỗi đầu chú ý; bias của MLP (tác
# động ngay trước GELU) và của LayerNorm (sau chuẩn hóa) có nhiều chỗ bám hơn. Để kết luận nhóm nào tốt hơn trên
# mỗi tham số, cần đúng giao thức của bench: chọn tốc độ học trên validation, chạy tới khi validation phẳng, vài
# seed — một lần chạy ngắn chỉ cho biết nhóm nào *học nhanh hơn* ở tốc độ học này.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Ben Zaken, E., Ravfogel, S. và Goldberg, Y. (2021). *BitFit: Simple Parameter-efficient Fine-tuning for
#   Transformer-based Masked Language-models*. arXiv:2106.10199 (ACL 2022).
# - Cai, H. và cộng sự (2020). *TinyTL: Reduce Memory, Not Parameters for Efficient On-Device Learning*. NeurIPS
#   (chỉ huấn luyện bias để tiết kiệm bộ nhớ activation, và giới hạn của cách đó).
# - Vaswani, A. và cộng sự (2017). *Attention Is All You Need* (softmax của attention).
# - huggingface/peft: `LoraConfig(bias="all")`, https://huggingface.co/docs/peft.

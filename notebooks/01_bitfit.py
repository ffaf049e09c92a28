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
# Thiết lập: trên Colab cài gói peft_course (ghim theo phiên bản); ở nơi khác không làm gì.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "peft-course @ git+https://github.com/peft-course/peft-course@v0.1.0"], check=True)

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
# - so BitFit với tinh chỉnh toàn bộ: số tham số huấn luyện, thời gian mỗi bước, bộ nhớ, độ chính xác.

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
import matplotlib.pyplot as plt
import torch
from torch import nn

from peft_course import count_parameters, experiments, freeze
from peft_course.plots import plot_histories

torch.manual_seed(0)
course = experiments.prepare()
model = course.fresh_model()
d, L = model.config.n_embd, model.config.n_layer
P = count_parameters(model).total

formula = {"all": 11 * d * L + d, "attention_query": d * L, "mlp": 5 * d * L, "layernorm": 2 * d * L + d}
biases = {n: p for n, p in model.named_parameters() if n.endswith(".bias")}
assert sum(p.numel() for p in biases.values()) == formula["all"]

# %%
# NBVAL_CHECK_OUTPUT
for n, p in list(biases.items())[:6]:
    print(f"{n:32s} {tuple(p.shape)}")
print(f"… {len(biases)} tensor bias, tổng {formula['all']:,} = 11dL + d ({100 * formula['all'] / P:.3f}% của {P:,})")
for which, n in formula.items():
    print(f"{which:>16}: {n:6,} tham số ({100 * n / P:.3f}%)")
print(f"GPT-2 small, mọi bias: {11 * 768 * 12 + 768:,}")

# %% [markdown]
# ### BitFit đơn giản nhất: mở băng các tensor `.bias`
# Với nhóm "mọi bias", chỉ cần `freeze(model, r"\.bias$")`: mỗi tensor bias được huấn luyện tại chỗ.

# %%
n = freeze(model, r"\.bias$")
assert n == formula["all"] == count_parameters(model).trainable
assert all(p.requires_grad == name.endswith(".bias") for name, p in model.named_parameters())

# %% [markdown]
# Kiểm tra phần khai triển ở trên: sau một lần lan truyền ngược, gradient của phần k trong bias gộp `c_attn`
# (các phần tử $d \dots 2d$) bằng 0 (đến sai số làm tròn), còn phần q và v thì không.

# %%
batch = course.train.batch(slice(0, 64), course.device)
model(**batch).loss.backward()
g = model.transformer.h[0].attn.c_attn.bias.grad
q_grad, k_grad, v_grad = g[:d].abs().max().item(), g[d:2 * d].abs().max().item(), g[2 * d:].abs().max().item()
print(f"max |grad| phần q: {q_grad:.2e} | phần k: {k_grad:.2e} | phần v: {v_grad:.2e}")
assert k_grad < 1e-5 * max(q_grad, v_grad)
model.zero_grad(set_to_none=True)

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
        self.base_layer = c_attn
        self.delta = nn.Parameter(torch.zeros(d, device=c_attn.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        d = self.delta.numel()
        return torch.cat([y[..., :d] + self.delta, y[..., d:]], dim=-1)


query_model = course.fresh_model()
for p in query_model.parameters():
    p.requires_grad_(False)
for block in query_model.transformer.h:
    block.attn.c_attn = QueryBias(block.attn.c_attn, d)

base_model = course.fresh_model()
with torch.no_grad():
    assert torch.equal(query_model(**batch).logits, base_model(**batch).logits)  # bước 0: không đổi
assert count_parameters(query_model).trainable == formula["attention_query"]
print(f"query: {count_parameters(query_model)}")

# %% [markdown]
# ### Huấn luyện BitFit (mọi bias)
# Dùng công thức chung của khóa học (150 bước, lô 32, tốc độ học `RECIPES["bitfit"]`, cao hơn nhiều so với tinh
# chỉnh toàn bộ vì mỗi bias chỉ dịch một chút). Sau huấn luyện: mọi trọng số không phải bias giống hệt mô hình nền
# từng bit, các bias đã đổi.

# %%
# NBVAL_IGNORE_OUTPUT
full = experiments.full_baseline(course)  # từ bộ đệm của bài 0 (huấn luyện lại nếu chưa có)
base = experiments.base_result(course)
print("tốc độ học:", experiments.RECIPES["bitfit"])
bitfit_all = experiments.run(course, "BitFit (mọi bias, tự xây)", model, "bitfit", progress=False)
plot_histories({"tinh chỉnh toàn bộ": full.history, bitfit_all.name: bitfit_all.history}, title="BitFit")
plt.show()
print(f"BitFit: acc test {bitfit_all.test_accuracy:.3f} | toàn bộ: {full.test_accuracy:.3f} | nền: {base.test_accuracy:.3f}")

# %%
for (name, p), (_, p0) in zip(model.named_parameters(), base_model.named_parameters()):
    if name.endswith(".bias"):
        assert not torch.equal(p, p0) or ".attn.c_attn" in name, name
    else:
        assert torch.equal(p, p0) and p.grad is None, name
assert bitfit_all.trainable == formula["all"]
print("Mọi trọng số không phải bias giống hệt mô hình nền; các bias đã đổi.")

# %% [markdown]
# ### Một bias làm được gì? Đo trên trạng thái ẩn
# Ở chỗ bias đi vào, nó cộng **cùng một vectơ** vào mọi vị trí của mọi câu. Ta ghi đầu ra của vài mô-đun (bằng
# forward hook) trên cùng một lô, cho mô hình nền và mô hình sau BitFit, rồi xét độ lệch
# $\Delta_t = h^{\text{BitFit}}_t - h^{\text{nền}}_t$ tại mọi token thật $t$. Nếu $\Delta_t$ là một phép dịch hằng
# thì $\Delta_t$ bằng nhau ở mọi token; ta đo phần *không* hằng:
#
# $$\rho = \frac{\lVert \Delta - \bar{\Delta} \rVert}{\lVert \Delta \rVert}, \qquad \bar{\Delta} = \text{trung bình của } \Delta_t \text{ trên các token}.$$
#
# $\rho = 0$: thay đổi là một phép dịch hằng; $\rho$ gần 1: thay đổi khác nhau ở từng token.

# %%
sites = ["transformer.h.0.ln_1", "transformer.h.0.attn.c_attn", "transformer.h.0.attn", "transformer.h.0.ln_2",
         "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp", "transformer.h.1.ln_1", f"transformer.h.{L - 1}",
         "transformer.ln_f"]


def capture(m: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
    """Đầu ra của các mô-đun trong `sites` (phần tử đầu nếu là tuple)."""
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


probe = course.validation.batch(slice(0, 64), course.device)
real = probe["attention_mask"].bool()  # chỉ các token thật, bỏ phần đệm
h_base, h_fit = capture(base_model, probe), capture(model, probe)
rho = {}
for name in sites:
    delta = (h_fit[name] - h_base[name])[real]  # (số token, số chiều)
    rho[name] = ((delta - delta.mean(0)).norm() / delta.norm()).item()

fig, ax = plt.subplots(figsize=(9, 3.4))
ax.bar(range(len(sites)), [rho[s] for s in sites], color=["tab:green" if rho[s] < 1e-3 else "tab:blue" for s in sites])
ax.set_xticks(range(len(sites)), [s.replace("transformer.", "") for s in sites], rotation=30, ha="right")
ax.set(ylabel="ρ (phần không hằng của Δ)", title="Sau BitFit: độ lệch trạng thái ẩn có là phép dịch hằng không?")
fig.tight_layout()
plt.show()
for s in sites:
    print(f"{s:30s} ρ = {rho[s]:.2e}")
assert rho["transformer.h.0.ln_1"] < 1e-3 and rho["transformer.h.0.attn.c_attn"] < 1e-3
assert min(rho[s] for s in sites[2:]) > 100 * max(rho[s] for s in sites[:2])  # sau attention: không còn hằng

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
# **"Bias chỉ dịch phân phối"?** Một số bài viết nói BitFit "chỉ dịch chuyển phân phối" của các kích hoạt. Điều đó
# đúng *tại chỗ bias đi vào*: bias không thể khiến một lớp xử lý hai token khác nhau theo cách mới, không đổi được
# $W$ (không xoay, không co giãn không gian biểu diễn), và có những bias vô dụng (phần k) hoặc tương đương một
# phép dịch hằng ở đầu ra (phần v). Nhưng với cả mạng thì câu ấy sai: các phép dịch hằng, sau phi tuyến và
# attention, thành thay đổi khác nhau theo token và theo câu — đủ để đổi dự đoán nhãn, như bảng đo đạc dưới đây
# cho thấy. Giới hạn thật của BitFit là *số* bậc tự do ($11dL + d$) và việc chúng chỉ tác động qua những phép dịch
# ấy, không phải là nó "chỉ dịch".

# %% [markdown]
# ## Đối chiếu
#
# ### Với `peft_course.bitfit`
# Bản của khóa học bọc mỗi lớp bằng `BiasDelta` ($y = \text{lớp}(x) + \delta$). Ta kiểm tra: số tham số theo
# từng nhóm bằng công thức; bước 0 không đổi; huấn luyện $\delta$ cho đúng cùng mất mát từng bước như huấn luyện
# thẳng các bias; và `QueryBias` tự xây cho cùng đầu ra với bản của gói khi có cùng $\delta$.

# %%
from peft_course import train
from peft_course.bitfit import BiasDelta, BitFitConfig, apply_bitfit

for which, n in formula.items():
    m = course.fresh_model()
    names = apply_bitfit(m, BitFitConfig(which))
    assert count_parameters(m).trainable == n, which
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

ref = course.fresh_model()
apply_bitfit(ref, BitFitConfig("attention_query"))
with torch.no_grad():
    for mine, theirs in zip(query_model.transformer.h, ref.transformer.h):
        mine.attn.c_attn.delta.normal_()
        theirs.attn.c_attn.delta.copy_(mine.attn.c_attn.delta)
    assert torch.allclose(query_model(**batch).logits, ref(**batch).logits, atol=1e-5)
merged = ref.transformer.h[0].attn.c_attn.merged_bias()
assert torch.equal(merged[d:], ref.transformer.h[0].attn.c_attn.base_layer.bias[d:])
print("QueryBias tự xây = BiasDelta của gói; merged_bias() chỉ đổi phần q.")

# %% [markdown]
# ### Với huggingface/peft
# huggingface/peft (và thư viện `adapters`) không có BitFit như một phương pháp riêng. Gần nhất là tùy chọn
# `bias="all"` của `LoraConfig`: nó huấn luyện LoRA *cộng thêm* mọi tham số có tên chứa `bias`. Trừ phần LoRA
# ($r(d + 3d)$ mỗi lớp `c_attn`) đi, số còn lại phải đúng bằng $11dL + d$.

# %%
# NBVAL_CHECK_OUTPUT
import warnings

from peft import LoraConfig, get_peft_model

warnings.filterwarnings("ignore", category=FutureWarning)  # cảnh báo ngừng hỗ trợ của transformers, không liên quan

r = 4
pm = get_peft_model(course.fresh_model(), LoraConfig(r=r, target_modules=["c_attn"], bias="all", fan_in_fan_out=True))
peft_trainable = sum(p.numel() for p in pm.parameters() if p.requires_grad)
lora_part = L * r * (d + 3 * d)
assert peft_trainable - lora_part == formula["all"]
print(f"peft LoRA r={r} + bias='all': {peft_trainable:,} = LoRA {lora_part:,} + bias {peft_trainable - lora_part:,}")

# %% [markdown]
# ## Thí nghiệm với widget
# Núm: nhóm bias được huấn luyện. Thanh trượt vẽ số tham số huấn luyện theo nhóm, so với tinh chỉnh toàn bộ;
# nút "Huấn luyện" chạy 150 bước với nhóm đã chọn (mặc định: chỉ query) và vẽ cạnh tinh chỉnh toàn bộ.

# %%
# NBVAL_IGNORE_OUTPUT
from peft_course.widgets import knob_explorer, training_explorer

groups = ["attention_query", "layernorm", "mlp", "all"]


def bitfit_model(which: str) -> nn.Module:
    m = course.fresh_model()
    apply_bitfit(m, BitFitConfig(which))
    return m


knob_counts = knob_explorer(groups, lambda w: count_parameters(bitfit_model(w)).trainable, full=P, knob="which",
                            value="attention_query")
assert knob_counts == {w: formula[w] for w in groups}

# %%
# NBVAL_IGNORE_OUTPUT
explored = training_explorer(course, bitfit_model, "bitfit", groups, baseline=full, knob="which", value="attention_query")
for v, res in explored.items():
    res.name = f"BitFit ({v})"

# %% [markdown]
# ## Đo đạc
# Các số do máy của bạn đo. Thời gian mỗi bước của BitFit không nhỏ hơn tinh chỉnh toàn bộ theo tỉ lệ số tham số:
# lan truyền ngược vẫn phải đi qua mọi lớp (bias của `ln_1` lớp đầu tiên cần gradient của activation đi ngược qua
# cả mạng); chỉ gradient của các ma trận trọng số và bước Adam cho chúng là được bỏ.

# %%
# NBVAL_IGNORE_OUTPUT
from IPython.display import Markdown, display

display(Markdown(experiments.results_table([full, bitfit_all, *explored.values(), base], full, base)))
plot_histories({r.name: r.history for r in [full, bitfit_all, *explored.values()]}, title="Bài 1")
plt.show()

# %% [markdown]
# ## Tóm tắt
# - BitFit chỉ học các bias: $11dL + d$ tham số cho mọi bias của GPT-2 ($102{,}144$ trên GPT-2 small, $0{,}08\%$);
#   có thể học một phần (chỉ query: $dL$).
# - Bias gộp q/k/v của GPT-2 buộc ta chọn: mặt nạ gradient hay một $\delta$ riêng cho phần q. Khóa học dùng $\delta$
#   riêng (`BiasDelta`): đúng số tham số, trọng số nền không đổi, gộp lại bằng $b + \delta$.
# - Bias của k vô dụng (softmax bất biến khi cộng hằng), bias của v là một phép dịch hằng ở đầu ra attention.
# - Một bias là phép dịch hằng ở chỗ nó đi vào ($\rho \approx 0$), nhưng sau attention, LayerNorm và GELU thay đổi
#   đã phụ thuộc đầu vào: "chỉ dịch phân phối" đúng cho từng lớp, không đúng cho cả mạng.
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
    assert not any(isinstance(m, BiasDelta) for m in merged_model.modules()), "Mô hình gộp vẫn còn BiasDelta."
    with torch.no_grad():
        assert torch.allclose(merged_model(**batch).logits, wrapped_model(**batch).logits, atol=1e-5), "Logits khác."
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
    assert count_parameters(m).trainable == 5 * d * L, f"Cần {5 * d * L:,}, đang có {count_parameters(m).trainable:,}."
    wrapped_names = sorted(n for n, x in m.named_modules() if isinstance(x, BiasDelta))
    assert len(wrapped_names) == 2 * L and all(n.endswith(("attn.c_attn", "mlp.c_fc")) for n in wrapped_names)
    with torch.no_grad():
        assert torch.equal(m(**batch).logits, base_model(**batch).logits), "Bước 0 phải không đổi (δ = 0)."
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
#         block.attn.c_attn = BiasDelta(block.attn.c_attn, size=d)  # phần q: d phần tử đầu
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
    print(f"chỉ bias k: acc test {result.test_accuracy:.3f}, mô hình nền {base.test_accuracy:.3f} (chênh {gap:.3f})")
    assert gap < 0.01, "Bias k không được có tác dụng: kiểm tra lại offset (phần k là [d, 2d))."
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
# lệch một ví dụ do làm tròn. Về bốn nhóm: hãy đọc bảng của bạn. Trên mô hình nhỏ này, với cùng 150 bước và cùng tốc
# độ học, nhóm "query" ($dL$ = 768 tham số) thường gần như không nhích khỏi mô hình nền: nó chỉ thêm một sở thích
# key cố định $b_q^\top k_j$ ở mỗi đầu chú ý. Bias của MLP (tác động ngay trước GELU) và của LayerNorm (sau chuẩn
# hóa) có nhiều chỗ bám hơn; so chúng trong bảng của bạn với "mọi bias" và với tinh chỉnh toàn bộ.
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

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
# Sau bài này bạn sẽ:
# - viết được một lớp **LoRA** (thích ứng hạng thấp) bọc quanh một lớp tuyến tính đã **đóng băng**, cho cả
#   `nn.Linear` lẫn `Conv1D` của GPT-2 (trọng số lưu chuyển vị), và chọn lớp đích theo tên như huggingface/peft;
# - tính số **tham số huấn luyện** $r(m+n)$ và kiểm tra nó bằng số đếm thật trên mô hình;
# - giải thích hệ số tỉ lệ $\alpha/r$ (và $\alpha/\sqrt{r}$ của rsLoRA) bằng một phép đo;
# - **gộp** $\Delta W$ vào trọng số để suy luận không tốn thêm gì, và **tách** ra lại;
# - chứng minh bản tự xây cho *cùng logit* với `peft.get_peft_model`, rồi xuất bộ chuyển theo định dạng của peft
#   để `PeftModel.from_pretrained` nạp được;
# - đo ảnh hưởng của hạng $r$ lên độ chính xác, và nhìn phổ giá trị kỳ dị của $\Delta W$ để thấy "hạng thấp"
#   nghĩa là gì.
#
# Bài này dựa trên bài 0 (bài toán, vòng huấn luyện, mốc tinh chỉnh toàn bộ) và bài 2 (adapter: thêm một
# nút cổ chai $d \to m \to d$ vào mô hình, nên suy luận chậm hơn; LoRA cũng là một nút cổ chai, nhưng tuyến tính
# và đặt song song với trọng số, nên gộp được).

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
# - **Hệ số** $s = \alpha/r$: đổi $r$ thì độ lớn của cập nhật đầu tiên không đổi theo (xem phép đo bên dưới).
#   rsLoRA (Kalajdzievski 2023) dùng $s = \alpha/\sqrt{r}$ để hạng lớn vẫn học tốt.
# - **Dropout** chỉ đặt trên đầu vào của nhánh LoRA: $h = W_0 x + s\,B A\,\mathrm{dropout}(x)$; nhánh nền không
#   bị đụng tới.
# - **Gộp**: sau khi huấn luyện, $W \leftarrow W_0 + sBA$ là một ma trận $m \times n$ như cũ, nên suy luận không
#   tốn thêm phép tính nào. Tách: $W_0 = W - sBA$.
#
# Ví dụ trong bài viết gốc: $m = n = 1000$, $r = 100$.

# %%
m_ex, n_ex, r_ex = 1000, 1000, 100
lora_ex, full_ex = r_ex * (m_ex + n_ex), m_ex * n_ex
print(f"LoRA: r(m+n) = {lora_ex:,} = {lora_ex:.0e} | toàn bộ: mn = {full_ex:,} = {full_ex:.0e} | "
      f"tỉ lệ {lora_ex / full_ex:.0%}")
print(f"cùng lớp với r = 8: {8 * (m_ex + n_ex):,} = {8 * (m_ex + n_ex) / full_ex:.1%} của mn")

# %% [markdown]
# $r = 100$ vẫn là 20% — không "nhỏ" lắm. Sức mạnh của LoRA đến từ chỗ $r$ rất nhỏ (1–16) thường đã đủ. Hình
# dưới vẽ đúng tỉ lệ hình dạng của các ma trận cho lớp `c_attn` của mô hình khóa học ($n = 192$, $m = 576$)
# với $r = 8$.

# %%
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle


def draw_lora_shapes(m: int = 576, n: int = 192, r: int = 8) -> None:
    """Vẽ W₀ (m×n), B (m×r), A (r×n) theo đúng tỉ lệ kích thước."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    k = 1 / m  # quy về chiều cao 1
    boxes = [(0, 0, n * k, m * k, "tab:gray", f"$W_0$\n{m}×{n}\nđóng băng"),
             (n * k + 0.35, 0, r * k, m * k, "tab:orange", f"$B$\n{m}×{r}"),
             (n * k + 0.35 + r * k + 0.1, m * k - r * k, n * k, r * k, "tab:blue", f"$A$: {r}×{n}")]
    for x, y, w, h, c, label in boxes:
        ax.add_patch(Rectangle((x, y), w, h, color=c, alpha=0.7))
        ax.text(x + w / 2 if w > 0.1 else x + w + 0.02, y + h / 2 if h > 0.1 else y - 0.08, label,
                ha="center" if w > 0.1 else "left", va="center", fontsize=9)
    ax.text(n * k + 0.17, 0.5, "+", fontsize=20, ha="center", va="center")
    ax.set(xlim=(-0.05, 2 * n * k + 0.6), ylim=(-0.2, 1.05), aspect="equal",
           title=f"LoRA trên c_attn: {r * (m + n):,} tham số huấn luyện thay vì {m * n:,}")
    ax.axis("off")
    plt.show()


draw_lora_shapes()

# %% [markdown]
# **`c_attn` của GPT-2 là phép chiếu q/k/v gộp**: một ma trận $192 \to 576$ tính cả query, key và value. Một
# cập nhật hạng thấp trên `c_attn` vì vậy phủ cả ba cùng lúc (chung một $A$, tức chung một không gian con $r$
# chiều của đầu vào). Bài báo LoRA thích ứng riêng $W_q$ và $W_v$ (mỗi cái một cặp $A, B$). Khóa học đặt LoRA
# lên `c_attn`, `c_proj` (khớp cả `attn.c_proj` lẫn `mlp.c_proj`) và `c_fc`: mọi phép chiếu tuyến tính trong
# các khối.
#
# ## Xây từ đầu
#
# ### Lớp đích: `Conv1D` của GPT-2 lưu trọng số dạng (in, out)
# `nn.Linear` lưu $W$ dạng (out, in) và tính $x W^\top + b$. `Conv1D` của GPT-2 lưu dạng (in, out) và tính
# $x W + b$. Ta giữ $A$ (r, in) và $B$ (out, r) theo bố cục của `nn.Linear` như peft, và chỉ chuyển vị $\Delta W$
# khi gộp (peft gọi là `fan_in_fan_out=True`).

# %%
import copy
import math

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from peft_course import CourseError, count_parameters, evaluate, experiments

torch.manual_seed(0)
course = experiments.prepare()
base_model = course.fresh_model()
c_attn = base_model.transformer.h[0].attn.c_attn
x = torch.randn(2, 5, 192)
assert isinstance(c_attn, Conv1D) and c_attn.weight.shape == (192, 576)  # (in, out)
assert torch.allclose(c_attn(x), x @ c_attn.weight + c_attn.bias, atol=1e-6)
print(type(c_attn).__name__, "trọng số", tuple(c_attn.weight.shape), "→ y = x·W + b")

# %% [markdown]
# ### Lớp `LoRALinear`
# Lớp gốc được giữ nguyên dưới tên `base_layer` (như peft) và đóng băng. Nhánh LoRA tính $s \cdot B(A\,x)$
# bằng hai phép nhân mỏng, không dựng ma trận $m \times n$.

# %% tags=["teach"]
class LoRALinear(nn.Module):
    """y = base(x) + s·B·A·dropout(x), s = α/r (hoặc α/√r); base đóng băng, chỉ A, B huấn luyện."""

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0, rslora: bool = False):
        super().__init__()
        self.fan_in_fan_out = isinstance(base, Conv1D)  # Conv1D: W dạng (in, out)
        n_in, n_out = base.weight.shape if self.fan_in_fan_out else base.weight.shape[::-1]
        self.base_layer = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, n_in))  # (r, in), bố cục nn.Linear
        self.lora_B = nn.Parameter(torch.zeros(n_out, r))  # (out, r), bằng 0 ⇒ ΔW = 0 ở bước 0
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


layer = LoRALinear(copy.deepcopy(c_attn), r=8, alpha=16)
assert layer.lora_A.shape == (8, 192) and layer.lora_B.shape == (576, 8)
assert torch.equal(layer(x), c_attn(x))  # B = 0: bước 0 không đổi, từng bit
assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == 8 * (192 + 576)
print("bước 0: đầu ra giống hệt lớp gốc; tham số huấn luyện:", 8 * (192 + 576))

# %% [markdown]
# Dropout chỉ chạm nhánh LoRA: ở chế độ huấn luyện với $B = 0$, đầu ra vẫn đúng bằng lớp gốc (nếu dropout đặt
# trên đầu vào của cả lớp, điều này sai).

# %%
noisy = LoRALinear(copy.deepcopy(c_attn), r=8, alpha=16, dropout=0.5).train()
assert torch.equal(noisy(x), c_attn(x))
print("dropout = 0.5, chế độ train, B = 0: đầu ra vẫn bằng lớp gốc")

# %% [markdown]
# ### Gộp và tách
# Gộp cộng $\Delta W$ (đã chuyển vị cho `Conv1D`) vào trọng số nền; tách trừ đi. Ta cho $B$ một giá trị ngẫu
# nhiên để phép thử có nội dung.

# %% tags=["teach"]
@torch.no_grad()
def merge(layer: LoRALinear) -> None:
    layer.base_layer.weight += layer.delta_weight()
    layer.merged = True


@torch.no_grad()
def unmerge(layer: LoRALinear) -> None:
    layer.base_layer.weight -= layer.delta_weight()
    layer.merged = False


with torch.no_grad():
    layer.lora_B.normal_(0, 0.02)
w0 = layer.base_layer.weight.clone()
y_unmerged = layer(x)
merge(layer)
assert torch.allclose(layer(x), y_unmerged, atol=1e-5)  # cùng đầu ra, nhưng chỉ một phép nhân ma trận
unmerge(layer)
assert (layer.base_layer.weight - w0).abs().max() < 1e-6  # W₀ trở lại (sai số làm tròn)
print(f"gộp: |Δy| ≤ {(layer(x) - y_unmerged).abs().max():.1e}; tách: |W − W₀| ≤ "
      f"{(layer.base_layer.weight - w0).abs().max():.1e}")

# %% [markdown]
# ### Chọn lớp đích theo tên, như peft
# peft chọn một mô-đun nếu tên của nó **bằng** một đích hoặc **kết thúc bằng** `"." + đích`. Một tên không khớp
# gì phải báo lỗi (gõ nhầm `c_atn` mà lặng lẽ không huấn luyện gì là lỗi khó tìm nhất).

# %% tags=["teach"]
def add_lora(model: nn.Module, targets: list[str], r: int, alpha: float, **kw) -> list[str]:
    """Bọc các lớp khớp `targets` bằng LoRALinear, đóng băng mọi tham số khác; trả về tên các lớp."""
    names = [n for n, _ in model.named_modules() if any(n == t or n.endswith("." + t) for t in targets)]
    unknown = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if unknown:
        raise CourseError(f"target_modules {unknown} không khớp mô-đun nào.")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, LoRALinear(model.get_submodule(name), r, alpha, **kw))
    return names


TARGETS = ["c_attn", "c_proj", "c_fc"]
torch.manual_seed(0)
scratch = course.fresh_model()
names = add_lora(scratch, TARGETS, r=8, alpha=16)
print(len(names), "lớp:", names[:4], "…")

# %% [markdown]
# Kiểm tra: số tham số theo công thức $\sum r(m+n)$ trên các lớp đích bằng số tham số huấn luyện thật; ở bước 0
# logit của cả mô hình không đổi.

# %%
# NBVAL_CHECK_OUTPUT
lora_modules = {n: scratch.get_submodule(n) for n in names}
formula = sum(8 * (l.lora_A.shape[1] + l.lora_B.shape[0]) for l in lora_modules.values())
counts = count_parameters(scratch)
assert counts.trainable == formula
P = count_parameters(base_model).total
print(f"LoRA r=8 trên {TARGETS}: {formula:,} tham số huấn luyện = {100 * formula / counts.total:.3f}% "
      f"(mẫu số: mô hình nền + LoRA = {counts.total:,}, như peft)")
for kind in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
    l = lora_modules[f"transformer.h.0.{kind}"]
    m_, n_ = l.lora_B.shape[0], l.lora_A.shape[1]
    print(f"  {kind:12s} n={n_:3d} → m={m_:3d}: r(m+n) = {8 * (m_ + n_):6,} | mn = {m_ * n_:7,}")

# %%
batch = course.validation.batch(slice(0, 32), course.device)
with torch.no_grad():
    assert torch.equal(scratch(**batch).logits, base_model(**batch).logits)
print("bước 0: logit của cả mô hình giống hệt mô hình nền")

# %% [markdown]
# ### Vì sao chia cho $r$? Một phép đo
# Với Adam, bước đầu tiên nhích mỗi phần tử của $B$ một lượng cỡ tốc độ học, *bất kể* gradient lớn hay nhỏ.
# Thay đổi bậc nhất của mất mát là $\langle \nabla_W \mathcal{L}, \Delta W \rangle = s \sum_{i}\sum_{k=1}^{r}
# B_{ik}\, \langle g_i, a_k \rangle$: tổng của $r$ số hạng cùng dấu, nên **tỉ lệ với $s \cdot r$**. Chia cho
# $r$ ($s = \alpha/r$) giữ độ lớn của cập nhật đầu tiên không đổi khi đổi $r$, nên khỏi phải chỉnh lại tốc độ
# học mỗi lần thử một $r$ mới (bài báo: "đặt $\alpha$ bằng $r$ đầu tiên thử và không chỉnh nữa"; xem
# microsoft/LoRA issue 101). Ta đo mức giảm mất mát sau đúng một bước AdamW trên một lô cố định, với ba cách
# đặt hệ số: $\alpha/r$, $\alpha/\sqrt{r}$ (rsLoRA) và $\alpha$ (không chia).

# %%
from peft_course.lora import LoRAConfig, apply_lora

probe = course.train.batch(slice(0, 16), course.device)


def first_step_drop(r: int, rule: str, alpha: float = 16.0, lr: float = 1e-4) -> float:
    """Mất mát giảm bao nhiêu sau một bước AdamW (lô cố định), với hệ số theo `rule`."""
    torch.manual_seed(0)
    m = copy.deepcopy(base_model)
    a = {"α/r": alpha, "α/√r": alpha, "α": alpha * r}[rule]  # "α": s = α bất kể r, tức alpha_cfg = α·r
    apply_lora(m, LoRAConfig(r=r, alpha=a, target_modules=["c_attn"], rslora=rule == "α/√r"))
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr)
    m.train()
    loss0 = m(**probe).loss
    loss0.backward()
    opt.step()
    m.eval()
    with torch.no_grad():
        return loss0.item() - m(**probe).loss.item()


RANKS = [1, 4, 16, 64]
drops = {rule: [first_step_drop(r, rule) for r in RANKS] for rule in ("α/r", "α/√r", "α")}
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for rule, ys in drops.items():
    ax.plot(RANKS, ys, marker="o", label=f"s = {rule}")
ax.set(xscale="log", yscale="log", xlabel="hạng r", ylabel="mất mát giảm sau 1 bước",
       title="Cập nhật đầu tiên theo r (α = 16, lr = 1e-4)")
ax.set_xticks(RANKS, [str(r) for r in RANKS])
ax.legend()
plt.show()
assert drops["α"][-1] / drops["α"][0] > 10 * drops["α/r"][-1] / drops["α/r"][0]  # không chia: lớn vọt theo r

# %% [markdown]
# Không chia ($s = \alpha$): cập nhật đầu tiên lớn lên gần tỉ lệ với $r$, nên mỗi $r$ cần một tốc độ học riêng.
# Với $\alpha/r$ đường gần như nằm ngang. rsLoRA ($\alpha/\sqrt{r}$) nằm giữa: Kalajdzievski (2023) phân tích
# quá trình học khi $r$ lớn và chỉ ra rằng với $\alpha/r$ các hạng cao học chậm lại (tăng $r$ không giúp gì),
# còn $\alpha/\sqrt{r}$ là hệ số giữ cho việc học ổn định, để hạng cao thực sự dùng được thêm sức chứa.
#
# ## Đối chiếu
# ### Với `peft_course.lora`
# Bản trong gói (mà các bài sau import) có thêm kiểm tra đầu vào, gộp/tách cho cả mô hình và xuất/nạp tệp.
# Cùng $A, B$ ⇒ cùng logit.

# %%
from peft_course.lora import LoRALinear as CourseLoRALinear
from peft_course.lora import lora_layers, merge_lora, unmerge_lora

torch.manual_seed(1)
with torch.no_grad():
    for l in lora_modules.values():
        l.lora_B.normal_(0, 0.02)  # B ≠ 0 để so sánh có nội dung

packaged = course.fresh_model()
assert apply_lora(packaged, LoRAConfig(r=8, alpha=16, target_modules=TARGETS)) == names
with torch.no_grad():
    for n, l in lora_layers(packaged).items():
        assert isinstance(l, CourseLoRALinear) and l.fan_in_fan_out
        l.lora_A.copy_(lora_modules[n].lora_A)
        l.lora_B.copy_(lora_modules[n].lora_B)
    ours_logits = scratch(**batch).logits
    assert torch.allclose(packaged(**batch).logits, ours_logits, atol=1e-5)
print("bản tự xây = peft_course.lora, |Δlogit| ≤", f"{(packaged(**batch).logits - ours_logits).abs().max():.1e}")

# %% [markdown]
# Bản trong gói báo lỗi rõ ràng và không sửa mô hình khi đầu vào sai, ví dụ tên đích gõ theo kiến trúc Llama:

# %%
try:
    apply_lora(course.fresh_model(), LoRAConfig(r=8, target_modules=["c_attn", "q_proj"]))
except CourseError as e:
    print("CourseError:", e)

# %% [markdown]
# ### Với huggingface/peft
# `get_peft_model` với cùng cấu hình (`fan_in_fan_out=True` vì `Conv1D`), chép cùng $A, B$ vào các mô-đun của
# peft, rồi so logit và số tham số huấn luyện.

# %%
import warnings

from peft import LoraConfig, get_peft_model

warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")  # cảnh báo nội bộ giữa peft và transformers
reference = get_peft_model(course.fresh_model(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS,
                                                            fan_in_fan_out=True, task_type="CAUSAL_LM"))
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

# %%
# NBVAL_CHECK_OUTPUT
reference.print_trainable_parameters()
print(f"bản tự xây: trainable params: {counts.trainable:,} || all params: {counts.total:,}")

# %% [markdown]
# ## Gộp: suy luận không tốn thêm
# Ta đo độ trễ của một lượt truyền xuôi (lô 32 câu validation) cho ba mô hình: mô hình nền, LoRA chưa gộp
# (thêm hai phép nhân mỏng ở mỗi lớp đích) và LoRA đã gộp. Trung vị của nhiều lần đo; các số phụ thuộc máy.

# %%
from peft_course.costs import latency_ms  # trung vị thời gian (ms) một lượt truyền xuôi, sau 3 lần khởi động


unmerged_logits = packaged(**batch).logits.detach()
t_unmerged = latency_ms(packaged, batch)
merge_lora(packaged)
assert torch.allclose(packaged(**batch).logits, unmerged_logits, atol=1e-4)
t_merged = latency_ms(packaged, batch)
t_base = latency_ms(base_model, batch)
unmerge_lora(packaged)
restore = max((l.base_layer.weight - base_model.get_submodule(n).weight).abs().max().item()
              for n, l in lora_layers(packaged).items())
assert restore < 1e-6

# %%
# NBVAL_IGNORE_OUTPUT
from IPython.display import Markdown, display

display(Markdown("| mô hình | độ trễ (ms) | so với mô hình nền |\n|---|---:|---:|\n" + "\n".join(
    f"| {k} | {v:.1f} | {v / t_base:.2f}× |" for k, v in
    {"mô hình nền": t_base, "LoRA chưa gộp": t_unmerged, "LoRA đã gộp": t_merged}.items())))
print(f"tách sau khi gộp: |W − W₀| ≤ {restore:.1e}")

# %% [markdown]
# Đã gộp thì mô hình *là* một GPT-2 bình thường: cùng số phép tính như mô hình nền (chênh lệch còn lại là nhiễu
# đo). Chưa gộp thì mỗi lớp đích thêm $r(m+n)$ phép nhân mỗi token, nhỏ so với $mn$ nhưng vẫn là thêm lượt
# gọi hàm. Adapter ở bài 2 không gộp được vì có hàm phi tuyến ở giữa.
#
# ## Thí nghiệm với widget
# ### Hạng $r$ và số tham số
# Thanh trượt chọn $r$; số tham số huấn luyện được *đếm trên mô hình thật* sau `apply_lora` (đích `c_attn`,
# `c_proj`, `c_fc`), so với tinh chỉnh toàn bộ.

# %%
from peft_course.widgets import knob_explorer, training_explorer


def lora_count(r: int) -> int:
    m = copy.deepcopy(base_model)
    apply_lora(m, LoRAConfig(r=r, alpha=16, target_modules=TARGETS))
    return count_parameters(m).trainable


def layer_sum(r: int) -> int:
    return sum(r * (l.lora_A.shape[1] + l.lora_B.shape[0]) for l in lora_modules.values())


R_VALUES = [1, 2, 4, 8, 16, 32, 64, 128, 192]
assert all(lora_count(r) == layer_sum(r) for r in (1, 64))

# %%
# NBVAL_IGNORE_OUTPUT
r_counts = knob_explorer(R_VALUES, lora_count, full=P, knob="r", value=8)

# %% [markdown]
# Đường LoRA tăng tuyến tính theo $r$. Với từng lớp, LoRA rẻ hơn chính lớp đó chỉ khi $r(m+n) < mn$, tức
# $r < mn/(m+n)$: với `c_attn` ($192 \to 576$) ngưỡng đó là 144, với lớp vuông `attn.c_proj` là 96. Trên mô hình
# nhỏ này, $r = 192$ (lớn nhất cho phép) tốn *nhiều* tham số hơn tinh chỉnh các lớp ấy trực tiếp.

# %%
# NBVAL_CHECK_OUTPUT
for kind in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
    l = lora_modules[f"transformer.h.0.{kind}"]
    m_, n_ = l.lora_B.shape[0], l.lora_A.shape[1]
    print(f"{kind:12s} mn/(m+n) = {m_ * n_ / (m_ + n_):.0f}")

# %% [markdown]
# ### Huấn luyện ở hạng đã chọn
# Chọn $r$ rồi bấm "Huấn luyện": 150 bước theo công thức chung (`experiments.RECIPES["lora"]`), vẽ cạnh tinh
# chỉnh toàn bộ. **Widget giữ $\alpha = 16$ cố định** (đúng cách bài báo làm), nên $s = 16/r$: theo phép đo ở
# trên, cập nhật đầu tiên có cùng độ lớn với mọi $r$, và khác biệt giữa các $r$ là do *sức chứa* của hạng, không
# phải do tốc độ học hiệu dụng khác nhau. (Giữ $\alpha/r$ cố định thì $r$ lớn học nhanh hơn ngay từ bước đầu,
# lẫn hai hiệu ứng vào nhau.) Mặc định $r = 8$ chạy ngay một lần.

# %%
full = experiments.full_baseline(course)
base = experiments.base_result(course)
trained: dict = {}  # giữ lại mô hình đã huấn luyện để xem ΔW


def make_lora(r: int, alpha: float = 16.0, rslora: bool = False) -> nn.Module:
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=r, alpha=alpha, target_modules=TARGETS, rslora=rslora))
    trained[(r, alpha, rslora)] = m
    return m


# %%
# NBVAL_IGNORE_OUTPUT
explored = training_explorer(course, make_lora, "lora", [1, 4, 8, 16, 32], baseline=full, knob="r", value=8)

# %% [markdown]
# ### Hai hạng: 1 và 8
# Ngoài $r = 8$ ở trên, ta chạy $r = 1$, cùng $\alpha = 16$, cùng tốc độ học, 150 bước (chỉ đánh giá validation
# ở cuối cho nhanh). Hai lần huấn luyện vừa ngân sách thời gian của bài; các hạng khác có trong widget ở trên,
# và $r = 32$ (có và không có rsLoRA) để dành cho bài tập 4.

# %%
# NBVAL_IGNORE_OUTPUT
from peft_course.plots import plot_histories

runs = {1: experiments.run(course, "LoRA r=1, α=16", make_lora(1), "lora", eval_every=None, progress=False),
        8: explored[8]}
runs[8].name = "LoRA r=8, α=16"
plot_histories({"tinh chỉnh toàn bộ": full.history, **{v.name: v.history for v in runs.values()}},
               title="LoRA theo hạng r")
plt.show()
for res in [*runs.values(), full]:
    print(f"{res.name:20s} {res.trainable:>9,} tham số | acc validation {res.val_accuracy:.3f} | acc test {res.test_accuracy:.3f}")

# %% [markdown]
# Đọc kết quả (các số in ở trên do máy bạn tính; đường validation của $r = 1$ chỉ có điểm cuối): so khoảng cách
# giữa $r = 1$ và $r = 8$ (gấp 8 tham số) với khoảng cách giữa $r = 8$ và tinh chỉnh toàn bộ (gấp 26 lần nữa). Phần
# lợi lớn thường đến ở vài hạng đầu; sau đó mỗi lần nhân đôi số tham số mua được ít hơn hẳn (thử $r = 16, 32$ bằng
# widget). Với $\alpha = 16$ cố định, $r = 32$ chạy với $s = 0.5$, nhỏ hơn 4 lần so với $r = 8$ (bài tập 4 thử
# rsLoRA).
#
# ### "Hạng thấp" trông thế nào: phổ giá trị kỳ dị của $\Delta W$
# Ta lấy $\Delta W$ của `c_attn` ở khối đầu tiên: với LoRA là $sBA$ (hạng tối đa $r = 8$); với tinh chỉnh toàn
# bộ là $W_{\text{sau}} - W_0$, huấn luyện nhanh ngay ở đây (50 bước, tốc độ học của công thức chung; bộ đệm của
# bài 0 chỉ lưu kết quả, không lưu trọng số). Nếu giả thuyết của LoRA đúng, năng lượng của $\Delta W$ toàn bộ
# cũng tập trung ở vài hướng đầu.

# %%
from peft_course import train

full_model = course.fresh_model()
_ = train(full_model, course.train, steps=50, lr=experiments.RECIPES["full"]["lr"], progress=False)

# %%
LAYER = "transformer.h.0.attn.c_attn"
w_before = base_model.get_submodule(LAYER).weight.detach()
delta_full = (full_model.get_submodule(LAYER).weight.detach() - w_before).T  # (out, in)
lora8 = lora_layers(trained[(8, 16.0, False)])[LAYER]
delta_lora = (lora8.scaling * lora8.lora_B @ lora8.lora_A).detach()  # (out, in)
sv_full = torch.linalg.svdvals(delta_full)
sv_lora = torch.linalg.svdvals(delta_lora)
assert (sv_lora[8:] < 1e-5 * sv_lora[0]).all()  # hạng của sBA ≤ 8
energy = (sv_full[:8] ** 2).sum() / (sv_full ** 2).sum()

U_full = torch.linalg.svd(delta_full)[0][:, :8]
U_lora = torch.linalg.svd(delta_lora)[0][:, :8]
overlap = (U_lora.T @ U_full).pow(2).sum().item() / 8  # 1: cùng không gian con 8 chiều; ~8/576: ngẫu nhiên

fig, ax = plt.subplots(figsize=(7, 3.4))
ax.semilogy(range(1, 41), (sv_full / sv_full[0])[:40], marker=".", label="tinh chỉnh toàn bộ: $W_{sau} - W_0$")
ax.semilogy(range(1, 41), (sv_lora / sv_lora[0]).clamp_min(1e-8)[:40], marker=".", label="LoRA r=8: $sBA$")
ax.axvline(8.5, color="gray", linestyle=":")
ax.set(xlabel="chỉ số i", ylabel="σ_i / σ_1 (thang log)", ylim=(1e-4, 1.5),
       title=f"Giá trị kỳ dị của ΔW ở {LAYER}")
ax.legend()
plt.show()
print(f"8 hướng đầu giữ {energy:.0%} năng lượng (‖·‖²) của ΔW toàn bộ; "
      f"độ trùng không gian con 8 chiều (đầu ra) LoRA–toàn bộ: {overlap:.2f} (ngẫu nhiên ≈ {8 / 576:.3f})")

# %% [markdown]
# LoRA đúng là hạng 8: sau giá trị thứ 8 phổ rơi về 0. $\Delta W$ của tinh chỉnh toàn bộ có đủ 192 giá trị kỳ
# dị khác 0, nhưng phổ giảm nhanh và vài hướng đầu giữ một phần lớn năng lượng; không gian con mà LoRA tìm
# được trùng với các hướng đầu ấy nhiều hơn hẳn mức ngẫu nhiên. Đó là ý nghĩa của "cập nhật có hạng nội tại
# thấp" (Hu et al. 2021, mục 7).
#
# ## Đo đạc
# Bảng so với tinh chỉnh toàn bộ (mốc lưu trong bộ đệm từ bài 0) và mô hình nền. Thời gian mỗi bước và bộ nhớ
# đỉnh là của lúc huấn luyện (LoRA chưa gộp).

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(experiments.results_table([full, *runs.values(), base], full, base)))

# %% [markdown]
# Thời gian mỗi bước của LoRA không nhỏ hơn tinh chỉnh toàn bộ theo tỉ lệ số tham số: lan truyền xuôi và lan
# truyền ngược qua activation vẫn đi hết mô hình (bài 0); LoRA chỉ bỏ được gradient trọng số và bước Adam của
# phần đóng băng.
#
# ## Xuất bộ chuyển theo định dạng peft
# `save_adapter` ghi `adapter_config.json` và `adapter_model.safetensors` với đúng tên khóa của peft
# (`base_model.model.<đường dẫn>.lora_A.weight` dạng (r, in), `.lora_B.weight` dạng (out, r)). Ta lưu mô hình
# $r = 8$ vừa huấn luyện, để `peft.PeftModel.from_pretrained` nạp lên một mô hình nền mới, và so sánh.

# %%
import json
import tempfile
from pathlib import Path

from peft import PeftModel

from peft_course.export import load_adapter, save_adapter

model8 = trained[(8, 16.0, False)]
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
load_adapter(mine, folder)  # nạp lại vào bản tự xây, kiểm tra khớp hình dạng trước khi sửa mô hình
assert evaluate(mine, course.test)["accuracy"] == explored[8].test_accuracy
print({k: config[k] for k in ("peft_type", "task_type", "r", "lora_alpha", "target_modules", "fan_in_fan_out")})
print(f"peft nạp tệp của ta: |Δlogit| = {gap:.1e}; tệp {size_kb:.0f} KB so với {full_mb:.1f} MB của cả mô hình fp32")

# %% [markdown]
# Tệp bộ chuyển chỉ chứa $A$ và $B$; với GPT-3 175B, bài báo LoRA báo checkpoint giảm từ 350 GB xuống 35 MB.
# `load_adapter` từ chối tệp không khớp mô hình (sai hạng, thiếu khóa, sai mô hình, tệp hỏng) bằng thông báo
# tiếng Việt, và chỉ đọc safetensors: không có gì bị unpickle.

# %%
bad = Path(tempfile.mkdtemp())
(bad / "adapter_config.json").write_text(json.dumps({**config, "r": 4}), encoding="utf-8")
(bad / "adapter_model.safetensors").write_bytes((folder / "adapter_model.safetensors").read_bytes())
try:
    load_adapter(course.fresh_model(), bad)
except CourseError as e:
    print("CourseError:", str(e)[:220], "…")

# %% [markdown]
# ## Tóm tắt
# - LoRA học $\Delta W = \frac{\alpha}{r} BA$ với $B \in \mathbb{R}^{m \times r}$ (khởi tạo 0) và
#   $A \in \mathbb{R}^{r \times n}$ (Kaiming-uniform): $r(m+n)$ tham số huấn luyện thay vì $mn$, và ở bước 0 mô
#   hình không đổi.
# - `Conv1D` của GPT-2 lưu $W$ dạng (in, out): giữ $A, B$ theo bố cục `nn.Linear`, chỉ chuyển vị $\Delta W$ khi
#   gộp (`fan_in_fan_out=True`). `c_attn` là q/k/v gộp: một cập nhật phủ cả ba.
# - Chia cho $r$ giữ cập nhật đầu tiên không đổi khi đổi $r$; rsLoRA chia cho $\sqrt{r}$ để hạng lớn vẫn học.
# - Gộp $W \leftarrow W_0 + sBA$: suy luận không tốn thêm; tách trả lại $W_0$ đến sai số làm tròn.
# - Bản tự xây cho cùng logit và cùng số tham số huấn luyện với `peft.get_peft_model`; tệp xuất ra nạp được
#   bằng `PeftModel.from_pretrained`.
# - Trên bài toán của khóa học, một hạng nhỏ đã gần tinh chỉnh toàn bộ; $\Delta W$ của tinh chỉnh toàn bộ có
#   phổ giảm nhanh, phù hợp giả thuyết hạng thấp.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** Chỉ đặt LoRA $r = 4$ lên `c_attn`. Mô hình có bao nhiêu tham số huấn luyện? Tính bằng công
# thức (theo $L$, $d$), rồi kiểm tra.

# %%
def check_count(n: int) -> None:
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    real = count_parameters(m).trainable
    assert n == real, f"Chưa đúng: {n:,} ≠ {real:,}. Gợi ý: c_attn là {192}→{3 * 192}, có {len(m.transformer.h)} khối."
    print(f"Đúng: {real:,} tham số huấn luyện.")


my_count = None  # ví dụ: 4 * 4 * (192 + 576)
if my_count is not None:
    check_count(my_count)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# $L \cdot r\,(d + 3d) = 4 \cdot 4 \cdot (192 + 576) = 12{,}288$.
#
# </details>
#
# **Bài 2 (vừa).** Viết hàm trả về trọng số đã gộp của một lớp `Conv1D` (dạng (in, out)) từ $W_0$, $A$ (r, in),
# $B$ (out, r) và $s$, *không* dùng `.merge()`. Hàm kiểm tra so với `merge_lora` trên mô hình đã huấn luyện.

# %%
def check_merged_weight(fn) -> None:
    m = copy.deepcopy(model8)
    l = m.transformer.h[2].mlp.c_fc
    expected = fn(l.base_layer.weight.detach().clone(), l.lora_A.detach(), l.lora_B.detach(), l.scaling)
    merge_lora(m)
    assert expected.shape == l.base_layer.weight.shape, f"Hình dạng {tuple(expected.shape)}, cần (in, out)."
    assert torch.allclose(expected, l.base_layer.weight, atol=1e-6), "Giá trị chưa khớp: nhớ chuyển vị BA."
    print("Đúng: trùng với trọng số sau merge_lora.")


def my_merged_weight(w0, A, B, s):
    return None  # viết ở đây


if my_merged_weight(torch.zeros(2, 3), torch.zeros(1, 2), torch.zeros(3, 1), 1.0) is not None:
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
# **Bài 3 (vừa).** Đặt LoRA lên `lm_head` (lớp đầu ra, trọng số *dùng chung* với `wte`) rồi gọi `merge_lora`.
# Vì sao `peft_course` từ chối gộp? Hàm kiểm tra nhận câu trả lời là tên mô-đun sẽ bị đổi ngầm nếu gộp.

# %%
def check_tied(module_name: str) -> None:
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=4, alpha=8, target_modules=["lm_head"]))
    try:
        merge_lora(m)
    except CourseError as e:
        print("CourseError:", e)
    assert module_name in ("transformer.wte", "wte"), "Chưa đúng: lm_head.weight là cùng một tensor với embedding nào?"
    print("Đúng: gộp vào lm_head cũng cộng ΔW vào embedding đầu vào wte.")


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
    for key, s in (((32, 16.0, False), 16 / 32), ((32, 16.0, True), 16 / math.sqrt(32))):
        assert key in trained, f"Chưa có mô hình make_lora{key}: hãy tạo bằng make_lora(32, 16.0, rslora={key[2]})."
        layer = next(iter(lora_layers(trained[key]).values()))
        assert abs(layer.scaling - s) < 1e-9, f"make_lora{key} phải có hệ số s = {s:.3f}, nhận {layer.scaling:.3f}."
    assert plain.trainable == result.trainable, "Hai lần chạy phải cùng r = 32 (cùng số tham số)."
    display(Markdown(experiments.results_table([runs[8], plain, result], full, base)))


# plain = experiments.run(course, "LoRA r=32, α/r", make_lora(32, 16.0), "lora")
# rs = experiments.run(course, "LoRA r=32, rsLoRA", make_lora(32, 16.0, rslora=True), "lora")
# check_rslora(plain, rs)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# plain = experiments.run(course, "LoRA r=32, α/r", make_lora(32, 16.0), "lora")
# rs = experiments.run(course, "LoRA r=32, rsLoRA", make_lora(32, 16.0, rslora=True), "lora")
# check_rslora(plain, rs)
# ```
# Với $\alpha/r$, cập nhật của $r = 32$ bị thu nhỏ 4 lần so với $r = 8$ ($s = 0.5$ so với $2$); rsLoRA cho nó
# $s \approx 2.83$. Kalajdzievski (2023) cho thấy trên mô hình lớn rsLoRA làm hạng cao học tốt hơn hẳn; trên bài
# toán nhỏ này, 150 bước, khác biệt có thể nhỏ hoặc ngược chiều — điều cần thấy là $s$ đóng vai trò như tốc độ
# học của nhánh LoRA.
#
# </details>
#
# **Bài 5 (mở).** Cùng $r = 8$, so sánh LoRA chỉ trên `c_attn` với LoRA chỉ trên `c_fc` (MLP). Lớp nào đáng
# đặt LoRA hơn trên bài toán này, tính theo độ chính xác trên mỗi tham số? Hàm kiểm tra nhận hai `Result`.

# %%
def check_placement(attn_result, mlp_result) -> None:
    for name, r in (("c_attn", attn_result), ("c_fc", mlp_result)):
        print(f"{name}: {r.trainable:,} tham số, acc validation {r.val_accuracy:.3f}, "
              f"{1e4 * (r.val_accuracy - base.val_accuracy) / r.trainable:.3f} điểm/10⁴ tham số")
    assert attn_result.trainable == 4 * 8 * (192 + 576) and mlp_result.trainable == 4 * 8 * (192 + 768)


# attn = experiments.run(course, "c_attn", <mô hình LoRA chỉ c_attn>, "lora")
# mlp = experiments.run(course, "c_fc", <mô hình LoRA chỉ c_fc>, "lora")
# check_placement(attn, mlp)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def only(target):
#     m = course.fresh_model(); apply_lora(m, LoRAConfig(r=8, alpha=16, target_modules=[target])); return m
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

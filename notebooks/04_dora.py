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
# - chứng minh bản tự xây cho cùng logit với `peft` (`use_dora=True`) và so độ chính xác với LoRA cùng hạng.
#
# Bài này dựa trên bài 3 (LoRA: `LoRALinear`, `apply_lora`, gộp/tách, xuất tệp peft).

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

# %% [markdown]
# ## Xây từ đầu
# ### Độ lớn ban đầu: chuẩn của từng đặc trưng đầu ra

# %%
import copy

import matplotlib.pyplot as plt
import torch
from torch import nn

from peft_course import CourseError, count_parameters, evaluate, experiments
from peft_course.lora import LoRAConfig, LoRALinear, apply_lora, lora_layers, merge_lora, unmerge_lora

torch.manual_seed(0)
course = experiments.prepare()
base_model = course.fresh_model()
c_attn = base_model.transformer.h[0].attn.c_attn
W = c_attn.weight.detach()  # Conv1D: (in=192, out=576)
per_output = W.norm(dim=0)  # 576 số: chuẩn từng cột = từng đặc trưng đầu ra
wrong_axis = W.norm(dim=1)  # 192 số: trục sai (mỗi đầu vào một số)
assert per_output.shape == (576,) and torch.allclose(per_output, W.T.norm(dim=1))  # = dim=1 của dạng (out, in)
print(f"độ lớn theo đầu ra: {tuple(per_output.shape)}, từ {per_output.min():.2f} đến {per_output.max():.2f}; "
      f"trục sai cho {tuple(wrong_axis.shape)}")

# %% [markdown]
# ### Lớp `DoRALinear`: kế thừa `LoRALinear` của bài 3
# `LoRALinear` (trong `peft_course.lora`) đã có `base_layer`, `lora_A`, `lora_B`, `scaling`, `lora_branch(x)`
# $= s\,BA\,\mathrm{dropout}(x)$ và `fan_in_fan_out`. Ta chỉ thêm độ lớn và thay lượt truyền xuôi.

# %% tags=["teach"]
class DoRALinear(LoRALinear):
    """W' = m · (W₀ + sBA) / ‖W₀ + sBA‖ (chuẩn theo chiều đầu vào, detach); m học được, mỗi đầu ra một số."""

    def __init__(self, base: nn.Module, config: LoRAConfig):
        super().__init__(base, config)
        self.magnitude = nn.Parameter(self.weight_norm())  # ‖W₀‖ từng đầu ra ⇒ bước 0 = mô hình nền

    def weight_norm(self) -> torch.Tensor:
        w = self.base_layer.weight.T if self.fan_in_fan_out else self.base_layer.weight  # (out, in)
        w = w + self.scaling * (self.lora_B @ self.lora_A)
        return w.norm(dim=1).detach()  # (out,), không nhận gradient (bài báo §4.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wx = self.base_layer(x) - self.base_layer.bias  # W₀x (Conv1D của GPT-2 luôn có bias)
        scale = self.magnitude / self.weight_norm()
        return scale * (wx + self.lora_branch(x)) + self.base_layer.bias


cfg = LoRAConfig(r=8, alpha=16, target_modules=["c_attn"])
layer = DoRALinear(copy.deepcopy(c_attn), cfg)
x = torch.randn(2, 5, 192)
assert layer.magnitude.shape == (576,) and torch.allclose(layer.magnitude, per_output)
assert torch.allclose(layer(x), c_attn(x), atol=1e-5)  # bước 0: như mô hình nền
assert not layer.weight_norm().requires_grad
trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
assert trainable == 8 * (192 + 576) + 576
print(f"bước 0: |Δy| ≤ {(layer(x) - c_attn(x)).abs().max():.1e}; tham số huấn luyện: {trainable:,} = r(m+n) + m")

# %% [markdown]
# Chuẩn được detach nhưng vẫn theo $B$ khi truyền xuôi; còn $m$ nhận gradient. Ta kiểm tra bằng một bước
# lan truyền ngược sau khi cho $B$ một giá trị ngẫu nhiên: cả ba ($A$, $B$, $m$) có gradient, còn hướng đã được
# chuẩn hóa lại đúng độ dài 1 trước khi nhân với $m$.

# %%
with torch.no_grad():
    layer.lora_B.normal_(0, 0.05)
layer(x).pow(2).mean().backward()
assert all(p.grad is not None for p in (layer.lora_A, layer.lora_B, layer.magnitude))
direction = (layer.base_layer.weight.T + layer.scaling * layer.lora_B @ layer.lora_A) / layer.weight_norm()[:, None]
assert torch.allclose(direction.norm(dim=1), torch.ones(576))
print("gradient có ở A, B, m; ‖hướng‖ = 1 cho mọi đầu ra")

# %% [markdown]
# ### Áp lên cả mô hình bằng `peft_course.dora`
# `apply_dora` dùng đúng cơ chế chọn lớp và kiểm tra của `apply_lora`; `DoRALinear` trong gói giống lớp ở trên,
# thêm gộp/tách. Nó viết cùng công thức dưới dạng "đầu ra nền + phần hiệu chỉnh",
# $y = \mathrm{base}(x) + (k - 1)\,W_0 x + k\,sBAx$ với $k = m/\lVert W_0 + sBA \rVert_c$: bằng nhau về đại số, và là
# đúng thứ tự phép tính của peft nên logit trùng peft từng bit. Kiểm tra: cùng $A, B, m$ ⇒ cùng đầu ra với bản
# vừa viết, và số tham số đúng công thức.

# %%
from peft_course.dora import DoRAConfig, apply_dora

TARGETS = ["c_attn", "c_proj", "c_fc"]
torch.manual_seed(0)
dora = course.fresh_model()
names = apply_dora(dora, DoRAConfig(r=8, alpha=16, target_modules=TARGETS))
with torch.no_grad():
    for l in lora_layers(dora).values():
        l.lora_B.normal_(0, 0.02)
        l.magnitude.mul_(1 + 0.05 * torch.randn_like(l.magnitude))  # lệch khỏi ‖W₀‖ để phép so có nội dung
mine = DoRALinear(copy.deepcopy(c_attn), cfg)
packaged_layer = lora_layers(dora)["transformer.h.0.attn.c_attn"]
with torch.no_grad():
    for attr in ("lora_A", "lora_B", "magnitude"):
        getattr(mine, attr).copy_(getattr(packaged_layer, attr))
assert torch.allclose(mine(x), packaged_layer(x), atol=1e-5)

# %%
# NBVAL_CHECK_OUTPUT
counts = count_parameters(dora)
formula = sum(8 * (l.in_features + l.out_features) + l.out_features for l in lora_layers(dora).values())
assert counts.trainable == formula
lora_only = sum(8 * (l.in_features + l.out_features) for l in lora_layers(dora).values())
print(f"DoRA r=8 trên {TARGETS}: {formula:,} tham số huấn luyện = LoRA {lora_only:,} + độ lớn {formula - lora_only:,}")

# %% [markdown]
# ## Đối chiếu với huggingface/peft
# `LoraConfig(use_dora=True, fan_in_fan_out=True)`; chép $A$, $B$ và $m$ (peft gọi là `lora_magnitude_vector`).

# %%
from peft import LoraConfig, get_peft_model

reference = get_peft_model(course.fresh_model(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, use_dora=True,
                                                            fan_in_fan_out=True, task_type="CAUSAL_LM"))
state = reference.state_dict()
with torch.no_grad():
    for n, l in lora_layers(dora).items():
        state[f"base_model.model.{n}.lora_A.default.weight"].copy_(l.lora_A)
        state[f"base_model.model.{n}.lora_B.default.weight"].copy_(l.lora_B)
        state[f"base_model.model.{n}.lora_magnitude_vector.default.weight"].copy_(l.magnitude)
    batch = course.validation.batch(slice(0, 32), course.device)
    ours_logits = dora(**batch).logits
    gap = (reference(**batch).logits - ours_logits).abs().max().item()
assert gap < 1e-5
assert sum(p.numel() for p in reference.parameters() if p.requires_grad) == counts.trainable
print(f"peft (use_dora=True): |Δlogit| = {gap:.1e}")

# %%
# NBVAL_CHECK_OUTPUT
reference.print_trainable_parameters()
print(f"bản tự xây: trainable params: {counts.trainable:,} || all params: {counts.total:,}")

# %% [markdown]
# ## Gộp và tách
# Gộp ghi $W \leftarrow \frac{m}{\lVert W_0 + sBA \rVert_c} \odot (W_0 + sBA)$: sau đó chuẩn của mỗi đặc trưng đầu
# ra của trọng số *đúng bằng* $m$. Tách dùng chuẩn đã lưu lúc gộp, nên trả lại $W_0$.

# %%
from peft_course.dora import merge_dora, unmerge_dora

merge_dora(dora)
merged = dora.transformer.h[1].mlp.c_proj  # Conv1D (in=768, out=192)
assert torch.allclose(merged.base_layer.weight.norm(dim=0), merged.magnitude, rtol=1e-5)
assert torch.allclose(dora(**batch).logits, ours_logits, rtol=1e-5, atol=1e-4)
unmerge_dora(dora)
restore = max((l.base_layer.weight - base_model.get_submodule(n).weight).abs().max().item()
              for n, l in lora_layers(dora).items())
assert restore < 1e-6
print(f"sau khi gộp: chuẩn từng đầu ra = m; sau khi tách: |W − W₀| ≤ {restore:.1e}")

# %% [markdown]
# ## DoRA tốn thêm bao nhiêu?
# Chưa gộp, so với LoRA, mỗi lớp DoRA làm thêm hai việc ở mỗi lượt truyền xuôi: dựng $W_0 + sBA$ và lấy chuẩn của nó
# (chi phí cỡ $mn$, không phụ thuộc số token), và vài phép tính từng phần tử trên toàn bộ đầu ra của lớp (nhân
# với $k$, trừ bias, cộng; chi phí tỉ lệ với số token, và lan truyền ngược cũng phải đi qua chúng). Ta đo độ trễ
# suy luận (lô 32 câu) của mô hình nền, LoRA chưa gộp, DoRA chưa gộp và DoRA đã gộp. Thời gian mỗi bước huấn
# luyện lấy từ hai lần huấn luyện ở dưới.

# %%
from peft_course.costs import latency_ms  # trung vị thời gian (ms) một lượt truyền xuôi, sau 3 lần khởi động


lora_model = course.fresh_model()
apply_lora(lora_model, LoRAConfig(r=8, alpha=16, target_modules=TARGETS))
latency = {"mô hình nền": latency_ms(base_model, batch), "LoRA chưa gộp": latency_ms(lora_model, batch),
           "DoRA chưa gộp": latency_ms(dora, batch)}
merge_dora(dora)
latency["DoRA đã gộp"] = latency_ms(dora, batch)
unmerge_dora(dora)

# %%
# NBVAL_IGNORE_OUTPUT
from IPython.display import Markdown, display

display(Markdown("| mô hình | độ trễ (ms) | so với mô hình nền |\n|---|---:|---:|\n" + "\n".join(
    f"| {k} | {v:.1f} | {v / latency['mô hình nền']:.2f}× |" for k, v in latency.items())))

# %% [markdown]
# Tài liệu của peft ghi nhận DoRA chưa gộp chậm hơn LoRA nhiều (khoảng +139% trên một mô hình 8B) và khuyên gộp
# trước khi suy luận. Đã gộp thì DoRA, cũng như LoRA, là một GPT-2 bình thường: độ trễ bằng mô hình nền (trong
# sai số đo).
#
# ## Thí nghiệm với widget
# ### Hạng $r$ và số tham số
# DoRA chỉ thêm $m$ số mỗi lớp so với LoRA, không phụ thuộc $r$; ở $r$ nhỏ phần ấy đáng kể (với $r = 1$ độ lớn
# nhiều hơn cả $A$ và $B$ ở `c_attn`).

# %%
from peft_course.widgets import knob_explorer, training_explorer

P = count_parameters(base_model).total


def dora_count(r: int) -> int:
    m = copy.deepcopy(base_model)
    apply_dora(m, DoRAConfig(r=r, alpha=16, target_modules=TARGETS))
    return count_parameters(m).trainable


assert dora_count(1) == lora_only // 8 + (formula - lora_only)  # r(m+n) với r = 1, cộng phần độ lớn

# %%
# NBVAL_IGNORE_OUTPUT
dora_counts = knob_explorer([1, 2, 4, 8, 16, 32, 64], dora_count, full=P, knob="r", value=8)

# %% [markdown]
# ### Huấn luyện DoRA ở hạng đã chọn, và LoRA cùng hạng
# Như bài 3, **widget giữ $\alpha = 16$ cố định** (nên $s = 16/r$) và dùng công thức chung
# (`experiments.RECIPES["dora"]`, 150 bước). Mặc định $r = 8$ chạy ngay; sau đó ta huấn luyện LoRA $r = 8$
# cùng cấu hình để so sánh.

# %%
full = experiments.full_baseline(course)
base = experiments.base_result(course)
trained: dict = {}


def make_dora(r: int) -> nn.Module:
    m = course.fresh_model()
    apply_dora(m, DoRAConfig(r=r, alpha=16, target_modules=TARGETS))
    trained[("dora", r)] = m
    return m


# %%
# NBVAL_IGNORE_OUTPUT
explored = training_explorer(course, make_dora, "dora", [1, 4, 8, 16], baseline=full, knob="r", value=8)

# %% [markdown]
# LoRA $r = 8$ cùng cấu hình đã được huấn luyện ở bài 3; nếu bạn đã chạy bài đó, kết quả (kể cả thời gian mỗi bước)
# được đọc lại từ bộ đệm. Tỉ số thời gian DoRA/LoRA dưới đây vì vậy chỉ đúng khi hai lần chạy ở cùng một máy;
# `bench/compare.py` đo mọi phương pháp trong một lần chạy (bài 6).

# %%
# NBVAL_IGNORE_OUTPUT
from peft_course.plots import plot_histories

lora_model = course.fresh_model()
apply_lora(lora_model, LoRAConfig(r=8, alpha=16, target_modules=TARGETS))
lora_run = experiments.run(course, "LoRA r=8", lora_model, "lora", progress=False, cache=True)  # bài 3 đã chạy đúng lần này
dora_run = explored[8]
dora_run.name = "DoRA r=8"
plot_histories({"tinh chỉnh toàn bộ": full.history, "LoRA r=8": lora_run.history, "DoRA r=8": dora_run.history},
               title="DoRA và LoRA cùng hạng")
plt.show()
print(f"thời gian/bước: DoRA {1000 * dora_run.time_per_step_s:.1f} ms, LoRA {1000 * lora_run.time_per_step_s:.1f} ms "
      f"(DoRA/LoRA = {dora_run.time_per_step_s / lora_run.time_per_step_s:.2f}×)")
print(f"acc test: DoRA {dora_run.test_accuracy:.3f}, LoRA {lora_run.test_accuracy:.3f}, "
      f"tinh chỉnh toàn bộ {full.test_accuracy:.3f}")

# %% [markdown]
# ### DoRA đổi độ lớn và hướng thế nào?
# Bài báo đo, cho mỗi lớp, $\Delta M$ = trung bình $|m' - m_0|$ (độ lớn đổi bao nhiêu) và $\Delta D$ = trung bình
# $1 - \cos(w'_j, (w_0)_j)$ (hướng đổi bao nhiêu), trên các đặc trưng đầu ra. Ta tính hai đại lượng ấy cho 16 lớp
# đích của LoRA và DoRA vừa huấn luyện, từ trọng số đã gộp.

# %%
def magnitude_direction_change(model: nn.Module) -> tuple[list[float], list[float]]:
    """(ΔM, ΔD) của từng lớp đích: trọng số đã gộp, dạng (out, in), so với mô hình nền."""
    dm, dd = [], []
    model = copy.deepcopy(model)  # gộp trên một bản sao: mô hình đã huấn luyện giữ nguyên từng bit
    merge_lora(model)
    for name, l in lora_layers(model).items():
        w0 = base_model.get_submodule(name).weight.detach().T  # (out, in)
        w1 = l.base_layer.weight.detach().T
        dm.append((w1.norm(dim=1) - w0.norm(dim=1)).abs().mean().item())
        dd.append((1 - torch.cosine_similarity(w1, w0, dim=1)).mean().item())
    return dm, dd


fig, ax = plt.subplots(figsize=(6.5, 3.6))
for label, model in (("LoRA r=8", lora_model), ("DoRA r=8", trained[("dora", 8)])):
    dm, dd = magnitude_direction_change(model)
    ax.scatter(dd, dm, label=label)
ax.set(xlabel="ΔD (hướng đổi: 1 − cos)", ylabel="ΔM (độ lớn đổi)", title="Độ lớn và hướng của 16 lớp đích")
ax.legend()
plt.show()

# %% [markdown]
# Với LoRA, độ lớn và hướng chỉ đổi *qua cùng một* tích $BA$, nên hai đại lượng bị ràng buộc với nhau; DoRA có
# riêng $m$ để chỉnh độ lớn mà không phải xoay hướng (và ngược lại). Bài báo thấy tinh chỉnh toàn bộ và DoRA
# có tương quan âm giữa $\Delta M$ và $\Delta D$, LoRA có tương quan dương. Trên mô hình nhỏ và 150 bước, hình của
# bạn có thể không rõ như vậy: hãy xem như một phép đo, không phải một định lý.
#
# ## Đo đạc
# Bảng so với tinh chỉnh toàn bộ (bộ đệm từ bài 0). Thời gian mỗi bước là lúc huấn luyện, DoRA và LoRA đều chưa
# gộp.

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(experiments.results_table([full, lora_run, dora_run, base], full, base)))

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

folder = save_adapter(trained[("dora", 8)], Path(tempfile.mkdtemp()) / "dora_r8")
with safe_open(str(folder / "adapter_model.safetensors"), "pt") as f:
    keys = [k for k in f.keys() if ".h.0.attn.c_attn." in k]
print(keys)
print("use_dora:", json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))["use_dora"])
peft_loaded = PeftModel.from_pretrained(course.fresh_model(), str(folder))
with torch.no_grad():
    assert torch.allclose(peft_loaded(**batch).logits, trained[("dora", 8)](**batch).logits, rtol=0, atol=1e-5)
again = course.fresh_model()
load_adapter(again, folder)
assert evaluate(again, course.test)["accuracy"] == dora_run.test_accuracy
print("peft nạp bộ chuyển DoRA của ta: cùng logit; load_adapter nạp lại: cùng độ chính xác test")

# %% [markdown]
# ## Tóm tắt
# - DoRA viết $W' = m \odot \frac{W_0 + sBA}{\lVert W_0 + sBA \rVert_c}$: một độ lớn cho mỗi đặc trưng **đầu ra**
#   (chuẩn theo chiều đầu vào: `dim=1` của dạng (out, in), `dim=0` của `Conv1D` (in, out)), khởi tạo bằng chuẩn
#   của $W_0$ nên bước 0 là mô hình nền.
# - Tham số huấn luyện: $r(m+n) + m$ mỗi lớp — LoRA cộng một vectơ.
# - Chuẩn được detach (bài báo §4.3, peft): nó theo $\Delta W$ khi truyền xuôi nhưng không nhận gradient.
# - Gộp: chuẩn từng đầu ra của trọng số gộp đúng bằng $m$; suy luận sau gộp không tốn thêm. Chưa gộp, DoRA tốn
#   hơn LoRA vì phải dựng $W_0 + sBA$ ở mỗi lượt.
# - Bản tự xây bằng peft (`use_dora=True`) về logit, gradient (kiểm thử) và số tham số; tệp xuất ra nạp được
#   bằng `PeftModel.from_pretrained`.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** DoRA $r = 4$ chỉ trên `c_attn` của mô hình khóa học có bao nhiêu tham số huấn luyện?

# %%
def check_count(n: int) -> None:
    m = course.fresh_model()
    apply_dora(m, DoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    real = count_parameters(m).trainable
    assert n == real, f"Chưa đúng: {n:,} ≠ {real:,}. Gợi ý: LoRA r(m+n) cộng m độ lớn, mỗi khối một c_attn 192→576."
    print(f"Đúng: {real:,} tham số huấn luyện.")


my_count = None  # ví dụ: 4 * (4 * (192 + 576) + ...)
if my_count is not None:
    check_count(my_count)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# $L\,\big(r(d + 3d) + 3d\big) = 4 \cdot (4 \cdot 768 + 576) = 14{,}592$.
#
# </details>
#
# **Bài 2 (vừa).** Viết hàm `initial_magnitude(layer)` trả về độ lớn ban đầu của DoRA cho một lớp `nn.Linear`
# *hoặc* `Conv1D` (mỗi đặc trưng đầu ra một số). Hàm kiểm tra thử trên cả hai loại.

# %%
def check_magnitude(fn) -> None:
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    for layer in (nn.Linear(6, 10), Conv1D(10, 6)):  # cả hai: 6 đầu vào, 10 đầu ra
        got = fn(layer)
        assert got is not None and got.shape == (10,), f"{type(layer).__name__}: cần 10 số (mỗi đầu ra một số)."
        cfg_ = LoRAConfig(r=2, alpha=4, target_modules=["x"])
        assert torch.allclose(got, DoRALinear(layer, cfg_).magnitude), f"{type(layer).__name__}: sai trục chuẩn."
    print("Đúng cho cả nn.Linear (out, in) và Conv1D (in, out).")


def initial_magnitude(layer):
    return None  # viết ở đây


if initial_magnitude(nn.Linear(2, 2)) is not None:
    check_magnitude(initial_magnitude)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def initial_magnitude(layer):
#     w = layer.weight.detach()
#     return w.norm(dim=0) if isinstance(layer, Conv1D) else w.norm(dim=1)
# ```
#
# </details>
#
# **Bài 3 (vừa).** Viết trọng số đã gộp của một lớp DoRA dạng `Conv1D` từ $W_0$ (in, out), $A$, $B$, $s$ và $m$,
# rồi so với `merge_dora`. Nhớ: hệ số $m/\lVert\cdot\rVert$ nhân theo *cột* khi trọng số ở dạng (in, out).

# %%
def check_merge(fn) -> None:
    model = copy.deepcopy(trained[("dora", 8)])
    l = model.transformer.h[3].attn.c_attn
    got = fn(l.base_layer.weight.detach().clone(), l.lora_A.detach(), l.lora_B.detach(), l.scaling,
             l.magnitude.detach())
    merge_dora(model)
    assert got is not None and got.shape == l.base_layer.weight.shape, "Cần cùng hình dạng (in, out)."
    assert torch.allclose(got, l.base_layer.weight, atol=1e-6), "Chưa khớp: kiểm tra trục của chuẩn và chuyển vị."
    print("Đúng: trùng với merge_dora.")


def my_dora_merge(w0, A, B, s, m):
    return None  # viết ở đây


if my_dora_merge(torch.zeros(2, 2), None, None, 1.0, None) is not None:
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
# (dùng widget ở trên cho DoRA và `experiments.run` cho LoRA) và so sánh với $r = 8$. Hàm kiểm tra in bảng.

# %%
def check_low_rank(dora_r1, lora_r1) -> None:
    assert dora_r1.trainable - lora_r1.trainable == sum(l.out_features for l in lora_layers(dora).values())
    display(Markdown(experiments.results_table([lora_r1, dora_r1, lora_run, dora_run], full, base)))


# lora1 = course.fresh_model(); apply_lora(lora1, LoRAConfig(r=1, alpha=16, target_modules=TARGETS))
# check_low_rank(explored[1], experiments.run(course, "LoRA r=1", lora1, "lora"))

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Chọn $r = 1$ trong widget rồi bấm "Huấn luyện" (kết quả vào `explored[1]`), rồi chạy hai dòng chú thích ở trên.
# Với $r = 1$, LoRA chỉ đổi được mỗi lớp theo một hướng; DoRA còn chỉnh được độ lớn của từng đầu ra (576 số ở
# `c_attn`), nên thường giữ được nhiều hơn. Số cụ thể tùy máy; cái cần nhìn là khoảng cách DoRA − LoRA ở
# $r = 1$ so với ở $r = 8$, và cái giá: thời gian mỗi bước.
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

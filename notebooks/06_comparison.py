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
# # Bài 6 — So sánh các phương pháp: tham số, bộ nhớ, thời gian, chất lượng
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/06_comparison.ipynb)

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
# - tách bộ nhớ của một bước huấn luyện thành bốn phần — **trọng số**, **gradient**, **trạng thái Adam**,
#   **activation** — và đo từng phần trên mô hình thật;
# - đếm phép tính (FLOP) của một bước và giải thích vì sao PEFT chỉ bớt khoảng **một phần ba** phép tính, dù chỉ
#   huấn luyện vài phần nghìn tham số;
# - đọc bảng so sánh mọi phương pháp của khóa học (cùng mô hình, cùng bài toán, cùng số bước, cùng seed) ở hai cỡ
#   mô hình, và đặt từng tuyên bố của bài viết gốc cạnh số đo;
# - chọn phương pháp theo ràng buộc thật: bộ nhớ, thời gian, dung lượng lưu, độ trễ suy luận, lượng dữ liệu.
#
# Bài này dựa trên mọi bài trước: bài 0 (tinh chỉnh toàn bộ, công thức huấn luyện chung), bài 1 (BitFit), bài 2
# (adapter), bài 3 (LoRA), bài 4 (DoRA), bài 5 (prefix tuning, prompt tuning).

# %% [markdown]
# ## Ý tưởng
#
# ### Bài viết gốc nói gì
# Bài viết mà khóa học này sửa lại lập luận giá trị của PEFT bằng mấy công thức. Ta sẽ kiểm tra từng cái:
#
# | # | tuyên bố | công thức |
# |---|---|---|
# | 1 | PEFT huấn luyện rất ít tham số | $P_{\text{peft}} \ll P_{\text{full}}$ |
# | 2 | thời gian huấn luyện tỉ lệ với số tham số huấn luyện | $T_{\text{peft}} \approx r \cdot T_{\text{full}}$, $r = P_{\text{peft}} / P_{\text{full}}$ |
# | 3 | PEFT tốn ít bộ nhớ hơn | $M_{\text{peft}} < M_{\text{full}}$ |
# | 4 | ít tham số hơn thì phương sai giảm, độ chệch tăng | $\text{Var}\downarrow$, $\text{Bias}\uparrow$ |
# | 5 | PEFT "đáng tiền" hơn | $\text{Acc}_{\text{peft}} / \text{Cost}_{\text{peft}} > \text{Acc}_{\text{full}} / \text{Cost}_{\text{full}}$ |
# | 6 | ít dữ liệu so với kích thước mô hình thì nên dùng PEFT | $N_{\text{data}} \ll P_{\text{model}}$ |
#
# ### Bộ nhớ của một bước huấn luyện
# Với $P$ tham số (nền + phần thêm), $P_t$ tham số huấn luyện, số thực 4 byte (fp32) và AdamW (hai trạng thái
# $m$, $v$ cho mỗi tham số huấn luyện):
#
# $$M = \underbrace{4P}_{\text{trọng số}} + \underbrace{4P_t}_{\text{gradient}} + \underbrace{8P_t}_{\text{Adam}}
# + M_{\text{act}} .$$
#
# Tinh chỉnh toàn bộ ($P_t = P$) tốn $16P + M_{\text{act}}$; PEFT ($P_t \ll P$) tốn khoảng $4P + M_{\text{act}}$.
# PEFT bớt được nhiều nhất $12P$ byte — ba phần tư khi activation nhỏ. Nhưng activation $M_{\text{act}}$ (các
# tensor autograd giữ lại cho lan truyền ngược) tăng theo lô × độ dài chuỗi × số lớp, và **không** giảm nhờ PEFT:
# khi nó chiếm phần lớn, phần tiết kiệm nhỏ.
#
# ### Phép tính của một bước
# Một lớp tuyến tính $Y = XW$ với $X$ dạng $N \times d_{\text{in}}$ ($N$ token) và $W$ dạng
# $d_{\text{in}} \times d_{\text{out}}$ tốn $2N d_{\text{in}} d_{\text{out}}$ FLOP khi truyền xuôi. Lan truyền
# ngược có **hai** phép nhân cùng cỡ:
#
# $$\frac{\partial L}{\partial X} = \frac{\partial L}{\partial Y} W^\top \quad (\text{cần khi có gì đó huấn luyện được bên dưới lớp này}),
# \qquad \frac{\partial L}{\partial W} = X^\top \frac{\partial L}{\partial Y} \quad (\text{chỉ cần khi } W \text{ được huấn luyện}).$$
#
# LoRA, adapter, prefix đặt tham số huấn luyện ở **mọi** lớp (prefix, BitFit: cả lớp đầu tiên), nên gradient theo
# activation vẫn phải chảy qua mọi lớp đóng băng. PEFT chỉ bỏ được phép nhân thứ hai:
#
# $$C_{\text{full}} \approx 6NP, \qquad C_{\text{peft}} \approx 4NP + (\text{phần nhỏ của } P_t)
# \quad\Rightarrow\quad \frac{C_{\text{peft}}}{C_{\text{full}}} \approx \frac{2}{3}, \text{ không phải } r .$$
#
# Thời gian còn gồm bước cập nhật của bộ tối ưu (tỉ lệ với $P_t$, nên PEFT thắng ở đây) và chi phí cố định của
# mỗi phép tính (trên mô hình nhỏ, chi phí này chiếm phần lớn).

# %% [markdown]
# ## Xây từ đầu: đo một bước huấn luyện
# ### Trọng số, gradient, trạng thái Adam: đọc từ kích thước tensor
# Một lô cố định 32 ví dụ, LoRA $r = 8$ trên `c_attn`, `c_proj`, `c_fc` (như bài 3), chạy đúng một bước AdamW rồi
# cộng byte của từng loại tensor.

# %%
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from torch.utils.flop_counter import FlopCounterMode

from peft_course import TaskData, count_parameters, evaluate, experiments, freeze, set_seed, train
from peft_course.costs import step_cost
from peft_course.lora import LoRAConfig, apply_lora

TARGETS = ["c_attn", "c_proj", "c_fc"]
course = experiments.prepare(device="cpu")
batch = course.train.batch(torch.arange(32))


def lora_model():
    set_seed(0)
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=8, alpha=16, target_modules=TARGETS))
    return m


model = lora_model()
params = list(model.parameters())  # mỗi tensor một lần (wte và lm_head dùng chung)
trainable = [p for p in params if p.requires_grad]
opt = torch.optim.AdamW(trainable, lr=1e-3)
model.train()
model(**batch).loss.backward()
opt.step()

weights_b = sum(p.numel() * p.element_size() for p in params)
grads_b = sum(p.grad.numel() * p.grad.element_size() for p in trainable)
adam_b = sum(s[k].numel() * s[k].element_size() for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq"))
P, P_t = sum(p.numel() for p in params), sum(p.numel() for p in trainable)
assert (weights_b, grads_b, adam_b) == (4 * P, 4 * P_t, 8 * P_t)

# %%
# NBVAL_CHECK_OUTPUT
print(f"P = {P:,} tham số, P_t = {P_t:,} tham số huấn luyện")
print(f"trọng số {weights_b:,} B = 4P | gradient {grads_b:,} B = 4P_t | Adam {adam_b:,} B = 8P_t")
print(f"tinh chỉnh toàn bộ sẽ cần thêm {12 * (P - P_t):,} B cho gradient + Adam của phần đang đóng băng")

# %% [markdown]
# ### Activation: các tensor autograd giữ lại cho lan truyền ngược
# `torch.autograd.graph.saved_tensors_hooks` gọi một hàm của ta mỗi khi autograd *lưu* một tensor để dùng lúc lan
# truyền ngược. Ta cộng byte của mỗi vùng nhớ một lần, bỏ qua vùng nhớ của tham số (phép nhân với một trọng số đóng
# băng vẫn giữ trọng số ấy để tính $\partial L / \partial X$, nhưng trọng số đã được tính ở phần trọng số). Đây là
# lượng activation sống tới đầu lan truyền ngược: cận dưới của đỉnh thật (trên GPU còn có bộ nhớ tạm của từng phép
# tính; `bench/compare.py` ghi thêm đỉnh `torch.cuda.max_memory_allocated` khi chạy trên GPU).

# %%
def saved_activation_bytes(m) -> int:
    """Byte các tensor autograd giữ lại trong một lượt truyền xuôi huấn luyện, trừ tham số."""
    param_storage = {p.untyped_storage().data_ptr() for p in m.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in param_storage:
            saved[s.data_ptr()] = s.nbytes()
        return t

    m.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(**batch).loss
    return sum(saved.values())


full_model = course.fresh_model()
act_full, act_lora = saved_activation_bytes(full_model), saved_activation_bytes(lora_model())
print(f"activation: tinh chỉnh toàn bộ {act_full / 2**20:.1f} MB, LoRA {act_lora / 2**20:.1f} MB "
      f"(trọng số cả mô hình chỉ {weights_b / 2**20:.1f} MB)")

# %% [markdown]
# Với mô hình nhỏ này, activation của một lô 32 câu lớn gấp nhiều lần toàn bộ trọng số — và gần như không đổi khi
# chuyển sang LoRA. Vậy trên mô hình của khóa học, bỏ gradient và trạng thái Adam của phần đóng băng chỉ bớt được
# một phần nhỏ của tổng.
#
# ### FLOP: truyền xuôi và lan truyền ngược
# `torch.utils.flop_counter.FlopCounterMode` đếm FLOP của các phép nhân ma trận và attention được chạy bên trong nó.

# %%
def count_flops(m) -> tuple[int, int]:
    """(FLOP truyền xuôi, FLOP lan truyền ngược) của một bước trên lô cố định."""
    m.train()
    with FlopCounterMode(display=False) as fwd:
        loss = m(**batch).loss
    with FlopCounterMode(display=False) as bwd:
        loss.backward()
    return fwd.get_total_flops(), bwd.get_total_flops()


fwd_full, bwd_full = count_flops(course.fresh_model())
fwd_lora, bwd_lora = count_flops(lora_model())
assert abs(bwd_full / fwd_full - 2) < 0.05  # toàn bộ: hai phép nhân ngược cho mỗi phép nhân xuôi
assert 0.9 < bwd_lora / fwd_lora < 1.1  # LoRA: gần như chỉ còn ∂L/∂X

# %%
# NBVAL_CHECK_OUTPUT
print(f"lan truyền ngược / truyền xuôi: toàn bộ {bwd_full / fwd_full:.2f}, LoRA {bwd_lora / fwd_lora:.2f}")
print(f"FLOP một bước của LoRA so với toàn bộ: {(fwd_lora + bwd_lora) / (fwd_full + bwd_full):.2f} "
      f"(tỉ lệ tham số r = {P_t / count_parameters(full_model).total:.3f})")

# %% [markdown]
# ## Đối chiếu
# Phép đo tự viết ở trên phải trùng `peft_course.costs.step_cost` (hàm mà `bench/compare.py` dùng), và LoRA của
# huggingface/peft cùng cấu hình phải có đúng số byte gradient/Adam và (gần như) cùng số FLOP.

# %%
import warnings

from peft import LoraConfig, get_peft_model

ours = step_cost(lora_model(), batch)
assert (ours.weights_bytes, ours.grads_bytes, ours.optimizer_bytes) == (weights_b, grads_b, adam_b)
assert ours.activations_bytes == act_lora and ours.flops == fwd_lora + bwd_lora

warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
set_seed(0)
theirs_model = get_peft_model(course.fresh_model(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS,
                                                               lora_dropout=0.0, fan_in_fan_out=True))
theirs = step_cost(theirs_model, batch)
assert (theirs.weights_bytes, theirs.grads_bytes, theirs.optimizer_bytes) == (weights_b, grads_b, adam_b)
assert abs(theirs.flops / ours.flops - 1) < 0.02
print(f"peft: gradient + Adam {theirs.grads_bytes + theirs.optimizer_bytes:,} B (như ta), "
      f"FLOP bằng {theirs.flops / ours.flops:.3f} lần của ta, activation {theirs.activations_bytes / 2**20:.1f} MB")

# %% [markdown]
# ## Đo đạc: mọi phương pháp cạnh nhau
# `bench/compare.py` huấn luyện mọi phương pháp trong một lần chạy — cùng mô hình, cùng bài toán, 150 bước, lô 32,
# seed 0, tốc độ học của từng phương pháp theo `experiments.RECIPES` — và đo: số tham số huấn luyện, bộ nhớ theo
# phần (như trên), FLOP, thời gian mỗi bước, độ chính xác test, độ trễ suy luận so với mô hình nền (LoRA/DoRA đã
# gộp), kích thước tệp lưu phần đã học. Chế độ thứ hai dùng một mô hình cùng hình dạng **GPT-2 small** (124 triệu
# tham số, trọng số ngẫu nhiên, lô 4×128) chỉ để đo chi phí ở cỡ thật. Chạy lại bằng `python bench/compare.py`
# (vài phút trên CPU); notebook chỉ đọc kết quả đã lưu.

# %%
# NBVAL_IGNORE_OUTPUT
RESULTS_URL = "https://raw.githubusercontent.com/peft-course/peft-course/v0.1.0/bench/results/comparison.json"


def find_repo_file(rel: str) -> Path | None:
    """Tìm tệp `rel` ở thư mục hiện tại hoặc các thư mục cha (notebook chạy từ notebooks/ hay từ gốc kho)."""
    for root in (Path.cwd(), *Path.cwd().parents):
        if (root / rel).exists():
            return root / rel
    return None


path = find_repo_file("bench/results/comparison.json")
if path is not None:
    results, source = json.loads(path.read_text(encoding="utf-8")), f"đọc từ {path.name}"
elif "google.colab" in sys.modules:
    import urllib.request

    with urllib.request.urlopen(RESULTS_URL, timeout=30) as f:
        results, source = json.loads(f.read().decode("utf-8")), f"tải từ {RESULTS_URL}"
else:  # không có kết quả lưu sẵn: chạy một bản nhỏ (ít phương pháp, ít bước)
    sys.path.insert(0, str(find_repo_file("bench/compare.py").parent))
    from compare import measure

    small = {"course": measure(["full", "bitfit", "lora", "prefix"], 60, "course"),
             "gpt2-small": measure(["full", "lora"], 1, "gpt2-small")}
    results = {"machine": small["course"].pop("machine"), "runtime_s": None, "regimes": small}
    source = "vừa đo lại (bản nhỏ: 60 bước, 4 phương pháp)"
meta = results["machine"]
course_r, small_r = results["regimes"]["course"], results["regimes"].get("gpt2-small")
rows, small_rows = course_r["methods"], (small_r or {"methods": {}})["methods"]
print(f"Số đo {source}: đo lúc {meta['measured_at']} trên {meta['cpu']} ({meta['torch_threads']} luồng torch"
      f"{', ' + meta['gpu'] if 'gpu' in meta else ''}), {meta['platform']}, torch {meta['torch']}, thiết bị "
      f"{meta['device']}; cả lần chạy {results.get('runtime_s')} s.")

# %%
# NBVAL_IGNORE_OUTPUT
def fmt(x, spec):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


lines = ["| phương pháp | tham số huấn luyện | % | bộ nhớ/bước (MB) | … so với toàn bộ | GPT-2 small: MB | … so với toàn bộ "
         "| FLOP so với toàn bộ | thời gian so với toàn bộ | GPT-2 small: thời gian | acc test | % phần tăng | độ trễ suy luận | tệp (KB) |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for key, r in rows.items():
    s = small_rows.get(key, {})
    lines.append(f"| {r['label']} | {r['trainable']:,} | {r['percent']:.3f} | {r['memory']['total_mb']:.1f} | "
                 f"{fmt(r['memory_ratio'], '.2f')} | {fmt(s.get('memory', {}).get('total_mb'), ',.0f')} | "
                 f"{fmt(s.get('memory_ratio'), '.2f')} | {fmt(r['flops_ratio'], '.2f')} | {fmt(r['time_ratio'], '.2f')} | "
                 f"{fmt(s.get('time_ratio'), '.2f')} | {r['test_accuracy']:.3f} | {fmt(100 * r['gain_share'], '.0f')}% | "
                 f"{r['latency_ratio']:.2f}{' (gộp)' if r['merged'] else ''} | {r['file_bytes'] / 1024:,.1f} |")
print(f"Mô hình nền (chưa tinh chỉnh): acc test {course_r['base']['test_accuracy']:.3f}; "
      f"{course_r['steps']} bước, lô {course_r['batch_size']}.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ### Chất lượng theo số tham số huấn luyện (góc nhìn Pareto)
# Trục ngang thang log. Một phương pháp nằm trên **biên Pareto** nếu không có phương pháp nào vừa ít tham số hơn vừa
# chính xác hơn.

# %%
# NBVAL_IGNORE_OUTPUT
from peft_course.plots import plot_pareto

fig, ax = plt.subplots(figsize=(8, 4.2))
plot_pareto(list(rows.values()), course_r["base"]["test_accuracy"], ax=ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Bộ nhớ đi đâu
# Cột chồng của bốn phần, cho hai cỡ mô hình. Trên mô hình của khóa học, activation áp đảo; ở cỡ GPT-2 small với
# lô 4×128, gradient + trạng thái Adam của tinh chỉnh toàn bộ ($12P$ byte ≈ 1,5 GB) mới là phần lớn — và đó là
# phần PEFT bỏ được.

# %%
# NBVAL_IGNORE_OUTPUT
from peft_course.plots import plot_memory_breakdown

fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
plot_memory_breakdown(list(rows.values()), "Bộ nhớ một bước: mô hình của khóa học", axes[0])
plot_memory_breakdown(list(small_rows.values()), "Bộ nhớ một bước: cỡ GPT-2 small", axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Thời gian mỗi bước: đo được, FLOP, và dự đoán $r$ của bài viết gốc

# %%
# NBVAL_IGNORE_OUTPUT
peft_keys = [k for k in rows if k != "full"]
x = range(len(peft_keys))
fig, ax = plt.subplots(figsize=(9, 4))
ax.bar([i - 0.3 for i in x], [rows[k]["time_ratio"] for k in peft_keys], 0.2, label="thời gian đo: mô hình khóa học")
ax.bar([i - 0.1 for i in x], [small_rows[k]["time_ratio"] if k in small_rows else math.nan for k in peft_keys], 0.2,
       label="thời gian đo: cỡ GPT-2 small")
ax.bar([i + 0.1 for i in x], [rows[k]["flops_ratio"] for k in peft_keys], 0.2, color="tab:gray", label="FLOP (đếm)")
ax.scatter([i + 0.3 for i in x], [rows[k]["param_ratio"] for k in peft_keys], marker="v", color="tab:red", zorder=3,
           label="dự đoán $r = P_{peft}/P_{full}$")
ax.axhline(1.0, color="black", linewidth=0.8)
ax.set_xticks(list(x), [rows[k]["label"] for k in peft_keys], rotation=30, ha="right", fontsize=8)
ax.set(ylabel="so với tinh chỉnh toàn bộ", title="Thời gian mỗi bước không giảm theo tỉ lệ tham số")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Dữ liệu ít: thí nghiệm nhỏ cho tuyên bố 4 và 6
# Tinh chỉnh toàn bộ và LoRA $r = 8$ trên 100 và trên 3000 ví dụ huấn luyện, mỗi lần 100 bước (lô 16, tốc độ học
# theo công thức chung). Ngoài độ chính xác test, ta đo độ chính xác *trên chính tập huấn luyện*: khoảng cách giữa
# hai số là dấu hiệu học thuộc (phương sai); độ chính xác test thấp dù huấn luyện tốt là độ chệch (thiếu sức chứa)
# hoặc chưa hội tụ.

# %%
# NBVAL_IGNORE_OUTPUT
def subset(data: TaskData, n: int, seed: int = 0) -> TaskData:
    """n ví dụ chọn ngẫu nhiên (cố định theo seed) từ một tập đã mã hóa."""
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return TaskData(data.input_ids[idx], data.attention_mask[idx], data.labels[idx], data.answer_pos[idx], data.y[idx],
                    data.label_token_ids)


data_runs = {}
for n in (100, 3000):
    train_n = subset(course.train, n)
    for name, make, recipe in (("tinh chỉnh toàn bộ", course.fresh_model, "full"), ("LoRA r=8", lora_model, "lora")):
        m = make()  # mô hình nền mới: mọi tham số requires_grad, nên "full" huấn luyện tất cả
        train(m, train_n, None, steps=100, lr=experiments.RECIPES[recipe]["lr"], batch_size=16, seed=0, progress=False)
        data_runs[(n, name)] = {"train": evaluate(m, subset(train_n, min(n, 450)))["accuracy"],
                                "test": evaluate(m, course.test)["accuracy"]}
lines = ["| số ví dụ huấn luyện | phương pháp | acc trên tập huấn luyện | acc test | khoảng cách |", "|---:|---|---:|---:|---:|"]
lines += [f"| {n} | {name} | {v['train']:.3f} | {v['test']:.3f} | {v['train'] - v['test']:+.3f} |"
          for (n, name), v in data_runs.items()]
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Các tuyên bố của bài viết gốc, cạnh số đo
# Ô dưới tính mỗi nhận định từ số đo ở trên (không có con số nào viết tay), rồi phần văn bản giải thích.

# %%
# NBVAL_IGNORE_OUTPUT
peft = {k: r for k, r in rows.items() if k != "full"}
speft = {k: r for k, r in small_rows.items() if k != "full"}


def span(values) -> str:
    values = [v for v in values if v is not None]
    return f"{min(values):.2f}–{max(values):.2f}" if values else "–"


claims = [
    ("1. $P_{peft} \\ll P_{full}$", f"PEFT huấn luyện {span(r['percent'] for r in peft.values())}% tham số (mô hình khóa học), "
     f"{span(r['percent'] for r in speft.values())}% ở cỡ GPT-2 small", "đúng"),
    ("2. $T_{peft} \\approx r \\cdot T_{full}$", f"r = {span(r['param_ratio'] for r in peft.values())} nhưng thời gian đo "
     f"{span(r['time_ratio'] for r in peft.values())} (khóa học), {span(r['time_ratio'] for r in speft.values()) if speft else '–'} "
     f"(GPT-2 small); FLOP {span(r['flops_ratio'] for r in peft.values())}", "sai như đã viết"),
    ("3. bộ nhớ giảm", f"tổng bộ nhớ/bước còn {span(r['memory_ratio'] for r in peft.values())} (khóa học), "
     f"{span(r['memory_ratio'] for r in speft.values()) if speft else '–'} (GPT-2 small) so với toàn bộ",
     "đúng, nhưng mức giảm tùy phần activation"),
]
best = max(peft.values(), key=lambda r: r["test_accuracy"])
claims.append(("5. Acc/Cost", f"toàn bộ: acc {rows['full']['test_accuracy']:.3f} / thời gian 1,00; {best['label']}: acc "
               f"{best['test_accuracy']:.3f} / thời gian {best['time_ratio']:.2f}; mô hình nền: chi phí huấn luyện 0 → tỉ số vô hạn",
               "tỉ số không có nghĩa; xem biên Pareto"))
small_gap = {name: data_runs[(100, name)]["train"] - data_runs[(100, name)]["test"] for name in ("tinh chỉnh toàn bộ", "LoRA r=8")}
claims.append(("4. Var↓, Bias↑", f"100 ví dụ: khoảng cách huấn luyện − test của toàn bộ {small_gap['tinh chỉnh toàn bộ']:+.3f}, "
               f"LoRA {small_gap['LoRA r=8']:+.3f}", "xem bảng dữ liệu ít"))
winner = {n: max(("tinh chỉnh toàn bộ", "LoRA r=8"), key=lambda name: data_runs[(n, name)]["test"]) for n in (100, 3000)}
claims.append(("6. $N_{data} \\ll P_{model}$ ⇒ PEFT", "acc test tốt hơn: " + "; ".join(
    f"{n} ví dụ: {winner[n]} ({data_runs[(n, winner[n])]['test']:.3f})" for n in (100, 3000)),
    "không phải quy luật: tùy mô hình, số bước, tốc độ học"))
display(Markdown("| tuyên bố | số đo | nhận định |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in claims)))

# %% [markdown]
# **1. $P_{\text{peft}} \ll P_{\text{full}}$ — đúng.** Đây là định nghĩa của PEFT, và nó kéo theo hai lợi ích thật:
# tệp lưu phần đã học nhỏ hơn hàng chục tới hàng nghìn lần (cột "tệp"), và nhiều bài toán dùng chung một mô hình nền.
#
# **2. $T_{\text{peft}} \approx r \cdot T_{\text{full}}$ — sai.** FLOP của mọi phương pháp PEFT ở khoảng hai phần ba
# của tinh chỉnh toàn bộ, thời gian đo được từ khoảng một nửa tới hơn một lần, trong khi $r$ chỉ vài phần trăm hay
# nhỏ hơn. (Ở cỡ GPT-2 small, thời gian có thể xuống dưới hai phần ba vì bước AdamW trên 124 triệu tham số cũng tốn
# đáng kể trên CPU, và PEFT bỏ được bước đó.) Lý do như ở phần *Ý tưởng*: truyền
# xuôi không đổi (thậm chí thêm phép tính: adapter, nhánh LoRA, chuẩn của DoRA, các token ảo), và lan truyền ngược
# vẫn phải tính $\partial L / \partial X$ qua mọi lớp đóng băng, vì tham số huấn luyện nằm rải khắp các lớp. PEFT chỉ
# bỏ được $\partial L / \partial W$ của phần đóng băng và bước cập nhật Adam của nó. Trên mô hình nhỏ của khóa học,
# chi phí cố định của mỗi phép tính (Python, khởi chạy kernel) lấn át phép tính, nên tỉ số thời gian còn gần 1 hơn;
# DoRA còn có thể chậm hơn tinh chỉnh toàn bộ (chuẩn của $W + sBA$ tính lại mỗi bước). huggingface/peft đo điều
# tương tự ở cỡ thật: LoRA trên Llama-3.2-3B mất 942 s so với 2147 s của tinh chỉnh toàn bộ — 0,44, không phải 0,01.
#
# **3. Bộ nhớ — đúng, nhưng mức giảm tùy activation.** PEFT bỏ gradient và trạng thái Adam của phần đóng băng
# ($12P$ byte ở fp32). Trọng số ($4P$) và activation vẫn còn. Ở mô hình của khóa học, activation của một lô lớn gấp
# nhiều lần trọng số nên tổng chỉ giảm ít; ở cỡ GPT-2 small với lô 4×128, $12P$ byte là phần lớn của tổng, nên tổng
# giảm mạnh (bài báo LoRA: GPT-3 175B từ 1,2 TB xuống 350 GB). Lô lớn hơn, chuỗi dài hơn thì activation lại chiếm ưu
# thế; khi đó cần thêm *gradient checkpointing* hay lượng tử hóa (QLoRA), không phải chỉ PEFT.
#
# **4. Var↓, Bias↑ — một trực giác, không phải định luật.** Ít tham số huấn luyện là một ràng buộc (giống điều
# chuẩn), nên về lý thuyết khó học thuộc hơn (phương sai giảm) và khó biểu diễn một thay đổi lớn (độ chệch tăng).
# Bảng dữ liệu ít cho thấy vì sao phải đo: cột "khoảng cách" là dấu hiệu phương sai; cột "acc trên tập huấn luyện"
# thấp nghĩa là chưa khớp được dữ liệu — do thiếu sức chứa (độ chệch) hoặc đơn giản là chưa hội tụ với số bước và
# tốc độ học ấy. Mô hình đã học trước cũng làm tinh chỉnh toàn bộ ít học thuộc hơn ta tưởng: nó bắt đầu gần lời giải
# và chỉ đi vài trăm bước. Với bài toán gần những gì mô hình nền đã biết, độ chệch thêm vào có thể rất nhỏ (xem cột
# "% phần tăng" của LoRA, DoRA trong bảng chính); prefix/prompt tuning trên mô hình nhỏ thì thiếu hẳn sức chứa.
#
# **5. Acc/Cost — tỉ số không có nghĩa.** Độ chính xác không tỉ lệ với chi phí, và mô hình nền (chi phí huấn luyện 0)
# luôn "thắng" tỉ số này. Câu hỏi đúng là: với một ngân sách (bộ nhớ, thời gian, dung lượng lưu), phương pháp nào
# chính xác nhất — tức là đọc biên Pareto, hoặc so độ chính xác ở cùng chi phí.
#
# **6. $N_{\text{data}} \ll P_{\text{model}}$ ⇒ PEFT — không phải quy luật.** Ở đây $N_{\text{data}}$ (100 hay 3000
# câu) nhỏ hơn $P_{\text{model}}$ (2,57 triệu) rất nhiều trong mọi trường hợp, vậy mà kết quả phụ thuộc số bước, tốc
# độ học và phương pháp nhiều hơn phụ thuộc tỉ số ấy. Tinh chỉnh toàn bộ với tốc độ học nhỏ và ít bước cũng là một
# dạng điều chuẩn. Điều đúng hơn: PEFT giảm rủi ro học thuộc khi dữ liệu ít, và dễ thử nhiều cấu hình hơn vì rẻ lưu.
#
# ### Khi nào tinh chỉnh toàn bộ thắng
# Khi bài toán xa những gì mô hình nền biết (ngôn ngữ mới, miền mới: cần thay đổi hạng cao), khi có nhiều dữ liệu và
# ngân sách tính toán, khi mô hình đủ nhỏ để bộ nhớ không phải ràng buộc (như mô hình của khóa học), và khi chỉ cần
# *một* mô hình (không cần lưu nhiều bộ chuyển).

# %% [markdown]
# ## Chọn phương pháp nào, khi nào
# Kiểm chứng bằng các cột của bảng trên (số của bạn có thể khác đôi chút):
#
# | phương pháp | ưu điểm | giới hạn | dùng khi |
# |---|---|---|---|
# | tinh chỉnh toàn bộ | chất lượng cao nhất khi đủ dữ liệu; không thêm độ trễ | bộ nhớ $16P$ + activation; mỗi bài toán một bản sao đầy đủ | mô hình nhỏ, bài toán xa miền, một bài toán duy nhất |
# | BitFit | ít tham số nhất trong nhóm sửa trọng số; tệp rất nhỏ | sức chứa thấp; thời gian gần như không giảm | thử nhanh, mô hình đã gần đúng bài toán |
# | adapter (Houlsby, Pfeiffer) | ổn định, cấu hình đơn giản; Pfeiffer rẻ hơn Houlsby | **không gộp được**: thêm độ trễ suy luận | nhiều bài toán chia sẻ một mô hình, độ trễ không quan trọng |
# | LoRA | chất lượng gần tinh chỉnh toàn bộ; **gộp được** nên không thêm độ trễ; hệ sinh thái lớn (peft) | vẫn tốn activation và ~2/3 FLOP; chọn $r$, $\alpha$, lớp đích | lựa chọn mặc định |
# | DoRA | thường nhỉnh hơn LoRA cùng hạng; gộp được | mỗi bước chậm hơn LoRA (chuẩn tính lại), tốn thêm activation | khi LoRA thiếu chất lượng và còn dư thời gian |
# | prefix / prompt tuning | tệp nhỏ nhất; không sửa trọng số nào; một lô có thể trộn nhiều bài toán | kém trên mô hình nhỏ và ít bước; chiếm chỗ trong ngữ cảnh; thêm độ trễ | mô hình rất lớn, nhiều bài toán phục vụ cùng lúc |

# %% [markdown]
# ## Thí nghiệm với widget: chọn phương pháp và ngân sách
# Chọn các phương pháp (giữ Ctrl/Cmd để chọn nhiều) và loại ngân sách; hình bên trái là chi phí, bên phải là độ
# chính xác test của cùng các phương pháp (mô hình của khóa học).

# %%
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

BUDGETS = {
    "tham số huấn luyện (thang log)": lambda k: rows[k]["trainable"],
    "bộ nhớ/bước, mô hình khóa học (MB)": lambda k: rows[k]["memory"]["total_mb"],
    "bộ nhớ/bước, cỡ GPT-2 small (MB)": lambda k: small_rows[k]["memory"]["total_mb"] if k in small_rows else math.nan,
    "thời gian/bước so với toàn bộ": lambda k: rows[k]["time_ratio"],
    "FLOP so với toàn bộ": lambda k: rows[k]["flops_ratio"],
    "tệp lưu phần đã học (KB)": lambda k: rows[k]["file_bytes"] / 1024,
    "độ trễ suy luận so với nền": lambda k: rows[k]["latency_ratio"],
}
labels = {rows[k]["label"]: k for k in rows}
picker = widgets.SelectMultiple(options=list(labels), value=tuple(list(labels)[:5]), rows=len(labels),
                                description="phương pháp")
budget = widgets.Dropdown(options=list(BUDGETS), value="bộ nhớ/bước, cỡ GPT-2 small (MB)", description="ngân sách")
out = widgets.Output()


def draw(change=None) -> None:
    with out:
        out.clear_output(wait=True)
        keys = [labels[name] for name in picker.value]
        if not keys:
            print("Chọn ít nhất một phương pháp.")
            return
        fig, (ax_cost, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.6))
        names = [rows[k]["label"] for k in keys]
        ax_cost.barh(names, [BUDGETS[budget.value](k) for k in keys], color="tab:orange")
        if budget.value.startswith("tham số"):
            ax_cost.set_xscale("log")
        ax_cost.set(xlabel=budget.value, title="Chi phí")
        ax_acc.barh(names, [rows[k]["test_accuracy"] for k in keys], color="tab:blue")
        ax_acc.axvline(course_r["base"]["test_accuracy"], color="gray", linestyle=":", label="mô hình nền")
        ax_acc.set(xlabel="độ chính xác test", xlim=(0, 1), title="Chất lượng")
        ax_acc.legend(fontsize=8)
        fig.tight_layout()
        plt.show()


picker.observe(draw, names="value")
budget.observe(draw, names="value")
draw()
display(widgets.VBox([widgets.HBox([picker, budget]), out]))

# %% [markdown]
# ## Tóm tắt
# - Bộ nhớ một bước = trọng số $4P$ + gradient $4P_t$ + Adam $8P_t$ + activation. PEFT bỏ $12(P - P_t)$ byte; trọng số
#   và activation còn nguyên. Tiết kiệm lớn khi gradient + Adam chiếm phần lớn (mô hình lớn, lô vừa phải), nhỏ khi
#   activation áp đảo (mô hình nhỏ như của khóa học).
# - FLOP của một bước PEFT ≈ 2/3 của tinh chỉnh toàn bộ, *bất kể* tỉ lệ tham số: lan truyền ngược vẫn tính gradient
#   theo activation qua mọi lớp đóng băng. "$T_{\text{peft}} \approx r \cdot T_{\text{full}}$" sai.
# - Chất lượng: so bằng biên Pareto ở cùng ngân sách, không bằng tỉ số Acc/Cost.
# - Suy luận: LoRA/DoRA gộp được (không thêm độ trễ); adapter, prefix, prompt thì không.
# - Lợi ích chắc chắn nhất của PEFT: tệp nhỏ, một mô hình nền phục vụ nhiều bài toán, bộ nhớ huấn luyện nhỏ hơn ở
#   mô hình lớn.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** LoRA $r = 8$ trên `c_attn`, `c_proj`, `c_fc` của GPT-2 small (12 lớp, $d = 768$): gradient + trạng
# thái Adam chiếm bao nhiêu byte ở fp32? Chỉ dùng công thức (mỗi lớp $n \to m$ có $r(n + m)$ tham số LoRA).

# %%
def check_adam_bytes(answer: int) -> None:
    d, L, r = 768, 12, 8
    per_block = r * ((d + 3 * d) + (d + d) + (d + 4 * d) + (4 * d + d))  # c_attn, attn.c_proj, c_fc, mlp.c_proj
    expected = 12 * L * per_block
    assert answer == expected, (f"Chưa đúng: {answer:,}. Gợi ý: 4 byte gradient + 8 byte Adam cho mỗi tham số huấn "
                                "luyện; mlp.c_proj là 3072 → 768.")
    print(f"Đúng: {expected:,} byte ≈ {expected / 2**20:.1f} MB, so với {12 * 124_439_808 / 2**20:,.0f} MB của tinh "
          "chỉnh toàn bộ.")


my_bytes = None  # số byte của bạn (một số nguyên), tính bằng công thức
if my_bytes is not None:
    check_adam_bytes(my_bytes)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Mỗi khối: $r\big[(768 + 2304) + (768 + 768) + (768 + 3072) + (3072 + 768)\big] = 8 \cdot 12{,}288 = 98{,}304$ tham
# số; 12 khối: $1{,}179{,}648$ tham số; nhân 12 byte: $14{,}155{,}776$ byte ≈ 13,5 MB. Tinh chỉnh toàn bộ: $12 \cdot
# 124{,}439{,}808$ byte ≈ 1,4 GB. Đối chiếu với cột gradient + Adam của LoRA ở cỡ GPT-2 small trong bảng.
#
# </details>
#
# **Bài 2 (vừa).** Chỉ huấn luyện khối cuối (`transformer.h.3`) của mô hình khóa học bằng `freeze(m, r"^transformer\.h\.3\.")`.
# Đo tỉ số FLOP một bước so với tinh chỉnh toàn bộ bằng `step_cost(m, batch).flops`. Trước khi đo, đoán: nhỏ hơn hay
# lớn hơn tỉ số của LoRA (≈ 2/3), và vì sao?

# %%
def check_last_block(ratio: float) -> None:
    m = course.fresh_model()
    freeze(m, r"^transformer\.h\.3\.")
    full_flops = step_cost(course.fresh_model(), batch).flops
    real = step_cost(m, batch).flops / full_flops
    lora_ratio = step_cost(lora_model(), batch).flops / full_flops
    assert abs(ratio - real) < 1e-3, f"Chưa đúng: {ratio:.3f}, đo được {real:.3f}."
    assert real < lora_ratio
    print(f"Đúng: {real:.3f} < LoRA {lora_ratio:.3f}. Lan truyền ngược dừng ở lớp huấn luyện thấp nhất: ba khối dưới "
          "không cần gradient theo activation.")


my_ratio = None  # m = course.fresh_model(); freeze(...); my_ratio = step_cost(m, batch).flops / ...
if my_ratio is not None:
    check_last_block(my_ratio)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# m = course.fresh_model()
# freeze(m, r"^transformer\.h\.3\.")
# my_ratio = step_cost(m, batch).flops / step_cost(course.fresh_model(), batch).flops
# check_last_block(my_ratio)
# ```
# Nhỏ hơn: gradient chỉ cần chảy từ mất mát qua `lm_head`, `ln_f` và khối 3; ba khối dưới chỉ truyền xuôi. Đó là lý do
# các phương pháp "chỉ tinh chỉnh mấy lớp trên cùng" rẻ hơn hẳn về phép tính — nhưng kém linh hoạt hơn LoRA/adapter
# đặt ở mọi lớp. (`lm_head` dùng chung trọng số với `wte` nên vẫn đóng băng ở đây.)
#
# </details>
#
# **Bài 3 (mở).** Từ `rows` (kết quả đã đọc), tính tỉ số $\text{Acc}/\text{Cost}$ của bài viết gốc cho mọi phương pháp
# với Cost = thời gian mỗi bước so với tinh chỉnh toàn bộ (`time_ratio`), thành một dict khóa → tỉ số. Phương pháp
# nào "thắng"? Thêm mô hình nền (chi phí huấn luyện 0) thì sao? Đề xuất một cách so khác có nghĩa hơn.

# %%
def check_acc_per_cost(scores: dict) -> None:
    assert set(scores) == set(rows), f"Cần đủ các khóa {sorted(rows)}."
    for k, v in scores.items():
        expected = rows[k]["test_accuracy"] / rows[k]["time_ratio"]
        assert abs(v - expected) < 1e-9, f"{k}: {v:.4f} ≠ acc/time_ratio = {expected:.4f}."
    top = max(scores, key=scores.get)
    print(f"Đúng. Tỉ số cao nhất: {rows[top]['label']} ({scores[top]:.3f}); mô hình nền (chi phí 0) sẽ cho ∞.")


my_scores = None  # {k: ... for k in rows}
if my_scores is not None:
    check_acc_per_cost(my_scores)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# `my_scores = {k: r["test_accuracy"] / r["time_ratio"] for k, r in rows.items()}`. Phương pháp nào thắng tùy máy đo
# (thời gian trên mô hình nhỏ gần như bằng nhau), còn mô hình nền chưa tinh chỉnh luôn thắng với tỉ số vô hạn — tỉ số
# thưởng cho việc *không làm gì*. Cách so có nghĩa hơn: cố định ngân sách (ví dụ bộ nhớ ≤ một ngưỡng, hay tệp ≤ 1 MB)
# rồi chọn phương pháp chính xác nhất trong ngân sách; hoặc vẽ biên Pareto như ở trên; hoặc so phần tăng của độ chính
# xác so với mô hình nền trên mỗi đơn vị chi phí *thêm vào*, ở nhiều mức ngân sách.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Hu et al. (2021), *LoRA: Low-Rank Adaptation of Large Language Models*, arXiv:2106.09685 (bộ nhớ GPT-3 175B:
#   1,2 TB → 350 GB; không thêm độ trễ khi gộp; adapter thêm độ trễ).
# - Liu et al. (2024), *DoRA: Weight-Decomposed Low-Rank Adaptation*, arXiv:2402.09353.
# - Houlsby et al. (2019), *Parameter-Efficient Transfer Learning for NLP*, arXiv:1902.00751; Pfeiffer et al. (2021),
#   *AdapterFusion*, arXiv:2005.00247.
# - Ben Zaken et al. (2021), *BitFit*, arXiv:2106.10199.
# - Li & Liang (2021), *Prefix-Tuning*, arXiv:2101.00190; Lester et al. (2021), *The Power of Scale for
#   Parameter-Efficient Prompt Tuning*, arXiv:2104.08691.
# - Kaplan et al. (2020), *Scaling Laws for Neural Language Models*, arXiv:2001.08361 (xấp xỉ $6N$ FLOP mỗi token
#   khi huấn luyện: 2 cho truyền xuôi, 4 cho lan truyền ngược).
# - Rajbhandari et al. (2020), *ZeRO: Memory Optimizations Toward Training Trillion Parameter Models*,
#   arXiv:1910.02054 (bộ nhớ huấn luyện chia thành trọng số, gradient, trạng thái bộ tối ưu, activation).
# - Dettmers et al. (2023), *QLoRA*, arXiv:2305.14314 (khi trọng số và activation là phần lớn bộ nhớ).
# - huggingface/peft, *method comparison* (MetaMathQA, Llama-3.2-3B): thời gian và bộ nhớ của từng phương pháp.
# - PyTorch: `torch.autograd.graph.saved_tensors_hooks`, `torch.utils.flop_counter.FlopCounterMode`.

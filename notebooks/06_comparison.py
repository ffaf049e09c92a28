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
# - tách bộ nhớ của một bước huấn luyện thành bốn phần — **trọng số**, **gradient**, **trạng thái Adam**,
#   **activation** — và đo từng phần trên mô hình thật;
# - đếm phép tính (FLOP) của một bước và giải thích vì sao PEFT chỉ bớt khoảng **một phần ba** phép tính, dù chỉ
#   huấn luyện vài phần nghìn tham số;
# - đọc bảng so sánh mọi phương pháp của khóa học theo **giao thức đo chung** (bài 0: tốc độ học chọn trên
#   validation, checkpoint tốt nhất trên validation, ngân sách đủ để hội tụ, nhiều seed, trung bình ± độ lệch
#   chuẩn), kể cả **thời gian tới 90%** độ chính xác của tinh chỉnh toàn bộ;
# - đọc nghiên cứu **dữ liệu nhỏ** (100 tới 3000 ví dụ) và đặt từng tuyên bố của bài viết gốc cạnh số đo;
# - chọn phương pháp theo ràng buộc thật: bộ nhớ, thời gian, dung lượng lưu, độ trễ suy luận, lượng dữ liệu.
#
# Bài này dựa trên mọi bài trước: bài 0 (tinh chỉnh toàn bộ, giao thức đo), bài 1 (BitFit), bài 2 (adapter),
# bài 3 (LoRA), bài 4 (DoRA), bài 5 (prefix tuning, prompt tuning). Bài này **không huấn luyện lại** mọi
# phương pháp: nó đọc kết quả mà `bench/compare.py` đã đo (hàng giờ CPU) và chỉ đo trực tiếp một bước huấn
# luyện (bộ nhớ, FLOP) để bạn thấy các con số ấy đến từ đâu.

# %% [markdown]
# ## Ý tưởng
#
# ### Bài viết gốc nói gì
# Bài viết mà khóa học này sửa lại lập luận giá trị của PEFT bằng mấy công thức. Ta sẽ kiểm tra từng cái, theo
# đúng thứ tự này, ở mục *Các tuyên bố của bài viết gốc, cạnh số đo*:
#
# | # | tuyên bố | công thức |
# |---|---|---|
# | 1 | PEFT huấn luyện rất ít tham số | $P_{\text{peft}} \ll P_{\text{full}}$ |
# | 2 | thời gian huấn luyện tỉ lệ với số tham số huấn luyện | $T_{\text{peft}} \approx r \cdot T_{\text{full}}$, $r = P_{\text{peft}} / P_{\text{full}}$ |
# | 3 | PEFT tốn ít bộ nhớ hơn | $M_{\text{peft}} < M_{\text{full}}$ |
# | 4 | ít tham số hơn thì phương sai giảm, độ chệch tăng | $\text{Var}\downarrow$, $\text{Bias}\uparrow$ |
# | 5 | PEFT thường kém chính xác hơn một chút | $\text{Acc}_{\text{peft}} \le \text{Acc}_{\text{full}}$ |
# | 6 | PEFT "đáng tiền" hơn | $\text{Acc}_{\text{peft}} / \text{Cost}_{\text{peft}} > \text{Acc}_{\text{full}} / \text{Cost}_{\text{full}}$ |
# | 7 | ít dữ liệu so với kích thước mô hình thì nên dùng PEFT | $N_{\text{data}} \ll P_{\text{model}}$ |
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
# Thời gian còn gồm bước cập nhật của bộ tối ưu (tỉ lệ với $P_t$, nên PEFT thắng ở đây), chi phí cố định của
# mỗi phép tính (trên mô hình nhỏ, chi phí này chiếm phần lớn) và — quan trọng nhất — **số bước** cần để đạt một
# độ chính xác: ít tham số hơn có thể cần nhiều bước hơn. Vì thế bảng so sánh đo cả thời gian một bước lẫn thời
# gian tới 90% độ chính xác của tinh chỉnh toàn bộ.

# %% [markdown]
# ## Xây từ đầu: đo một bước huấn luyện
# ### Trọng số, gradient, trạng thái Adam: đọc từ kích thước tensor
# Một lô cố định 32 ví dụ, LoRA $r = 8$ trên mọi lớp chiếu của khối (`c_attn`, `c_proj`, `c_fc` ở GPT-2, như
# bài 3), chạy đúng một bước AdamW rồi cộng byte của từng loại tensor.

# %%
import math
import re
import warnings

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from matplotlib.ticker import NullFormatter
from torch.utils.flop_counter import FlopCounterMode

from peft_course import arch, count_parameters, experiments, freeze, report, set_seed
from peft_course.costs import step_cost
from peft_course.errors import CourseError
from peft_course.lora import LoRAConfig, apply_lora
from peft_course.plots import (
    FIG_WIDTH,
    plot_memory_breakdown,
    plot_pareto,
    use_course_style,
)

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại
# peft gọi một API transformers sắp đổi tên; cảnh báo không liên quan tới bài
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")

# %% tags=["colab-model", "nbval-ignore-output"]
# Mô hình của bài. None = mô hình GPT-2 tiếng Việt đóng gói (2,57 triệu tham số,
# chạy offline, dùng trong CI). Trên Colab có GPU, đổi MỘT dòng để chạy cùng bài trên
# mô hình thật, ví dụ:
#   MODEL = "gpt2"               # GPT-2 small của OpenAI, 124 triệu tham số, vừa T4
#   MODEL = "Qwen/Qwen2.5-0.5B"  # Qwen2.5 0,5 tỉ (GQA, RoPE, không LayerNorm bias)
# và DATA = "uit-vsfc" để dùng bộ UIT-VSFC thật (16 nghìn câu) thay cho dữ liệu đóng gói
# (cả hai vừa GPU T4 ở float32).
MODEL = None
DATA = None
DTYPE = None  # None: float32; "bfloat16" trên GPU cho mô hình từ 1 tỉ tham số
course = experiments.prepare(MODEL, dtype=DTYPE, data=DATA)
model = course.fresh_model()
print("Mô hình:", "đóng gói của khóa học (offline)" if MODEL is None else MODEL)
print(arch.describe(model))
print(
    "Dữ liệu:",
    "đóng gói" if DATA is None else DATA,
    f"| {len(course.train)} câu huấn luyện | thiết bị {course.device}",
)

# %%
TARGETS = arch.lora_targets(model)  # mọi lớp chiếu của khối, đọc từ kiến trúc
batch = course.train.batch(torch.arange(32), course.device)


def lora_model():
    """Mô hình nền mới với LoRA r = 8 trên TARGETS (khởi tạo cố định theo seed 0)."""
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


def nbytes(tensors) -> int:
    """Tổng số byte của các tensor."""
    return sum(t.numel() * t.element_size() for t in tensors)


adam_tensors = [s[k] for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq")]
weights_b, grads_b = nbytes(params), nbytes(p.grad for p in trainable)
adam_b = nbytes(adam_tensors)
P, P_t = sum(p.numel() for p in params), sum(p.numel() for p in trainable)
bpf = params[0].element_size()  # byte mỗi số: 4 ở float32
assert (grads_b, adam_b) == (4 * P_t, 8 * P_t)  # tham số huấn luyện luôn ở float32
if DTYPE is None:
    assert weights_b == 4 * P

# %% tags=["nbval-check-output"]
print(f"P = {P:,} tham số, P_t = {P_t:,} tham số huấn luyện")
print(
    f"trọng số {weights_b:,} B | gradient {grads_b:,} B = 4P_t | "
    f"Adam {adam_b:,} B = 8P_t"
)
print(
    f"tinh chỉnh toàn bộ sẽ cần thêm {12 * (P - P_t):,} B cho gradient + Adam "
    "của phần đang đóng băng"
)

# %% [markdown]
# ### Activation: các tensor autograd giữ lại cho lan truyền ngược
# `torch.autograd.graph.saved_tensors_hooks` gọi một hàm của ta mỗi khi autograd *lưu* một tensor để dùng lúc lan
# truyền ngược. Ta cộng byte của mỗi vùng nhớ một lần, bỏ qua vùng nhớ của tham số (phép nhân với một trọng số đóng
# băng vẫn giữ trọng số ấy để tính $\partial L / \partial X$, nhưng trọng số đã được tính ở phần trọng số). Đây là
# lượng activation sống tới đầu lan truyền ngược: cận dưới của đỉnh thật (trên GPU còn có bộ nhớ tạm của từng phép
# tính; `bench/compare.py` ghi thêm đỉnh `torch.cuda.max_memory_allocated` khi chạy trên GPU).


# %%
def saved_activation_bytes(m) -> int:
    """Byte các tensor autograd giữ lại trong một lượt truyền xuôi huấn luyện, trừ
    tham số."""
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
act_full = saved_activation_bytes(full_model)
act_lora = saved_activation_bytes(lora_model())
print(
    f"activation: tinh chỉnh toàn bộ {act_full / 2**20:.1f} MB, "
    f"LoRA {act_lora / 2**20:.1f} MB "
    f"(trọng số cả mô hình chỉ {weights_b / 2**20:.1f} MB)"
)

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
assert abs(bwd_full / fwd_full - 2) < 0.05  # toàn bộ: hai phép nhân ngược mỗi phép xuôi
assert 0.9 < bwd_lora / fwd_lora < 1.1  # LoRA: gần như chỉ còn ∂L/∂X

# %% tags=["nbval-check-output"]
flops_ratio = (fwd_lora + bwd_lora) / (fwd_full + bwd_full)
r_lora = P_t / count_parameters(full_model).total
print(
    f"lan truyền ngược / truyền xuôi: toàn bộ {bwd_full / fwd_full:.2f}, "
    f"LoRA {bwd_lora / fwd_lora:.2f}"
)
print(
    f"FLOP một bước của LoRA so với toàn bộ: {flops_ratio:.2f} "
    f"(tỉ lệ tham số r = {r_lora:.3f})"
)

# %% [markdown]
# ## Đối chiếu
# Phép đo tự viết ở trên phải trùng `peft_course.costs.step_cost` (hàm mà `bench/compare.py` dùng), và LoRA của
# huggingface/peft cùng cấu hình phải có đúng số byte gradient/Adam và (gần như) cùng số FLOP.

# %%
from peft import LoraConfig, get_peft_model

ours = step_cost(lora_model(), batch)
assert (ours.weights_bytes, ours.grads_bytes, ours.optimizer_bytes) == (
    weights_b,
    grads_b,
    adam_b,
)
assert ours.activations_bytes == act_lora and ours.flops == fwd_lora + bwd_lora

set_seed(0)
peft_cfg = LoraConfig(
    r=8,
    lora_alpha=16,
    target_modules=TARGETS,
    lora_dropout=0.0,
    fan_in_fan_out=arch.model_type(model) == "gpt2",  # Conv1D của GPT-2 lưu W chuyển vị
)
theirs_model = get_peft_model(course.fresh_model(), peft_cfg)
theirs = step_cost(theirs_model, batch)
assert (theirs.weights_bytes, theirs.grads_bytes, theirs.optimizer_bytes) == (
    weights_b,
    grads_b,
    adam_b,
)
assert abs(theirs.flops / ours.flops - 1) < 0.02
print(
    f"peft: gradient + Adam {theirs.grads_bytes + theirs.optimizer_bytes:,} B "
    "(như ta), "
    f"FLOP bằng {theirs.flops / ours.flops:.3f} lần của ta, "
    f"activation {theirs.activations_bytes / 2**20:.1f} MB"
)
del theirs_model

# %% [markdown]
# ## Đo đạc: mọi phương pháp cạnh nhau, theo giao thức đo
# `bench/compare.py` huấn luyện mọi phương pháp theo giao thức đo chung của khóa học (in ở ô dưới, từ chính tệp
# kết quả): tốc độ học chọn trên validation, checkpoint tốt nhất trên validation, ngân sách đủ để đường
# validation đi ngang, nhiều seed. Nó ghi kết quả vào `peft_course/assets/results/comparison.json` (đi kèm gói,
# nên Colab cũng có) và các hình vào `bench/results/`. Notebook chỉ **đọc** tệp ấy qua `peft_course.report`:
# không con số so sánh nào trong bài được viết tay. Khi tệp chưa có hoặc chưa đủ, mỗi ô nói thiếu gì.


# %% tags=["nbval-ignore-output"]
def load_published() -> dict | None:
    """Kết quả đã công bố, hoặc None (kèm một dòng nói cách sinh) khi chưa có."""
    try:
        res = report.load_results()
    except CourseError as e:
        print("Kết quả bench chưa có: chạy python bench/compare.py")
        if report.RESULTS_PATH.exists():  # có tệp nhưng hỏng/cũ: nói rõ vì sao
            print(e)
        return None
    if not res.get("complete", True):
        todo = res.get("missing_runs", [])
        print(
            f"Kết quả chưa đủ: còn {len(todo)} lần chạy (chạy lại "
            "python bench/compare.py); các ô dưới dùng phần đã có."
        )
    return res


def missing(what: str) -> None:
    """Nói phần kết quả nào chưa có và lệnh sinh nó."""
    print(f"Kết quả bench chưa có {what}: chạy python bench/compare.py")


published = load_published()
SUMMARY = published["summary"]["methods"] if published else {}
COSTS = published["costs"]["course"] if published else {}
if published is not None:
    print(report.protocol_text(published))
if MODEL is not None:
    print(
        f"Lưu ý: số công bố là của mô hình đóng gói, không phải {MODEL}; "
        "với mô hình của bạn, chỉ các ô đo trực tiếp ở trên là của nó."
    )


# %%
def stat_of(method: str, column: str = "test_accuracy") -> report.Stat | None:
    """Một cột đã công bố của một phương pháp (trung bình ± sd), None nếu chưa có."""
    if published is None or method not in SUMMARY:
        return None
    try:
        s = report.stat(published, method, column)
    except CourseError:
        return None
    return s if s.mean is not None else None


def step_ratio(method: str) -> float | None:
    """Thời gian một bước so với tinh chỉnh toàn bộ (đo xen kẽ, cùng lô, cùng lúc)."""
    t = SUMMARY.get(method, {}).get("step_time_interleaved_s")
    t_full = SUMMARY.get("full", {}).get("step_time_interleaved_s")
    return t / t_full if t and t_full else None


def to90_ratio(method: str) -> float | None:
    """Giây tới 90% acc validation tốt nhất của toàn bộ, so với chính tinh chỉnh
    toàn bộ."""
    s, s_full = (
        stat_of(method, "seconds_to_target"),
        stat_of("full", "seconds_to_target"),
    )
    return s.mean / s_full.mean if s and s_full and s_full.mean else None


def fmt(x, spec: str = ".2f", none: str = "–") -> str:
    return (
        none
        if x is None or (isinstance(x, float) and math.isnan(x))
        else format(x, spec)
    )


PEFT = [m for m in SUMMARY if m != "full"]

# %% [markdown]
# ### Bảng chính
# Mỗi ô chất lượng là trung bình ± độ lệch chuẩn qua các seed, ở checkpoint tốt nhất trên validation. "% phần
# tăng của toàn bộ" = (acc test − mô hình nền) / (acc test của toàn bộ − mô hình nền). Bộ nhớ và FLOP là số
# tất định của `costs.step_cost` (một bước, lô 32), không phải RSS. "ms/bước" là trung vị trong từng lần chạy,
# trên máy đo lúc ấy; bảng thứ hai cho tỉ số thời gian một bước đo **xen kẽ** (mọi phương pháp trên cùng lô,
# cùng lúc, nên tải máy ảnh hưởng như nhau) và thời gian tới 90%.

# %% tags=["nbval-ignore-output"]
if published is None:
    missing("bảng so sánh")
else:
    ready = [m for m in SUMMARY if stat_of(m) is not None and m in COSTS]
    if len(ready) < len(SUMMARY):
        print("Chưa có số của:", ", ".join(SUMMARY[m]["label"] for m in SUMMARY
                                          if m not in ready))
    if ready:
        display(Markdown(report.published_table(published, ready)))
    lines = [
        "| phương pháp | lr chọn | bước tốt nhất | bước tới 90% | giây tới 90% "
        "| seed đạt 90% | r = P_t/P | thời gian/bước so với toàn bộ "
        "| thời gian tới 90% so với toàn bộ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m, row in SUMMARY.items():
        best, steps = stat_of(m, "best_step"), stat_of(m, "steps_to_target")
        secs, n = (
            stat_of(m, "seconds_to_target"),
            row.get("test_accuracy", {}).get("n", 0),
        )
        lines.append(
            f"| {row['label']} | {fmt(row.get('chosen_lr'), '.2g')} "
            f"| {best.fmt('.0f') if best else '–'} "
            f"| {steps.fmt('.0f') if steps else '–'} "
            f"| {secs.fmt('.1f') if secs else '–'} "
            f"| {row.get('reached_target', 0)}/{n} "
            f"| {fmt(COSTS.get(m, {}).get('param_ratio'), '.4f')} "
            f"| {fmt(step_ratio(m))} | {fmt(to90_ratio(m))} |"
        )
    display(Markdown("\n".join(lines)))

# %% [markdown]
# ### Chất lượng theo số tham số huấn luyện (góc nhìn Pareto)
# Trục ngang thang log; thanh dọc là ± một độ lệch chuẩn qua seed. Một phương pháp nằm trên **biên Pareto**
# nếu không có phương pháp nào vừa ít tham số hơn vừa chính xác hơn.


# %% tags=["nbval-ignore-output"]
def accuracy_rows(cost=lambda m: COSTS[m]["trainable"]) -> list[dict]:
    """Hàng cho plot_pareto: nhãn, chi phí (trục ngang), acc test trung bình và sd."""
    rows = []
    for m in SUMMARY:
        acc, c = stat_of(m), (cost(m) if m in COSTS else None)
        if acc is not None and c is not None:
            rows.append(
                {
                    "key": m,
                    "label": SUMMARY[m]["label"],
                    "trainable": c,
                    "test_accuracy": acc.mean,
                    "sd": acc.sd or 0.0,
                }
            )
    return rows


def draw_pareto(rows: list[dict], xlabel: str, title: str):
    """Biên Pareto acc test theo một chi phí, có thanh lỗi ± sd."""
    ax = plot_pareto(rows, report.base_accuracy(published), title=title)
    ax.errorbar(
        [r["trainable"] for r in rows],
        [r["test_accuracy"] for r in rows],
        yerr=[r["sd"] for r in rows],
        fmt="none",
        ecolor="0.4",
        capsize=3,
    )
    ax.set_xlabel(xlabel)
    ax.xaxis.set_minor_formatter(NullFormatter())  # nhãn phụ của thang log đè nhau
    ax.legend(loc="lower right", fontsize=7)  # góc dưới phải: trống
    return ax.figure


if published is None or not accuracy_rows():
    missing("độ chính xác của các phương pháp")
else:
    draw_pareto(accuracy_rows(), "tham số huấn luyện (log)", "Acc test theo số tham số")
    plt.show()

# %% [markdown]
# ### Acc validation theo bước: các đường đã đi ngang chưa?
# Mỗi seed một đường; nét đứt là ngưỡng 90% acc validation tốt nhất của tinh chỉnh toàn bộ. Một phương pháp
# "chậm" (đường lên dần) cần nhiều bước hơn để tới ngưỡng, dù cuối cùng có thể tới cùng chỗ.

# %% tags=["nbval-ignore-output"]
COLORS = dict(
    zip(
        ["full", "bitfit", "houlsby", "pfeiffer", "lora", "dora", "prefix", "prompt"],
        plt.rcParams["axes.prop_cycle"].by_key()["color"],
    )
)
curved = [m for m in SUMMARY if SUMMARY[m].get("curves")]
if not curved:
    missing("đường acc validation theo bước")
else:
    fig, axes = plt.subplots(2, 1, figsize=(FIG_WIDTH, 5.6), sharex=True, sharey=True)
    for i, m in enumerate(curved):
        ax = axes[0] if m in ("full", "lora", "dora", "bitfit") else axes[1]
        for j, c in enumerate(SUMMARY[m]["curves"]):
            ax.plot(
                c["eval_steps"],
                c["eval_accuracy"],
                color=COLORS.get(m, f"C{i}"),
                lw=1,
                alpha=0.8,
                label=SUMMARY[m]["label"] if j == 0 else None,
            )
    for ax in axes:
        thr = published["summary"].get("threshold_val_accuracy")
        if thr:
            ax.axhline(thr, color="gray", linestyle="--", lw=0.8)
        ax.set_ylabel("acc validation")
        ax.legend(fontsize=7)
    axes[1].set_xlabel("bước")
    axes[0].set_title("Acc validation theo bước (mỗi seed một đường)")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ### Thời gian tới 90% và thời gian một bước
# Cột là số bước tới ngưỡng (trung bình ± sd qua các seed đạt ngưỡng); chữ "không đạt" nghĩa là không seed
# nào đạt 90% trong ngân sách.

# %% tags=["nbval-ignore-output"]
if published is None:
    missing("thời gian tới 90%")
else:
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.4))
    for i, m in enumerate(SUMMARY):
        s = stat_of(m, "steps_to_target")
        if s is None:
            ax.text(
                i, 0, " không đạt", rotation=90, ha="center", va="bottom", fontsize=8
            )
        else:
            ax.bar(i, s.mean, yerr=s.sd or 0, capsize=3, color=COLORS.get(m, f"C{i}"))
    ax.set_xticks(
        range(len(SUMMARY)),
        [SUMMARY[m]["label"] for m in SUMMARY],
        rotation=35,
        ha="right",
    )
    ax.set_xlim(-0.6, len(SUMMARY) - 0.4)
    ax.set(ylabel="bước tới 90% của toàn bộ", title="Số bước tới ngưỡng")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ### Bộ nhớ đi đâu
# Cột chồng của bốn phần, cho hai cỡ mô hình. Trên mô hình của khóa học, activation áp đảo; ở cỡ GPT-2 small với
# lô 4×128, gradient + trạng thái Adam của tinh chỉnh toàn bộ ($12P$ byte ≈ 1,5 GB) mới là phần lớn — và đó là
# phần PEFT bỏ được.

# %% tags=["nbval-ignore-output"]
def show_memory(costs: dict, title: str) -> None:
    """Cột chồng bộ nhớ một bước, chừa chỗ phía trên cho chú giải."""
    ax = plot_memory_breakdown(list(costs.values()), title)
    ax.set_ylim(top=1.5 * ax.get_ylim()[1])
    ax.legend(ncol=2, fontsize=7, loc="upper center")
    ax.figure.tight_layout()
    plt.show()


SMALL_COSTS = (
    (published or {}).get("costs", {}).get("gpt2-small", {}).get("methods", {})
)
if not COSTS:
    missing("chi phí một bước")
else:
    show_memory(COSTS, "Một bước: mô hình của khóa học")
if SMALL_COSTS:
    show_memory(SMALL_COSTS, "Một bước: cỡ GPT-2 small")
elif published is not None:
    missing("chi phí ở cỡ GPT-2 small")

# %% [markdown]
# ## Dữ liệu nhỏ: phép thử cho tuyên bố 4 và 7
# Tinh chỉnh toàn bộ và LoRA $r = 8$ trên $N$ ví dụ huấn luyện ($N$ từ khoảng 100 tới 3000, chọn ngẫu nhiên
# theo seed), **cùng số bước cho mọi $N$** (nên $N$ nhỏ được học lại nhiều lượt hơn: cột "lượt qua dữ liệu"),
# đọc ở bước cuối (không chọn checkpoint: để thấy học thuộc nếu có), nhiều seed. Độ chính xác huấn luyện tính
# trên **đúng $N$ ví dụ đã học**. Khoảng cách "đã học − test" lớn là dấu hiệu học thuộc (phương sai); acc trên
# ví dụ đã học thấp là chưa khớp được dữ liệu (độ chệch, hoặc chưa hội tụ). Thiết kế chính xác in ở ô dưới,
# từ tệp kết quả.

# %% tags=["nbval-ignore-output"]
SMALL = (published or {}).get("summary", {}).get("small_data", {})
if not SMALL.get("rows"):
    missing("nghiên cứu dữ liệu nhỏ")
else:
    print(f"Thiết kế: {SMALL.get('design')}; {SMALL.get('steps')} bước.")
    display(Markdown(report.small_data_table(published)))


# %%
def small_cell(method: str, size: int, column: str) -> report.Stat | None:
    """Một ô của nghiên cứu dữ liệu nhỏ (trung bình ± sd qua seed), None nếu chưa có."""
    row = SMALL.get("rows", {}).get(f"{method}|{size}")
    if not row or row.get(column, {}).get("mean") is None:
        return None
    c = row[column]
    return report.Stat(c["mean"], c["sd"] or 0.0, c["n"])


def compare(a: report.Stat, b: report.Stat) -> int:
    """+1 nếu a lớn hơn b rõ (hơn độ lệch chuẩn gộp), -1 nếu nhỏ hơn rõ, 0 nếu trong
    nhiễu."""
    noise = math.hypot(a.sd or 0.0, b.sd or 0.0)
    return 0 if abs(a.mean - b.mean) <= noise else (1 if a.mean > b.mean else -1)


WORD = {1: "cao hơn rõ", 0: "ngang (trong độ lệch chuẩn)", -1: "thấp hơn rõ"}


# %% tags=["nbval-ignore-output"]
def small_data_comparison() -> dict[int, dict[str, int]]:
    """Với mỗi cỡ N: LoRA so với toàn bộ (+1 / 0 / -1) ở khoảng cách, acc đã học,
    acc test."""
    sizes = sorted({r["size"] for r in SMALL.get("rows", {}).values()})
    result = {}
    for n in sizes:
        cells = {
            (m, c): small_cell(m, n, c)
            for m in ("full", "lora")
            for c in ("train_accuracy", "test_accuracy", "generalization_gap")
        }
        if any(v is None for v in cells.values()):
            print(f"N = {n}: chưa đủ số đo cho cả hai phương pháp.")
            continue
        result[n] = {
            k: compare(cells["lora", c], cells["full", c])
            for k, c in (
                ("gap", "generalization_gap"),
                ("fit", "train_accuracy"),
                ("test", "test_accuracy"),
            )
        }
        print(
            f"N = {n}: so với toàn bộ, LoRA có khoảng cách học − test "
            f"{WORD[result[n]['gap']]}, "
            f"acc trên ví dụ đã học {WORD[result[n]['fit']]}, "
            f"acc test {WORD[result[n]['test']]} "
            f"({cells['lora', 'test_accuracy'].fmt()} so với "
            f"{cells['full', 'test_accuracy'].fmt()})."
        )
    return result


SMALL_CMP = small_data_comparison() if SMALL.get("rows") else {}
if SMALL.get("rows") and not SMALL_CMP:
    missing("so sánh dữ liệu nhỏ (thiếu ô của LoRA hoặc toàn bộ)")

# %% [markdown]
# ## Các tuyên bố của bài viết gốc, cạnh số đo
# Mỗi ô dưới tính nhận định từ kết quả đã công bố (không con số nào viết tay) và in câu nhận định; hộp
# markdown trước mỗi ô nói tuyên bố và cách đo. Bảng tổng hợp ở cuối mục, đánh số như bảng ở phần *Ý tưởng*.
# Các tuyên bố ở mục 6 của bài viết gốc (lưu trữ gọn nhẹ, dễ triển khai, giảm tài nguyên GPU, khó tổng quát
# hóa đa nhiệm) được đo ở bài 7 (hộp *Bài viết gốc nói / Đo được*).

# %% tags=["nbval-ignore-output"]
CLAIMS: dict[int, tuple[str, str, str]] = {}  # số → (tuyên bố, số đo, nhận định)


def span(values, spec: str = ".2f") -> str:
    values = [v for v in values if v is not None]
    return f"{min(values):{spec}}–{max(values):{spec}}" if values else "–"


if COSTS:
    pct = [COSTS[m]["percent"] for m in PEFT if m in COSTS]
    mem = [COSTS[m]["memory_ratio"] for m in PEFT if m in COSTS]
    CLAIMS[1] = (
        "$P_{peft} \\ll P_{full}$",
        f"PEFT huấn luyện {span(pct, '.3f')}% tham số",
        "đúng" if max(pct) < 10 else "không đúng với mọi phương pháp",
    )
    CLAIMS[3] = (
        "$M_{peft} < M_{full}$",
        f"bộ nhớ một bước còn {span(mem)} × toàn bộ (mô hình khóa học)",
        "đúng" if max(mem) < 1 else "không phải mọi phương pháp",
    )
    print(
        *(f"{k}. {a}: {b} → {c}" for k, (a, b, c) in sorted(CLAIMS.items())), sep="\n"
    )
else:
    missing("chi phí của các phương pháp (tuyên bố 1 và 3)")

# %% [markdown]
# > **Bài viết gốc nói / Đo được — tuyên bố 2: $T_{\text{peft}} \approx r \cdot T_{\text{full}}$.**
# > *Bài viết gốc nói:* thời gian huấn luyện tỉ lệ với tỉ lệ tham số huấn luyện $r = P_{\text{peft}} /
# > P_{\text{full}}$.
# > *Đo được (ô dưới):* với mỗi phương pháp, $r$, thời gian **một bước** so với toàn bộ (đo xen kẽ) và thời gian
# > **tới 90%** acc validation tốt nhất của toàn bộ, so với chính toàn bộ. FLOP một bước ≈ 2/3 (phần *Ý tưởng*),
# > không phải $r$, và ít tham số hơn thường cần **nhiều bước hơn**. *Nhận định:* câu in ở ô dưới.


# %% tags=["nbval-ignore-output"]
def time_verdict() -> str:
    """Nhận định tuyên bố 2 từ các tỉ số thời gian đã công bố."""
    rs = {m: COSTS[m]["param_ratio"] for m in PEFT if m in COSTS and stat_of(m)}
    absent = [SUMMARY[m]["label"] for m in PEFT if m not in rs]
    steps = {m: step_ratio(m) for m in rs}
    t90 = {m: to90_ratio(m) for m in rs}
    never = [SUMMARY[m]["label"] for m in rs if stat_of(m, "steps_to_target") is None]
    for m in rs:
        print(
            f"{SUMMARY[m]['label']:>22}: r = {rs[m]:.4f} | một bước {fmt(steps[m])}× "
            f"| tới 90% {fmt(t90[m])}×"
        )
    measured = [v for v in steps.values() if v is not None]
    if not measured:
        return "Chưa có thời gian một bước đã công bố để nhận định."
    holds = [m for m in rs if steps[m] is not None and steps[m] <= 2 * rs[m]]
    verdict = (
        "đúng" if len(holds) == len(rs) else f"sai với {len(rs) - len(holds)}/{len(rs)}"
    )
    to90 = [v for v in t90.values() if v is not None]
    text = (
        f"Nhận định: {verdict} phương pháp. r chỉ {span(rs.values(), '.4f')}, "
        f"nhưng một bước tốn {span(measured)}× thời gian của toàn bộ"
    )
    if to90:
        text += f", và tới 90% tốn {span(to90)}× thời gian của toàn bộ"
    if never:
        text += f"; {', '.join(never)} không đạt 90% trong ngân sách (tới 90%: ∞)"
    if absent:
        text += f"; chưa có số của {', '.join(absent)}"
    return text + "."


if SUMMARY and COSTS:
    TIME_VERDICT = time_verdict()
    print(TIME_VERDICT)
    if TIME_VERDICT.startswith("Nhận định: "):
        CLAIMS[2] = (
            "$T_{peft} \\approx r \\cdot T_{full}$",
            TIME_VERDICT.split(". ", 1)[-1],
            TIME_VERDICT.split(". ")[0].removeprefix("Nhận định: "),
        )
else:
    missing("thời gian của các phương pháp (tuyên bố 2)")

# %% [markdown]
# > **Bài viết gốc nói / Đo được — tuyên bố 5: $\text{Acc}_{\text{peft}} \le \text{Acc}_{\text{full}}$.**
# > *Bài viết gốc nói:* thường thì PEFT kém chính xác hơn tinh chỉnh toàn bộ.
# > *Đo được (ô dưới):* acc test trung bình của mỗi phương pháp so với toàn bộ, ở checkpoint tốt nhất, qua các
# > seed. Một khác biệt chỉ được tính là "rõ" khi lớn hơn độ lệch chuẩn gộp của hai bên; với 3 seed và 450 câu
# > test, khác biệt nhỏ hơn thế là nhiễu. *Nhận định:* câu in ở ô dưới.


# %% tags=["nbval-ignore-output"]
def accuracy_verdict() -> str:
    """Nhận định tuyên bố 5: mỗi phương pháp cao hơn rõ / ngang / thấp hơn rõ so với
    toàn bộ."""
    full = stat_of("full")
    groups = {1: [], 0: [], -1: []}
    for m in PEFT:
        s = stat_of(m)
        if s is not None:
            groups[compare(s, full)].append(SUMMARY[m]["label"])
    parts = [f"{WORD[k]} toàn bộ: {', '.join(v)}" for k, v in groups.items() if v]
    verdict = (
        "đúng theo số đo (không phương pháp nào cao hơn rõ)"
        if not groups[1]
        else "không phải lúc nào cũng đúng"
    )
    detail = "; ".join(parts)
    return f"Nhận định: {verdict}. {detail[:1].upper()}{detail[1:]}."


if stat_of("full") is not None:
    ACC_VERDICT = accuracy_verdict()
    print(ACC_VERDICT)
    CLAIMS[5] = (
        "$Acc_{peft} \\le Acc_{full}$",
        ACC_VERDICT.split(". ", 1)[-1],
        ACC_VERDICT.split(". ")[0].removeprefix("Nhận định: "),
    )
else:
    missing("độ chính xác của tinh chỉnh toàn bộ (tuyên bố 5)")

# %% [markdown]
# > **Bài viết gốc nói / Đo được — tuyên bố 6: $\text{Acc}_{\text{peft}} / \text{Cost}_{\text{peft}} >
# > \text{Acc}_{\text{full}} / \text{Cost}_{\text{full}}$.**
# > *Bài viết gốc nói:* PEFT "đáng tiền" hơn theo tỉ số độ chính xác trên chi phí.
# > *Đo được:* tỉ số của một độ chính xác và một chi phí không có đơn vị có nghĩa, và mô hình nền (chi phí huấn
# > luyện 0) luôn "thắng" nó. Câu hỏi đúng: với một ngân sách, phương pháp nào chính xác nhất — tức là **biên
# > Pareto**. Ô dưới tính biên theo bộ nhớ một bước và theo thời gian tới 90%. *Nhận định:* câu in ở ô dưới.


# %% tags=["nbval-ignore-output"]
def pareto_front(rows: list[dict]) -> list[str]:
    """Nhãn các phương pháp không bị phương pháp nào vừa rẻ hơn vừa chính xác hơn."""
    front, best = [], -1.0
    for r in sorted(rows, key=lambda r: (r["trainable"], -r["test_accuracy"])):
        if r["test_accuracy"] > best:
            front.append(r["label"])
            best = r["test_accuracy"]
    return front


if accuracy_rows():
    by_memory = pareto_front(accuracy_rows(lambda m: COSTS[m]["memory"]["total_mb"]))
    t90_rows = accuracy_rows(
        lambda m: getattr(stat_of(m, "seconds_to_target"), "mean", None)
    )
    by_time = pareto_front(t90_rows)
    PARETO_VERDICT = (
        "Nhận định: tỉ số Acc/Cost không có nghĩa (mô hình nền: chi phí 0, tỉ số ∞). "
        f"Biên Pareto theo bộ nhớ một bước: {', '.join(by_memory)}; "
        f"theo thời gian tới 90%: {', '.join(by_time) or '–'}."
    )
    print(PARETO_VERDICT)
    CLAIMS[6] = (
        "$Acc/Cost$",
        PARETO_VERDICT.split(". ", 1)[-1],
        "tỉ số không có nghĩa; đọc biên Pareto",
    )
else:
    missing("độ chính xác và chi phí (tuyên bố 6)")

# %% [markdown]
# > **Bài viết gốc nói / Đo được — tuyên bố 4: ít tham số ⇒ $\text{Var}\downarrow$ nhưng
# > $\text{Bias}\uparrow$, và tuyên bố 7: dùng PEFT khi $N_{\text{data}} \ll P_{\text{model}}$.**
# > *Bài viết gốc nói:* ít tham số huấn luyện thì ít học thuộc (phương sai giảm) nhưng kém linh hoạt (độ chệch
# > tăng); nên dùng PEFT khi dữ liệu ít so với kích thước mô hình.
# > *Đo được:* nghiên cứu dữ liệu nhỏ ở trên. Ở đây $N_{\text{data}}$ (100 tới 3000 câu) nhỏ hơn
# > $P_{\text{model}}$ (hàng triệu tham số) ở **mọi** cỡ, nên nếu tuyên bố 7 đúng, LoRA phải thắng ở mọi cỡ, rõ
# > nhất ở $N$ nhỏ. "Var↓" nghĩa là khoảng cách học − test của LoRA nhỏ hơn của toàn bộ; "Bias↑" nghĩa là acc
# > trên ví dụ đã học của LoRA thấp hơn. *Nhận định:* câu in ở ô dưới, từ bảng.


# %% tags=["nbval-ignore-output"]
def sizes_where(key: str, want: int) -> list[int]:
    """Các cỡ N mà so sánh `key` (gap, fit, test) của LoRA với toàn bộ cho `want`."""
    return [n for n, c in SMALL_CMP.items() if c[key] == want]


def share_verdict(found: dict[str, list[int]], sizes: list[int]) -> str:
    """"đúng" nếu mọi hiện tượng thấy ở mọi cỡ, "không thấy" nếu ở không cỡ nào, còn lại
    nói mỗi hiện tượng thấy ở bao nhiêu cỡ."""
    if all(len(v) == len(sizes) for v in found.values()):
        return "đúng ở mọi cỡ N"
    if not any(found.values()):
        return "số đo không ủng hộ (không cỡ N nào)"
    return "chỉ đúng một phần: " + ", ".join(
        f"{k} ở {len(v)}/{len(sizes)} cỡ" for k, v in found.items()
    )


if SMALL_CMP:
    sizes = list(SMALL_CMP)

    def at(found: list[int]) -> str:
        return f"ở N = {found}" if found else "ở không cỡ N nào"

    var_down, bias_up = sizes_where("gap", -1), sizes_where("fit", -1)
    wins, losses = sizes_where("test", 1), sizes_where("test", -1)
    VAR_VERDICT = (
        f"Var↓ (khoảng cách của LoRA nhỏ hơn rõ) {at(var_down)}; "
        f"Bias↑ (LoRA khớp kém hơn rõ trên ví dụ đã học) {at(bias_up)}, "
        f"trong các cỡ {sizes}."
    )
    DATA_VERDICT = (
        f"LoRA có acc test cao hơn rõ toàn bộ {at(wins)}, "
        f"thấp hơn rõ {at(losses)}, ngang ở các cỡ còn lại; "
        + ("N_data ≪ P_model ở mọi cỡ và LoRA thắng ở mọi cỡ đã đo."
           if len(wins) == len(sizes) else
           "N_data ≪ P_model ở mọi cỡ, nên tỉ số ấy một mình không quyết định.")
    )
    print("Nhận định 4:", VAR_VERDICT)
    print("Nhận định 7:", DATA_VERDICT)
    CLAIMS[4] = (
        "Var↓, Bias↑",
        VAR_VERDICT,
        share_verdict({"Var↓": var_down, "Bias↑": bias_up}, sizes),
    )
    CLAIMS[7] = (
        "$N_{data} \\ll P_{model}$ ⇒ PEFT",
        DATA_VERDICT,
        share_verdict({"PEFT thắng": wins}, sizes),
    )
else:
    missing("nghiên cứu dữ liệu nhỏ (tuyên bố 4 và 7)")

# %% [markdown]
# Bảng tổng hợp, theo đúng thứ tự của bảng ở phần *Ý tưởng* (dòng thiếu nghĩa là kết quả tương ứng chưa có):

# %% tags=["nbval-ignore-output"]
if CLAIMS:
    table = ["| # | tuyên bố | số đo | nhận định |", "|---|---|---|---|"]
    table += [f"| {k} | {a} | {b} | {c} |" for k, (a, b, c) in sorted(CLAIMS.items())]
    display(Markdown("\n".join(table)))
else:
    missing("số đo cho các tuyên bố")

# %% [markdown]
# **Vì sao $T_{\text{peft}} \approx r \cdot T_{\text{full}}$ sai.** Như ở phần *Ý tưởng*: truyền xuôi không đổi
# (thậm chí thêm phép tính: adapter, nhánh LoRA, chuẩn của DoRA, các token ảo), và lan truyền ngược vẫn phải tính
# $\partial L / \partial X$ qua mọi lớp đóng băng, vì tham số huấn luyện nằm rải khắp các lớp. PEFT chỉ bỏ được
# $\partial L / \partial W$ của phần đóng băng và bước cập nhật Adam của nó. Trên mô hình nhỏ của khóa học, chi phí
# cố định của mỗi phép tính (Python, khởi chạy kernel) lấn át phép tính, nên tỉ số thời gian một bước còn gần 1
# hơn — có phương pháp còn chậm hơn toàn bộ mỗi bước. Và phương pháp ít tham số thường cần nhiều bước hơn để tới
# cùng độ chính xác, nên thời gian tới 90% còn xa $r$ hơn. huggingface/peft đo điều tương tự ở cỡ thật: LoRA trên
# Llama-3.2-3B mất 942 s so với 2147 s của tinh chỉnh toàn bộ — 0,44, không phải 0,01.
#
# **Bộ nhớ — đúng, nhưng mức giảm tùy activation.** PEFT bỏ gradient và trạng thái Adam của phần đóng băng
# ($12P$ byte ở fp32). Trọng số ($4P$) và activation vẫn còn. Ở mô hình của khóa học, activation của một lô lớn gấp
# nhiều lần trọng số nên tổng chỉ giảm ít; ở cỡ GPT-2 small với lô 4×128, $12P$ byte là phần lớn của tổng (bài báo
# LoRA: GPT-3 175B từ 1,2 TB xuống 350 GB). Lô lớn hơn, chuỗi dài hơn thì activation lại chiếm ưu thế; khi đó cần
# thêm *gradient checkpointing* hay lượng tử hóa (QLoRA), không phải chỉ PEFT.
#
# **Var/Bias và $N_{\text{data}} \ll P_{\text{model}}$ là trực giác, không phải định luật.** Ít tham số huấn
# luyện là một ràng buộc (giống điều chuẩn), nhưng mô hình đã học trước cũng làm tinh chỉnh toàn bộ ít học thuộc
# hơn ta tưởng: nó bắt đầu gần lời giải và chỉ đi vài trăm bước. Kết quả phụ thuộc số bước, tốc độ học và phương
# pháp; các nhận định ở trên được in từ bảng, nên chúng đổi theo khi kết quả đổi.
#
# ### Khi nào tinh chỉnh toàn bộ thắng
# Khi bài toán xa những gì mô hình nền biết (ngôn ngữ mới, miền mới: cần thay đổi hạng cao), khi có nhiều dữ liệu và
# ngân sách tính toán, khi mô hình đủ nhỏ để bộ nhớ không phải ràng buộc (như mô hình của khóa học), và khi chỉ cần
# *một* mô hình (không cần lưu nhiều bộ chuyển).

# %% [markdown]
# ## Thí nghiệm với widget: chất lượng trong một ngân sách
# Chọn loại ngân sách; hình là biên Pareto của acc test (trung bình ± sd) theo chi phí ấy, cho mọi phương pháp
# (mô hình của khóa học). Các hình được vẽ sẵn khi chạy ô, nên núm cũng đổi hình trên trang web tĩnh.

# %% tags=["nbval-ignore-output"]
from peft_course.widgets import figure_explorer

BUDGETS = {
    "tham số huấn luyện": lambda m: COSTS[m]["trainable"],
    "bộ nhớ một bước (MB)": lambda m: COSTS[m]["memory"]["total_mb"],
    "FLOP so với toàn bộ": lambda m: COSTS[m]["flops_ratio"],
    "tệp lưu phần đã học (KB)": lambda m: COSTS[m]["file_bytes"] / 1024,
    "thời gian/bước so với toàn bộ": step_ratio,
    "độ trễ suy luận so với nền": lambda m: COSTS[m]["latency_ratio"],
}


def draw_budget(name: str):
    """Hình biên Pareto của acc test theo ngân sách `name`."""
    rows = accuracy_rows(BUDGETS[name])
    if rows:
        fig = draw_pareto(rows, f"{name} (log)", f"Acc test theo {name}")
    else:
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"Kết quả bench chưa có: {name}", ha="center", va="center")
    plt.close(fig)  # figure_explorer tự hiển thị ảnh đã vẽ sẵn
    return fig


if accuracy_rows():
    budget_box = figure_explorer(
        list(BUDGETS), draw_budget, "ngân sách", control="dropdown"
    )
else:
    missing("độ chính xác và chi phí (widget ngân sách)")

# %% [markdown]
# ## Chọn phương pháp nào, khi nào
# Kiểm chứng bằng các cột của bảng chính (chất lượng, thời gian tới 90%) và bảng chi phí:
#
# | phương pháp | ưu điểm | giới hạn | dùng khi |
# |---|---|---|---|
# | tinh chỉnh toàn bộ | không thêm độ trễ; không giới hạn sức chứa | bộ nhớ $16P$ + activation; mỗi bài toán một bản sao đầy đủ | mô hình nhỏ, bài toán xa miền, một bài toán duy nhất |
# | BitFit | ít tham số nhất trong nhóm sửa trọng số; tệp rất nhỏ | sức chứa thấp; thời gian một bước gần như không giảm | thử nhanh, mô hình đã gần đúng bài toán |
# | adapter (Houlsby, Pfeiffer) | ổn định, cấu hình đơn giản; Pfeiffer rẻ hơn Houlsby | **không gộp được**: thêm độ trễ suy luận | nhiều bài toán chia sẻ một mô hình, độ trễ không quan trọng |
# | LoRA | **gộp được** nên không thêm độ trễ; hệ sinh thái lớn (peft) | vẫn tốn activation và ~2/3 FLOP; chọn $r$, $\alpha$, lớp đích | lựa chọn mặc định |
# | DoRA | gộp được; bài 4 so với LoRA ở cùng tốc độ học, nhiều seed | mỗi bước chậm hơn LoRA (chuẩn tính lại), tốn thêm activation | khi LoRA thiếu chất lượng và còn dư thời gian |
# | prefix / prompt tuning | tệp nhỏ nhất; không sửa trọng số nào; một lô có thể trộn nhiều bài toán | học chậm trên mô hình nhỏ (xem thời gian tới 90%); chiếm chỗ trong ngữ cảnh; thêm độ trễ | mô hình rất lớn, nhiều bài toán phục vụ cùng lúc |
#
# ### Vì sao không chồng phương pháp?
# Mỗi phương pháp của khóa học đóng băng mọi thứ trừ tham số của chính nó. Áp phương pháp thứ hai lên một mô hình
# đã có phương pháp thứ nhất sẽ **lặng lẽ đóng băng** phần vừa học của phương pháp thứ nhất (nó không còn được huấn
# luyện, nhưng vẫn ở trong mô hình), hoặc bọc một lớp bọc (LoRA quanh một lớp LoRA) làm hỏng gộp trọng số và lưu
# tệp. Vì thế mọi `apply_*` của gói từ chối một mô hình đã mang phương pháp nào đó, và nói rõ phương pháp tìm thấy:
# hãy áp lên một mô hình nền mới (`course.fresh_model()`).

# %% tags=["nbval-check-output"]
from peft_course.bitfit import apply_bitfit
from peft_course.inject import adapted_by

m = course.fresh_model()
apply_lora(m, LoRAConfig(r=8, alpha=16, target_modules=TARGETS))
print(adapted_by(m))
try:
    apply_bitfit(m)
except CourseError as e:
    print("CourseError:", e)

# %% [markdown]
# ## Tóm tắt
# - Bộ nhớ một bước = trọng số $4P$ + gradient $4P_t$ + Adam $8P_t$ + activation. PEFT bỏ $12(P - P_t)$ byte; trọng số
#   và activation còn nguyên. Tiết kiệm lớn khi gradient + Adam chiếm phần lớn (mô hình lớn, lô vừa phải), nhỏ khi
#   activation áp đảo (mô hình nhỏ như của khóa học).
# - FLOP của một bước PEFT ≈ 2/3 của tinh chỉnh toàn bộ, *bất kể* tỉ lệ tham số: lan truyền ngược vẫn tính gradient
#   theo activation qua mọi lớp đóng băng. "$T_{\text{peft}} \approx r \cdot T_{\text{full}}$" sai.
# - Thời gian: so bằng thời gian tới một độ chính xác (ở đây 90% của toàn bộ), không chỉ thời gian một bước;
#   ít tham số hơn có thể cần nhiều bước hơn.
# - Chất lượng: so bằng giao thức đo (checkpoint tốt nhất, hội tụ, nhiều seed, trung bình ± sd) và biên Pareto ở
#   cùng ngân sách, không bằng tỉ số Acc/Cost.
# - Dữ liệu ít: các nhận định về Var/Bias và $N_{\text{data}} \ll P_{\text{model}}$ được in từ bảng dữ liệu
#   nhỏ, không phải định luật viết sẵn.
# - Không chồng phương pháp: mỗi phương pháp áp lên một mô hình nền mới.
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
    per_block = r * (
        (d + 3 * d) + (d + d) + (d + 4 * d) + (4 * d + d)
    )  # c_attn, attn.c_proj, c_fc, mlp.c_proj
    expected = 12 * L * per_block
    assert answer == expected, (
        f"Chưa đúng: {answer:,}. Gợi ý: 4 byte gradient + 8 byte Adam cho mỗi "
        "tham số huấn luyện; mlp.c_proj là 3072 → 768."
    )
    print(
        f"Đúng: {expected:,} byte ≈ {expected / 2**20:.1f} MB, so với "
        f"{12 * 124_439_808 / 2**20:,.0f} MB của tinh chỉnh toàn bộ."
    )


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
# **Bài 2 (vừa).** Chỉ huấn luyện khối cuối (`transformer.h.3` ở mô hình đóng gói) bằng `freeze(m, LAST_BLOCK)`.
# Đo tỉ số FLOP một bước so với tinh chỉnh toàn bộ bằng `step_cost(m, batch).flops`. Trước khi đo, đoán: nhỏ hơn hay
# lớn hơn tỉ số của LoRA (≈ 2/3), và vì sao?

# %%
LAST = arch.attention_shape(model).num_layers - 1  # chỉ số khối cuối
LAST_BLOCK = rf"^{re.escape(arch.arch_of(model).blocks)}\.{LAST}\."


def check_last_block(ratio: float) -> None:
    m = course.fresh_model()
    freeze(m, LAST_BLOCK)
    full_flops = step_cost(course.fresh_model(), batch).flops
    real = step_cost(m, batch).flops / full_flops
    lora_ratio = step_cost(lora_model(), batch).flops / full_flops
    assert abs(ratio - real) < 1e-3, f"Chưa đúng: {ratio:.3f}, đo được {real:.3f}."
    assert real < lora_ratio
    print(
        f"Đúng: {real:.3f} < LoRA {lora_ratio:.3f}. Lan truyền ngược dừng ở lớp "
        "huấn luyện thấp nhất: các khối dưới không cần gradient theo activation."
    )


my_ratio = None  # m = course.fresh_model(); freeze(m, LAST_BLOCK); step_cost(m, batch)…
if my_ratio is not None:
    check_last_block(my_ratio)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# m = course.fresh_model()
# freeze(m, LAST_BLOCK)  # r"^transformer\.h\.3\." với mô hình đóng gói
# my_ratio = step_cost(m, batch).flops / step_cost(course.fresh_model(), batch).flops
# check_last_block(my_ratio)
# ```
# Nhỏ hơn: gradient chỉ cần chảy từ mất mát qua `lm_head`, `ln_f` và khối 3; ba khối dưới chỉ truyền xuôi. Đó là lý do
# các phương pháp "chỉ tinh chỉnh mấy lớp trên cùng" rẻ hơn hẳn về phép tính — nhưng kém linh hoạt hơn LoRA/adapter
# đặt ở mọi lớp. (`lm_head` dùng chung trọng số với `wte` nên vẫn đóng băng ở đây.)
#
# </details>
#
# **Bài 3 (mở).** Từ kết quả đã công bố, tính tỉ số $\text{Acc}/\text{Cost}$ của bài viết gốc cho mọi phương
# pháp với Acc = acc test trung bình (`stat_of(m).mean`) và Cost = thời gian một bước so với tinh chỉnh toàn bộ
# (`step_ratio(m)`), thành một dict khóa → tỉ số (bỏ các phương pháp chưa có số). Phương pháp nào "thắng"? Thêm
# mô hình nền (chi phí huấn luyện 0) thì sao? Đề xuất một cách so khác có nghĩa hơn.


# %%
def check_acc_per_cost(scores: dict) -> None:
    expected = {
        m: stat_of(m).mean / step_ratio(m)
        for m in SUMMARY
        if stat_of(m) is not None and step_ratio(m)
    }
    assert expected, "Chưa có kết quả bench để so: chạy python bench/compare.py."
    assert set(scores) == set(expected), f"Cần đúng các khóa {sorted(expected)}."
    for k, v in scores.items():
        assert abs(v - expected[k]) < 1e-9, (
            f"{k}: {v:.4f} ≠ acc/step_ratio = {expected[k]:.4f}."
        )
    top = max(scores, key=scores.get)
    print(
        f"Đúng. Tỉ số cao nhất: {SUMMARY[top]['label']} ({scores[top]:.3f}); "
        "mô hình nền (chi phí 0) sẽ cho ∞."
    )


my_scores = None  # {m: ... for m in SUMMARY if ...}
if my_scores is not None:
    check_acc_per_cost(my_scores)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# my_scores = {m: stat_of(m).mean / step_ratio(m) for m in SUMMARY
#              if stat_of(m) is not None and step_ratio(m)}
# check_acc_per_cost(my_scores)
# ```
# Phương pháp nào thắng tùy máy đo (thời gian một bước trên mô hình nhỏ gần như bằng nhau), còn mô hình nền chưa
# tinh chỉnh luôn thắng với tỉ số vô hạn — tỉ số thưởng cho việc *không làm gì*. Cách so có nghĩa hơn: cố định
# ngân sách (ví dụ bộ nhớ ≤ một ngưỡng, hay tệp ≤ 1 MB) rồi chọn phương pháp chính xác nhất trong ngân sách; hoặc
# đọc biên Pareto như ở widget trên; hoặc so thời gian *tới* một độ chính xác, như cột "thời gian tới 90%".
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

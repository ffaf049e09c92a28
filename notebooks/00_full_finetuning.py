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
# # Bài 0 — Tinh chỉnh toàn bộ: mốc so sánh và khung của cả khóa học
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/00_full_finetuning.ipynb)

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
# - viết được hàm mất mát của một mô hình ngôn ngữ tự hồi quy và tính lại nó bằng tay trên mô hình GPT-2
#   tiếng Việt nhỏ của khóa học;
# - hiểu cách khóa học biến bài toán phân loại cảm xúc phản hồi sinh viên thành bài toán mô hình ngôn ngữ,
#   với mất mát chỉ đặt trên token nhãn;
# - **tinh chỉnh toàn bộ** mô hình và biết nó tốn gì: số tham số, bộ nhớ cho trọng số + gradient + trạng thái
#   AdamW (tính từ kích thước tensor rồi đối chiếu với bộ tối ưu thật), bộ nhớ đỉnh và thời gian mỗi bước đo được;
# - tách tham số thành $\theta = (\theta_f, \theta_t)$ (phần **đóng băng** và phần **tham số huấn luyện**) bằng
#   `freeze`, và kiểm chứng rằng phần đóng băng không nhận gradient và không đổi một bit nào;
# - đọc được **giao thức đo** mà mọi so sánh của khóa học tuân theo (checkpoint tốt nhất trên validation,
#   ngân sách đủ để hội tụ, nhiều seed), và hai chỗ bài viết gốc viết sai: $\nabla_{\theta_f}\mathcal{L} = 0$
#   và bước cập nhật $\theta - \eta\nabla\mathcal{L}$.
#
# Đây là bài đầu tiên; mọi bài sau (BitFit, adapter, LoRA, …) vẽ lần chạy của mình cạnh lần chạy tinh chỉnh
# toàn bộ của bài này (lưu trong bộ đệm bởi `experiments.full_baseline`), còn các con số so sánh đến từ
# kết quả đã công bố theo giao thức đo.

# %% [markdown]
# ## Ý tưởng
#
# ### Mô hình ngôn ngữ tự hồi quy
# Một mô hình ngôn ngữ tự hồi quy gán xác suất cho một chuỗi token $X = (x_1, \dots, x_n)$ bằng cách
# dự đoán lần lượt từng token từ các token đứng trước nó:
#
# $$P(X) = \prod_{i=1}^{n} P(x_i \mid x_{<i}; \theta).$$
#
# Huấn luyện là cực tiểu hóa **mất mát** cross-entropy, tức trung bình của $-\log$ xác suất mà mô hình gán
# cho token đúng:
#
# $$\mathcal{L}(\theta) = -\frac{1}{|S|} \sum_{i \in S} \log P(x_i \mid x_{<i}; \theta),$$
#
# trong đó $S$ là tập các vị trí được tính mất mát. Khi tiền huấn luyện, $S$ là mọi vị trí. Trong khóa học,
# mỗi ví dụ có dạng `"Phản hồi: <câu>\nCảm xúc: <nhãn>"` và $S$ chỉ gồm **vị trí của token đầu tiên của nhãn**
# (`tiêu cực`, `trung lập`, `tích cực`): mô hình chỉ học đoán nhãn, không học chép lại câu phản hồi.
# Độ chính xác là: trong ba token nhãn, token nào được mô hình cho xác suất cao nhất.
#
# ### Tinh chỉnh toàn bộ
# Mọi tham số $\theta \in \mathbb{R}^{P}$ đều được cập nhật bằng AdamW. Với fp32 (4 byte một số), mỗi tham số
# cần: trọng số (4 byte), gradient (4 byte), hai trạng thái của Adam $m$ và $v$ (8 byte) — tổng
#
# $$M_{\text{tĩnh}} = (4 + 4 + 8)\,P = 16P \text{ byte},$$
#
# chưa kể **activation** (các giá trị trung gian giữ lại cho lan truyền ngược), phụ thuộc kích thước lô và độ
# dài chuỗi. Với GPT-2 small ($P \approx 124$ triệu) đó là khoảng 2 GB; với mô hình 7 tỉ tham số là 112 GB.
#
# ### PEFT: tách $\theta = (\theta_f, \theta_t)$
# Các phương pháp tinh chỉnh hiệu quả tham số (PEFT) giữ nguyên phần lớn tham số $\theta_f$ (**đóng băng**) và
# chỉ học một phần nhỏ $\theta_t$ — có thể là một phần của mô hình (BitFit, bài 1) hoặc tham số thêm vào
# (adapter, LoRA, token ảo…):
#
# $$\theta_t \leftarrow \theta_t - \eta\, \mathrm{AdamW}\big(\nabla_{\theta_t} \mathcal{L}(\theta_f, \theta_t)\big),
# \qquad \theta_f \text{ không đổi}, \qquad |\theta_t| \ll |\theta_f|.$$
#
# Gradient và trạng thái Adam chỉ cần cho $\theta_t$. Nhưng lan truyền ngược vẫn phải đi qua mọi lớp đóng băng
# nằm trên lớp huấn luyện thấp nhất, và activation vẫn phải giữ: PEFT **không** làm mỗi bước rẻ đi theo tỉ lệ
# $|\theta_t| / |\theta|$. Bài này đo điều đó.

# %% [markdown]
# ## Xây từ đầu
#
# ### Mô hình nền và số tham số
# Mô hình nền là GPT-2 tiếng Việt 4 lớp, $d = 192$, 4 đầu chú ý, từ vựng $V = 4000$, ngữ cảnh $T = 128$, ma
# trận embedding dùng chung với lớp đầu ra (`lm_head`). Mỗi khối có hai LayerNorm ($2 \cdot 2d$), `c_attn`
# ($d \cdot 3d + 3d$, gộp q, k, v), `attn.c_proj` ($d^2 + d$), `mlp.c_fc` ($d \cdot 4d + 4d$) và `mlp.c_proj`
# ($4d \cdot d + d$):
#
# $$P = Vd + Td + L\,(12d^2 + 13d) + 2d.$$

# %% tags=["teach"]
import math
import re
import time

import matplotlib.pyplot as plt
import torch

from peft_course import arch, count_parameters, evaluate, experiments, freeze, report
from peft_course.errors import CourseError
from peft_course.plots import FIG_WIDTH, plot_histories, use_course_style

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại


def gpt2_parameters(d: int, L: int, V: int, T: int) -> int:
    """Số tham số GPT-2 theo công thức (wte và lm_head dùng chung, đếm một lần)."""
    return V * d + T * d + L * (12 * d * d + 13 * d) + 2 * d


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
torch.manual_seed(0)
course = experiments.prepare(MODEL, dtype=DTYPE, data=DATA)
model = course.fresh_model()
print("Mô hình:", "đóng gói của khóa học (offline)" if MODEL is None else MODEL)
print(arch.describe(model))
print(
    "Dữ liệu:",
    "đóng gói" if DATA is None else DATA,
    f"| {len(course.train)} câu huấn luyện | thiết bị {course.device}",
)

# %% [markdown]
# Các số $d, L, V, T$ đọc từ chính mô hình (nên ô dưới cũng đúng khi bạn đổi `MODEL`). Công thức
# $P$ ở trên chỉ dành cho GPT-2; với họ khác (Qwen, Llama) ta chỉ đếm.

# %%
cfg = model.config
shape = arch.attention_shape(model)
d, L, V = shape.hidden, shape.num_layers, cfg.vocab_size
P = count_parameters(model).total
assert P == sum(p.numel() for p in model.parameters())
if arch.model_type(model) == "gpt2":
    T = cfg.n_positions
    assert P == gpt2_parameters(d, L, V, T)
    assert (
        model.lm_head.weight is model.transformer.wte.weight
    )  # dùng chung, đếm một lần
    print(f"d={d}, L={L}, V={V}, T={T}: P = {P:,} tham số = công thức")
    print(f"GPT-2 small theo cùng công thức: {gpt2_parameters(768, 12, 50257, 1024):,}")
else:
    print(f"d={d}, L={L}, V={V}: P = {P:,} tham số (không phải GPT-2: chỉ đếm)")

# %% [markdown]
# Bảng theo mô-đun (gộp các lớp lặp lại): embedding $Vd$ chiếm gần một phần ba mô hình nhỏ này, vì từ vựng
# lớn so với $d$.

# %% tags=["nbval-check-output"]
counts = count_parameters(model, depth=-1)
print(counts)
print(counts.table())

# %% [markdown]
# ### Mất mát từng token của một câu phản hồi
# Ta tính $-\log P(x_i \mid x_{<i})$ cho từng token của một câu, bằng `log_softmax` trên logits, rồi kiểm tra
# trung bình đúng bằng `loss` mà transformers trả về. Lưu ý: logits ở vị trí $i$ dự đoán token $i+1$.

# %%
tok = course.tokenizer
sentence = "Phản hồi: Giảng viên dạy rất nhiệt tình và dễ hiểu.\nCảm xúc: tích cực"
ids = tok(sentence, return_tensors="pt")["input_ids"].to(course.device)
with torch.no_grad():
    out = model(input_ids=ids, labels=ids)
logp = torch.log_softmax(out.logits[0, :-1], dim=-1)  # vị trí i dự đoán token i+1
nll = -logp.gather(1, ids[0, 1:, None]).squeeze(1)  # -log P(x_{i+1} | x_{≤i})
assert torch.allclose(nll.mean(), out.loss, atol=1e-5)
for t, v in zip(ids[0, 1:].tolist(), nll.tolist()):
    print(f"{tok.decode([t])!r:>14}  -log P = {v:5.2f}  P = {math.exp(-v):.3f}")
print(
    f"trung bình = {nll.mean():.4f} = loss của transformers {out.loss:.4f}; "
    f"perplexity = {math.exp(out.loss):.1f}"
)

# %% [markdown]
# Đọc bảng: token nào mô hình đoán chắc ($P$ gần 1), token nào làm nó bất ngờ ($-\log P$ lớn)? Thường phần tiếp
# của một cụm quen (như ` tình` sau ` nhiệt`) là dễ, còn khuôn `Cảm xúc:` và token nhãn thì khó: mô hình nền chưa
# từng thấy khuôn này, và chưa có lý do gì để đoán đúng nhãn.
#
# ### Bài toán dạng mô hình ngôn ngữ: mất mát chỉ trên token nhãn
# `FeedbackTask` đặt nhãn $-100$ (bỏ qua) ở mọi vị trí trừ token đầu của nhãn. Ta tự tính lại mất mát và độ
# chính xác của một lô từ logits.

# %%
data = course.train
i = 0
n_tok = int(data.attention_mask[i].sum())
print(repr(tok.decode(data.input_ids[i, :n_tok])))
print(
    "vị trí có nhãn:",
    (data.labels[i] != -100).nonzero().flatten().tolist(),
    "| answer_pos:",
    int(data.answer_pos[i]),
    "| token nhãn:",
    repr(tok.decode([int(data.labels[i, n_tok - 1])])),
)
print("ba token nhãn:", [tok.decode([t]) for t in data.label_token_ids.tolist()])

batch = data.batch(slice(0, 64), course.device)
with torch.no_grad():
    out = model(**batch)
rows = torch.arange(64)
pos = data.answer_pos[:64]
target = batch["input_ids"][rows, pos + 1]  # token nhãn nằm ngay sau vị trí trả lời
manual_loss = torch.nn.functional.cross_entropy(out.logits[rows, pos], target)
assert torch.allclose(manual_loss, out.loss, atol=1e-5)
pred = out.logits[rows, pos][:, data.label_token_ids].argmax(
    -1
)  # argmax trên 3 token nhãn
assert torch.equal(pred, data.label_logits(out.logits, slice(0, 64)).argmax(-1))
print(
    f"mất mát trên token nhãn: {manual_loss:.3f} (tự tính) = {out.loss:.3f} "
    f"(transformers); độ chính xác trên lô: "
    f"{(pred.cpu() == data.y[:64]).float().mean():.3f}"
)

# %% [markdown]
# Mô hình nền chưa tinh chỉnh là mốc dưới: nó chưa từng thấy khuôn `Cảm xúc: …`, nên đoán gần như ngẫu
# nhiên giữa ba nhãn (ngẫu nhiên là $1/3$).

# %%
base = experiments.base_result(course)
print(f"mô hình nền: acc validation {base.val_accuracy:.3f}, "
      f"acc test {base.test_accuracy:.3f}")

# %% [markdown]
# ### Bộ nhớ tĩnh: tính từ kích thước tensor, rồi đối chiếu với AdamW thật
# Ta cộng byte của trọng số, gradient và trạng thái Adam bằng công thức, sau đó làm đúng một bước AdamW
# thật và cộng kích thước các tensor trong `optimizer.state`.


# %% tags=["teach"]
def tensor_bytes(tensors) -> int:
    """Tổng số byte của các tensor."""
    return sum(t.numel() * t.element_size() for t in tensors)


# %%
bytes_per_float = 4  # fp32
formula = {
    "trọng số": bytes_per_float * P,
    "gradient": bytes_per_float * P,
    "trạng thái AdamW (m, v)": 2 * bytes_per_float * P,
}


def adam_state(opt) -> list:
    """Các tensor trạng thái m (exp_avg), v (exp_avg_sq) của mọi tham số trong AdamW."""
    return [s[k] for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq")]


model.train()
opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
model(**batch).loss.backward()
opt.step()
real = {
    "trọng số": tensor_bytes(model.parameters()),
    "gradient": tensor_bytes(p.grad for p in model.parameters()),
    "trạng thái AdamW (m, v)": tensor_bytes(adam_state(opt)),
}
assert real == formula
assert all(s["exp_avg"].shape == p.shape for p, s in opt.state.items())
opt.zero_grad(set_to_none=True)
model.eval()
del opt

# %% tags=["nbval-check-output"]
for k in formula:
    f_mb, r_mb = formula[k] / 2**20, real[k] / 2**20
    print(f"{k:>24}: công thức {f_mb:6.2f} MB | thật {r_mb:6.2f} MB")
print(
    f"{'tổng':>24}: {sum(formula.values()) / 2**20:6.2f} MB = 16 byte × {P:,} tham số"
)
print(
    f"GPT-2 small: {16 * 124_439_808 / 2**30:.2f} GiB; "
    f"7 tỉ tham số: {16 * 7e9 / 1e9:.0f} GB (chưa kể activation)"
)

# %% [markdown]
# > **Bài viết gốc nói / Đo được — bước cập nhật.**
# > *Bài viết gốc nói:* huấn luyện là bước gradient $\theta_{t+1} = \theta_t - \eta\,\nabla_\theta
# > \mathcal{L}$, mọi tham số đều được cập nhật.
# > *Đo được:* đó là SGD thuần, không cần trạng thái nào ngoài gradient. Khóa học (và gần như mọi
# > tinh chỉnh LLM) dùng **AdamW**: mỗi tham số huấn luyện có thêm **hai** trạng thái $m$, $v$ cùng cỡ
# > với nó, và bước cập nhật là $\theta \leftarrow \theta - \eta\,\big(\hat m/(\sqrt{\hat v}+
# > \epsilon) + \lambda\theta\big)$, không phải $\eta\nabla\mathcal{L}$. Ô trên đã đo $8P$ byte
# > trạng thái AdamW; ô dưới làm một bước SGD thuần trên cùng mô hình và đếm trạng thái của nó.
# > *Nhận định:* công thức của bài viết đúng cho SGD, nhưng bỏ qua phần bộ nhớ lớn nhất mà PEFT
# > tiết kiệm được: $8P$ byte trạng thái AdamW (gấp đôi trọng số).

# %% tags=["nbval-check-output"]
sgd_model = course.fresh_model()
sgd = torch.optim.SGD(sgd_model.parameters(), lr=1e-3)  # θ ← θ − η∇L, không momentum
sgd_model.train()
sgd_model(**batch).loss.backward()
sgd.step()
sgd_state = [t for s in sgd.state.values() for t in s.values() if torch.is_tensor(t)]
print(f"SGD thuần: trạng thái {tensor_bytes(sgd_state):,} byte")
print(
    f"AdamW: trạng thái {real['trạng thái AdamW (m, v)']:,} byte "
    f"= 2 × 4 byte × {P:,} tham số"
)
del sgd_model, sgd

# %% [markdown]
# Mỗi `p` trong `optimizer.state` còn có một số đếm `step` (một số vô hướng), không đáng kể. Activation
# không nằm trong công thức: chúng ta sẽ thấy bộ nhớ đỉnh đo được lớn hơn $16P$ nhiều, vì trên mô hình nhỏ
# này, logits $B \times T \times V$ (lô × độ dài × từ vựng) và các activation mới là phần lớn.
#
# ### Vòng huấn luyện tự viết
# Một bước huấn luyện gồm: lan truyền xuôi tính mất mát, `backward()` tính gradient, `step()` cập nhật,
# xóa gradient. Ta viết vòng ấy trong vài dòng và chạy vài bước; mất mát trên một lô validation cố định phải
# giảm.


# %% tags=["teach"]
def train_steps(
    model, data, steps: int = 8, lr: float = 3e-4, batch_size: int = 32, seed: int = 0
) -> list[float]:
    """Vòng huấn luyện tối giản: AdamW trên đúng các tham số requires_grad, lô ngẫu
    nhiên có seed."""
    params = [p for p in model.parameters() if p.requires_grad]
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        loss = model(**data.batch(idx, device)).loss  # xuôi
        loss.backward()  # ngược: gradient cho mọi tham số requires_grad
        opt.step()  # cập nhật
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


# %%
probe = course.validation.batch(
    slice(0, 128), course.device
)  # lô cố định để đo trước/sau
with torch.no_grad():
    before = model(**probe).loss.item()
losses = train_steps(model, course.train, steps=8)
with torch.no_grad():
    after = model(**probe).loss.item()
assert after < before, (before, after)
print("mất mát từng bước:", [round(x, 3) for x in losses])
print(f"mất mát validation (lô cố định): {before:.3f} → {after:.3f}")

# %% [markdown]
# ### Tách $\theta = (\theta_f, \theta_t)$ bằng `freeze`
# `freeze(model, regex)` đặt `requires_grad = False` cho mọi tham số trừ các tham số có tên khớp `regex`.
# Ở đây ta chỉ huấn luyện khối trên cùng và chuẩn hóa cuối (`ln_f` của GPT-2). Sau vài bước của chính vòng
# lặp trên, mọi tham số đóng băng phải có `grad is None` (autograd không hề tính gradient cho chúng) và
# giống hệt từng bit. Tên khối và tên chuẩn hóa cuối đọc từ mô hình (`peft_course.arch`), nên ô này cũng
# chạy với `MODEL` khác.

# %%
FACTS = arch.arch_of(model)


def final_norm_name(m) -> str:
    """Tên chuẩn hóa cuối (ln_f của GPT-2, norm của Llama/Qwen): mô-đun Norm cuối cùng
    nằm ngoài các khối."""
    inside = FACTS.blocks + "."
    names = [
        n
        for n, mod in m.named_modules()
        if "Norm" in type(mod).__name__ and not n.startswith(inside)
    ]
    return names[-1]


def top_blocks_pattern(k: int) -> str:
    """Regex cho k khối trên cùng và chuẩn hóa cuối."""
    norm = re.escape(final_norm_name(model)) + r"\."
    if k == 0:
        return norm
    blocks = "|".join(str(i) for i in range(L - k, L))
    return rf"({re.escape(FACTS.blocks)}\.({blocks})\.|{norm})"


model = course.fresh_model()
n_trainable = freeze(model, top_blocks_pattern(1))
assert n_trainable == count_parameters(model).trainable
if arch.model_type(model) == "gpt2":
    assert n_trainable == (12 * d * d + 13 * d) + 2 * d  # một khối + ln_f
frozen_before = {
    n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad
}
trainable_before = {
    n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
}

losses = train_steps(model, course.train, steps=4, lr=1e-3)
for n, p in model.named_parameters():
    if n in frozen_before:  # θ_f: không gradient, không đổi
        assert p.grad is None and torch.equal(p, frozen_before[n]), n
assert all(
    not torch.equal(p, trainable_before[n])
    for n, p in model.named_parameters()
    if p.requires_grad
)
print(
    f"θ_t: {n_trainable:,} tham số ({100 * n_trainable / P:.2f}%) đã đổi; "
    f"θ_f: {len(frozen_before)} tensor, không gradient, giống hệt từng bit."
)

# %% [markdown]
# > **Bài viết gốc nói / Đo được — "điều kiện" $\nabla_{\theta_f}\mathcal{L} = 0$.**
# > *Bài viết gốc nói:* khi tách $\theta = (\theta_f, \theta_t)$, phần đóng băng thỏa
# > $\nabla_{\theta_f}\mathcal{L} = 0$, nên chỉ $\theta_t$ được cập nhật.
# > *Đo được:* gradient theo $\theta_f$ **không** bằng 0. Ô dưới lấy một ma trận đóng băng của khối
# > đầu tiên, hỏi autograd gradient của mất mát theo nó (trên cùng một lô), và được một ma trận khác 0.
# > Điều PEFT làm là **không tính** gradient ấy (`requires_grad = False`, nên `p.grad is None` như ô
# > trên) và **không áp** nó (bộ tối ưu không giữ $\theta_f$). *Nhận định:* công thức sai; đúng phải
# > là "$\theta_f$ không được cập nhật", tức $\theta_f^{(t+1)} = \theta_f^{(t)}$, dù
# > $\nabla_{\theta_f}\mathcal{L} \neq 0$.

# %% tags=["nbval-ignore-output"]
frozen_name, frozen_p = next(
    (n, p)
    for n, p in model.named_parameters()
    if not p.requires_grad and n.startswith(FACTS.blocks + ".0.") and p.dim() == 2
)
assert frozen_p.grad is None  # PEFT không tính gradient này
frozen_p.requires_grad_(
    True
)  # chỉ để đo: hỏi autograd gradient theo một tham số đóng băng
grad_f = torch.autograd.grad(model(**probe).loss, frozen_p)[0]
frozen_p.requires_grad_(False)
assert grad_f.abs().max() > 0 and frozen_p.grad is None
print(
    f"{frozen_name}: ‖∇L‖ = {grad_f.norm():.3e}, "
    f"{int((grad_f != 0).sum()):,}/{grad_f.numel():,} phần tử khác 0"
)
print(
    "nhưng trong lúc huấn luyện: requires_grad =",
    frozen_p.requires_grad,
    "| grad =",
    frozen_p.grad,
)

# %% [markdown]
# ## Đối chiếu với `peft_course`
# Từ đây các bài dùng `peft_course.train`: cùng vòng lặp như `train_steps`, thêm lịch tốc độ học (khởi động
# rồi giảm theo cosin) và thứ tự lô riêng (nên hai hàm không cho cùng mất mát từng bước), đánh giá định kỳ
# trên validation, giữ checkpoint tốt nhất trên validation khi được yêu cầu, đo thời gian mỗi bước và bộ nhớ.
# Nó cũng kiểm tra mọi đối số trước bước đầu và dừng với `CourseError` khi mất mát thành `nan`. Nó chỉ đưa
# vào AdamW những tham số có `requires_grad`: ta kiểm tra số tham số nó báo bằng số ta đếm, và mất mát tự
# tính bằng mất mát của `evaluate`. (huggingface/peft không có "phương pháp" tinh chỉnh toàn bộ; mẫu số
# phần trăm của khóa học giống `print_trainable_parameters` của peft: mọi tham số đang có trong mô hình.)

# %%
from peft_course import train

h = train(model, course.train, steps=2, lr=1e-3, progress=False)
assert h.trainable == n_trainable
with torch.no_grad():
    val_batch = course.validation.batch(slice(0, len(course.validation)), course.device)
    probe_loss = model(**val_batch).loss.item()
assert abs(evaluate(model, course.validation)["loss"] - probe_loss) < 1e-4
print(f"peft_course.train huấn luyện {h.trainable:,} tham số = θ_t của ta")

# %% [markdown]
# Hai hàm đếm của bài (`gpt2_parameters`, `tensor_bytes`) có bản trong gói mà các bài sau dùng
# (`count_parameters`, `peft_course.costs.tensor_bytes`); một kiểm thử nhanh (`tests/test_teaching.py`)
# chứng minh chúng bằng nhau. Bản trong gói của `tensor_bytes`:

# %% tags=["nbval-ignore-output"]
import inspect

from peft_course import costs

print(inspect.getsource(costs.tensor_bytes))

# %% [markdown]
# Tốc độ học quá lớn làm mất mát thành `nan`; `train` dừng ngay ở bước đó, báo bằng tiếng Việt và trả
# mô hình về trạng thái trước khi gọi (không để lại trọng số hỏng):

# %% tags=["nbval-ignore-output"]
try:
    train(model, course.train, steps=20, lr=1e4, progress=False)
except CourseError as e:
    print("CourseError:", e)

# %% [markdown]
# ### Tinh chỉnh toàn bộ theo công thức chung của khóa học
# `experiments.full_baseline(course, refresh=True)` huấn luyện một mô hình nền mới trong 150 bước (lô 32,
# tốc độ học trong `experiments.RECIPES["full"]`), rồi lưu kết quả vào bộ đệm để các bài sau vẽ cạnh nó mà
# không phải huấn luyện lại. Đây là một **lần chạy minh họa** (một seed, số bước cố định, đọc ở bước cuối):
# đủ để thấy đường cong và chi phí, không phải con số so sánh của khóa học (xem *Giao thức đo* bên dưới).

# %% tags=["nbval-ignore-output", "live-timing"]
print("tốc độ học:", experiments.RECIPES["full"])
full = experiments.full_baseline(course, refresh=True)
plot_histories({"tinh chỉnh toàn bộ": full.history}, title="Tinh chỉnh toàn bộ")
plt.show()
print(
    f"acc validation {full.val_accuracy:.3f} | acc test {full.test_accuracy:.3f} "
    f"(mô hình nền: {base.test_accuracy:.3f})"
)
print(
    f"thời gian/bước {1000 * full.time_per_step_s:.1f} ms | "
    f"RSS đỉnh của tiến trình {full.peak_memory_mb:.0f} MB "
    f"(16P = {16 * P / 2**20:.0f} MB) trên {full.history.device}"
)
assert full.trainable == P and full.test_accuracy > base.test_accuracy

# %% [markdown]
# Bộ nhớ đỉnh ở ô trên (trên CPU: RSS của tiến trình, so với lúc bắt đầu, gồm cả các lần đánh giá với lô 256
# và bộ đệm của allocator; trên GPU: `max_memory_allocated`) lớn hơn $16P$ nhiều: phần trội là activation,
# đặc biệt là logits $B \times T \times V$ và gradient của chúng. Trên mô hình lớn, $16P$ mới là phần áp đảo;
# trên mô hình nhỏ này thì không. Con số tất định (kích thước tensor trọng số, gradient, AdamW, activation của
# một bước) là `peft_course.costs.step_cost`, dùng ở bài 6 và trong số liệu công bố.

# %% [markdown]
# ## Thí nghiệm với widget
# Núm: số khối trên cùng được mở băng (cộng chuẩn hóa cuối `ln_f`; embedding luôn đóng băng). $k = 0$ chỉ
# huấn luyện `ln_f`, $k = L$ huấn luyện mọi khối. Thanh trượt vẽ số tham số huấn luyện theo $k$ so với tinh
# chỉnh toàn bộ; nút "Huấn luyện" chạy 150 bước (minh họa, một seed) ở $k$ đã chọn và vẽ cạnh tinh chỉnh
# toàn bộ. Trên trang web tĩnh chỉ giá trị đã huấn luyện lúc dựng trang có đường cong; giá trị khác cần
# kernel (mở bài trên Colab).

# %%
from peft_course.widgets import knob_explorer, training_explorer

COLAB_URL = (
    "https://colab.research.google.com/github/peft-course/peft-course/blob/main/"
    "notebooks/00_full_finetuning.ipynb"
)


def unfrozen_top(k: int):
    """Mô hình nền mới, chỉ mở băng k khối trên cùng và chuẩn hóa cuối."""
    m = course.fresh_model()
    freeze(m, top_blocks_pattern(k))
    return m


def count_top(k: int) -> int:
    return count_parameters(unfrozen_top(k)).trainable


norm_size = count_top(0)
for k in range(L + 1):  # công thức = số thật: k khối + chuẩn hóa cuối
    assert count_top(k) == k * count_parameters(arch.blocks(model)[0]).total + norm_size

# %% tags=["nbval-ignore-output"]
top_counts = knob_explorer(
    list(range(L + 1)), count_top, full=P, knob="k (số khối mở băng)", value=1
)

# %% tags=["nbval-ignore-output", "live-timing"]
partial = training_explorer(
    course,
    unfrozen_top,
    "full",
    list(range(L + 1)),
    baseline=full,
    knob="k (số khối mở băng)",
    value=1,
    colab_url=COLAB_URL,
)
for k, res in partial.items():
    res.name = f"mở băng {k} khối trên + ln_f"

# %% [markdown]
# ## Đo đạc
# ### Lần chạy minh họa trên máy của bạn
# Bảng dưới là các lần chạy minh họa ở trên (một seed, 150 bước; cột cuối: phần trăm mức tăng độ chính xác
# test của tinh chỉnh toàn bộ so với mô hình nền mà cấu hình đạt được). Thời gian và RSS đo trên máy đang
# chạy bài, dao động theo tải máy: chúng minh họa, không phải số liệu công bố.

# %% tags=["nbval-ignore-output", "live-timing"]
from IPython.display import Markdown, display

runs = [full, *partial.values(), base]
display(Markdown(experiments.results_table(runs, full, base)))
plot_histories({r.name: r.history for r in [full, *partial.values()]}, title="Bài 0")
plt.show()

# %% [markdown]
# Mở băng một khối đã là một dạng PEFT thô: ít tham số hơn hẳn, nhưng thời gian mỗi bước không giảm theo tỉ
# lệ đó, vì lan truyền xuôi vẫn đi qua cả mô hình và logits $V$ chiều vẫn phải tính (và lan truyền ngược vẫn
# đi qua `lm_head`).
#
# ### Giao thức đo của khóa học
# Mọi so sánh giữa các phương pháp trong khóa học (bảng của bài 6, "% phần tăng của toàn bộ" ở các bài
# 1–5) đến từ `bench/compare.py`, chạy theo một giao thức chung (`peft_course.protocol`) và lưu trong
# `peft_course/assets/results/comparison.json`. Ô dưới in giao thức **từ chính tệp kết quả**, nên nó luôn
# khớp với các con số được trích.

# %% tags=["nbval-ignore-output"]
try:
    published = report.load_results()
except CourseError as e:
    published = None
    print("Kết quả bench chưa có: chạy python bench/compare.py")
    if report.RESULTS_PATH.exists():  # có tệp nhưng hỏng/cũ: nói rõ vì sao
        print(e)
if published is not None:
    print(report.protocol_text(published))
    if not published.get("complete", True):
        print("Chưa đủ: còn thiếu", len(published.get("missing_runs", [])), "lần chạy.")
    try:
        full_acc = report.stat(published, "full")
        best_step = report.stat(published, "full", "best_step")
        print(
            f"Tinh chỉnh toàn bộ (công bố): acc test {full_acc} qua {full_acc.n} seed, "
            f"checkpoint tốt nhất ở bước {best_step.fmt('.0f')}."
        )
    except CourseError:
        print("Kết quả bench chưa có số của tinh chỉnh toàn bộ: "
              "chạy python bench/compare.py")

# %% [markdown]
# Vì sao ba điều này quan trọng. **Checkpoint tốt nhất trên validation**: acc validation của tinh chỉnh toàn
# bộ có thể lên đỉnh sớm rồi giảm (học quá khớp); đọc ở bước cuối là phạt nó vì một lịch huấn luyện quá dài,
# không phải vì phương pháp. **Ngân sách đủ để hội tụ**: BitFit, adapter Pfeiffer, prefix và prompt tuning
# học chậm hơn; dừng ở một số bước cố định nhỏ là xếp hạng theo *tốc độ hội tụ*, không theo *chất lượng*.
# **Nhiều seed**: với 450 câu test, một độ chính xác có sai số chuẩn khoảng ±0,02, và hai seed của cùng
# phương pháp có thể cách nhau hơn thế; chỉ khi khoảng cách giữa hai phương pháp lớn hơn độ lệch chuẩn qua
# seed ta mới nói được phương pháp nào tốt hơn. Bảng cũ của khóa học (150 bước, một seed, đọc ở bước cuối)
# chính là đã xếp hạng các phương pháp theo tốc độ hội tụ: nó cho BitFit và prefix tuning chỉ 20–30% phần
# tăng của tinh chỉnh toàn bộ vì chúng chưa kịp rời mức đoán ngẫu nhiên; bảng của bài 6 cho phần tăng
# của chúng khi đã hội tụ, theo giao thức trên.

# %% [markdown]
# ## Tóm tắt
# - Mô hình ngôn ngữ tự hồi quy: $P(X) = \prod_i P(x_i \mid x_{<i}; \theta)$; mất mát là cross-entropy trên các
#   vị trí được chọn — ở khóa học, chỉ token đầu của nhãn.
# - Tinh chỉnh toàn bộ cập nhật mọi $P$ tham số và cần $16P$ byte cho trọng số, gradient và trạng thái AdamW
#   ở fp32, cộng activation; ta đã kiểm tra con số này bằng trạng thái thật của AdamW.
# - `freeze` tách $\theta = (\theta_f, \theta_t)$: tham số đóng băng không có gradient (`grad is None`), không có
#   trạng thái Adam và không đổi.
# - $\nabla_{\theta_f}\mathcal{L} \neq 0$: PEFT không làm gradient của phần đóng băng bằng 0, nó chỉ không
#   tính và không áp gradient ấy. Bước cập nhật là AdamW (2 trạng thái mỗi tham số huấn luyện), không phải
#   $\theta - \eta\nabla\mathcal{L}$.
# - Lần chạy tinh chỉnh toàn bộ của bài (150 bước, một seed) nằm trong bộ đệm để các bài sau vẽ cạnh nó; mọi
#   so sánh giữa các phương pháp đến từ giao thức đo chung (checkpoint tốt nhất trên validation, ngân sách
#   đủ để hội tụ, nhiều seed), in ở mục *Giao thức đo*.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** Viết công thức số tham số của *một* khối GPT-2 theo $d$ và tính cho mô hình của khóa học.


# %%
def check_block(n: int) -> None:
    real = count_parameters(arch.blocks(course.fresh_model())[0]).total
    hint = "Gợi ý: hai LayerNorm, c_attn, attn.c_proj, c_fc, mlp.c_proj."
    assert n == real, f"Chưa đúng: {n:,} ≠ {real:,}. {hint}"
    print(f"Đúng: một khối có {real:,} tham số.")


my_answer = None  # thay bằng biểu thức của bạn theo d
if my_answer is not None:
    check_block(my_answer)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# $2 \cdot 2d + (3d^2 + 3d) + (d^2 + d) + (4d^2 + 4d) + (4d^2 + d) = 12d^2 + 13d$, tức `12 * d * d + 13 * d`
# = 444,864 với $d = 192$ (ví dụ tính tay cho mô hình đóng gói; hàm kiểm tra đếm trên mô hình đang dùng).
#
# </details>
#
# **Bài 2 (vừa).** Tinh chỉnh toàn bộ GPT-2 small (124,439,808 tham số) bằng AdamW ở fp32 cần bao nhiêu GiB cho
# trọng số + gradient + trạng thái Adam? Nếu trọng số và gradient ở bf16 (2 byte) còn trạng thái Adam và một bản
# trọng số "master" vẫn ở fp32 thì sao?


# %%
def check_memory(fp32_gib: float, mixed_gib: float) -> None:
    p = 124_439_808
    assert abs(fp32_gib - 16 * p / 2**30) < 0.01, (
        "fp32: 4 (trọng số) + 4 (gradient) + 8 (m, v) byte mỗi tham số."
    )
    assert abs(mixed_gib - 16 * p / 2**30) < 0.01, (
        "Hỗn hợp: 2 (bf16) + 2 (gradient bf16) + 4 (master fp32) + 8 (m, v) "
        "= 16 byte: không nhỏ hơn!"
    )
    print("Đúng: khoảng 1.85 GiB cho cả hai cách.")


my_fp32, my_mixed = None, None
if my_fp32 is not None:
    check_memory(my_fp32, my_mixed)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# fp32: $16 \times 124{,}439{,}808$ byte $\approx 1.85$ GiB. Huấn luyện độ chính xác hỗn hợp giữ một bản
# fp32 "master": $2 + 2 + 4 + 8 = 16$ byte, cũng $\approx 1.85$ GiB — độ chính xác hỗn hợp tiết kiệm activation
# và thời gian, không tiết kiệm bộ nhớ tĩnh. Chỉ khi giảm số tham số huấn luyện (PEFT) thì phần gradient + Adam
# mới giảm.
#
# </details>
#
# **Bài 3 (vừa).** Viết regex cho `freeze` để chỉ huấn luyện embedding từ và vị trí (`wte`, `wpe`). Vì `lm_head`
# dùng chung trọng số với `wte`, huấn luyện `wte` cũng là huấn luyện lớp đầu ra. Kiểm tra số tham số.


# %%
def check_embeddings(pattern: str) -> None:
    m = course.fresh_model()
    n = freeze(m, pattern)
    names = {name for name, p in m.named_parameters() if p.requires_grad}
    facts = arch.arch_of(m)
    want = {f"{facts.embed_tokens}.weight"}
    if (
        facts.positions == "learned"
    ):  # GPT-2: bảng vị trí wpe; RoPE không có tham số vị trí
        want.add(f"{facts.position_module}.weight")
    assert names == want, f"Đang huấn luyện: {sorted(names)}, cần: {sorted(want)}"
    assert n == sum(p.numel() for name, p in m.named_parameters() if name in want)
    print(f"Đúng: {n:,} tham số ({100 * n / P:.1f}% mô hình).")


my_pattern = None  # ví dụ r"..."
if my_pattern is not None:
    check_embeddings(my_pattern)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# `check_embeddings(r"transformer\.(wte|wpe)\.")`. Đó là $Vd + Td$ = 792,576 tham số với mô hình đóng gói
# ($d = 192$, $V = 4000$, $T = 128$; ví dụ tính tay), gần một phần ba mô hình:
# trên mô hình nhỏ từ vựng lớn, embedding là phần đắt nhất.
#
# </details>
#
# **Bài 4 (mở).** Dùng widget huấn luyện ở trên với $k = 0, 1, 2, 4$. Độ chính xác test tăng thế nào theo số
# tham số huấn luyện? Thời gian mỗi bước có giảm theo tỉ lệ số tham số không? Giải thích bằng những gì lan
# truyền ngược vẫn phải tính. Hàm kiểm tra nhận từ điển kết quả của `training_explorer` và in bảng.


# %%
def check_partial(results: dict) -> None:
    assert len(results) >= 3, (
        "Hãy huấn luyện ít nhất ba giá trị k (chọn k rồi bấm nút Huấn luyện)."
    )
    rows = sorted(results.items())
    for k, r in rows:
        print(
            f"k={k}: {r.trainable:,} tham số, {1000 * r.time_per_step_s:.0f} ms/bước "
            f"({r.time_per_step_s / full.time_per_step_s:.2f}× toàn bộ), "
            f"acc test {r.test_accuracy:.3f}"
        )


if len(partial) >= 3:
    check_partial(partial)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Độ chính xác thường tăng nhanh ở một, hai khối đầu rồi bão hòa. Thời gian mỗi bước giảm ít hơn nhiều so với
# số tham số: lan truyền xuôi luôn đi hết mô hình; lan truyền ngược phải đi từ mất mát xuống tới khối huấn
# luyện thấp nhất (qua `lm_head` với $V = 4000$ đầu ra), chỉ bỏ được gradient trọng số của các lớp đóng băng
# và bước cập nhật Adam của chúng. Với $k = 0$ gần như chỉ còn lan truyền xuôi.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Radford, A. và cộng sự (2019). *Language Models are Unsupervised Multitask Learners* (GPT-2).
# - Loshchilov, I. và Hutter, F. (2019). *Decoupled Weight Decay Regularization* (AdamW). ICLR.
# - Rajbhandari, S. và cộng sự (2020). *ZeRO: Memory Optimizations Toward Training Trillion Parameter Models*
#   (phân tích 16 byte mỗi tham số cho huấn luyện hỗn hợp với Adam).
# - Hu, E. và cộng sự (2021). *LoRA: Low-Rank Adaptation of Large Language Models* (số liệu bộ nhớ, tốc độ của
#   tinh chỉnh toàn bộ so với PEFT trên GPT-3).

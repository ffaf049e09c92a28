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
# # Bài 7 — PEFT trong thực tế: một mô hình nền, nhiều bộ chuyển, thư viện peft và huấn luyện nhiều tiến trình
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/peft-course/peft-course/blob/main/notebooks/07_peft_in_practice.ipynb)

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
# Các bài 0–6 xây từng phương pháp từ đầu. Bài này trả lời câu hỏi *làm gì tiếp theo* với chúng. Sau bài
# này bạn sẽ:
# - giữ **một mô hình nền** và **đổi bộ chuyển** LoRA theo từng yêu cầu (mỗi bài toán một bộ chuyển vài
#   trăm KB), đo kích thước tệp, thời gian đổi, và kiểm tra trọng số nền không đổi một bit nào;
# - kiểm tra bằng số đo khẳng định "khó tổng quát hóa đa nhiệm": một bộ chuyển chung cho hai bài toán so
#   với mỗi bài toán một bộ chuyển và với tinh chỉnh toàn bộ, nhiều seed;
# - làm cùng việc ấy bằng **thư viện peft** như người làm thực tế (`LoraConfig`, `get_peft_model`,
#   `Trainer` của transformers, `save_pretrained`, `PeftModel.from_pretrained`, `load_adapter`,
#   `set_adapter`, `merge_and_unload`) và thấy nó cho cùng con số với mã của khóa học; hiểu QLoRA;
# - huấn luyện **song song dữ liệu** trên 2 tiến trình bằng `torchrun` và DDP của PyTorch, đo số byte
#   gradient đi qua mạng mỗi bước cho từng phương pháp, và thấy nó đúng bằng $4 \times$ số tham số huấn
#   luyện.
#
# Bài này dùng LoRA của bài 3 (`apply_lora`, `save_adapter`, `load_adapter`), các phương pháp của bài 1–5
# (cho phép đo truyền thông) và bảng so sánh của bài 6.

# %% [markdown]
# ## Ý tưởng
#
# **Lưu trữ.** Với $N$ bài toán, tinh chỉnh toàn bộ cần $N$ bản sao mô hình; PEFT cần một mô hình nền và
# $N$ bộ chuyển. Ở fp32 (4 byte một số):
#
# $$S_{\text{full}} = 4 N P, \qquad S_{\text{peft}} = 4 P + 4 N P_{\text{peft}},$$
#
# với $P$ là số tham số của mô hình nền và $P_{\text{peft}}$ số tham số huấn luyện của một bộ chuyển (LoRA:
# $\sum r(m+n)$ trên các lớp đích, bài 3).
#
# **Truyền thông khi huấn luyện song song dữ liệu.** Mỗi tiến trình giữ một bản mô hình, tính gradient trên
# phần lô của mình, rồi các tiến trình **all-reduce** (cộng và chia trung bình) gradient để mọi bản sao cập
# nhật giống nhau. Chỉ tham số có gradient mới phải đồng bộ, nên mỗi bước mỗi tiến trình đưa vào all-reduce
#
# $$B = 4\, P_{\text{train}} \ \text{byte (fp32)},$$
#
# và thuật toán all-reduce vòng (ring) gửi đi $2\frac{n-1}{n} B$ byte mỗi tiến trình với $n$ tiến trình. Tinh
# chỉnh toàn bộ có $P_{\text{train}} = P$; PEFT chỉ có $P_{\text{peft}}$: đây là chỗ PEFT thắng rõ nhất khi
# huấn luyện trên nhiều thiết bị.

# %% [markdown]
# Ô dưới chọn mô hình nền (`None`: mô hình GPT-2 tí hon đóng gói). Trên Colab có thể đặt một id GPT-2 trên hub;
# mọi con số trong bài được đếm trên mô hình đã chọn.

# %% tags=["colab-model"]
MODEL = None  # None: mô hình đóng gói; trên Colab có thể thử một id GPT-2 khác trên hub

# %%
import dataclasses
import hashlib
import json
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from peft_course import CourseError, count_parameters, evaluate, experiments
from peft_course.data import TASKS, TOPIC_LABELS, load_feedback
from peft_course.export import load_adapter, save_adapter
from peft_course.lora import LoRAConfig, apply_lora, lora_layers
from peft_course.multitask import AdapterBank, mix_tasks, task_data
from peft_course.plots import FIG_WIDTH, use_course_style

use_course_style()  # hình vừa cột nội dung của trang, chữ đọc được trên điện thoại
torch.manual_seed(0)
course = experiments.prepare(MODEL)
topic_spec, topic = task_data(course.tokenizer, "topic")
topic_course = dataclasses.replace(course, task=topic_spec, **topic)
courses = {"sentiment": course, "topic": topic_course}
P = count_parameters(course.fresh_model()).total
print(f"mô hình nền: {P:,} tham số; bài toán: {list(courses)}")

# %% [markdown]
# ## Bài toán thứ hai: chủ đề của phản hồi
#
# Bài toán của các bài trước là **cảm xúc** (tiêu cực / trung lập / tích cực). Bộ UIT-VSFC thật còn gán cho
# mỗi câu một **chủ đề**: giảng viên, chương trình đào tạo, cơ sở vật chất (và "khác", ta bỏ). Khóa học
# sinh bộ dữ liệu chủ đề bằng đúng bộ sinh của bài toán cảm xúc (cùng mẫu câu, cùng tính từ và sự kiện), chỉ
# chọn chủ ngữ theo chủ đề; mỗi câu mang cả hai nhãn (thẻ dữ liệu: `peft_course/assets/topic/README.md`).
# Prompt đổi từ `Cảm xúc:` sang `Chủ đề:`, nên cùng một mô hình biết phải trả lời câu hỏi nào.
# Validation và test dùng **mẫu câu, tính từ và cụm chủ ngữ** mà train không có.

# %% tags=["nbval-check-output"]
raw = load_feedback(task="topic")
topic_folder = TASKS["topic"][2]  # thư mục dữ liệu đóng gói của bài toán chủ đề
split = json.loads((topic_folder / "vocabulary_split.json").read_text(encoding="utf-8"))
for label, name in enumerate(TOPIC_LABELS):
    row = next(r for r in raw["train"] if r["label"] == label)
    print(f"{name:22s} ví dụ: {row['text']!r}")
    print(f"{'':22s} chủ ngữ chỉ có ở test: {split['subjects'][name]['test']}")
for s in raw:
    counts = [sum(1 for y in raw[s]["label"] if y == k) for k in range(3)]
    print(f"{s:10s} {len(raw[s]):5,} câu, theo chủ đề {counts}")
print("prompt:", repr(topic_spec.prompt.format(text="…")), "| token nhãn:",
      [course.tokenizer.decode([int(t)]) for t in topic_spec.label_token_ids])

# %% [markdown]
# Mô hình nền chưa tinh chỉnh đoán chủ đề ở mức may rủi (3 nhãn: ~33%):

# %% tags=["nbval-check-output"]
base_model = course.fresh_model()
base_topic = evaluate(base_model, topic_course.test)["accuracy"]
print(f"mô hình nền, acc test chủ đề: {base_topic:.3f}")

# %% [markdown]
# ## Nhiều bộ chuyển, một mô hình nền
#
# ### Một LoRA cho mỗi bài toán
# Cùng cấu hình LoRA của bài 3 ($r = 8$, $\alpha = 16$, đích `c_attn`, `c_proj`, `c_fc`), công thức chung của
# khóa học, 300 bước mỗi bài toán. Để vừa thời gian của bài, hai bộ chuyển của mô hình đóng gói **đã được huấn
# luyện sẵn** bởi `scripts/multitask_seeds.py` (seed 0) và lưu trong gói (`peft_course/assets/adapters/`);
# với một mô hình khác (`MODEL`), ô dưới huấn luyện chúng ngay (vài phút trên GPU).

# %%
import peft_course
from peft_course import train

TARGETS = ["c_attn", "c_proj", "c_fc"]
ASSETS = Path(peft_course.__file__).parent / "assets"
RESULTS = ASSETS / "results" / "multitask.json"  # đo bởi scripts/multitask_seeds.py
published = json.loads(RESULTS.read_text(encoding="utf-8"))


def make_lora() -> torch.nn.Module:
    """Mô hình nền mới với LoRA r=8 của bài 3."""
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=8, alpha=16, target_modules=TARGETS))
    return m


workdir = Path(tempfile.mkdtemp())
if MODEL is None:
    folders = {t: ASSETS / "adapters" / t for t in courses}
else:  # mô hình khác: huấn luyện hai bộ chuyển theo cùng công thức rồi lưu
    folders = {}
    for task, c in courses.items():
        m = make_lora()
        train(m, c.train, steps=published["steps_per_task"], lr=published["lr"]["lora"],
              progress=False)
        folders[task] = save_adapter(m, workdir / f"lora_{task}")
print({t: str(f.relative_to(f.parents[2])) for t, f in folders.items()})

# %% [markdown]
# ### Kích thước: bộ chuyển so với một bản sao mô hình
# Để so sánh công bằng, ta lưu cả mô hình nền bằng `save_pretrained` (safetensors, fp32): đó là cái mà tinh
# chỉnh toàn bộ phải lưu cho *mỗi* bài toán.

# %% tags=["nbval-check-output"]
base_model.save_pretrained(workdir / "base")


def size_of(folder: Path) -> int:
    """Tổng số byte các tệp trọng số (.safetensors) trong thư mục."""
    return sum(f.stat().st_size for f in folder.glob("*.safetensors"))


adapter_bytes = {t: size_of(f) for t, f in folders.items()}
model_bytes = size_of(workdir / "base")
p_lora = count_parameters(make_lora()).trainable
for t, b in adapter_bytes.items():
    print(f"bộ chuyển {t:10s}: {b / 1024:7.1f} KB (4 × {p_lora:,} tham số = "
          f"{4 * p_lora / 1024:.1f} KB + phần đầu tệp)")
print(f"mô hình (save_pretrained): {model_bytes / 2**20:.2f} MB = "
      f"{model_bytes / adapter_bytes['topic']:.0f} lần một bộ chuyển")

# %% [markdown]
# Với $N$ bài toán, theo công thức ở phần Ý tưởng (số byte lấy từ tệp thật):

# %% tags=["nbval-check-output"]
a_bytes = adapter_bytes["topic"]
print("N bài toán | N bản sao mô hình | 1 nền + N bộ chuyển | tiết kiệm")
for n in (2, 10, 100):
    full_n, peft_n = n * model_bytes, model_bytes + n * a_bytes
    print(f"{n:10d} | {full_n / 2**20:14.1f} MB | {peft_n / 2**20:16.1f} MB | "
          f"{full_n / peft_n:.1f}×")

# %% [markdown]
# ### Nạp lên một mô hình nền và đổi theo từng yêu cầu
# `AdapterBank` (trong `peft_course.multitask`) áp LoRA một lần lên một mô hình nền mới, giữ A, B của mọi bộ
# chuyển trong bộ nhớ, và `use(tên)` chép A, B của bộ chuyển được chọn vào các lớp LoRA. Ta kiểm tra ba điều:
# (1) với mỗi bài toán, logit giống hệt một mô hình chỉ nạp bộ chuyển ấy (`load_adapter` của bài 3);
# (2) sau nhiều lần đổi, **trọng số nền giống từng bit** với mô hình nền mới nạp; (3) đổi mất bao lâu.

# %%
def base_digest(model: torch.nn.Module) -> str:
    """Băm mọi tham số không thuộc LoRA (trọng số nền), tên đã bỏ '.base_layer'."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if "lora_" not in name:
            h.update(name.replace(".base_layer", "").encode())
            h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


single = {}
for task, folder in folders.items():
    single[task] = course.fresh_model()
    load_adapter(single[task], folder)
bank = AdapterBank(course.fresh_model(), folders)
fresh_digest = base_digest(course.fresh_model())
probe = {t: c.test.batch(slice(0, 64), course.device) for t, c in courses.items()}
with torch.no_grad():
    for _ in range(3):
        for task in ("topic", "sentiment"):
            bank.use(task)
            assert torch.equal(bank.model(**probe[task]).logits,
                               single[task](**probe[task]).logits)
assert base_digest(bank.model) == fresh_digest
print("logit sau khi đổi = logit của mô hình chỉ nạp bộ chuyển ấy (từng bit);",
      "trọng số nền không đổi:", base_digest(bank.model) == fresh_digest)

# %% tags=["live-timing", "nbval-ignore-output"]
def median_ms(fn, repeat: int = 50) -> float:
    """Trung vị thời gian (ms) của `repeat` lần gọi fn()."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return sorted(times)[repeat // 2]


other = {"sentiment": "topic", "topic": "sentiment"}
t_switch = median_ms(lambda: bank.use(other[bank.active]))
t_load = median_ms(lambda: course.fresh_model(), repeat=3)
print(f"đổi bộ chuyển: {t_switch:.2f} ms | nạp lại cả mô hình nền: {t_load:.0f} ms "
      "(demo trực tiếp, phụ thuộc máy)")

# %% [markdown]
# ### Widget: đổi bài toán theo từng yêu cầu
# Gõ một câu phản hồi, chọn bài toán: mô hình nền giữ nguyên, chỉ bộ chuyển được đổi trước khi trả lời.

# %%
import ipywidgets as widgets
from IPython.display import display


def answer(text: str, task: str) -> dict[str, float]:
    """Đổi sang bộ chuyển của `task`, trả về xác suất của từng nhãn cho câu `text`."""
    bank.use(task)
    spec = courses[task].task
    data = spec.encode({"text": [text], "label": [0]})
    with torch.no_grad():
        logits = bank.model(**data.batch(slice(0, 1), course.device)).logits
    probs = data.label_logits(logits, slice(0, 1)).softmax(-1)[0]
    return dict(zip(spec.labels, probs.tolist()))


def task_switcher(default: str = "Em thấy máy chiếu của lớp rất tiện lợi.") -> None:
    """Ô nhập câu + chọn bài toán; in nhãn dự đoán của bộ chuyển tương ứng."""
    text = widgets.Text(value=default, description="Câu",
                        layout=widgets.Layout(width="70%"))
    task = widgets.Dropdown(
        options=list(courses), value="topic", description="Bài toán",
        style={"description_width": "initial"},
    )
    out = widgets.Output()

    def show(change=None) -> None:
        with out:
            out.clear_output(wait=True)
            probs = answer(text.value, task.value)
            best = max(probs, key=probs.get)
            print(f"[{task.value}] → {best}   " +
                  ", ".join(f"{k}: {v:.2f}" for k, v in probs.items()))

    text.observe(show, names="value")
    task.observe(show, names="value")
    show()
    display(widgets.VBox([widgets.HBox([text, task]), out]))


# %% tags=["nbval-ignore-output"]
task_switcher()

# %% [markdown]
# Cùng câu ấy qua cả hai bộ chuyển (bản tĩnh của widget; câu dùng cụm chủ ngữ chỉ có ở test):

# %%
for sentence in ("Em thấy máy chiếu của lớp rất tiện lợi.",
                 "Theo em, cách dạy của cô khá khó hiểu.",
                 "Học kỳ này môn học bắt buộc có ba tín chỉ."):
    for task in courses:
        probs = answer(sentence, task)
        print(f"{task:10s} {max(probs, key=probs.get):22s} ← {sentence}")

# %% [markdown]
# ## Một bộ chuyển cho hai bài toán?
#
# Bài viết gốc cảnh báo PEFT "khó tổng quát hóa đa nhiệm". Có hai cách hiểu, ta đo cả hai.
#
# **(a) Bộ chuyển của bài toán này có dùng được cho bài toán kia không?** Không cần huấn luyện thêm: đặt bộ
# chuyển cảm xúc rồi hỏi chủ đề, và ngược lại.

# %% tags=["nbval-check-output"]
cross = {}
for adapter in courses:
    bank.use(adapter)
    for task, c in courses.items():
        cross[adapter, task] = evaluate(bank.model, c.test)["accuracy"]
print("acc test            | bài toán cảm xúc | bài toán chủ đề")
for adapter in courses:
    print(f"bộ chuyển {adapter:10s}| {cross[adapter, 'sentiment']:16.3f} | "
          f"{cross[adapter, 'topic']:15.3f}")
if MODEL is None:  # bộ chuyển trong gói cho đúng số của seed 0 trong tệp kết quả
    for task in courses:
        assert cross[task, task] == published["summary"]["LoRA riêng"][task]["runs"][0]

# %% [markdown]
# Mỗi bộ chuyển chỉ giỏi bài toán nó được học; trên bài toán kia nó quanh mức may rủi. Đó là lý do phải đổi
# bộ chuyển theo yêu cầu.
#
# **(b) Một bộ chuyển học cả hai bài toán cùng lúc thì sao?** Trộn hai tập train (`mix_tasks`: mỗi câu giữ
# prompt của bài toán mình) và huấn luyện *một* LoRA với gấp đôi số bước, để mỗi bài toán thấy cùng số ví dụ
# như bộ chuyển riêng. **Đây là bản demo chạy trực tiếp của bài**: chỉ 120 bước với lô 16 (thay vì 600 bước
# với lô 32), tốc độ học gấp 3 công thức chung, một seed; nó ngắn để vừa thời gian, nên độ chính xác thấp hơn
# bảng bên dưới.

# %%
STEPS, LR, BATCH = 120, 3e-3, 16
joint_train = mix_tasks(course.train, topic_course.train)
joint = make_lora()
joint_history = train(joint, joint_train, steps=STEPS, lr=LR, batch_size=BATCH,
                      progress=False)
joint_acc = {t: evaluate(joint, c.test)["accuracy"] for t, c in courses.items()}
print(f"{len(joint_train):,} câu trộn, {STEPS} bước; acc test của LoRA chung (demo):",
      {t: round(a, 3) for t, a in joint_acc.items()})

# %% [markdown]
# Các con số để so sánh do `scripts/multitask_seeds.py` đo trên máy của dự án và lưu trong gói
# (`peft_course/assets/results/multitask.json`): công thức chung của khóa học, 300 bước mỗi bài toán (LoRA
# chung: 600 bước trên tập trộn), 3 seed, độ chính xác test ở bước cuối.

# %% tags=["nbval-check-output"]
summary = published["summary"]
print(f"seed {published['seeds']}, {published['steps_per_task']} bước mỗi bài toán, "
      f"lô {published['batch_size']}")
print(f"{'cấu hình':26s} | {'cảm xúc':13s} | {'chủ đề':13s}")
for name, tasks in summary.items():
    cells = [f"{tasks[t]['mean']:.3f} ± {tasks[t]['sd']:.3f}"
             for t in ("sentiment", "topic")]
    print(f"{name:26s} | " + " | ".join(cells))

# %%
fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.4))
width = 0.25
for i, (name, tasks) in enumerate(summary.items()):
    xs = [j + (i - 1) * width for j in range(2)]
    ax.bar(xs, [tasks[t]["mean"] for t in ("sentiment", "topic")], width,
           yerr=[tasks[t]["sd"] for t in ("sentiment", "topic")], capsize=4, label=name)
ax.axhline(1 / 3, color="gray", linestyle=":", label="may rủi (1/3)")
ax.set_xticks([0, 1], ["cảm xúc", "chủ đề"])
n_seeds = len(published["seeds"])
ax.set(ylabel="acc test (trung bình ± sd)", ylim=(0, 1.35),
       yticks=[0, 0.25, 0.5, 0.75, 1],
       title=f"Một bộ chuyển chung hay mỗi bài toán một bộ ({n_seeds} seed)")
ax.legend(fontsize=7, loc="upper center", ncol=2)  # trên các cột: không che cột
plt.show()

# %% [markdown]
# Kết luận đọc từ tệp kết quả: chênh lệch giữa LoRA chung và LoRA riêng so với nhiễu giữa các seed (hai lần
# độ lệch chuẩn lớn hơn), và khoảng cách tới tinh chỉnh toàn bộ.

# %% tags=["nbval-check-output"]
verdicts = {}
for t in ("sentiment", "topic"):
    sep, shared = summary["LoRA riêng"][t], summary["LoRA chung"][t]
    full_t = summary["tinh chỉnh toàn bộ riêng"][t]["mean"]
    gap, noise = shared["mean"] - sep["mean"], 2 * max(sep["sd"], shared["sd"])
    verdicts[t] = ("trong phạm vi nhiễu giữa các seed" if abs(gap) <= noise
                   else "tốt hơn rõ" if gap > 0 else "kém hơn rõ")
    print(f"{t:10s}: LoRA chung − LoRA riêng = {gap:+.3f} (2 sd = {noise:.3f}) → "
          f"{verdicts[t]}; tinh chỉnh toàn bộ riêng: {full_t:.3f}")

# %% [markdown]
# > **Bài viết gốc nói** (mục 6): PEFT *lưu trữ gọn nhẹ*, *dễ triển khai*, *giảm tài nguyên GPU*, nhưng
# > *khó tổng quát hóa đa nhiệm*.
# >
# > **Đo được** (bài này và bài 6):
# > - *Lưu trữ gọn nhẹ*: đúng. Một bộ chuyển LoRA r=8 là ~4 byte × số tham số huấn luyện (vài trăm KB ở đây),
# >   nhỏ hơn bản sao mô hình hàng chục lần; với mô hình lớn tỉ lệ còn lớn hơn nhiều (LoRA trên GPT-3: 350 GB
# >   → 35 MB).
# > - *Dễ triển khai*: đúng, theo nghĩa đo được: một mô hình nền phục vụ nhiều bài toán, đổi bộ chuyển mất
# >   chưa đến một mili giây, trọng số nền không đổi một bit; peft nạp được tệp của ta và ngược lại (phần sau).
# > - *Giảm tài nguyên GPU*: đúng một phần. Bộ nhớ gradient và trạng thái Adam giảm theo số tham số huấn luyện,
# >   nhưng trọng số và activation vẫn còn, và thời gian mỗi bước chỉ giảm khoảng ⅓ (bài 6). Chỗ giảm rõ nhất
# >   là **truyền thông** khi huấn luyện nhiều thiết bị: đúng $4 P_{\text{train}}$ byte mỗi bước (phần cuối).
# > - *Khó tổng quát hóa đa nhiệm*: cần nói rõ. Một bộ chuyển học một bài toán *không* dùng được cho bài toán
# >   kia (bảng chéo ở trên: quanh mức may rủi). Một bộ chuyển học *cả hai* bài toán (mỗi câu có prompt riêng)
# >   thì so với mỗi bài toán một bộ chuyển như dòng kết luận ngay trên (3 seed, cùng số ví dụ mỗi bài toán).
# >   Hai bài toán ở đây đọc hai phần khác nhau của câu (chủ ngữ và vị ngữ) nên ít xung đột; với các bài toán
# >   xung đột nhau hoặc nhiều bài toán hơn, một bộ chuyển chung có thể kém hơn, và đổi bộ chuyển theo yêu cầu
# >   là lời giải rẻ.

# %% [markdown]
# ## Cùng việc ấy bằng thư viện peft
#
# Người làm thực tế dùng huggingface/peft. Các bước tương ứng:
#
# | việc | mã của khóa học | peft / transformers |
# |---|---|---|
# | cấu hình | `LoRAConfig(r=8, alpha=16, target_modules=…)` | `LoraConfig(r=8, lora_alpha=16, target_modules=…, fan_in_fan_out=True)` |
# | áp lên mô hình | `apply_lora(model, config)` | `get_peft_model(model, config)` |
# | huấn luyện | `train(model, data, …)` | `Trainer(model, args, train_dataset=…).train()` |
# | lưu | `save_adapter(model, path)` | `model.save_pretrained(path)` |
# | nạp | `load_adapter(model, path)` | `PeftModel.from_pretrained(base, path)` |
# | nhiều bộ chuyển | `AdapterBank(base, {tên: path})`, `use(tên)` | `load_adapter(path, adapter_name=…)`, `set_adapter(tên)` |
# | gộp | `merge_lora(model)` | `merge_and_unload()` |
#
# ### `get_peft_model` và `Trainer`: làm lại bản demo LoRA chung
# Ta huấn luyện lại đúng bản demo ở trên bằng peft và `Trainer`, với mọi thứ giống nhau để so từng số: cùng
# giá trị khởi tạo của A, B; cùng AdamW và lịch tốc độ học (khởi động 10 bước rồi cosin, truyền qua
# `optimizers=`); không cắt gradient (`max_grad_norm=0`, mặc định của `Trainer` là 1); và cùng thứ tự lô
# (một `IterableDataset` đi theo thứ tự của `train`, nên `Trainer` không tự xáo).

# %%
import logging
import warnings

import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import Trainer, TrainingArguments

from peft_course.training import _schedule  # lịch tốc độ học của train()

warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
transformers.logging.set_verbosity_error()
logging.getLogger("transformers").setLevel(logging.ERROR)

peft_config = LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS,
                         fan_in_fan_out=True, task_type="CAUSAL_LM")
peft_model = get_peft_model(course.fresh_model(), peft_config)
start = make_lora()  # cùng khởi tạo với `joint` trước khi huấn luyện
with torch.no_grad():
    for name, layer in lora_layers(start).items():
        peft_layer = peft_model.base_model.model.get_submodule(name)
        peft_layer.lora_A["default"].weight.copy_(layer.lora_A)
        peft_layer.lora_B["default"].weight.copy_(layer.lora_B)


class CourseOrder(torch.utils.data.IterableDataset):
    """Chỉ số ví dụ theo đúng thứ tự lô của `train` (randperm; hết vòng thì xáo lại)."""

    def __init__(self, data, steps: int, batch_size: int = 32, seed: int = 0) -> None:
        self.data, self.steps = data, steps
        self.batch_size, self.seed = batch_size, seed

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        order, cursor = torch.randperm(len(self.data), generator=gen), 0
        for _ in range(self.steps):
            if cursor + self.batch_size > len(order):
                order, cursor = torch.randperm(len(self.data), generator=gen), 0
            for i in order[cursor:cursor + self.batch_size].tolist():
                yield i
            cursor += self.batch_size


def collate(indices: list[int]) -> dict:
    """Lô của Trainer = đúng lô của train(): TaskData.batch cắt phần đệm thừa."""
    return joint_train.batch(torch.tensor(indices))


trainable = [p for p in peft_model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(trainable, lr=LR, weight_decay=0.0)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                              lambda s: _schedule(s, STEPS, 10))
args = TrainingArguments(output_dir=str(workdir / "trainer"), max_steps=STEPS,
                         per_device_train_batch_size=BATCH, max_grad_norm=0.0,
                         report_to="none", save_strategy="no", logging_strategy="no",
                         disable_tqdm=True, remove_unused_columns=False,
                         use_cpu=course.device.type == "cpu")
trainer = Trainer(model=peft_model, args=args, data_collator=collate,
                  train_dataset=CourseOrder(joint_train, STEPS, BATCH),
                  optimizers=(optimizer, scheduler))
trainer.remove_callback(transformers.PrinterCallback)  # không in nhật ký ra ô
_ = trainer.train()
inner = peft_model.base_model.model
gap_A = max((inner.get_submodule(n).lora_A["default"].weight - lay.lora_A).abs().max()
            .item() for n, lay in lora_layers(joint).items())
with torch.no_grad():
    gap_logits = max((peft_model(**probe[t]).logits - joint(**probe[t]).logits)
                     .abs().max().item() for t in courses)
assert gap_logits < 1e-3
print(f"peft + Trainer so với train() của khóa học sau {STEPS} bước: "
      f"|ΔA| ≤ {gap_A:.1e}, |Δlogit| ≤ {gap_logits:.1e}")

# %% tags=["nbval-check-output"]
peft_model.print_trainable_parameters()
print(f"apply_lora của khóa học: trainable params: {p_lora:,}")

# %% [markdown]
# ### `save_pretrained`, `PeftModel.from_pretrained`, `load_adapter`, `set_adapter`
# peft lưu bộ chuyển chung vừa học; rồi một mô hình nền mới nạp **hai bộ chuyển mà khóa học lưu** bằng
# `PeftModel.from_pretrained` và `load_adapter`, thêm bộ chuyển chung của peft, và đổi bằng `set_adapter`. Cùng
# tệp ⇒ cùng logit với `AdapterBank`.

# %%
peft_model.save_pretrained(workdir / "peft_joint")
served = PeftModel.from_pretrained(course.fresh_model(), str(folders["sentiment"]),
                                   adapter_name="sentiment")
served.load_adapter(str(folders["topic"]), adapter_name="topic")
served.load_adapter(str(workdir / "peft_joint"), adapter_name="joint")
gaps = {}
with torch.no_grad():
    for task in courses:
        served.set_adapter(task)
        bank.use(task)
        gaps[task] = (served(**probe[task]).logits
                      - bank.model(**probe[task]).logits).abs().max().item()
assert max(gaps.values()) < 1e-5
print(f"peft nạp tệp của khóa học, set_adapter theo bài toán: |Δlogit| = "
      f"{max(gaps.values()):.1e}; các bộ chuyển trong peft: {list(served.peft_config)}")
print(f"tệp của peft {size_of(workdir / 'peft_joint') / 1024:.1f} KB, tệp của khóa học "
      f"{adapter_bytes['sentiment'] / 1024:.1f} KB")

# %% [markdown]
# ### `merge_and_unload`
# Gộp bộ chuyển đang đặt vào trọng số và bỏ lớp bọc: ra một GPT-2 bình thường, suy luận không tốn thêm
# (bài 3). Logit lệch cỡ sai số làm tròn.

# %%
served.set_adapter("topic")
with torch.no_grad():
    before = served(**probe["topic"]).logits
merged = served.merge_and_unload()
with torch.no_grad():
    merged_gap = (merged(**probe["topic"]).logits - before).abs().max().item()
assert type(merged).__name__ == "GPT2LMHeadModel" and merged_gap < 1e-4
print(f"sau merge_and_unload: {type(merged).__name__}, |Δlogit| = {merged_gap:.1e}")

# %% [markdown]
# ### QLoRA: mô hình nền 4 bit, bộ chuyển LoRA 16/32 bit
# QLoRA (Dettmers et al. 2023) lượng tử hóa trọng số **đóng băng** của mô hình nền xuống 4 bit (kiểu NF4,
# "NormalFloat" tối ưu cho trọng số phân phối chuẩn, cộng lượng tử hóa kép các hằng số tỉ lệ) và huấn luyện
# LoRA ở bf16/fp32 phía trên. Trọng số nền chiếm ~0.5 byte mỗi tham số thay vì 2 (bf16) hay 4 (fp32): nhờ vậy
# một mô hình 65B tinh chỉnh được trên một GPU 48 GB. Gradient vẫn đi qua trọng số 4 bit (được giải lượng tử
# hóa từng khối khi tính), nhưng chỉ LoRA được cập nhật. Thư viện thực hiện: `bitsandbytes` (nhân CUDA), qua
# `BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")` của transformers.
#
# Ô dưới chỉ chạy khi có GPU CUDA và `bitsandbytes`; trên CPU nó nói vì sao bỏ qua.

# %%
def qlora_demo() -> str:
    """Mô hình nền 4 bit (NF4) + LoRA của peft, 5 bước; trả về một dòng kết quả."""
    import importlib.util

    if not torch.cuda.is_available():
        return ("Bỏ qua QLoRA: máy này không có GPU CUDA. Lượng tử hóa 4 bit của "
                "bitsandbytes chạy bằng nhân CUDA; trên CPU không có gì để chạy "
                "(và mô hình tí hon này vốn đã vừa bộ nhớ).")
    if importlib.util.find_spec("bitsandbytes") is None:
        return "Bỏ qua QLoRA: chưa cài bitsandbytes (pip install bitsandbytes)."
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from peft_course.model import PACKAGED_MODEL

    half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=half)
    q_model = AutoModelForCausalLM.from_pretrained(
        MODEL or PACKAGED_MODEL, quantization_config=quant, device_map="cuda")
    fp32_mb = course.fresh_model().get_memory_footprint() / 2**20
    q_mb = q_model.get_memory_footprint() / 2**20
    # Conv1D của GPT-2 đã thành Linear4bit (bố cục nn.Linear): không cần fan_in_fan_out
    q_config = LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS,
                          task_type="CAUSAL_LM")
    q_model = get_peft_model(prepare_model_for_kbit_training(q_model), q_config)
    q_params = [p for p in q_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(q_params, lr=1e-3)
    for step in range(5):
        batch = topic_course.train.batch(slice(32 * step, 32 * step + 32), "cuda")
        loss = q_model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    n_train = count_parameters(q_model).trainable
    return (f"QLoRA: mô hình nền 4 bit chiếm {q_mb:.2f} MB (fp32: {fp32_mb:.2f} MB; "
            f"embedding không lượng tử hóa); 5 bước, mất mát cuối {loss.item():.3f}; "
            f"tham số huấn luyện {n_train:,}")


print(qlora_demo())

# %% [markdown]
# ## Huấn luyện trên nhiều tiến trình
#
# **Song song dữ liệu (data parallelism)**: $n$ tiến trình (trên $n$ GPU, hay ở đây 2 tiến trình CPU), mỗi
# tiến trình một bản mô hình và một phần của lô; sau lan truyền ngược, gradient được all-reduce để mọi bản
# sao cập nhật giống hệt nhau. Ta dùng công cụ thật của PyTorch, không tự viết logic nhóm tiến trình:
# - `torchrun` (`python -m torch.distributed.run`) khởi chạy 2 tiến trình và cho chúng biết hạng (rank) của
#   mình;
# - `init_process_group` với backend **gloo** trên CPU (**NCCL** trên GPU);
# - `DistributedDataParallel` (DDP) gom gradient thành các *bucket* (mặc định 25 MB) và all-reduce từng bucket
#   ngay khi nó sẵn sàng, chồng truyền thông lên lan truyền ngược;
# - một **communication hook** của DDP (`register_comm_hook`) đếm số byte của mỗi bucket rồi gọi đúng
#   `allreduce_hook` mặc định, nên phép đo không đổi kết quả huấn luyện.
#
# Mã ở `peft_course/ddp.py`; bài học chạy nó như một tiến trình con, 3 bước cho mỗi phương pháp của bài 0–5.

# %%
import os

ddp_out = workdir / "ddp.json"
command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", "-m", "peft_course.ddp", "--steps", "3",
           "--out", str(ddp_out)]
if MODEL is not None:
    command += ["--model", MODEL]
env = {**os.environ, "OMP_NUM_THREADS": "1"}
done = subprocess.run(command, capture_output=True, text=True, env=env)
if done.returncode != 0:
    raise RuntimeError(done.stderr[-3000:])
ddp = json.loads(ddp_out.read_text(encoding="utf-8"))
print(" ".join(command[2:9]), "… →", ddp["world_size"], "tiến trình, backend",
      ddp["backend"])

# %% [markdown]
# Kiểm tra: sau 3 bước, tham số huấn luyện của hai tiến trình giống hệt nhau (cùng mã băm) dù mỗi tiến trình
# thấy dữ liệu khác (mất mát khác); và số byte all-reduce mỗi bước bằng đúng $4 P_{\text{train}}$.

# %% tags=["nbval-check-output"]
print("phương pháp | tham số huấn luyện | 4 × tham số (byte) | all-reduce mỗi bước | "
      "so với toàn bộ")
full_bytes = ddp["methods"]["full"]["bytes_per_step"][-1]
for name, m in ddp["methods"].items():
    assert len(set(m["digests"])) == 1  # hai tiến trình giữ cùng tham số
    assert m["loss_per_rank"][0] != m["loss_per_rank"][1]  # nhưng thấy dữ liệu khác
    assert all(b == 4 * m["trainable"] for b in m["bytes_per_step"])
    sent = m["bytes_per_step"][-1]
    n = m["trainable"]
    print(f"{name:11s} | {n:18,} | {4 * n:18,} | {sent:19,} | {sent / full_bytes:.2%}")

# %% [markdown]
# Số byte bằng *đúng* $4 P_{\text{train}}$: bucket của DDP là một vùng nhớ phẳng chứa liền các gradient, không
# có phần đệm ở đây (DDP có thể thêm vài byte căn lề trên GPU; "trong phạm vi phần dư của bucket"). Tham số
# đóng băng không có gradient nên không vào bucket nào.
#
# ### Widget: truyền thông mỗi bước theo phương pháp và đường truyền
# Chọn đường truyền giữa các thiết bị; biểu đồ vẽ thời gian all-reduce vòng lý thuyết
# $2\frac{n-1}{n}B / \text{băng thông}$ cho mỗi phương pháp với $B$ đo được ở trên (thang log). Với mô hình
# 7B ở bf16, $B$ của tinh chỉnh toàn bộ là 14 GB mỗi bước; với LoRA, vài chục MB.

# %%
LINKS = {"Ethernet 1 Gbit/s": 1e9 / 8, "Ethernet 10 Gbit/s": 1e10 / 8,
         "PCIe 4.0 x16 (~32 GB/s)": 32e9, "NVLink 4 (~450 GB/s)": 450e9}


def plot_comm(link: str, world: int = 2) -> None:
    """Cột: thời gian all-reduce vòng mỗi bước (ms) của từng phương pháp trên `link`."""
    names = list(ddp["methods"])
    sent = [ddp["methods"][n]["bytes_per_step"][-1] for n in names]
    ms = [1000 * 2 * (world - 1) / world * b / LINKS[link] for b in sent]
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.2))
    bars = ax.bar(names, ms, color=["tab:red"] + ["tab:blue"] * (len(names) - 1))
    ax.bar_label(bars, [f"{v:.3g}" for v in ms], fontsize=8)
    ax.set_yscale("log")
    ax.set(ylabel="ms mỗi bước (thang log)",
           title=f"All-reduce gradient, {world} tiến trình, {link}")
    fig.tight_layout()
    plt.show()


def comm_explorer(value: str = "Ethernet 1 Gbit/s") -> None:
    """Dropdown chọn đường truyền, vẽ lại biểu đồ truyền thông theo phương pháp."""
    link = widgets.Dropdown(
        options=list(LINKS), value=value, description="Đường truyền",
        style={"description_width": "initial"},
    )
    out = widgets.Output()

    def draw(change=None) -> None:
        with out:
            out.clear_output(wait=True)
            plot_comm(link.value)

    link.observe(draw, names="value")
    draw()
    display(widgets.VBox([link, out]))


# %% tags=["nbval-ignore-output"]
comm_explorer()

# %% [markdown]
# Bản tĩnh (cho trang tài liệu và bài giảng không có kernel):

# %%
plot_comm("Ethernet 1 Gbit/s")

# %% [markdown]
# ### Khi chính mô hình nền không vừa một thiết bị: FSDP / ZeRO
# DDP giữ **một bản đầy đủ** của mô hình trên mỗi thiết bị. Khi trọng số nền (cộng gradient và trạng thái Adam
# nếu tinh chỉnh toàn bộ) vượt bộ nhớ một GPU, ta **chia nhỏ** (shard) chúng: ZeRO (Rajbhandari et al. 2020,
# DeepSpeed) chia trạng thái bộ tối ưu (giai đoạn 1), rồi gradient (2), rồi cả tham số (3) giữa $n$ thiết bị;
# FSDP của PyTorch (Zhao et al. 2023) làm như ZeRO-3: trước mỗi lớp, all-gather tham số của lớp ấy, tính xong
# thì bỏ, và reduce-scatter gradient thay cho all-reduce. Với PEFT, phần lớn bộ nhớ được ZeRO tiết kiệm (gradient
# và trạng thái Adam) vốn đã gần như không có, nên chỉ còn việc chia chính trọng số nền đóng băng; truyền thông
# khi đó gồm all-gather trọng số nền ở mỗi lượt truyền (tỉ lệ với $P$, không phải $P_{\text{train}}$) cộng phần
# gradient nhỏ của bộ chuyển. QLoRA là cách khác: làm trọng số nền nhỏ lại 4–8 lần để nó vừa một thiết bị. Hai
# cách kết hợp được (FSDP + QLoRA).

# %% [markdown]
# ## Tóm tắt
# - Một bài toán thứ hai (chủ đề của phản hồi, nhãn theo UIT-VSFC) trên cùng kiểu câu: prompt `Chủ đề:` thay
#   cho `Cảm xúc:`; `load_feedback(task="topic")`.
# - **Một mô hình nền, nhiều bộ chuyển**: bộ chuyển LoRA r=8 là vài trăm KB so với ~10 MB của mô hình; đổi bộ
#   chuyển theo yêu cầu mất dưới một mili giây, cho đúng logit của mô hình huấn luyện riêng, và trọng số nền
#   giống từng bit.
# - Bộ chuyển của bài toán này không dùng được cho bài toán kia; một bộ chuyển học cả hai (prompt riêng cho mỗi
#   bài toán) gần bằng hai bộ chuyển riêng trên dữ liệu này (3 seed, số liệu trong gói).
# - peft làm cùng việc bằng `LoraConfig` → `get_peft_model` → `Trainer` → `save_pretrained` →
#   `PeftModel.from_pretrained` / `load_adapter` / `set_adapter` → `merge_and_unload`; tệp của khóa học và
#   của peft dùng thay cho nhau được. QLoRA giữ mô hình nền ở 4 bit (chỉ trên GPU CUDA).
# - Huấn luyện song song dữ liệu với `torchrun` + DDP: mỗi bước all-reduce đúng $4 P_{\text{train}}$ byte
#   (fp32), nên PEFT giảm truyền thông theo đúng tỉ lệ số tham số huấn luyện. Khi mô hình nền không vừa một
#   thiết bị: FSDP / ZeRO chia nhỏ nó, hoặc QLoRA làm nó nhỏ lại.

# %% [markdown]
# ## Bài tập
#
# **Bài 1 (dễ).** Huấn luyện song song dữ liệu với LoRA $r = 4$ chỉ trên `c_attn`: mỗi bước DDP all-reduce
# bao nhiêu byte (fp32)? Tính bằng công thức theo $L$ và $d$, rồi kiểm tra.

# %%
def check_bytes(n_bytes: int) -> None:
    m = course.fresh_model()
    apply_lora(m, LoRAConfig(r=4, alpha=8, target_modules=["c_attn"]))
    real = 4 * count_parameters(m).trainable
    n_blocks = len(m.transformer.h)
    hint = f"4 byte × số tham số huấn luyện; c_attn là d→3d, có {n_blocks} khối"
    assert n_bytes == real, f"Chưa đúng: {n_bytes:,} ≠ {real:,}. Gợi ý: {hint}."
    print(f"Đúng: {real:,} byte mỗi bước.")


my_bytes = None  # ví dụ: 4 * 4 * 4 * (192 + 576)
if my_bytes is not None:
    check_bytes(my_bytes)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# $4 \text{ byte} \times L \cdot r\,(d + 3d) = 4 \cdot 4 \cdot 4 \cdot (192 + 576) = 49{,}152$ byte.
#
# </details>
#
# **Bài 2 (vừa).** Bao nhiêu bộ chuyển LoRA r=8 (như bài này) chiếm cùng dung lượng với **một** bản sao mô
# hình? Dùng kích thước tệp thật (`adapter_bytes`, `model_bytes`). Làm tròn xuống.

# %%
def check_adapters_per_model(n: int) -> None:
    real = model_bytes // adapter_bytes["topic"]
    hint = "chia số byte của mô hình cho số byte của một bộ chuyển"
    assert n == real, f"Chưa đúng: {n} ≠ {real}. Gợi ý: {hint}."
    print(f"Đúng: {real} bộ chuyển bằng một bản sao mô hình.")


my_n = None  # ví dụ: model_bytes // adapter_bytes["topic"]
if my_n is not None:
    check_adapters_per_model(my_n)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# `model_bytes // adapter_bytes["topic"]` — khoảng 26 với mô hình đóng gói (mô hình có ~26 lần số tham số của
# LoRA r=8). Với một mô hình 7B và LoRA r=8 trên q, v, con số lên tới hàng nghìn.
#
# </details>
#
# **Bài 3 (vừa).** Viết hàm `predict(bank, task, texts)` trả về danh sách nhãn (chuỗi) mà bộ chuyển của `task`
# dự đoán cho các câu `texts`, dùng `bank.use` và `courses[task].task.encode`. Hàm kiểm tra so với độ chính xác
# của `evaluate`.

# %%
def check_predict(fn) -> None:
    rows = load_feedback(task="topic")["test"].select(range(60))
    labels = fn(bank, "topic", list(rows["text"]))
    assert isinstance(labels, list) and len(labels) == 60, "Cần một danh sách 60 nhãn."
    mine = sum(lab == TOPIC_LABELS[y] for lab, y in zip(labels, rows["label"])) / 60
    bank.use("topic")
    real = evaluate(bank.model, topic_spec.encode(rows))["accuracy"]
    assert abs(mine - real) < 1e-9, f"Độ chính xác {mine:.3f} ≠ {real:.3f} (evaluate)."
    print(f"Đúng: {mine:.3f} trên 60 câu test, như evaluate.")


def my_predict(bank, task, texts):
    return None  # viết ở đây


if my_predict(bank, "topic", ["x"]) is not None:
    check_predict(my_predict)

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# ```python
# def my_predict(bank, task, texts):
#     bank.use(task)
#     spec = courses[task].task
#     data = spec.encode({"text": texts, "label": [0] * len(texts)})
#     with torch.no_grad():
#         logits = bank.model(**data.batch(slice(None), course.device)).logits
#     best = data.label_logits(logits, slice(None)).argmax(-1)
#     return [spec.labels[i] for i in best.tolist()]
# ```
#
# </details>
#
# **Bài 4 (mở).** Nén truyền thông: chép `peft_course/ddp.py`, thay `default_hooks.allreduce_hook` bằng
# `default_hooks.fp16_compress_hook` (gradient gửi ở fp16), chạy lại bằng `torchrun` và đo số byte mỗi bước.
# Nó có đúng bằng $2 P_{\text{train}}$ không? Mất mát sau 3 bước đổi bao nhiêu? Với PEFT, nén còn đáng làm
# không khi số byte vốn đã nhỏ? Hàm kiểm tra nhận tệp JSON kết quả của bạn.

# %%
def check_compressed(path: str) -> None:
    result = json.loads(Path(path).read_text(encoding="utf-8"))
    for name, m in result["methods"].items():
        ratio = m["bytes_per_step"][-1] / (4 * m["trainable"])
        print(f"{name:8s} byte / (4 × tham số) = {ratio:.2f}")
        assert abs(ratio - 0.5) < 0.01, "Chưa phải fp16: mỗi số cần 2 byte."
    print("Đúng: gradient đi qua mạng ở 2 byte mỗi số.")


# check_compressed("ddp_fp16.json")

# %% [markdown]
# <details><summary>Lời giải</summary>
#
# Trong hook: `state["bytes"] += buffer.numel() * 2` rồi `return default_hooks.fp16_compress_hook(None,
# bucket)` (hook này ép bucket về fp16, all-reduce, rồi đổi về dtype cũ). Số byte giảm một nửa; mất mát lệch
# cỡ 1e-4. Với LoRA, 400 KB → 200 KB mỗi bước: trên mạng 1 Gbit/s là 6 ms → 3 ms, nhỏ so với thời gian tính,
# nên nén chủ yếu đáng làm cho tinh chỉnh toàn bộ.
#
# </details>

# %% [markdown]
# ## Tài liệu tham khảo
# - Hu, E. J. et al. (2021). *LoRA: Low-Rank Adaptation of Large Language Models*. arXiv:2106.09685.
# - Dettmers, T., Pagnoni, A., Holtzman, A. và Zettlemoyer, L. (2023). *QLoRA: Efficient Finetuning of
#   Quantized LLMs*. arXiv:2305.14314.
# - Li, S. et al. (2020). *PyTorch Distributed: Experiences on Accelerating Data Parallel Training*. VLDB 2020
#   (DDP, bucket gradient). arXiv:2006.15704.
# - Rajbhandari, S., Rasley, J., Ruwase, O. và He, Y. (2020). *ZeRO: Memory Optimizations Toward Training
#   Trillion Parameter Models*. SC 2020. arXiv:1910.02054.
# - Zhao, Y. et al. (2023). *PyTorch FSDP: Experiences on Scaling Fully Sharded Data Parallel*. VLDB 2023.
#   arXiv:2304.11277.
# - Sheng, Y. et al. (2023). *S-LoRA: Serving Thousands of Concurrent LoRA Adapters*. arXiv:2311.03285
#   (phục vụ nhiều bộ chuyển trên một mô hình nền).
# - Nguyen, K. V. et al. (2018). *UIT-VSFC: Vietnamese Students' Feedback Corpus for Sentiment Analysis*.
#   KSE 2018 (nhãn cảm xúc và chủ đề).
# - huggingface/peft: tài liệu `LoraConfig`, `PeftModel`, `load_adapter`/`set_adapter`, `merge_and_unload`;
#   PyTorch: `torch.distributed.run`, DDP communication hooks.

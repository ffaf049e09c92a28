"""Hình của các con số đã công bố, vẽ từ tệp kết quả (`report.load_results()`): bench/compare.py ghi chúng vào
bench/results/, bài học vẽ lại ngay trong notebook (kể cả trên Colab, vì tệp kết quả đi kèm gói).

    from peft_course import report, report_plots
    R = report.load_results()
    report_plots.plot_pareto(R); report_plots.plot_curves(R); report_plots.plot_time_to_accuracy(R)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

COLORS = {"full": "black", "bitfit": "tab:olive", "houlsby": "tab:green", "pfeiffer": "tab:cyan", "lora": "tab:blue",
          "dora": "tab:purple", "prefix": "tab:orange", "prompt": "tab:red"}


def _spread_labels(ys: list[float], min_gap: float) -> list[float]:
    """Vị trí dọc cho nhãn sao cho hai nhãn liền nhau cách ít nhất `min_gap` (đẩy lên/xuống quanh giá trị gốc)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    pos = [0.0] * len(ys)
    last = float("-inf")
    for i in order:
        pos[i] = max(ys[i], last + min_gap)
        last = pos[i]
    shift = (sum(pos) - sum(ys)) / max(1, len(ys))  # dời cả cụm xuống để trung bình không lệch
    return [p - shift for p in pos]


def plot_pareto(results: dict, ax=None):
    """Acc test (trung bình ± độ lệch chuẩn qua seed) theo số tham số huấn luyện (thang log); nhãn không chồng nhau."""
    ax = ax or plt.subplots(figsize=(8, 4.6))[1]
    summ, costs = results["summary"]["methods"], results["costs"]["course"]
    keys = [k for k, r in summ.items() if r.get("test_accuracy", {}).get("mean") is not None]
    xs = [costs[k]["trainable"] for k in keys]
    ys = [summ[k]["test_accuracy"]["mean"] for k in keys]
    for k, x, y in zip(keys, xs, ys):
        ax.errorbar(x, y, yerr=summ[k]["test_accuracy"]["sd"], fmt="o", capsize=4, color=COLORS.get(k, "gray"))
    lo, hi = ax.get_ylim()
    label_y = _spread_labels(ys, 0.055 * (hi - lo))  # ≈ chiều cao một dòng chữ cỡ 8 trên hình cao 4,6 inch
    for k, x, y, ly in zip(keys, xs, ys, label_y):
        ax.annotate(summ[k]["label"], (x, y), xytext=(x * 1.6, ly), fontsize=8, va="center",
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6})
    base = results["base"]["test_accuracy"]
    ax.axhline(base, color="gray", linestyle=":", label=f"mô hình nền: {base:.3f}")
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 2, max(xs) * 12)
    ns = sorted({summ[k]["test_accuracy"]["n"] for k in keys})
    n = str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"  # kết quả chưa đủ: số seed khác nhau giữa các điểm
    ax.set(xlabel="tham số huấn luyện (thang log)", ylabel=f"acc test (trung bình ± độ lệch chuẩn, {n} seed)",
           title="Chất lượng theo số tham số huấn luyện (checkpoint tốt nhất trên validation)")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_curves(results: dict, fig=None):
    """Acc validation theo bước của mọi phương pháp (mỗi seed một đường mảnh), cùng ngưỡng 90% của toàn bộ."""
    summ = results["summary"]
    keys = [k for k, r in summ["methods"].items() if r.get("curves")]
    cols = 4
    rows = (len(keys) + cols - 1) // cols
    fig = fig or plt.figure(figsize=(3.3 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    thr = summ.get("threshold_val_accuracy")
    for ax, k in zip(axes.flat, keys):
        r = summ["methods"][k]
        for c in r["curves"]:
            ax.plot(c["eval_steps"], c["eval_accuracy"], color=COLORS.get(k, "gray"), lw=1, alpha=0.8)
        for s in r["seeds"]:
            ax.plot(s["best_step"], s["best_val_accuracy"], "*", color=COLORS.get(k, "gray"), ms=7)
        if thr:
            ax.axhline(thr, color="gray", linestyle="--", lw=0.8)
        ax.set_title(f"{r['label']} (lr {r['chosen_lr']:.2g})", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("bước")
    for ax in axes[:, 0]:
        ax.set_ylabel("acc validation")
    fig.suptitle("Acc validation theo bước (mỗi seed một đường; ★ checkpoint tốt nhất; nét đứt: 90% của toàn bộ)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_time_to_accuracy(results: dict, fig=None):
    """Số bước và số giây tới 90% acc validation tốt nhất của tinh chỉnh toàn bộ (trung bình ± độ lệch chuẩn)."""
    summ = results["summary"]["methods"]
    keys = list(summ)
    fig = fig or plt.figure(figsize=(10, 3.8))
    ax_steps, ax_sec = fig.subplots(1, 2)
    for ax, col, unit in ((ax_steps, "steps_to_target", "bước"), (ax_sec, "seconds_to_target", "giây")):
        for i, k in enumerate(keys):
            st = summ[k].get(col) or {}
            n, reach = summ[k].get("test_accuracy", {}).get("n", 0), summ[k].get("reached_target", 0)
            if st.get("mean") is None:
                note = " không đạt" if n else " chưa đo"
                ax.text(i, 0, note, rotation=90, ha="center", va="bottom", fontsize=8, color="0.4")
                continue
            ax.bar(i, st["mean"], yerr=st["sd"], capsize=3, color=COLORS.get(k, "gray"))
            if reach < n:
                ax.text(i, st["mean"], f"{reach}/{n} seed", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(keys)), [summ[k]["label"] for k in keys], rotation=35, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(keys) - 0.4)
        ax.set_ylabel(unit)
    thr = results["summary"].get("threshold_val_accuracy")
    ax_steps.set_title("Số bước tới ngưỡng", fontsize=10)
    ax_sec.set_title("Thời gian tới ngưỡng (bước × thời gian một bước đo xen kẽ)", fontsize=10)
    fig.suptitle(f"Thời gian tới 90% acc validation tốt nhất của tinh chỉnh toàn bộ (ngưỡng {thr or float('nan'):.3f})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_memory(results: dict, ax=None):
    """Cột chồng bộ nhớ một bước huấn luyện (step_cost) ở mô hình của khóa học."""
    from .plots import plot_memory_breakdown

    rows = list(results["costs"]["course"].values())
    return plot_memory_breakdown(rows, "Bộ nhớ một bước huấn luyện (step_cost): mô hình của khóa học", ax)


def plot_small_data(results: dict, ax=None):
    """Dữ liệu nhỏ: acc trên ví dụ đã học và acc test theo N, mỗi phương pháp một màu."""
    small = results["summary"].get("small_data", {})
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for m in small.get("methods", []):
        rows = [r for r in small["rows"].values() if r["method"] == m]
        if not rows:
            continue
        ns = [r["size"] for r in rows]
        for col, style, name in (("train_accuracy", "--", "đã học"), ("test_accuracy", "-", "test")):
            ax.errorbar(ns, [r[col]["mean"] for r in rows], yerr=[r[col]["sd"] for r in rows], fmt="o" + style,
                        capsize=3, color=COLORS.get(m, "gray"), label=f"{rows[0]['label']}: acc {name}")
    ax.set_xscale("log")
    ax.set(xlabel="số ví dụ huấn luyện N (thang log)", ylabel="độ chính xác",
           title=f"Dữ liệu nhỏ: cùng {small.get('steps')} bước cho mọi N")
    ax.legend(fontsize=8)
    return ax


def save_figures(results: dict, out: Path) -> list[Path]:
    """Ghi pareto.png, curves.png, time_to_accuracy.png, memory.png, small_data.png vào `out`."""
    paths = []

    def save(fig, name):
        fig.tight_layout()
        paths.append(out / name)
        fig.savefig(paths[-1], dpi=110)

    fig, ax = plt.subplots(figsize=(8, 4.6))
    plot_pareto(results, ax)
    save(fig, "pareto.png")
    save(plot_curves(results), "curves.png")
    save(plot_time_to_accuracy(results), "time_to_accuracy.png")
    fig, ax = plt.subplots(figsize=(8, 4))
    plot_memory(results, ax)
    save(fig, "memory.png")
    if results["summary"].get("small_data", {}).get("rows"):
        fig, ax = plt.subplots(figsize=(7, 4))
        plot_small_data(results, ax)
        save(fig, "small_data.png")
    plt.close("all")
    return paths

"""Các hình vẽ dùng chung, nhãn tiếng Việt."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt

from .training import History


def plot_histories(histories: Mapping[str, History], title: str = "Huấn luyện", smooth: int = 10):
    """Hai hình cạnh nhau: mất mát huấn luyện (trung bình trượt `smooth` bước) và độ chính xác validation."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, h in histories.items():
        k = max(1, min(smooth, len(h.loss)))
        avg = [sum(h.loss[max(0, i - k + 1):i + 1]) / len(h.loss[max(0, i - k + 1):i + 1]) for i in range(len(h.loss))]
        ax_loss.plot(h.steps, avg, label=name)
        if h.eval_steps:
            ax_acc.plot(h.eval_steps, h.eval_accuracy, marker="o", label=name)
    ax_loss.set(xlabel="bước", ylabel="mất mát (cross-entropy)", title=f"{title}: mất mát")
    ax_acc.set(xlabel="bước", ylabel="độ chính xác", title=f"{title}: độ chính xác validation", ylim=(0, 1.02))
    ax_loss.legend()
    ax_acc.legend()
    fig.tight_layout()
    return fig


def plot_parameter_bars(counts: Mapping[str, int], full: int, title: str = "Số tham số huấn luyện"):
    """Cột (thang log) số tham số huấn luyện của từng cấu hình, kèm đường tinh chỉnh toàn bộ."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = list(counts)
    ax.bar(names, [counts[n] for n in names], color="tab:blue")
    ax.axhline(full, color="tab:red", linestyle="--", label=f"tinh chỉnh toàn bộ: {full:,}")
    ax.set_yscale("log")
    ax.set(ylabel="tham số huấn luyện (thang log)", title=title)
    for i, n in enumerate(names):
        ax.text(i, counts[n], f"{counts[n]:,}\n{100 * counts[n] / full:.2f}%", ha="center", va="bottom", fontsize=8)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


MEMORY_PARTS = [("weights_mb", "trọng số", "tab:gray"), ("grads_mb", "gradient", "tab:orange"),
                ("optimizer_mb", "trạng thái Adam", "tab:red"), ("activations_mb", "activation", "tab:blue")]


def plot_memory_breakdown(rows: list[Mapping], title: str, ax=None):
    """Cột chồng: bộ nhớ một bước huấn luyện chia theo trọng số, gradient, trạng thái Adam, activation.

    Mỗi phần tử của `rows` có "label" và "memory" (MB theo các khóa của MEMORY_PARTS), như kết quả của
    bench/compare.py và `peft_course.costs.step_cost`.
    """
    ax = ax or plt.subplots(figsize=(8, 3.8))[1]
    bottom = [0.0] * len(rows)
    for part, label, color in MEMORY_PARTS:
        vals = [r["memory"][part] for r in rows]
        ax.bar(range(len(rows)), vals, bottom=bottom, label=label, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(rows)), [r["label"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="MB", title=title)
    ax.legend(fontsize=8)
    return ax


def plot_pareto(rows: list[Mapping], base_accuracy: float, title: str = "Chất lượng theo số tham số huấn luyện",
                ax=None):
    """Độ chính xác test theo số tham số huấn luyện (thang log), biên Pareto và mốc mô hình nền.

    Mỗi phần tử của `rows` có "label", "trainable" và "test_accuracy" (như kết quả của bench/compare.py). Một
    phương pháp nằm trên biên nếu không phương pháp nào vừa ít tham số hơn vừa chính xác hơn.
    """
    ax = ax or plt.subplots(figsize=(7.5, 4.2))[1]
    ordered = sorted(rows, key=lambda r: r["trainable"])
    xs, ys = [r["trainable"] for r in ordered], [r["test_accuracy"] for r in ordered]
    ax.scatter(xs, ys, s=60, zorder=3)
    for i, r in enumerate(ordered):  # nhãn xen kẽ trên/dưới để các điểm gần nhau không đè chữ
        ax.annotate(r["label"], (r["trainable"], r["test_accuracy"]), textcoords="offset points",
                    xytext=(6, 5) if i % 2 == 0 else (6, -12), fontsize=8)
    best, frontier = -1.0, []
    for x, y in zip(xs, ys):
        if y > best:
            frontier.append((x, y))
            best = y
    ax.step(*zip(*frontier), where="post", color="tab:green", alpha=0.6, label="biên Pareto")
    ax.axhline(base_accuracy, color="gray", linestyle=":", label="mô hình nền (chưa tinh chỉnh)")
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 2, max(xs) * 8)  # chừa chỗ cho nhãn của điểm ngoài cùng
    ax.set(xlabel="tham số huấn luyện (thang log)", ylabel="độ chính xác test", title=title)
    ax.legend(fontsize=8, loc="lower right")
    return ax

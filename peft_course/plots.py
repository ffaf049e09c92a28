"""Các hình vẽ dùng chung, nhãn tiếng Việt, vẽ đúng bề rộng cột nội dung của trang web.

Cột nội dung của trang (mkdocs-material) rộng khoảng 690 px ở màn hình 1280 px và khoảng 350 px trên điện
thoại 390 px. Hình vẽ ở FIG_WIDTH = 4.5 inch × 100 dpi = 450 px: không bị thu nhỏ trên máy tính, và trên điện
thoại chỉ thu còn khoảng 78% nên chữ (9 pt ≈ 12 px) vẫn đọc được. `use_course_style()` đặt các mặc định này cho
mọi hình của một notebook (và ảnh "retina" gấp đôi điểm ảnh, hiển thị sắc nét ở đúng bề rộng).
"""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
from matplotlib.text import Text

from .training import History

FIG_WIDTH = 4.5  # inch: bề rộng mọi hình của khóa học (450 px ở 100 dpi)
COURSE_STYLE = {  # rcParams của khóa học (xem docstring của mô-đun)
    "figure.figsize": (FIG_WIDTH, 3.0),
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
}


def use_course_style() -> None:
    """Đặt kiểu hình của khóa học cho notebook đang chạy: cỡ hình theo cột nội dung, cỡ chữ, ảnh retina.

    Gọi một lần ở ô nhập thư viện của mỗi bài. Ảnh retina (PNG gấp đôi điểm ảnh, kèm bề rộng hiển thị) chỉ bật
    khi đang chạy trong IPython; ngoài IPython chỉ đổi rcParams.
    """
    plt.rcParams.update(COURSE_STYLE)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        from IPython import get_ipython
    except ImportError:  # không có IPython: chỉ cần rcParams
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")
        plt.rcParams.update(COURSE_STYLE)  # set_matplotlib_formats không đổi rcParams, nhưng backend inline có thể


def plot_histories(histories: Mapping[str, History], title: str = "Huấn luyện", smooth: int = 10):
    """Hai hình chồng nhau (vừa cột nội dung hẹp): mất mát huấn luyện (trung bình trượt `smooth` bước) và độ
    chính xác validation. `title` nên nêu đúng các đường được vẽ (tên trong `histories`)."""
    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=(FIG_WIDTH, 5.2), sharex=True)
    for name, h in histories.items():
        k = max(1, min(smooth, len(h.loss)))
        avg = [sum(h.loss[max(0, i - k + 1):i + 1]) / len(h.loss[max(0, i - k + 1):i + 1]) for i in range(len(h.loss))]
        ax_loss.plot(h.steps, avg, label=name)
        if h.eval_steps:
            ax_acc.plot(h.eval_steps, h.eval_accuracy, marker="o", label=name)
    ax_loss.set(ylabel="mất mát (cross-entropy)", title=f"{title}: mất mát")
    ax_acc.set(xlabel="bước", ylabel="độ chính xác", title="độ chính xác validation", ylim=(0, 1.02))
    ax_loss.legend()
    ax_acc.legend()
    fig.tight_layout()
    return fig


def plot_parameter_bars(counts: Mapping[str, int], full: int, title: str = "Số tham số huấn luyện"):
    """Cột (thang log) số tham số huấn luyện của từng cấu hình, kèm đường tinh chỉnh toàn bộ."""
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.4))
    names = list(counts)
    ax.bar(names, [counts[n] for n in names], color="tab:blue")
    ax.axhline(full, color="tab:red", linestyle="--", label=f"tinh chỉnh toàn bộ: {full:,}")
    ax.set_yscale("log")
    ax.set(ylabel="tham số huấn luyện (log)", title=title)
    if max(map(len, names), default=0) > 6:
        ax.tick_params(axis="x", labelrotation=30)
        plt.setp(ax.get_xticklabels(), ha="right")
    for i, n in enumerate(names):
        ax.text(i, counts[n], f"{counts[n]:,}\n{100 * counts[n] / full:.2f}%", ha="center", va="bottom", fontsize=7)
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
    ax = ax or plt.subplots(figsize=(FIG_WIDTH, 3.4))[1]
    bottom = [0.0] * len(rows)
    for part, label, color in MEMORY_PARTS:
        vals = [r["memory"][part] for r in rows]
        ax.bar(range(len(rows)), vals, bottom=bottom, label=label, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(rows)), [r["label"] for r in rows], rotation=30, ha="right")
    ax.set(ylabel="MB", title=title)
    ax.legend()
    return ax


def plot_pareto(rows: list[Mapping], base_accuracy: float, title: str = "Chất lượng theo số tham số huấn luyện",
                ax=None):
    """Độ chính xác test theo số tham số huấn luyện (thang log), biên Pareto và mốc mô hình nền.

    Mỗi phần tử của `rows` có "label", "trainable" và "test_accuracy" (như kết quả của bench/compare.py). Một
    phương pháp nằm trên biên nếu không phương pháp nào vừa ít tham số hơn vừa chính xác hơn. Nhãn được đặt
    bằng `place_labels`: không đè nhau, không tràn ra ngoài khung.
    """
    created = ax is None
    ax = ax or plt.subplots(figsize=(FIG_WIDTH, 3.6))[1]
    ordered = sorted(rows, key=lambda r: r["trainable"])
    xs, ys = [r["trainable"] for r in ordered], [r["test_accuracy"] for r in ordered]
    ax.scatter(xs, ys, s=40, zorder=3)
    best, frontier = -1.0, []
    for x, y in zip(xs, ys):
        if y > best:
            frontier.append((x, y))
            best = y
    ax.step(*zip(*frontier), where="post", color="tab:green", alpha=0.6, label="biên Pareto")
    ax.axhline(base_accuracy, color="gray", linestyle=":", label="mô hình nền (chưa tinh chỉnh)")
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 3, max(xs) * 3)
    low, high = min(ys + [base_accuracy]), max(ys + [base_accuracy])
    pad = max(0.05, 0.08 * (high - low))
    ax.set_ylim(low - pad, high + pad)
    ax.set(xlabel="tham số huấn luyện (log)", ylabel="độ chính xác test", title=title)
    ax.legend(loc="lower right")
    if created:
        ax.figure.tight_layout()  # bố cục cuối trước khi đặt nhãn (vị trí nhãn tính theo điểm ảnh)
    place_labels(ax, [(r["label"], r["trainable"], r["test_accuracy"]) for r in ordered])
    return ax


def _overlaps(a, b, gap: float = 1.0) -> bool:
    return not (a.x1 + gap <= b.x0 or b.x1 + gap <= a.x0 or a.y1 + gap <= b.y0 or b.y1 + gap <= a.y0)


def place_labels(ax, points: list[tuple[str, float, float]], fontsize: float | None = None) -> list:
    """Đặt nhãn cạnh các điểm sao cho nhãn không đè nhau, không đè lên điểm khác và nằm trong khung trục.

    Thử lần lượt các vị trí quanh điểm (phải, trái, trên, dưới, rồi xa dần) và giữ vị trí đầu tiên không đè
    lên nhãn đã đặt, điểm nào khác hay mép khung; không có thì chọn vị trí ít đè nhất. Trả về các đối tượng
    Text (để kiểm thử đo vị trí).
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    dots = [ax.transData.transform((x, y)) for _, x, y in points]
    radius = 5.0  # nửa cạnh ô vuông quanh mỗi điểm (px) mà nhãn tránh
    placed, texts = [], []
    candidates = [(dx * k, dy * k) for k in (1, 2, 3, 4) for dx, dy in
                  ((7, -4), (-7, -4), (0, 8), (0, -16), (7, 8), (-7, 8), (7, -14), (-7, -14))]
    for (label, x, y), dot in zip(points, dots):
        best = None
        for dx, dy in candidates:
            far = abs(dx) > 7 or abs(dy) > 16  # nhãn xa điểm: nối bằng một đường mảnh để biết nhãn của điểm nào
            text = ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                               ha="left" if dx > 0 else "right" if dx < 0 else "center", va="bottom",
                               arrowprops=dict(arrowstyle="-", lw=0.5, color="gray") if far else None)
            box = label_box(text, renderer)
            outside = box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1
            hits = 3 * sum(_overlaps(box, other) for other in placed)  # đè nhãn khác: tệ nhất sau tràn khung
            hits += sum(_overlaps(box, _dot_box(d, radius)) for d in dots if d is not dot)
            score = hits + (10 if outside else 0)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, text, box)
            else:
                text.remove()
            if score == 0:
                break
        placed.append(best[2])
        texts.append(best[1])
    return texts


def label_box(text, renderer):
    """Khung của riêng phần chữ một nhãn (Annotation.get_window_extent tính cả đường nối tới điểm)."""
    text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


def _dot_box(center, radius: float):
    from matplotlib.transforms import Bbox

    return Bbox.from_extents(center[0] - radius, center[1] - radius, center[0] + radius, center[1] + radius)

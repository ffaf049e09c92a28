"""Widget dùng chung cho các bài học, chạy được trên ipywidgets 7.7.1 (Colab) và 8.x.

Chỉ dùng những API chung của hai bản: IntSlider/SelectionSlider/Dropdown, Button, Output với
clear_output(wait=True) và observe (không dùng `interact`: trên 7.7.1 nó vẽ chồng hình thay vì thay thế).
Mỗi hàm vẽ ngay một lần với giá trị mặc định, nên hình tĩnh vẫn có khi xem notebook không có kernel.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
from IPython.display import display

from .experiments import Course, Result, run
from .plots import plot_histories


def _widgets():
    import ipywidgets

    return ipywidgets


def knob_explorer(
    values: Sequence,  # các giá trị của núm (r, bề rộng nút cổ chai, số token ảo…)
    count_fn: Callable[[object], int],  # giá trị núm → số tham số huấn luyện (đếm trên mô hình thật)
    full: int,  # số tham số của tinh chỉnh toàn bộ
    knob: str = "r",  # tên núm hiển thị
    value=None,  # giá trị ban đầu
):
    """Thanh trượt chọn giá trị núm; vẽ lại số tham số huấn luyện theo núm, so với tinh chỉnh toàn bộ."""
    w = _widgets()
    values = list(values)
    counts = {v: count_fn(v) for v in values}
    slider = w.SelectionSlider(options=values, value=value if value is not None else values[0], description=knob)
    out = w.Output()

    def draw(change=None) -> None:
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.4))
            ax.plot(values, [counts[v] for v in values], marker="o", label="phương pháp")
            ax.axhline(full, color="tab:red", linestyle="--", label=f"tinh chỉnh toàn bộ: {full:,}")
            v = slider.value
            ax.scatter([v], [counts[v]], s=120, color="tab:orange", zorder=3,
                       label=f"{knob} = {v}: {counts[v]:,} ({100 * counts[v] / full:.3f}%)")
            ax.set_yscale("log")
            ax.set(xlabel=knob, ylabel="tham số huấn luyện (thang log)", title=f"Số tham số huấn luyện theo {knob}")
            ax.legend(fontsize=8)
            fig.tight_layout()
            plt.show()

    slider.observe(draw, names="value")
    draw()
    display(w.VBox([slider, out]))
    return counts


def training_explorer(
    course: Course,
    make_model: Callable[[object], object],  # giá trị núm → mô hình đã áp phương pháp (từ course.fresh_model())
    method: str,  # khóa công thức trong experiments.RECIPES
    values: Sequence,  # các giá trị núm cho chọn
    baseline: Result,  # kết quả tinh chỉnh toàn bộ để vẽ cạnh
    knob: str = "r",
    value=None,
    steps: int = 150,
    cache: bool = True,  # dùng lại lần chạy giống hệt đã có (experiments.run(..., cache=True))
):
    """Chọn giá trị núm, bấm nút để huấn luyện; vẽ đường mất mát và độ chính xác cạnh tinh chỉnh toàn bộ.

    Chạy một lần ngay với giá trị ban đầu, trả về kết quả lần đó.
    """
    w = _widgets()
    values = list(values)
    picker = w.Dropdown(options=values, value=value if value is not None else values[0], description=knob)
    button = w.Button(description="Huấn luyện")
    out = w.Output()
    results: dict = {}

    def go(_=None) -> None:
        v = picker.value
        with out:
            out.clear_output(wait=True)
            r = run(course, f"{method} {knob}={v}", make_model(v), method, steps=steps, progress=False, cache=cache)
            results[v] = r
            plot_histories({"tinh chỉnh toàn bộ": baseline.history, r.name: r.history}, title=r.name)
            plt.show()
            print(f"{r.name}: {r.trainable:,} tham số ({r.percent:.3f}%), acc test {r.test_accuracy:.3f} "
                  f"| tinh chỉnh toàn bộ: acc test {baseline.test_accuracy:.3f}")

    button.on_click(go)
    go()
    display(w.VBox([w.HBox([picker, button]), out]))
    return results

"""Widget dùng chung cho các bài học, chạy được trên ipywidgets 7.7.1 (Colab), 8.x (Jupyter) và trên trang web tĩnh.

Trang web không có kernel Python, nên mọi hình được **vẽ sẵn** khi chạy notebook: mỗi giá trị của núm có một
trang (ảnh PNG trong widget `Image`) của một `Tab`, và thanh trượt/hộp chọn được nối với trang đang hiện bằng
`jslink` (chạy trong trình duyệt, không qua kernel). Nhờ vậy kéo thanh trượt trên trang web vẫn đổi hình.
Chỉ dùng API chung của hai bản ipywidgets: SelectionSlider/Dropdown (`index`), Tab (`selected_index`, `set_title`),
Image, HTML, Button, Output, `jslink`.
"""

from __future__ import annotations

import io
from html import escape
from typing import Callable, Sequence

import matplotlib.pyplot as plt
from IPython.display import display

from .errors import CourseError
from .experiments import Course, Result, run
from .plots import FIG_WIDTH, plot_histories

# Độ phân giải ảnh vẽ sẵn: gấp đôi 100 dpi (màn hình mật độ cao), hiển thị ở bề rộng FIG_WIDTH × 100 px.
PNG_DPI = 200
SCREEN_DPI = 100
# Lớp CSS của Tab chứa các hình vẽ sẵn: trang web (docs/stylesheets/extra.css) ẩn thanh tab, chỉ giữ núm điều khiển.
PAGES_CLASS = "peft-pages"
# Nhãn không bị cắt: ô mô tả rộng theo nội dung thay vì 80 px mặc định.
LABEL_STYLE = {"description_width": "initial"}
STATIC_NOTE = ("Các hình được vẽ sẵn khi chạy bài, nên kéo núm vẫn đổi hình trên trang web. "
               "Huấn luyện một giá trị mới cần kernel Python đang chạy (Colab hoặc Jupyter){link}.")


def _widgets():
    import ipywidgets

    return ipywidgets


def figure_png(fig) -> bytes:
    """Ảnh PNG của một hình matplotlib (độ phân giải PNG_DPI), rồi đóng hình để nó không hiện thêm lần nữa.

    Ảnh được giảm còn bảng 128 màu (hình đường và cột không khác bằng mắt) để trạng thái widget lưu trong
    notebook, gồm một ảnh cho mỗi giá trị núm, nhỏ đi khoảng ba lần.
    """
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    plt.close(fig)
    small = io.BytesIO()
    Image.open(buffer).convert("RGB").quantize(colors=128).save(small, format="png", optimize=True)
    return small.getvalue()


def png_width(png: bytes) -> int:
    """Bề rộng hiển thị (px CSS) của ảnh PNG vẽ ở PNG_DPI: bề rộng điểm ảnh chia tỉ lệ PNG_DPI / SCREEN_DPI."""
    pixels = int.from_bytes(png[16:20], "big")  # trường width của khối IHDR
    return round(pixels * SCREEN_DPI / PNG_DPI)


def image_widget(png: bytes):
    """Widget Image hiện ảnh ở đúng bề rộng đã vẽ, co lại (không giãn ra) khi cột hẹp hơn."""
    w = _widgets()
    return w.Image(value=png, format="png", width=str(png_width(png)),
                   layout=w.Layout(max_width="100%", height="auto"))


def prerendered_pages(pages: Sequence, titles: Sequence[str]):
    """Tab có một trang cho mỗi giá trị núm; trang hiện được điều khiển qua `selected_index`."""
    w = _widgets()
    tab = w.Tab(children=list(pages))
    for i, title in enumerate(titles):
        tab.set_title(i, str(title))
    tab.add_class(PAGES_CLASS)
    return tab


def link_to_pages(control, pages):
    """Nối `control.index` (vị trí giá trị đang chọn) với trang đang hiện, phía trình duyệt (cả hai chiều).

    Trả về widget Link (trạng thái của nó được lưu trong notebook nên trang web tĩnh cũng có liên kết này).
    """
    link = _widgets().jslink((control, "index"), (pages, "selected_index"))
    pages.selected_index = control.index
    return link


def _check_values(values: Sequence, value, knob: str) -> tuple[list, object]:
    values = list(values)
    if not values:
        raise CourseError(f"Danh sách giá trị của núm {knob!r} đang rỗng; cần ít nhất một giá trị, ví dụ [4, 8, 16].")
    value = values[0] if value is None else value
    if value not in values:
        raise CourseError(f"Giá trị ban đầu {value!r} của núm {knob!r} không có trong danh sách {values}.")
    return values, value


def knob_figure(values: Sequence, counts: dict, full: int, knob: str, chosen):
    """Hình số tham số huấn luyện theo núm (thang log), đánh dấu giá trị `chosen`, so với tinh chỉnh toàn bộ."""
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.0))
    labels = [str(v) for v in values]  # trục phân loại: dùng được cả với giá trị không phải số ("attention_query")
    ax.plot(labels, [counts[v] for v in values], marker="o", label="phương pháp")
    ax.axhline(full, color="tab:red", linestyle="--", label=f"tinh chỉnh toàn bộ: {full:,}")
    ax.scatter([str(chosen)], [counts[chosen]], s=110, color="tab:orange", zorder=3,
               label=f"{knob} = {chosen}: {counts[chosen]:,} ({100 * counts[chosen] / full:.3f}%)")
    ax.set_yscale("log")
    ax.set(xlabel=knob, ylabel="tham số huấn luyện (log)", title=f"Số tham số huấn luyện theo {knob}")
    if max(len(s) for s in labels) > 4:
        ax.tick_params(axis="x", labelrotation=30)
        plt.setp(ax.get_xticklabels(), ha="right")
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def figure_explorer(
    values: Sequence,  # các giá trị cho chọn (số, chuỗi…)
    draw: Callable[[object], object],  # giá trị → hình matplotlib (Figure) cho giá trị đó
    description: str,  # nhãn của núm điều khiển (hiện đầy đủ, không bị cắt)
    value=None,  # giá trị ban đầu (mặc định: giá trị đầu tiên)
    control: str = "slider",  # "slider" (SelectionSlider) hoặc "dropdown" (Dropdown)
):
    """Núm điều khiển và một hình vẽ sẵn cho mỗi giá trị, nối phía trình duyệt: đổi núm trên trang web tĩnh
    (không kernel) vẫn đổi hình. Dùng cho mọi widget "chọn giá trị → xem hình" của bài học.

    Trả về hộp widget (đã hiển thị).
    """
    w = _widgets()
    values, value = _check_values(values, value, description)
    kinds = {"slider": w.SelectionSlider, "dropdown": w.Dropdown}
    if control not in kinds:
        raise CourseError(f"control phải là một trong {sorted(kinds)}, nhận được {control!r}.")
    pages = prerendered_pages([image_widget(figure_png(draw(v))) for v in values], values)
    width = "100%" if control == "slider" else "auto"
    picker = kinds[control](options=values, value=value, description=description, style=LABEL_STYLE,
                            layout=w.Layout(width=width, max_width="34em"))
    link_to_pages(picker, pages)
    box = w.VBox([picker, pages])
    display(box)
    return box


def knob_explorer(
    values: Sequence,  # các giá trị của núm (r, bề rộng nút cổ chai, số token ảo…)
    count_fn: Callable[[object], int],  # giá trị núm → số tham số huấn luyện (đếm trên mô hình thật)
    full: int,  # số tham số của tinh chỉnh toàn bộ
    knob: str = "r",  # tên núm hiển thị (không bị cắt)
    value=None,  # giá trị ban đầu (mặc định: giá trị đầu tiên)
):
    """Thanh trượt chọn giá trị núm; hình số tham số huấn luyện theo núm được vẽ sẵn cho từng giá trị.

    Trả về từ điển {giá trị: số tham số huấn luyện}.
    """
    values, value = _check_values(values, value, knob)
    counts = {v: count_fn(v) for v in values}
    figure_explorer(values, lambda v: knob_figure(values, counts, full, knob, v), knob, value=value)
    return counts


def result_page(result: Result, baseline: Result):
    """Trang của một lần chạy: đường mất mát và độ chính xác cạnh tinh chỉnh toàn bộ, kèm một dòng tóm tắt."""
    w = _widgets()
    fig = plot_histories({"tinh chỉnh toàn bộ": baseline.history, result.name: result.history}, title=result.name)
    summary = (f"{escape(result.name)}: {result.trainable:,} tham số ({result.percent:.3f}%), "
               f"acc test {result.test_accuracy:.3f} | tinh chỉnh toàn bộ: acc test {baseline.test_accuracy:.3f}")
    return w.VBox([image_widget(figure_png(fig)), w.HTML(f"<p>{summary}</p>")])


def pending_page(knob: str, value, colab_url: str | None):
    """Trang của một giá trị chưa huấn luyện: nói rõ cần bấm nút, trong một kernel đang chạy."""
    link = f' — <a href="{escape(colab_url)}" target="_blank">mở bài trên Colab</a>' if colab_url else ""
    return _widgets().HTML(f"<p>Chưa huấn luyện với {escape(knob)} = {escape(str(value))}: bấm "
                           f"<b>Huấn luyện</b> (cần kernel Python: Colab hoặc Jupyter{link}).</p>")


def training_explorer(
    course: Course,
    make_model: Callable[[object], object],  # giá trị núm → mô hình đã áp phương pháp (từ course.fresh_model())
    method: str,  # khóa công thức trong experiments.RECIPES
    values: Sequence,  # các giá trị núm cho chọn
    baseline: Result,  # kết quả tinh chỉnh toàn bộ để vẽ cạnh
    knob: str = "r",
    value=None,  # giá trị hiện ban đầu (luôn được huấn luyện sẵn)
    steps: int = 150,
    cache: bool = True,  # dùng lại lần chạy giống hệt đã có (experiments.run(..., cache=True))
    precompute: Sequence | None = None,  # giá trị huấn luyện sẵn khi chạy ô (mặc định chỉ `value`)
    colab_url: str | None = None,  # địa chỉ mở bài trên Colab, hiện trong lời nhắn cho người đọc trang web
):
    """Chọn giá trị núm, bấm nút để huấn luyện; vẽ đường mất mát và độ chính xác cạnh tinh chỉnh toàn bộ.

    Các giá trị trong `precompute` (và `value`) được huấn luyện ngay khi chạy ô, nên trang web (không kernel)
    vẫn xem được chúng bằng cách đổi giá trị trong hộp chọn. Khi huấn luyện, nút bị khóa và dòng trạng thái cùng
    thanh tiến trình tqdm cho biết đang chạy tới đâu. Trả về từ điển {giá trị: Result} của các lần đã chạy.
    """
    w = _widgets()
    values, value = _check_values(values, value, knob)
    precompute = list(dict.fromkeys([value, *(precompute or [])]))
    unknown = [v for v in precompute if v not in values]
    if unknown:
        raise CourseError(f"precompute có giá trị không nằm trong danh sách {values} của núm {knob!r}: {unknown}.")
    results: dict = {}
    pages = prerendered_pages([pending_page(knob, v, colab_url) for v in values], values)
    picker = w.Dropdown(options=values, value=value, description=knob, style=LABEL_STYLE,
                        layout=w.Layout(width="auto"))
    button = w.Button(description="Huấn luyện", icon="play", tooltip="Huấn luyện với giá trị đang chọn")
    status = w.HTML()
    progress = w.Output()
    link_to_pages(picker, pages)

    def train_value(v) -> None:
        """Huấn luyện một giá trị (nếu chưa có), khóa nút trong lúc chạy, rồi thay trang của giá trị đó."""
        if v in results:  # bấm lại (hoặc bấm hai lần liền): chỉ hiện kết quả đã có
            status.value = f"<p>{escape(knob)} = {escape(str(v))} đã huấn luyện: xem hình bên dưới.</p>"
            return
        button.disabled = True
        button.description = "Đang huấn luyện…"
        status.value = f"<p>Đang huấn luyện {escape(knob)} = {escape(str(v))} ({steps} bước)…</p>"
        try:
            with progress:
                r = run(course, f"{method} {knob}={v}", make_model(v), method, steps=steps, progress=True,
                        cache=cache)
            progress.clear_output()
            results[v] = r
            children = list(pages.children)
            children[values.index(v)] = result_page(r, baseline)
            pages.children = children
            for i, title in enumerate(values):  # ipywidgets 7 xóa tiêu đề khi đổi children
                pages.set_title(i, str(title))
            status.value = f"<p>Xong {escape(knob)} = {escape(str(v))}: acc test {r.test_accuracy:.3f}.</p>"
        finally:
            button.disabled = False
            button.description = "Huấn luyện"

    button.on_click(lambda _: train_value(picker.value))
    for v in precompute:
        train_value(v)
    status.value = ""  # trạng thái của lần chạy sẵn không có ích cho người đọc
    pages.selected_index = values.index(value)
    note = STATIC_NOTE.format(link=f' — <a href="{escape(colab_url)}" target="_blank">mở trên Colab</a>'
                              if colab_url else "")
    display(w.VBox([w.HBox([picker, button]), status, progress, pages, w.HTML(f"<p><small>{note}</small></p>")]))
    return results

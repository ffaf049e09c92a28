"""Widget vẽ sẵn (chạy không cần kernel trên trang web) và hình vừa cột nội dung của trang."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

ipywidgets = pytest.importorskip("ipywidgets")

from peft_course import CourseError, widgets  # noqa: E402
from peft_course.experiments import Result  # noqa: E402
from peft_course.plots import FIG_WIDTH, label_box, place_labels, plot_histories, plot_pareto  # noqa: E402
from peft_course.training import History  # noqa: E402


@pytest.fixture
def shown(monkeypatch) -> list:
    """Những gì widget hiển thị (thay cho IPython.display.display)."""
    out: list = []
    monkeypatch.setattr(widgets, "display", out.append)
    return out


def find(box, kind) -> list:
    """Mọi widget con (đệ quy) thuộc lớp `kind`."""
    found = [box] if isinstance(box, kind) else []
    for child in getattr(box, "children", ()):
        found += find(child, kind)
    return found


def test_knob_explorer_prerenders_one_figure_per_value(shown) -> None:
    counts = widgets.knob_explorer([1, 4, 16], lambda r: 100 * r, full=10_000, knob="k (số khối mở băng)", value=4)
    assert counts == {1: 100, 4: 400, 16: 1600}
    [box] = shown
    [slider] = find(box, ipywidgets.SelectionSlider)
    [pages] = find(box, ipywidgets.Tab)
    images = [page.value for page in pages.children]
    assert all(isinstance(page, ipywidgets.Image) for page in pages.children)
    assert len(set(images)) == 3, "mỗi giá trị núm phải có hình riêng"
    assert pages.selected_index == slider.index == 1
    assert slider.style.description_width == "initial", "nhãn dài không được bị cắt"
    assert widgets.PAGES_CLASS in pages._dom_classes


def test_figure_explorer_dropdown_and_bad_control(shown) -> None:
    def draw(v):
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 2))
        ax.set_title(f"ngân sách {v}")
        return fig

    box = widgets.figure_explorer(["bộ nhớ", "thời gian"], draw, "ngân sách", control="dropdown")
    assert shown == [box]
    [picker] = find(box, ipywidgets.Dropdown)
    [pages] = find(box, ipywidgets.Tab)
    assert len({p.value for p in pages.children}) == 2 and pages.selected_index == picker.index == 0
    with pytest.raises(CourseError, match="control"):
        widgets.figure_explorer([1], draw, "x", control="radio")


def test_link_to_pages_is_a_browser_side_link() -> None:
    slider = ipywidgets.SelectionSlider(options=["a", "b"], value="b")
    pages = widgets.prerendered_pages([ipywidgets.HTML("a"), ipywidgets.HTML("b")], ["a", "b"])
    link = widgets.link_to_pages(slider, pages)
    assert pages.selected_index == 1
    assert link.source == (slider, "index") and link.target == (pages, "selected_index")
    assert link.get_state()["_model_name"] == "LinkModel", "liên kết chạy trong trình duyệt, không qua kernel"


@pytest.mark.parametrize("values, value", [([], None), ([1, 2], 3)])
def test_knob_explorer_rejects_bad_values(shown, values, value) -> None:
    with pytest.raises(CourseError, match="núm"):
        widgets.knob_explorer(values, lambda r: r, full=10, value=value)
    assert not shown


def test_figure_png_is_drawn_at_content_width() -> None:
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3))
    ax.plot([1, 2, 3])
    width = widgets.png_width(widgets.figure_png(fig))
    assert 0.8 * FIG_WIDTH * 100 <= width <= FIG_WIDTH * 100 + 10


def fake_result(name: str, acc: float) -> Result:
    history = History(steps=[1, 2, 3], loss=[1.0, 0.8, 0.7], eval_steps=[3], eval_accuracy=[acc])
    return Result(name, 10, 1000, 0.01, 1.0, acc, acc, history)


def test_training_explorer_disables_button_while_training(shown, monkeypatch) -> None:
    calls: list = []
    state: dict = {}

    def fake_run(course, name, model, method, steps, progress, cache):
        calls.append((name, progress))
        state["disabled"].append(state["button"].disabled if "button" in state else None)
        return fake_result(name, 0.5 + 0.1 * len(calls))

    state["disabled"] = []
    monkeypatch.setattr(widgets, "run", fake_run)
    original_button = ipywidgets.Button

    def remember(*args, **kwargs):
        state["button"] = original_button(*args, **kwargs)
        return state["button"]

    monkeypatch.setattr(ipywidgets, "Button", remember)
    baseline = fake_result("tinh chỉnh toàn bộ", 0.9)
    results = widgets.training_explorer(None, lambda v: object(), "lora", [1, 4, 8], baseline, value=4,
                                        precompute=[8], colab_url="https://colab.example/x.ipynb")
    assert sorted(results) == [4, 8]
    assert state["disabled"] == [True, True], "nút phải bị khóa trong lúc huấn luyện"
    assert all(progress for _, progress in calls), "phải hiện tiến trình"
    [box] = shown
    [pages] = find(box, ipywidgets.Tab)
    [picker] = find(box, ipywidgets.Dropdown)
    button = state["button"]
    assert not button.disabled
    assert pages.selected_index == picker.index == 1
    kinds = [bool(find(page, ipywidgets.Image)) for page in pages.children]
    assert kinds == [False, True, True], "giá trị đã huấn luyện có hình vẽ sẵn, giá trị khác có lời nhắn"
    assert "colab.example" in pages.children[0].value
    picker.value = 1
    button.click()
    assert len(calls) == 3 and bool(find(pages.children[0], ipywidgets.Image))
    button.click()  # bấm lần nữa: không huấn luyện lại
    assert len(calls) == 3
    assert not button.disabled


def test_training_explorer_rejects_unknown_precompute(shown) -> None:
    with pytest.raises(CourseError, match="precompute"):
        widgets.training_explorer(None, lambda v: object(), "lora", [1, 4], fake_result("x", 0.5), value=4,
                                  precompute=[64])


def test_pareto_labels_do_not_overlap_or_leave_the_axes() -> None:
    rows = [{"label": name, "trainable": n, "test_accuracy": acc} for name, n, acc in [
        ("tinh chỉnh toàn bộ", 2_570_000, 0.86), ("BitFit", 9_000, 0.71), ("LoRA r=8", 49_000, 0.83),
        ("DoRA r=8", 52_000, 0.84), ("Houlsby r=16", 51_000, 0.82), ("Pfeiffer r=16", 26_000, 0.80),
        ("prefix k=10", 15_000, 0.62)]]
    ax = plot_pareto(rows, base_accuracy=0.35)
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text() in {r["label"] for r in rows}]
    assert len(labels) == len(rows)
    boxes = [label_box(t, renderer) for t in labels]  # chữ, không tính đường nối
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), "hai nhãn đè nhau"
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert ax.figure.get_figwidth() == FIG_WIDTH
    plt.close(ax.figure)


def test_place_labels_separates_identical_points() -> None:
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3))
    ax.set(xlim=(0, 10), ylim=(0, 10))
    texts = place_labels(ax, [("một", 5, 5), ("hai", 5, 5), ("ba", 5, 5)])
    renderer = fig.canvas.get_renderer()
    boxes = [label_box(t, renderer) for t in texts]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    plt.close(fig)


def test_histories_are_stacked_at_content_width() -> None:
    h = History(steps=[1, 2], loss=[1.0, 0.5], eval_steps=[2], eval_accuracy=[0.7])
    fig = plot_histories({"LoRA r=8": h}, title="LoRA r=8")
    assert fig.get_figwidth() == FIG_WIDTH and len(fig.axes) == 2
    assert fig.axes[0].get_position().y0 > fig.axes[1].get_position().y0, "hai hình chồng nhau, không cạnh nhau"
    plt.close(fig)

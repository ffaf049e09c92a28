"""Hook của mkdocs cho trang khóa học.

0. Địa chỉ kho và trang lấy từ pyproject.toml ([project.urls]), nơi duy nhất định nghĩa chúng.
1. Bỏ khỏi nav các bài chưa có notebook trong docs/lessons/ (để dựng được khi khóa học đang viết).
2. Neo tiêu đề dạng ASCII dễ đọc cho tiếng Việt ("Đối chiếu" thành "doi-chieu", không phải "oi-chieu") ở
   trang Markdown lẫn trang notebook; ở trang notebook, mục lục được dựng lại từ chính các tiêu đề (mục
   lục của mkdocs-jupyter bỏ mất phần `mã` trong tiêu đề nên trỏ sai neo).
3. Trang notebook (mkdocs-jupyter) tự chèn MathJax 2 từ CDN và trình hiển thị widget từ CDN; ta bỏ
   MathJax 2 (MathJax 3 đã nạp trên mọi trang từ _vendor/, xem mkdocs.yml) và trỏ trình hiển thị widget
   về bản đã tải về _vendor/html-manager/; ảnh nút "Open in Colab" lấy từ images/ của trang. Nhờ vậy
   trang không cần mạng ngoài (liên kết tới Colab vẫn giữ nguyên).
4. Một lần dựng không thể hỏng mà không ai biết: thiếu thư viện đã tải về (_vendor/) hay thiếu bài học thì
   dừng ngay với lời nhắn chỉ tới scripts/build_docs.sh; một bài có ô chưa chạy, ô lỗi hay cảnh báo
   (FutureWarning…) trong đầu ra thì báo WARNING (strict: true làm hỏng lần dựng).
5. Trang bài học dễ đọc: bỏ thẻ ô (nbval-*, teach…), ô `live-timing` mang nhãn "số đo trực tiếp trên máy dựng,
   không phải số liệu công bố", bảng rộng cuộn ngang (javascripts/tables.js hiện gợi ý), thanh liên kết "tải
   notebook" / "mở trên Colab" / mã nguồn, nút sửa trỏ tới notebooks/NN_*.py, ngày cập nhật lấy từ git (không mạng).
6. Chỉ mục tìm kiếm: không có nút "Copied!", mã lặp hai lần hay TeX thô (thay bằng ký hiệu đọc được).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import subprocess
import unicodedata
from functools import lru_cache
from html import escape, unescape
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.toc import get_toc

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

log = logging.getLogger("mkdocs.hooks.peft_course")

WIDGET_RENDERER = "_vendor/html-manager/embed.js"
# Những gì build_docs.sh tải về docs/_vendor/ (đường dẫn tính từ docs/); thiếu một tệp thì trang hỏng lặng lẽ.
VENDORED = ("_vendor/mathjax/tex-mml-chtml.js", WIDGET_RENDERER, "_vendor/fonts/fonts.css")
BUILD_HINT = "Dựng trang bằng `bash scripts/build_docs.sh` (không gọi mkdocs trực tiếp)"

# <script src="mathjax-v2-removed-by-hook"> </script> và khối cấu hình MathJax 2 đi kèm.
MATHJAX2 = re.compile(
    r'<!-- Load mathjax -->\s*<script src="[^"]*"> </script>.*?<!-- End of mathjax configuration -->',
    re.DOTALL,
)
# Địa chỉ CDN của trình hiển thị widget trong mẫu của nbconvert.
WIDGET_CDN = re.compile(r"var widgetRendererSrc = '[^']*';")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "images/colab-badge.svg"
HEADING = re.compile(r'<h([1-6]) id="([^"]*)"(.*?)>(.*?)</h\1>', re.DOTALL)
ANCHOR_LINK = re.compile(r'<a class="anchor-link" href="#[^"]*">.*?</a>', re.DOTALL)


def slugify(text: str, sep: str = "-") -> str:
    """Neo ASCII từ tiêu đề tiếng Việt: bỏ dấu, "đ" thành "d", chữ thường, nối bằng `sep`."""
    text = re.sub(r"<[^>]+>", "", unescape(text)).replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9_]+", sep, text.lower()).strip(sep)


def on_config(config, **kwargs):
    urls = tomllib.loads((Path(config["config_file_path"]).parent / "pyproject.toml").read_text("utf-8"))
    urls = urls["project"]["urls"]
    config["repo_url"] = urls["Repository"]
    config["repo_name"] = urls["Repository"].removeprefix("https://github.com/")
    config["site_url"] = urls["Documentation"]
    config["mdx_configs"].setdefault("toc", {})["slugify"] = slugify
    docs_dir = Path(config["docs_dir"])
    missing_assets = [a for a in VENDORED if not (docs_dir / a).is_file()]
    if missing_assets:
        raise PluginError(f"Thiếu {', '.join('docs/' + a for a in missing_assets)}: trang sẽ không có công thức, "
                          f"widget hay phông chữ tiếng Việt. {BUILD_HINT}.")
    partial = os.environ.get("PEFT_DOCS_PARTIAL") == "1"
    for section in config["nav"] or []:
        if isinstance(section, dict) and "Bài học" in section:
            lessons = section["Bài học"]
            present = [p for p in lessons if (docs_dir / _path(p)).is_file()]
            missing = sorted(set(map(_path, lessons)) - set(map(_path, present)))
            if missing and (not partial or not present):
                raise PluginError(f"Thiếu bài học {', '.join('docs/' + m for m in missing)}. {BUILD_HINT}; nó "
                                  "đặt các bài đã chạy vào docs/lessons/.")
            for m in missing:
                log.info("PEFT_DOCS_PARTIAL=1: bỏ bài %s khỏi nav", m)
            section["Bài học"] = present
    return config


# -- Kiểm tra bài học trước khi dựng ------------------------------------------------------------------

WARNING_TEXT = re.compile(r"\b[A-Z]?\w*Warning\b")  # FutureWarning, UserWarning, "Warning:"…
LIVE_TAG = "live-timing"


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    return "".join(data.get("text/plain", "")) + "".join(data.get("text/html", ""))


def lesson_problems(notebook: dict, name: str) -> list[str]:
    """Những lỗi làm trang bài học sai: ô mã chưa chạy hoặc chạy lệch thứ tự, ô lỗi, cảnh báo trong đầu ra."""
    problems = []
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"{name}: ô chưa chạy hoặc chạy lệch thứ tự (execution_count {counts}); dùng bản đã chạy "
                        "của scripts/execute_lessons.py")
    for i, cell in enumerate(code, 1):
        for output in cell.get("outputs", []):
            text = _output_text(output)
            if output.get("output_type") == "error":
                problems.append(f"{name}, ô mã thứ {i}: lỗi {output.get('ename')}: {output.get('evalue')}")
            elif WARNING_TEXT.search(text):
                line = next(ln for ln in text.splitlines() if WARNING_TEXT.search(ln))
                problems.append(f"{name}, ô mã thứ {i}: cảnh báo trong đầu ra ({line.strip()[:120]}); sửa nguyên "
                                "nhân hoặc lọc nó ngay tại chỗ phát sinh")
    return problems


def on_files(files, config, **kwargs):
    for nb in sorted((Path(config["docs_dir"]) / "lessons").glob("*.ipynb")):
        for problem in lesson_problems(json.loads(nb.read_text(encoding="utf-8")), nb.name):
            log.warning(problem)
    return files


def _path(item) -> str:
    return item if isinstance(item, str) else next(iter(item.values()))


LESSONS_MARKER = "<!-- bảng-bài-học -->"
INCLUDE_MARKER = re.compile(r"<!-- chèn-tệp: (\S+) -->\n(.*?)<!-- hết-chèn-tệp -->", re.DOTALL)


def _colab_module(root: Path):
    """scripts/colab.py: nguồn duy nhất của địa chỉ Colab."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("peft_course_colab", root / "scripts" / "colab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lessons_table(config) -> str:
    """Bảng các bài đang có trong docs/lessons/: số bài, tiêu đề (liên kết tới trang), nút mở trên Colab."""
    root = Path(config["config_file_path"]).parent
    colab = _colab_module(root)
    rows = ["| Bài | Nội dung | Colab |", "|---|---|---|"]
    for nb in sorted((Path(config["docs_dir"]) / "lessons").glob("*.ipynb")):
        first = "".join(json.loads(nb.read_text(encoding="utf-8"))["cells"][0]["source"])
        title = first.splitlines()[0].lstrip("# ").strip()
        number, _, topic = title.partition(" — ")
        url = colab.colab_url(f"notebooks/{nb.name}")
        rows.append(f"| {number.removeprefix('Bài ')} | [{topic or title}](lessons/{nb.name}) "
                    f"| [![Open In Colab]({LOCAL_BADGE})]({url}) |")
    return "\n".join(rows)


def include_files(markdown: str, config) -> str:
    """`<!-- chèn-tệp: đường/dẫn.md -->` … `<!-- hết-chèn-tệp -->`: nếu tệp (tính từ gốc kho) có thì thay
    phần giữa hai dấu bằng nội dung tệp (tiêu đề hạ một cấp, để trang chỉ có một tiêu đề cấp 1), không thì
    giữ phần giữa (lời nhắn tạm)."""
    root = Path(config["config_file_path"]).parent

    def replace(match: re.Match) -> str:
        path = root / match.group(1)
        if not path.is_file():
            return match.group(2)
        text = re.sub(r"^(#{1,5}) ", r"#\1 ", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
        return text + "\n"

    return INCLUDE_MARKER.sub(replace, markdown)


TIMINGS_MARKER = "<!-- thời-gian-bài -->"


def lesson_timings(config) -> str:
    """Số giây mỗi bài, hai phép đo kèm điều kiện: trên máy rảnh, các bài chạy lần lượt (bench/results/
    lesson_timings.json, đã commit) và của chính lần chạy đã tạo trang này (build/lessons/timings.json, thường cùng
    lúc với kiểm thử đơn vị). Cả hai do scripts/execute_lessons.py ghi; thiếu tệp nào thì nói rõ là chưa đo."""
    root = Path(config["config_file_path"]).parent
    sources = [("máy rảnh, từng bài một", root / "bench" / "results" / "lesson_timings.json"),
               ("lần dựng trang này", root / "build" / "lessons" / "timings.json")]
    found = [(label, json.loads(path.read_text(encoding="utf-8"))) for label, path in sources if path.is_file()]
    if not found:
        return ("*Chưa có số đo: `python scripts/execute_lessons.py` chạy mọi bài và ghi thời gian vào "
                "`build/lessons/timings.json`.*")
    names = sorted({name for _, data in found for name in data["lessons"]})
    rows = ["| bài | " + " | ".join(f"giây ({label})" for label, _ in found) + " |",
            "|---|" + "---:|" * len(found)]
    for name in names:
        cells = [f"{data['lessons'][name]:.0f}" if name in data["lessons"] else "–" for _, data in found]
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    notes = []
    for label, data in found:
        jobs = "các bài chạy lần lượt" if data.get("jobs", 1) == 1 else f"{data['jobs']} bài cùng lúc"
        notes.append(f"*{label}*: {jobs}, {data.get('omp_num_threads') or 'mặc định'} luồng torch, máy "
                     f"{data.get('cpu_count')} nhân, Python {data.get('python')}")
    note = ("Đo bằng `scripts/execute_lessons.py`: bộ đệm các lần chạy bắt đầu trống, các bài chạy theo thứ tự bài "
            "học (bài sau đọc lại lần chạy của bài trước). " + "; ".join(notes) + ". Lần dựng trang thường chạy cùng "
            "lúc với kiểm thử đơn vị, nên số của nó là cận trên. Một bài mở riêng trên Colab từ bộ đệm trống còn "
            "phải tự huấn luyện mốc của bài 0.")
    return "\n".join(rows) + "\n\n" + note


BENCH_FIGURES_MARKER = "<!-- hình-đo-đạc -->"
BENCH_DIR = "bench/results"
BENCH_CAPTIONS = {  # thứ tự trên trang: chất lượng, hội tụ, thời gian tới độ chính xác, bộ nhớ, dữ liệu nhỏ
    "pareto": "Độ chính xác test (trung bình ± độ lệch chuẩn qua seed) theo số tham số huấn luyện",
    "curves": "Độ chính xác validation theo bước của mọi phương pháp, mọi seed (đã phẳng hay chưa)",
    "time_to_accuracy": "Số bước và số giây tới 90% độ chính xác validation tốt nhất của tinh chỉnh toàn bộ",
    "memory": "Bộ nhớ một bước huấn luyện theo phần (đếm tensor, không phải RSS)",
    "small_data": "Dữ liệu nhỏ: LoRA và tinh chỉnh toàn bộ theo số ví dụ huấn luyện",
}


def bench_figures(config) -> str:
    """Các hình trong bench/results/ (on_post_build chép chúng sang site/bench/), theo thứ tự của BENCH_CAPTIONS."""
    root = Path(config["config_file_path"]).parent
    order = list(BENCH_CAPTIONS)
    pngs = sorted((root / BENCH_DIR).glob("*.png"),
                  key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
    parts = []
    for png in pngs:
        caption = BENCH_CAPTIONS.get(png.stem, png.stem)
        parts.append(f'<figure markdown><img src="../bench/{png.name}" alt="{caption}">'
                     f"<figcaption>{caption}</figcaption></figure>")
    return "\n\n".join(parts)


TEX = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]|\$\$(.+?)\$\$|(?<![\\$\w])\$([^$\n]+?)\$(?![\w$])", re.DOTALL)
TEX_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "Delta": "Δ", "theta": "θ", "lambda": "λ", "mu": "μ",
    "sigma": "σ", "eta": "η", "epsilon": "ε", "varepsilon": "ε", "phi": "φ", "pi": "π", "times": "×",
    "cdot": "·", "in": "∈", "approx": "≈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ll": "≪", "gg": "≫",
    "to": "→", "rightarrow": "→", "sum": "∑", "top": "ᵀ", "sqrt": "√", "infty": "∞", "neq": "≠", "odot": "⊙",
    "mathbb{R}": "ℝ", "ldots": "…", "dots": "…", "cdots": "…", "|": "‖", "nabla": "∇", "partial": "∂",
}


def tex_to_text(tex: str) -> str:
    """Công thức TeX thành chữ đọc được trong đoạn trích tìm kiếm: \\alpha → α, \\frac{a}{b} → a/b, bỏ lệnh khác."""
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
    text = re.sub(r"\\(mathbb\{R\}|[A-Za-z]+|\|)", lambda m: TEX_SYMBOLS.get(m.group(1), ""), text)
    text = re.sub(r"[{}]|\\[,;!: ]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def clean_search_text(text: str) -> str:
    return TEX.sub(lambda m: tex_to_text(next(g for g in m.groups() if g is not None)), text)


def on_post_build(config, **kwargs) -> None:
    import shutil

    root = Path(config["config_file_path"]).parent
    site = Path(config["site_dir"])
    index = site / "search" / "search_index.json"
    if index.is_file():  # plugin search viết chỉ mục trong on_post_build của nó, trước hook này
        data = json.loads(index.read_text(encoding="utf-8"))
        for doc in data["docs"]:
            doc["text"] = clean_search_text(doc["text"])
            doc["title"] = clean_search_text(doc["title"])
        index.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    for nb in sorted((Path(config["docs_dir"]) / "lessons").glob("*.ipynb")):  # đích của "tải notebook"
        (site / "lessons").mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, site / "lessons" / nb.name)
    pngs = sorted((root / BENCH_DIR).glob("*.png"))
    if pngs:
        target = Path(config["site_dir"]) / "bench"
        target.mkdir(parents=True, exist_ok=True)
        for png in pngs:
            shutil.copy2(png, target / png.name)


NOTEBOOK_LINK = re.compile(r"\]\(\.\./notebooks/([\w-]+)\.ipynb(#[^)]*)?\)")


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    """Liên kết `../notebooks/NN.ipynb` trong docs/*.md (đúng khi đọc trên GitHub) trỏ tới trang bài học;
    bài chưa dựng (build_docs.sh --only) thì trỏ tới notebook trên GitHub."""
    if "/" in page.file.src_uri:
        return markdown
    if LESSONS_MARKER in markdown:
        markdown = markdown.replace(LESSONS_MARKER, lessons_table(config))
    markdown = include_files(markdown, config)
    if TIMINGS_MARKER in markdown:
        markdown = markdown.replace(TIMINGS_MARKER, lesson_timings(config))
    if BENCH_FIGURES_MARKER in markdown:
        markdown = markdown.replace(BENCH_FIGURES_MARKER, bench_figures(config))
    docs_dir = Path(config["docs_dir"])

    def relink(match: re.Match) -> str:
        stem, fragment = match.group(1), match.group(2) or ""
        if (docs_dir / "lessons" / f"{stem}.ipynb").is_file():
            return f"](lessons/{stem}.ipynb{fragment})"
        return f"]({config['repo_url']}/blob/main/notebooks/{stem}.ipynb)"

    return NOTEBOOK_LINK.sub(relink, markdown)


CELL_TOOLBAR = re.compile(
    r'<div class="celltoolbar">\s*(?:<div class="button_container tags_button_container">\s*'
    r'<span class="tag-container">\s*<span class="cell-tag">[^<]*</span>\s*</span>\s*</div>\s*)*</div>')
COPY_BUTTON = '<div class="zeroclipboard-container">'
COPY_TEXT = '<div class="clipboard-copy-txt"'
LIVE_CELL = re.compile(r'(<div class="jp-Cell jp-CodeCell[^"]*\bcelltag_live-timing\b[^"]*" id="cell-id=[^"]*">)')
TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL)
LIVE_NOTE = ('<p class="peft-live-timing" data-search-exclude><strong>Số đo trực tiếp</strong> — đo lúc dựng '
             "trang, trên máy dựng (có thể đang bận): chỉ minh họa cách đo, <em>không</em> phải số liệu công bố. "
             'Số liệu công bố (một lần chạy bench, ghi rõ máy và ngày): <a href="{href}">So sánh đo đạc</a>.</p>')


def lesson_links(page, config) -> str:
    """Thanh liên kết đầu trang bài học: tải notebook, mở trên Colab, mã nguồn (.py) trên GitHub."""
    root = Path(config["config_file_path"]).parent
    name = Path(page.file.src_uri).name
    source = f"{config['repo_url']}/blob/main/notebooks/{Path(name).stem}.py"
    return ('<nav class="peft-lesson-links" data-search-exclude aria-label="Tải và mở bài học">'
            f'<a class="md-button" href="../{name}" download>⬇ tải notebook</a> '
            f'<a class="md-button" href="{escape(_colab_module(root).colab_url(f"notebooks/{name}"))}">'
            "▶ mở trên Colab</a> "
            f'<a class="md-button" href="{escape(source)}">mã nguồn (.py)</a></nav>')


def readable_notebook(html: str, page, config) -> str:
    """Bỏ thẻ ô; nút chép và bản mã thứ hai ra khỏi chỉ mục tìm kiếm; nhãn cho ô live-timing; bảng cuộn ngang."""
    html = CELL_TOOLBAR.sub("", html)
    html = html.replace(COPY_BUTTON, COPY_BUTTON[:-1] + " data-search-exclude>")
    html = html.replace(COPY_TEXT, COPY_TEXT + " data-search-exclude")
    comparison = posixpath.relpath("comparison", page.url.rstrip("/")) + "/"
    html = LIVE_CELL.sub(lambda m: m.group(1) + LIVE_NOTE.format(href=comparison), html)
    html = TABLE.sub(lambda m: f'<div class="peft-table-scroll" tabindex="0">{m.group(0)}</div>', html)
    h1 = re.search(r"</h1>", html)
    if h1:
        html = html[:h1.end()] + lesson_links(page, config) + html[h1.end():]
    return html


@lru_cache(maxsize=None)
def git_date(root: str, *paths: str) -> str | None:
    """Ngày của commit cuối cùng đụng tới `paths` (YYYY-MM-DD), đọc từ git cục bộ; None nếu không có git."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", *paths], cwd=root, capture_output=True,
                             text=True, timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def on_page_context(context, page, config, nav, **kwargs):
    """Ngày cập nhật (hiện cuối trang) và nút sửa trỏ tới nguồn thật của trang bài học."""
    root = str(Path(config["config_file_path"]).parent)
    src = page.file.src_uri
    if src.startswith("lessons/") and src.endswith(".ipynb"):
        stem = Path(src).stem
        paths = (f"notebooks/{stem}.py", f"notebooks/{stem}.ipynb")
        page.edit_url = f"{config['repo_url']}/edit/main/notebooks/{stem}.py"
    else:
        paths = (f"docs/{src}",)
    date = git_date(root, *paths)
    if date:
        page.meta["revision_date"] = date
    return context


def on_page_content(html: str, page, config, files, **kwargs) -> str:
    """Trang notebook: đặt lại neo các tiêu đề bằng slugify và dựng mục lục từ chúng; trình bày dễ đọc."""
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    html = readable_notebook(html, page, config)
    seen: dict[str, int] = {}
    flat: list[dict] = []

    def renumber(match: re.Match) -> str:
        level, _, attrs, inner = match.groups()
        name = re.sub(r"<[^>]+>", "", ANCHOR_LINK.sub("", inner)).strip()
        slug = slugify(name) or "muc"
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            slug = f"{slug}_{seen[slug]}"
        flat.append({"level": int(level), "id": slug, "name": unescape(name), "children": []})
        inner = ANCHOR_LINK.sub(f'<a class="headerlink" href="#{slug}" title="Liên kết cố định">¶</a>', inner)
        return f'<h{level} id="{slug}"{attrs}>{inner}</h{level}>'

    html = HEADING.sub(renumber, html)
    depth = config["plugins"]["mkdocs-jupyter"].config["toc_depth"]
    page.toc = get_toc(_nest([t for t in flat if t["level"] <= depth]))
    return html


def _nest(flat: list[dict]) -> list[dict]:
    roots: list[dict] = []
    stack: list[dict] = []
    for token in flat:
        while stack and stack[-1]["level"] >= token["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else roots).append(token)
        stack.append(token)
    return roots


def on_post_page(output: str, page, config, **kwargs) -> str:
    here = page.url.rstrip("/") if page.url.endswith("/") else posixpath.dirname(page.url)
    here = here or "."
    output = output.replace(COLAB_BADGE, posixpath.relpath(LOCAL_BADGE, here))
    if not page.file.src_uri.endswith(".ipynb"):
        return output
    output, n = MATHJAX2.subn("", output)
    if n != 1:
        raise RuntimeError(f"{page.file.src_uri}: không tìm thấy đúng một khối MathJax 2 để bỏ (thấy {n})")
    renderer = posixpath.relpath(WIDGET_RENDERER, here)
    return WIDGET_CDN.sub(f"var widgetRendererSrc = '{renderer}';", output)

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
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import unicodedata
from html import unescape
from pathlib import Path

from mkdocs.structure.toc import get_toc

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

log = logging.getLogger("mkdocs.hooks.peft_course")

WIDGET_RENDERER = "_vendor/html-manager/embed.js"

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
    for section in config["nav"] or []:
        if isinstance(section, dict) and "Bài học" in section:
            lessons = section["Bài học"]
            present = [p for p in lessons if (docs_dir / _path(p)).is_file()]
            for missing in sorted(set(map(_path, lessons)) - set(map(_path, present))):
                log.info("Chưa có bài %s: bỏ khỏi nav", missing)
            section["Bài học"] = present
    return config


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


BENCH_FIGURES_MARKER = "<!-- hình-đo-đạc -->"
BENCH_DIR = "bench/results"
BENCH_CAPTIONS = {
    "pareto": "Độ chính xác test theo số tham số huấn luyện",
    "memory": "Bộ nhớ khi huấn luyện",
    "time": "Thời gian mỗi bước",
}


def bench_figures(config) -> str:
    """Các hình trong bench/results/ (on_post_build chép chúng sang site/bench/)."""
    root = Path(config["config_file_path"]).parent
    parts = []
    for png in sorted((root / BENCH_DIR).glob("*.png")):
        caption = BENCH_CAPTIONS.get(png.stem, png.stem)
        parts.append(f'<figure markdown><img src="../bench/{png.name}" alt="{caption}">'
                     f"<figcaption>{caption}</figcaption></figure>")
    return "\n\n".join(parts)


def on_post_build(config, **kwargs) -> None:
    import shutil

    root = Path(config["config_file_path"]).parent
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
    if BENCH_FIGURES_MARKER in markdown:
        markdown = markdown.replace(BENCH_FIGURES_MARKER, bench_figures(config))
    docs_dir = Path(config["docs_dir"])

    def relink(match: re.Match) -> str:
        stem, fragment = match.group(1), match.group(2) or ""
        if (docs_dir / "lessons" / f"{stem}.ipynb").is_file():
            return f"](lessons/{stem}.ipynb{fragment})"
        return f"]({config['repo_url']}/blob/main/notebooks/{stem}.ipynb)"

    return NOTEBOOK_LINK.sub(relink, markdown)


def on_page_content(html: str, page, config, files, **kwargs) -> str:
    """Trang notebook: đặt lại neo các tiêu đề bằng slugify và dựng mục lục từ chúng."""
    if not page.file.src_uri.endswith(".ipynb"):
        return html
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

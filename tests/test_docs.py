"""Kiểm thử tài liệu: thuật ngữ nhất quán (luôn chạy) và trang web đã dựng trong site/ (liên kết, hình,
công thức được MathJax dựng, không tải gì từ mạng ngoài).

Các kiểm thử trên site/ cần `bash scripts/build_docs.sh` chạy trước (script đó dựng trang rồi chạy tệp
này); khi chưa có site/index.html chúng bị bỏ qua, trừ khi đặt PEFT_DOCS_REQUIRED=1 thì chúng thất bại.
Kiểm thử trình duyệt cần chromium; thiếu thì bị bỏ qua, trừ khi đặt PEFT_BROWSER_REQUIRED=1. scripts/test.sh đặt
cả hai sau khi dựng trang (biến thứ hai khi máy có chromium).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
SITE = ROOT / "site"
REJECTED_HEADING = "## Cách dịch không dùng"


# ---------------------------------------------------------------------------------------------------
# Thuật ngữ
# ---------------------------------------------------------------------------------------------------


def rejected_terms(glossary: Path = GLOSSARY) -> list[str]:
    """Đọc cột đầu của bảng dưới tiêu đề "Cách dịch không dùng" trong docs/glossary.md.

    Danh sách chỉ sống ở một nơi (trang thuật ngữ); thêm một dòng vào bảng là kiểm thử tự kiểm thêm.
    """
    text = unicodedata.normalize("NFC", glossary.read_text(encoding="utf-8"))
    section = text.split(REJECTED_HEADING, 1)[1]
    section = re.split(r"^## ", section, flags=re.MULTILINE)[0]
    terms = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or not cells[0] or set(cells[0]) <= set("-: "):
            continue
        if cells[0] == "Không dùng":  # dòng tiêu đề của bảng
            continue
        terms.append(cells[0])
    return terms


def checked_files() -> list[Path]:
    """Các tệp phải dùng đúng thuật ngữ (trang thuật ngữ tự nó nêu các cách bị loại nên được trừ ra)."""
    files = sorted(ROOT.glob("notebooks/*.py")) + sorted(ROOT.glob("docs/**/*.md"))
    files += sorted(ROOT.glob("peft_course/*.py")) + [ROOT / "README.md"]
    skip = {GLOSSARY, *ROOT.glob("docs/lessons/**/*")}
    return [f for f in files if f.is_file() and f not in skip]


def term_pattern(term: str) -> re.Pattern[str]:
    """Khớp cả cụm từ, không phân biệt hoa thường, không khớp giữa chừng một từ."""
    words = [re.escape(w) for w in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def test_glossary_lists_rejected_terms() -> None:
    terms = rejected_terms()
    assert len(terms) >= 5, terms
    assert "tinh chỉnh đầy đủ" in terms and "thứ hạng" in terms
    for term in terms:
        assert unicodedata.is_normalized("NFC", term), term


def test_term_pattern_matches_whole_words_only() -> None:
    pattern = term_pattern("thứ hạng")
    assert pattern.search("Chọn Thứ hạng r")
    assert pattern.search("thứ\nhạng")
    assert not pattern.search("thứ hạngx")
    assert not pattern.search("hạng thấp")


def test_no_rejected_terms_anywhere() -> None:
    patterns = {term: term_pattern(term) for term in rejected_terms()}
    problems = []
    for path in checked_files():
        text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8"))
        for term, pattern in patterns.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: '{match.group()}' (xem docs/glossary.md)")
    assert not problems, "Cách dịch không dùng:\n" + "\n".join(problems)


def test_docs_text_is_nfc() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for p in sorted(ROOT.glob("docs/**/*.md"))
        if not unicodedata.is_normalized("NFC", p.read_text(encoding="utf-8"))
    ]
    assert not bad, f"Không ở dạng NFC: {bad}"


# ---------------------------------------------------------------------------------------------------
# Trang đã dựng (site/)
# ---------------------------------------------------------------------------------------------------

LESSON_NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb"))


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        message = "Chưa dựng trang: chạy `bash scripts/build_docs.sh` trước"
        if os.environ.get("PEFT_DOCS_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return SITE


def lesson_page(site_dir: Path, notebook: Path) -> Path:
    return site_dir / "lessons" / notebook.stem / "index.html"


def test_every_notebook_is_in_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [nb.name for nb in LESSON_NOTEBOOKS if f"lessons/{nb.name}" not in nav]
    assert not missing, f"Thêm vào nav (mục 'Bài học') trong mkdocs.yml: {missing}"


@pytest.mark.parametrize("notebook", LESSON_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_a_page(site: Path, notebook: Path) -> None:
    page = lesson_page(site, notebook)
    assert page.is_file(), f"{notebook.name} chưa thành trang {page.relative_to(ROOT)}"
    html = page.read_text(encoding="utf-8")
    assert 'class="jp-Notebook"' in html
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" not in html, "còn MathJax 2 từ CDN"
    assert "widgetRendererSrc = 'https" not in html, "trình hiển thị widget còn trỏ tới CDN"
    assert not re.search(r'jp-(Input|Output)Prompt[^"]*">\s*(In|Out)\s*\[', html), "còn ô In [n]: / Out[n]:"
    assert 'class="cell-tag"' not in html, "thẻ ô (nbval-*, teach…) còn hiện trên trang"
    assert "tải notebook" in html and "colab.research.google.com/github/" in html, "thiếu liên kết tải / Colab"
    shown = site / "lessons" / notebook.name  # bản notebook mà trang hiện (đích của "tải notebook")
    assert shown.is_file(), f"thiếu {shown.relative_to(site)} cho liên kết tải notebook"
    cells = json.loads(shown.read_text(encoding="utf-8"))["cells"]
    live = sum("live-timing" in c.get("metadata", {}).get("tags", []) for c in cells)
    assert html.count('class="peft-live-timing"') == live, "mỗi ô live-timing phải mang nhãn số đo trực tiếp"
    assert re.search(r'md-source-file__fact.*?\d{4}-\d{2}-\d{2}', html, re.DOTALL), "thiếu ngày cập nhật (git)"
    assert f"edit/main/notebooks/{notebook.stem}.py" in html, "nút sửa phải trỏ tới notebooks/NN_*.py"


def test_search_index_snippets_are_clean(site: Path) -> None:
    """Đoạn trích tìm kiếm: không "Copied!", không "In [n]:", không TeX thô, mã không lặp hai lần."""
    docs = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))["docs"]
    problems = []
    for doc in docs:
        text = doc["text"]
        for bad in ("Copied!", "In [", "\\(", "\\[", "$$"):
            if bad in text:
                problems.append(f"{doc['location']}: {bad!r}")
        blocks = re.findall(r"<pre>(.*?)</pre>", text, re.DOTALL)
        plain = re.sub(r"<pre>.*?</pre>", "", text, flags=re.DOTALL)
        problems += [f"{doc['location']}: mã lặp hai lần" for b in blocks if len(b) > 40 and b.strip() in plain]
    assert not problems, "\n".join(sorted(set(problems))[:30])


# -- Hook và kiểm tra bài học (luôn chạy, không cần trang đã dựng) ------------------------------------

def load_hooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("peft_docs_hooks", ROOT / "docs" / "_tooling" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_cell(count, *outputs, tags=()):
    return {"cell_type": "code", "execution_count": count, "outputs": list(outputs), "source": "",
            "metadata": {"tags": list(tags)}}


def test_hook_finds_unexecuted_cells_errors_and_warnings() -> None:
    hooks = load_hooks()
    ok = {"cells": [code_cell(1), code_cell(2, {"output_type": "stream", "name": "stdout", "text": "acc 0.9"})]}
    assert hooks.lesson_problems(ok, "a.ipynb") == []
    unexecuted = {"cells": [code_cell(1), code_cell(None)]}
    assert "chưa chạy" in hooks.lesson_problems(unexecuted, "a.ipynb")[0]
    warned = {"cells": [code_cell(1, {"output_type": "stream", "name": "stderr",
                                      "text": "/x/modeling_utils.py:3312: FutureWarning: `a` is deprecated"})]}
    [problem] = hooks.lesson_problems(warned, "b.ipynb")
    assert "b.ipynb" in problem and "FutureWarning" in problem
    failed = {"cells": [code_cell(1, {"output_type": "error", "ename": "ValueError", "evalue": "x", "traceback": []})]}
    assert "ValueError" in hooks.lesson_problems(failed, "c.ipynb")[0]


def test_search_text_has_no_raw_tex() -> None:
    hooks = load_hooks()
    text = hooks.clean_search_text(r"ta có \(h = W_0 x + \frac{\alpha}{r} B A x\) với $x \in \mathbb{R}^d$, giá $5")
    assert text == "ta có h = W_0 x + (α)/(r) B A x với x ∈ ℝ^d, giá $5"


LESSON_HTML = """<h1 id="bai">Bài 3</h1>
<div class="jp-Cell jp-CodeCell jp-Notebook-cell celltag_live-timing celltag_nbval-ignore-output">
<div class="jp-Cell jp-CodeCell jp-Notebook-cell celltag_live-timing celltag_nbval-ignore-output" id="cell-id=ab12">
<div class="celltoolbar">
<div class="button_container tags_button_container">
<span class="tag-container">
<span class="cell-tag">live-timing</span>
</span>
</div>
</div>
<div class="zeroclipboard-container"><span class="notice" hidden="">Copied!</span></div>
<div class="clipboard-copy-txt" id="cell-1">print(t)</div>
<table><tr><td>1</td></tr></table>
</div></div>"""


def test_hook_makes_lesson_html_readable() -> None:
    from types import SimpleNamespace

    hooks = load_hooks()
    page = SimpleNamespace(url="lessons/03_lora/", file=SimpleNamespace(src_uri="lessons/03_lora.ipynb"))
    config = {"config_file_path": str(ROOT / "mkdocs.yml"), "repo_url": "https://github.com/o/r"}
    html = hooks.readable_notebook(LESSON_HTML, page, config)
    assert "cell-tag" not in html, "thẻ ô phải bị bỏ"
    assert html.count('class="peft-live-timing"') == 1, "đúng một nhãn cho ô live-timing (ô trong, có id)"
    assert 'href="../../comparison/"' in html
    assert '<div class="zeroclipboard-container" data-search-exclude>' in html
    assert '<div class="clipboard-copy-txt" data-search-exclude' in html
    assert '<div class="peft-table-scroll" tabindex="0"><table>' in html
    assert "tải notebook" in html and 'href="../03_lora.ipynb"' in html and "/notebooks/03_lora.py" in html


def minimal_docs_tree(tmp: Path, vendored: bool) -> Path:
    """Bản sao tối thiểu của cây tài liệu trong tmp: mkdocs.yml, docs/ (không bài học), pyproject, colab.py."""
    import shutil

    shutil.copy2(ROOT / "mkdocs.yml", tmp / "mkdocs.yml")
    shutil.copy2(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    (tmp / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "colab.py", tmp / "scripts" / "colab.py")
    shutil.copytree(ROOT / "docs", tmp / "docs", ignore=shutil.ignore_patterns("lessons", "_vendor"))
    if vendored:
        hooks = load_hooks()
        for asset in hooks.VENDORED:
            (tmp / "docs" / asset).parent.mkdir(parents=True, exist_ok=True)
            (tmp / "docs" / asset).write_text("/* giả */", encoding="utf-8")
    return tmp


@pytest.mark.parametrize("vendored", [False, True], ids=["thiếu-_vendor", "thiếu-bài-học"])
def test_plain_mkdocs_build_fails_naming_build_script(tmp_path: Path, vendored: bool) -> None:
    """`mkdocs build` gọi thẳng (không qua build_docs.sh) không được âm thầm dựng một trang thiếu."""
    import subprocess
    import sys

    pytest.importorskip("mkdocs_jupyter")
    tree = minimal_docs_tree(tmp_path, vendored)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env.pop("PEFT_DOCS_PARTIAL", None)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(tmp_path / "out")], cwd=tree,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "scripts/build_docs.sh" in proc.stdout + proc.stderr
    assert ("docs/lessons/" if vendored else "docs/_vendor/") in proc.stdout + proc.stderr


NOTEBOOK_SOURCES = sorted(ROOT.glob("notebooks/*.py"))
MAX_COLUMNS = 88


def code_lines(path: Path):
    """(số dòng, dòng) của các ô mã trong một notebook jupytext percent (bỏ qua ô markdown)."""
    in_code = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# %%"):
            in_code = "[markdown]" not in line and "[md]" not in line
            continue
        if in_code:
            yield number, line


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_notebook_code_fits_88_columns(source: Path) -> None:
    """Mã trong bài ≤ 88 cột (vừa cột nội dung của trang ở 1280 px, xem stylesheets/extra.css)."""
    long = [f"{source.name}:{n}: {len(line)} cột" for n, line in code_lines(source) if len(line) > MAX_COLUMNS]
    assert not long, f"{len(long)} dòng mã dài hơn {MAX_COLUMNS} cột:\n" + "\n".join(long[:40])


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_nbval_markers_are_tags_not_comments(source: Path) -> None:
    """nbval đọc thẻ ô (nbval-check-output, nbval-ignore-output, nbval-skip); chú thích # NBVAL_* chiếm chỗ
    trên trang."""
    found = [f"{source.name}:{n}" for n, line in code_lines(source) if line.lstrip().startswith("# NBVAL_")]
    assert not found, "Đổi chú thích thành thẻ ô (# %% tags=[\"nbval-ignore-output\"]):\n" + "\n".join(found)


class LinkCollector(HTMLParser):
    """Gom các địa chỉ mà trang trỏ tới (href/src) và các id có trong trang."""

    ATTRS = {("a", "href"), ("img", "src"), ("script", "src"), ("link", "href"), ("source", "src"),
             ("iframe", "src")}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (thẻ, địa chỉ)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for t, attr in self.ATTRS:
            if tag == t and attrs.get(attr):
                if tag == "link":  # <link rel="canonical"> chỉ là địa chỉ, không phải tài nguyên phải tải
                    tag = f"link rel={attrs.get('rel', '')}"
                self.links.append((tag, attrs[attr]))


def parse_html(path: Path) -> LinkCollector:
    collector = LinkCollector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def site_prefix() -> str:
    """Đường dẫn gốc của trang khi đưa lên mạng ([project.urls] Documentation), ví dụ "/peft-course/"."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return urlsplit(data["project"]["urls"]["Documentation"]).path


def resolve_in_site(site_dir: Path, page: Path, target: str) -> Path:
    path = unquote(urlsplit(target).path)
    base = page.parent
    if path.startswith("/"):  # 404.html dùng đường dẫn tuyệt đối theo site_url
        base, path = site_dir, path.removeprefix(site_prefix())
    resolved = (base / path.lstrip("/")).resolve()
    return resolved / "index.html" if resolved.is_dir() else resolved


def test_no_broken_internal_links_or_images(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    parsed = {p.resolve(): parse_html(p) for p in pages}
    broken = []
    for page, collector in parsed.items():
        for tag, target in collector.links:
            scheme = urlsplit(target).scheme
            if scheme in ("http", "https", "mailto", "data", "javascript"):
                continue
            url, fragment = urldefrag(target)
            where = f"{page.relative_to(site.resolve())}: <{tag}> {target}"
            resolved = resolve_in_site(site, page, url) if url else page
            if not resolved.is_file():
                broken.append(f"{where} (không có {resolved})")
            elif fragment and resolved.suffix == ".html" and tag == "a":
                ids = parsed[resolved].ids if resolved in parsed else parse_html(resolved).ids
                if unquote(fragment) not in ids:
                    broken.append(f"{where} (không có id #{fragment})")
    assert len(pages) >= 5
    assert not broken, "Liên kết hoặc ảnh hỏng:\n" + "\n".join(broken[:50])


def test_pages_load_nothing_from_other_hosts(site: Path) -> None:
    """Mọi script, stylesheet và ảnh được phục vụ từ chính trang (đọc được khi không có mạng)."""
    external = []
    for page in sorted(site.rglob("*.html")):
        for tag, target in parse_html(page).links:
            if tag in ("a", "link rel=canonical", "link rel=alternate"):
                continue
            if urlsplit(target).scheme in ("http", "https") or target.startswith("//"):
                external.append(f"{page.relative_to(site)}: <{tag}> {target}")
    assert not external, "\n".join(external[:30])


# -- Trình duyệt -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_site(site: Path):
    """site/ phục vụ bằng http.server trên 127.0.0.1, cổng ngẫu nhiên."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 43127 (http://127.0.0.1:43127/) ..."
    match = re.search(r"port (\d+)", line)
    assert match, f"http.server không khởi động: {line!r}"
    yield f"http://127.0.0.1:{match.group(1)}/"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from docs_browser import Browser, find_chromium

    executable = find_chromium()
    if executable is None:
        message = "Thiếu chromium (bash scripts/build_docs.sh cài nó trên Debian/Ubuntu)"
        if os.environ.get("PEFT_BROWSER_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    b = Browser(executable)
    yield b
    b.close()


@pytest.fixture(scope="module")
def screenshots():
    import tempfile

    return Path(tempfile.mkdtemp(prefix="peft-docs-screenshots-"))


# Chờ MathJax, phông chữ và widget; rồi trả về những gì kiểm thử cần biết về trang.
INSPECT_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  await document.fonts.ready;
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  for (let i = 0; i < 100 && views && document.querySelectorAll('.jupyter-widgets, .widget-subarea > *').length === 0; i++)
    await new Promise(r => setTimeout(r, 100));
  await new Promise(r => setTimeout(r, 200));
  await document.fonts.ready;
  const article = document.querySelector('article') || document.body;
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA', 'MJX-CONTAINER']);
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el && el !== article; el = el.parentElement)
        if (skip.has(el.tagName) || el.classList.contains('jp-OutputArea-output') && el.tagName !== 'DIV')
          return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT;
    }});
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.textContent;
    if (/\$\$|\\\(|\\\[|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$/.test(t)) raw.push(t.trim().slice(0, 120));
  }
  const imgs = [...article.querySelectorAll('img')].map(i => ({
    src: (i.getAttribute('src') || '').slice(0, 60), ok: i.complete && i.naturalWidth > 0}));
  // Hình: bề rộng hiển thị so với bề rộng đã vẽ (thuộc tính width của ảnh retina, hoặc số điểm ảnh).
  const shrunk = [];
  article.querySelectorAll('.jp-OutputArea-output img, .peft-pages img').forEach((img, i) => {
    if (!img.offsetParent || !img.naturalWidth) return;
    const drawn = parseFloat(img.getAttribute('width')) || img.naturalWidth;
    const ratio = img.getBoundingClientRect().width / drawn;
    if (ratio < 0.75) shrunk.push(`hình ${i + 1}: vẽ ${Math.round(drawn)} px, hiện ${Math.round(ratio * 100)}%`);
  });
  // Khối mã (ô mã, đầu ra văn bản, mã trong Markdown) rộng hơn chỗ của nó: phải cuộn ngang.
  const wide = [];
  article.querySelectorAll('pre').forEach(pre => {
    if (pre.offsetParent && pre.scrollWidth > pre.clientWidth + 1) {
      const kind = pre.closest('.jp-InputArea') ? 'mã' : pre.closest('.jp-OutputArea') ? 'đầu ra' : 'khối mã';
      const line = pre.textContent.split('\n').find(l => l.length * 7.2 > pre.clientWidth);
      wide.push(`${kind}: ${line || pre.textContent.slice(0, 60)}`.slice(0, 110));
    }
  });
  const truncated = [...article.querySelectorAll('.widget-label, .widget-label-basic, .widget-readout')]
    .filter(l => l.offsetParent && l.scrollWidth > l.clientWidth + 1).map(l => l.textContent.trim());
  const warnings = [...article.querySelectorAll('.jp-OutputArea-output')]
    .map(o => o.textContent).filter(t => /\b\w*Warning\b/.test(t)).map(t => t.trim().slice(0, 120));
  // Chữ tiếng Việt cần kiểm phông: một ít phần tử mỗi loại (văn bản, mã, đầu ra, nhãn widget). Mỗi phần tử nhận
  // một <span> vô hình chỉ chứa các chữ cái của nó (cùng phông kế thừa), để phép đo chỉ xét chữ, không xét ký
  // hiệu (→, ─, ×) mà phông chữ không có.
  const vi = /[ạảãàáâậầấẩẫăắằặẳẵẻẽèéêếềệểễịỉĩìíọỏõòóôốồộổỗơớờợởỡụủũùúưứừựửữỳýỵỷỹđ]/i;
  const letters = /[A-Za-zÀ-ÃÈ-ÊÌÍÒ-ÕÙÚÝà-ãè-êìíò-õùúýĂăĐđĨĩŨũƠơƯư\u0300-\u0303\u0309\u0323\u1EA0-\u1EF9]/g;
  let probes = 0;
  for (const sel of ['.md-typeset p', '.jp-InputArea pre', '.jp-OutputArea pre', '.widget-label', '.md-typeset li']) {
    let n = 0;
    for (const el of article.querySelectorAll(sel)) {
      if (n >= 3) break;
      if (el.offsetParent && vi.test(el.textContent) && !el.querySelector('mjx-container')) {
        const probe = document.createElement('span');
        probe.setAttribute('data-peft-probe', probes++);
        probe.setAttribute('style', 'position:absolute;left:-9999px;top:0;white-space:pre');
        probe.textContent = (el.textContent.match(letters) || []).join('').slice(0, 400);
        el.appendChild(probe); n++;
      }
    }
  }
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)));
  await document.fonts.ready;
  return {
    title: document.title,
    h1: (article.querySelector('h1') || {}).textContent || '',
    math: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    rawTex: raw, imgs: imgs, shrunk: shrunk, wide: wide, warnings: warnings, probes: probes, truncated: truncated,
    figures: article.querySelectorAll('.jp-OutputArea-output img').length,
    widgetViews: views,
    widgetsRendered: document.querySelectorAll('.jupyter-widgets').length,
  };
})()
"""


def scroll_to(browser, selector: str) -> bool:
    return bool(browser.evaluate(
        f"(() => {{ const el = document.querySelector({selector!r}); if (!el) return false;"
        " el.scrollIntoView({block: 'center'}); return true; })()"))


# Không trang nào được gọi api.github.com (partials/source.html đã thay; xem mkdocs.yml).
OPTIONAL_HOSTS: tuple[str, ...] = ()
WIDTHS = (1280, 390)
SELF_HOSTED = ("Inter", "JetBrains Mono")  # tên phông thật: "Inter", "Inter SemiBold"…


def broken_glyphs(browser, probes: int) -> list[str]:
    """Phần tử có chữ tiếng Việt được vẽ (dù chỉ một ký tự) bằng phông của hệ thống thay vì phông tự phục vụ."""
    bad = []
    for i in range(probes):
        fonts = browser.platform_fonts(f'[data-peft-probe="{i}"]')
        foreign = [f"{f['familyName']} ({f['glyphCount']} ký tự)" for f in fonts
                   if not f["isCustomFont"] or not f["familyName"].startswith(SELF_HOSTED)]
        if foreign:
            text = browser.evaluate(f"document.querySelector('[data-peft-probe=\"{i}\"]').parentElement"
                                    ".textContent.slice(0, 60)")
            bad.append(f"{text!r}: {foreign}")
    return bad


def check_page(browser, base_url: str, path: str, shots: Path, name: str, width: int = 1280) -> dict:
    browser.set_width(width)
    browser.open(base_url + path)
    info = browser.evaluate(INSPECT_JS)
    browser.screenshot(shots / f"{name}_{width}_top.png")
    foreign = [u for u in browser.requested_urls() if not u.startswith((base_url, *OPTIONAL_HOSTS))
               and urlsplit(u).scheme not in ("data", "blob")]
    assert not foreign, f"{path}: tải từ nơi khác (trang phải chạy không mạng): {foreign}"
    failures = [f for f in browser.failures() if not any(h in f for h in OPTIONAL_HOSTS)]
    assert not failures, f"{path}: " + "\n".join(failures)
    problems = []
    if info["mathErrors"]:
        problems.append("MathJax báo lỗi công thức")
    problems += [f"TeX chưa được dựng: {t}" for t in info["rawTex"]]
    problems += [f"ảnh không hiện: {i['src']}" for i in info["imgs"] if not i["ok"]]
    problems += [f"chữ Việt vẽ bằng phông hệ thống: {b}" for b in broken_glyphs(browser, info["probes"])]
    problems += [f"hình bị thu nhỏ dưới 75%: {s}" for s in info["shrunk"]]
    problems += [f"cảnh báo trong đầu ra: {w}" for w in info["warnings"]]
    problems += [f"nhãn widget bị cắt: {t!r}" for t in info["truncated"]]
    if width >= 1280:
        problems += [f"khối rộng hơn cột (cuộn ngang): {w}" for w in info["wide"]]
    assert not problems, f"{path} ở {width} px:\n" + "\n".join(problems[:40]) + (
        f"\n… và {len(problems) - 40} chỗ nữa" if len(problems) > 40 else "")
    return info


MARKDOWN_PAGES = ["", "glossary/", "comparison/", "instructor/", "references/"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", MARKDOWN_PAGES, ids=lambda p: p.strip("/") or "home")
def test_markdown_page_in_browser(site, served_site, browser, screenshots, capsys, path, width) -> None:
    with capsys.disabled():
        print(f"\nẢnh chụp trang: {screenshots}", end="")
    info = check_page(browser, served_site, path, screenshots, path.strip("/") or "home", width)
    assert info["h1"].strip()
    if path == "":
        assert "PEFT" in info["title"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("notebook", LESSON_NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_page_in_browser(site, served_site, browser, screenshots, notebook, width) -> None:
    assert lesson_page(site, notebook).is_file(), f"{notebook.name} chưa thành trang"
    info = check_page(browser, served_site, f"lessons/{notebook.stem}/", screenshots, notebook.stem, width)
    assert info["h1"].startswith("Bài"), info["h1"]
    assert info["math"] > 0, f"{notebook.name}: không có công thức nào được MathJax dựng"
    assert info["figures"] > 0, f"{notebook.name}: không có hình nào trong đầu ra"
    if info["widgetViews"]:
        assert info["widgetsRendered"] > 0, f"{notebook.name}: widget không được hiển thị từ trạng thái đã lưu"
    for selector, suffix in (("mjx-container[display=\"true\"]", "math"), (".jp-OutputArea-output img", "figure"),
                             (".jupyter-widgets", "widget"), (".peft-table-scroll", "table")):
        if scroll_to(browser, selector):
            browser.screenshot(screenshots / f"{notebook.stem}_{width}_{suffix}.png")


PROBE_TEXT = "Thiết lập tham số hồi quy"


def test_vietnamese_code_uses_self_hosted_font(site, served_site, browser) -> None:
    """Một ô mã chứa "Thiết lập tham số hồi quy": mọi ký tự được vẽ bằng JetBrains Mono tải từ chính trang."""
    browser.set_width(1280)
    browser.open(served_site + f"lessons/{LESSON_NOTEBOOKS[0].stem}/")
    browser.evaluate(f"""(async () => {{
      const host = document.querySelector('.jp-InputArea-editor .highlight-ipynb');
      const pre = document.createElement('pre'); pre.id = 'peft-font-probe';
      pre.innerHTML = '<span class="c1"># {PROBE_TEXT}</span>';
      host.appendChild(pre);
      await new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)));
      await document.fonts.ready;
    }})()""")
    fonts = browser.platform_fonts("#peft-font-probe")
    assert fonts, "không đọc được phông của ô thử"
    assert all(f["isCustomFont"] and f["familyName"] == "JetBrains Mono" for f in fonts), fonts
    loaded = browser.evaluate("[...document.fonts].filter(f => f.family.replace(/\"/g, '') === 'JetBrains Mono'"
                              " && f.status === 'loaded').map(f => f.unicodeRange).join(' ')")
    assert "U+1EA0-1EF9" in loaded, f"tập con vietnamese của JetBrains Mono chưa được nạp: {loaded}"
    assert sum(f["glyphCount"] for f in fonts) >= len(PROBE_TEXT.replace(" ", ""))


# Thanh trượt của widget vẽ sẵn (peft_course.widgets): kéo nó phải đổi hình đang hiện, không cần kernel.
SLIDER_JS = """(() => {
  const box = [...document.querySelectorAll('.widget-vbox')].find(b => b.querySelector('.peft-pages'));
  if (!box) return null;
  box.scrollIntoView({block: 'center'});
  const handle = box.querySelector('.noUi-handle, .ui-slider-handle');
  const shown = [...box.querySelectorAll('.peft-pages img')].findIndex(i => i.offsetParent);
  const r = handle.getBoundingClientRect();
  return {x: r.x + r.width / 2, y: r.y + r.height / 2, shown: shown,
          track: box.querySelector('.noUi-target, .ui-slider').getBoundingClientRect().width};
})()"""
VISIBLE_FIGURE_JS = """(() => {
  const box = [...document.querySelectorAll('.widget-vbox')].find(b => b.querySelector('.peft-pages'));
  return [...box.querySelectorAll('.peft-pages img')].findIndex(i => i.offsetParent);
})()"""


def test_slider_changes_prerendered_figure(site, served_site, browser) -> None:
    browser.set_width(1280)
    tried = []
    for notebook in LESSON_NOTEBOOKS:
        browser.open(served_site + f"lessons/{notebook.stem}/")
        browser.evaluate(INSPECT_JS)
        slider = browser.evaluate(SLIDER_JS)
        if slider is None:
            tried.append(notebook.stem)
            continue
        assert slider["shown"] >= 0, f"{notebook.stem}: widget vẽ sẵn không hiện hình nào"
        browser.drag(slider["x"], slider["y"], slider["track"] / 2)
        import time

        time.sleep(0.5)
        after = browser.evaluate(VISIBLE_FIGURE_JS)
        assert after >= 0 and after != slider["shown"], f"{notebook.stem}: kéo thanh trượt, hình không đổi"
        return
    pytest.fail(f"Không trang nào có widget vẽ sẵn (peft_course.widgets.knob_explorer): {tried}")


def test_search_without_accents_finds_lora_lesson(site, served_site, browser) -> None:
    """Người đọc gõ không dấu: "hang thap" phải tìm thấy bài LoRA ("hạng thấp")."""
    import time

    browser.set_width(1280)
    browser.open(served_site)
    browser.evaluate("document.querySelector('.md-search__input').focus()")
    browser.type_text("hang thap")
    hrefs: list[str] = []
    for _ in range(50):
        time.sleep(0.2)
        hrefs = browser.evaluate("[...document.querySelectorAll('.md-search-result__item a')].map(a => a.href)")
        if hrefs:
            break
    assert any("lessons/03_lora" in h for h in hrefs), f"kết quả tìm 'hang thap': {hrefs[:10]}"

"""Nút "Open in Colab" và ô thiết lập của mọi notebook, sinh từ một nguồn duy nhất.

Địa chỉ kho lấy từ [project.urls] Repository trong pyproject.toml; tag (hoặc commit) mà Colab cài gói và
nhánh mà nút Colab mở lấy từ [tool.peft-course] colab-ref / colab-branch. Hai ô đầu của mỗi notebook
(cả .ipynb lẫn .py cặp của nó) phải đúng như CONTRIBUTING.md mô tả:

1. ô markdown: `# Bài N — …` (N là số ở đầu tên tệp) và dòng nút Colab trỏ tới chính tệp đó;
2. ô mã thiết lập, đúng nguyên văn `setup_cell()`.

    python scripts/colab.py --check   # thoát 1 và liệt kê chỗ sai nếu có notebook lệch
    python scripts/colab.py --fix     # viết lại nút và ô thiết lập (giữ nguyên mọi ô khác và đầu ra)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*$", re.MULTILINE)
SETUP_FIRST_LINE = "# Thiết lập:"


def blob_pattern(cfg: dict[str, str]) -> re.Pattern:
    """Mọi địa chỉ Colab mở một tệp của kho (nút Colab, hằng COLAB_URL trong ô mã); nhóm 2 là nhánh."""
    slug = cfg["repo"].removeprefix("https://github.com/")
    return re.compile(r"(colab\.research\.google\.com/github/" + re.escape(slug) + r"/blob/)([^/\s\"')]+)/")


def retarget(text: str, cfg: dict[str, str]) -> str:
    """Đổi nhánh trong mọi địa chỉ Colab của `text` thành nhánh của cấu hình."""
    return blob_pattern(cfg).sub(lambda m: m.group(1) + cfg["branch"] + "/", text)


def settings(root: Path = ROOT) -> dict[str, str]:
    """Địa chỉ kho, tag cài trên Colab và nhánh mở notebook, đọc từ pyproject.toml."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    tool = data["tool"]["peft-course"]
    repo = data["project"]["urls"]["Repository"].rstrip("/")
    if not repo.startswith("https://github.com/"):
        raise SystemExit(f"Repository phải là một kho trên GitHub (Colab mở từ đó), nhận: {repo!r}")
    return {"repo": repo, "ref": tool["colab-ref"], "branch": tool["colab-branch"]}


def colab_url(notebook: str, cfg: dict[str, str] | None = None) -> str:
    """Địa chỉ Colab mở notebook (đường dẫn tương đối từ gốc kho, ví dụ notebooks/03_lora.ipynb)."""
    cfg = cfg or settings()
    slug = cfg["repo"].removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{cfg['branch']}/{notebook}"


def badge_line(notebook: str, cfg: dict[str, str] | None = None) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook, cfg)})"


def setup_cell(cfg: dict[str, str] | None = None) -> str:
    """Ô thiết lập: trên Colab chỉ cài peft_course ghim theo tag; không đụng tới torch, numpy, ipywidgets."""
    cfg = cfg or settings()
    return (
        f"{SETUP_FIRST_LINE} trên Colab cài gói peft_course (ghim phiên bản); nơi khác không làm gì.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    pkg = "peft-course @ git+{cfg["repo"]}@{cfg["ref"]}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", pkg], check=True)'
    )


def lesson_number(path: Path) -> int:
    match = re.match(r"(\d+)_", path.name)
    if not match:
        raise SystemExit(f"{path}: tên notebook phải bắt đầu bằng số bài, ví dụ 03_lora.ipynb")
    return int(match.group(1))


def notebooks(root: Path = ROOT) -> list[Path]:
    """Mọi notebook và tệp .py cặp của chúng trong notebooks/."""
    return sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "notebooks").glob("*.py"))


# -- đọc ô ------------------------------------------------------------------------------------------

def read_cells(path: Path) -> list[tuple[str, str]]:
    """(loại ô, nội dung) của các ô; .py đọc bằng jupytext."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [(c["cell_type"], "".join(c["source"])) for c in cells]
    import jupytext

    return [(c.cell_type, c.source) for c in jupytext.read(path).cells]


def problems(path: Path, cfg: dict[str, str] | None = None, root: Path = ROOT) -> list[str]:
    """Những chỗ hai ô đầu của `path` khác với quy ước; rỗng nếu đúng."""
    cfg = cfg or settings(root)
    rel = path.relative_to(root).as_posix()
    cells = read_cells(path)
    out = []
    if len(cells) < 2:
        return [f"{rel}: cần ít nhất hai ô (tiêu đề + nút Colab, ô thiết lập)"]
    (kind0, first), (kind1, second) = cells[0], cells[1]
    number = lesson_number(path)
    if kind0 != "markdown" or not first.startswith(f"# Bài {number} — "):
        out.append(f"{rel}: ô đầu phải là markdown bắt đầu bằng '# Bài {number} — '")
    expected_badge = badge_line(Path(rel).with_suffix(".ipynb").as_posix(), cfg)
    badges = BADGE_LINE.findall(first)
    if badges != [expected_badge]:
        out.append(f"{rel}: ô đầu cần đúng một nút Colab:\n    {expected_badge}\n  thấy: {badges}")
    if kind1 != "code" or second.strip() != setup_cell(cfg):
        out.append(f"{rel}: ô thứ hai phải là ô thiết lập đúng nguyên văn (python scripts/colab.py --fix)")
    stray = sorted({m.group(2) for _, source in cells[1:] for m in blob_pattern(cfg).finditer(source)}
                   - {cfg["branch"]})
    if stray:
        out.append(f"{rel}: địa chỉ Colab trong các ô sau trỏ nhánh {stray}, cần nhánh {cfg['branch']!r}")
    return out


# -- sửa ô ------------------------------------------------------------------------------------------

def fixed_markdown(first: str, badge: str) -> str:
    if BADGE_LINE.search(first):
        return BADGE_LINE.sub(lambda _: badge, first, count=1)
    lines = first.split("\n")
    return "\n".join([lines[0], "", badge, *lines[1:]]).rstrip("\n")


def fix_ipynb(path: Path, cfg: dict[str, str], root: Path = ROOT) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    badge = badge_line(path.relative_to(root).as_posix(), cfg)
    first = "".join(cells[0]["source"])
    cells[0]["source"] = fixed_markdown(first, badge).splitlines(keepends=True)
    setup = setup_cell(cfg).splitlines(keepends=True)
    if len(cells) > 1 and cells[1]["cell_type"] == "code" and "".join(cells[1]["source"]).startswith(SETUP_FIRST_LINE):
        cells[1]["source"] = setup
    else:
        import uuid

        cells.insert(1, {"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8],
                         "metadata": {}, "outputs": [], "source": setup})
    for cell in cells[2:]:
        source = "".join(cell["source"])
        if retarget(source, cfg) != source:
            cell["source"] = retarget(source, cfg).splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def fix_py(path: Path, cfg: dict[str, str], root: Path = ROOT) -> None:
    """Sửa thẳng trên văn bản jupytext percent để không đổi gì khác trong tệp."""
    text = path.read_text(encoding="utf-8")
    badge = badge_line(path.relative_to(root).with_suffix(".ipynb").as_posix(), cfg)
    commented_badge = re.compile(r"^# \[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)[ \t]*$", re.MULTILINE)
    if commented_badge.search(text):
        text = commented_badge.sub(lambda _: "# " + badge, text, count=1)
    else:
        title = re.search(r"^# %% \[markdown\]\n# # .*\n", text, re.MULTILINE)
        if not title:
            raise SystemExit(f"{path}: không tìm thấy ô tiêu đề '# %% [markdown]' / '# # Bài …'")
        text = text[: title.end()] + "#\n# " + badge + "\n" + text[title.end():]
    setup = "# %%\n" + setup_cell(cfg) + "\n"
    block = re.compile(r"^# %%\n" + re.escape(SETUP_FIRST_LINE) + r".*?(?=^# %%)", re.MULTILINE | re.DOTALL)
    if block.search(text):
        text = block.sub(lambda _: setup + "\n", text, count=1)
    else:  # chèn ngay sau ô markdown đầu tiên
        second = [m.start() for m in re.finditer(r"^# %%", text, re.MULTILINE)][1]
        text = text[:second] + setup + "\n" + text[second:]
    path.write_text(retarget(text, cfg), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true", help="chỉ kiểm tra, thoát 1 nếu có chỗ sai")
    group.add_argument("--fix", action="store_true", help="viết lại nút Colab và ô thiết lập")
    args = parser.parse_args(argv)
    cfg = settings()
    paths = notebooks()
    if args.fix:
        for path in paths:
            if problems(path, cfg):
                (fix_ipynb if path.suffix == ".ipynb" else fix_py)(path, cfg)
                print(f"Đã sửa {path.relative_to(ROOT)}")
    bad = [p for path in paths for p in problems(path, cfg)]
    print("\n".join(bad) if bad else f"{len(paths)} tệp: nút Colab và ô thiết lập đúng ({cfg['repo']}@{cfg['ref']}).")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""Vệ sinh văn bản của cả kho: UTF-8, NFC, không mojibake, LaTeX không vỡ, liên kết và ảnh nội bộ tồn tại."""

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT = {".py", ".md", ".ipynb", ".txt", ".json", ".jsonl", ".yml", ".yaml", ".toml", ".cfg", ".sh", ".html", ".css"}
# UTF-8 đọc nhầm thành Latin-1/cp1252 (viết bằng mã thoát để chính tệp này không bị bắt):
MOJIBAKE = ("\u00c3\u00a1", "\u00c3 ", "\u00c3\u00a9", "\u00e1\u00ba", "\u00e1\u00bb", "\u00c4\u2018",
            "\u00c6\u00b0", "\u00e2\u20ac", "\u00c6\u00a1", "\u00f0\u0178", "\ufffd")


# tokenizer.json lưu từ vựng BPE mức byte: mỗi byte UTF-8 thành một ký tự riêng (hai byte của "ợ" thành hai ký tự Latin-1),
# nên nó *trông* như mojibake một cách có chủ ý; nó không phải văn bản cho người đọc.
BYTE_LEVEL = {"peft_course/assets/model/tokenizer.json"}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.splitlines()
            if Path(f).suffix in TEXT and (ROOT / f).is_file() and f not in BYTE_LEVEL]


FILES = tracked_files()


def test_there_are_files_to_check():
    assert len(FILES) > 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_utf8_nfc_no_mojibake(path):
    text = path.read_bytes().decode("utf-8")  # UnicodeDecodeError = không phải UTF-8
    assert unicodedata.is_normalized("NFC", text), f"{path}: chưa chuẩn hóa NFC"
    hits = [m for m in MOJIBAKE if m in text]
    assert not hits, f"{path}: có dấu hiệu mojibake {hits}"


def markdown_texts():
    """(tệp, đoạn markdown) của docs/*.md, README và các ô markdown của notebook."""
    import json

    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if path.exists():
            yield path, path.read_text(encoding="utf-8")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        yield nb, "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path,text", list(markdown_texts()), ids=lambda x: x.name if isinstance(x, Path) else "")
def test_latex_is_not_broken(path, text):
    body = re.sub(r"```.*?```", "", text, flags=re.S)  # bỏ khối mã
    body = re.sub(r"`[^`\n]*`", "", body)
    assert body.count("$$") % 2 == 0, f"{path}: số dấu $$ lẻ"
    inline = re.sub(r"\$\$.*?\$\$", "", body, flags=re.S).replace(r"\$", "")
    assert inline.count("$") % 2 == 0, f"{path}: số dấu $ lẻ (công thức trong dòng không đóng)"
    for bad in (r"\[", r"\]", r"\(", r"\)"):
        assert bad not in inline, f"{path}: dùng {bad}; khóa học dùng $...$ và $$...$$"
    for block in re.findall(r"\$\$(.*?)\$\$", body, flags=re.S):
        assert block.count("{") == block.count("}"), f"{path}: ngoặc nhọn không cân trong {block[:60]!r}"


@pytest.mark.parametrize("path,text", list(markdown_texts()), ids=lambda x: x.name if isinstance(x, Path) else "")
def test_internal_links_and_images_resolve(path, text):
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.exists(), f"{path}: liên kết hỏng tới {target}"

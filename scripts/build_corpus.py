#!/usr/bin/env python3
"""Dựng kho văn bản tiếng Việt sạch để tiền huấn luyện, từ các gói Debian.

Các gói được tải bằng `apt-get download` vào WORKDIR/debs/ rồi giải nén bằng
`dpkg-deb -x` vào WORKDIR/unpacked/TÊN/; không đọc bất kỳ tệp nào đã cài trên máy.
Kết quả (UTF-8, NFC, mỗi dòng một đoạn) nằm trong OUT/:
  debian_train.txt  – văn bản huấn luyện (giấy phép MPL-2.0 / MIT theo đề bài),
  unseen.txt        – Sổ tay Cài đặt Debian (chỉ để đánh giá, không huấn luyện),
  sources.json      – phiên bản, giấy phép và thống kê của từng gói.
Chạy lại nhiều lần cho cùng kết quả; tệp .deb đã tải được dùng lại.
"""
import argparse, gettext, html, json, re, shutil, subprocess, unicodedata, zipfile
from html.parser import HTMLParser
from pathlib import Path

# Xếp theo tên để thứ tự khử trùng lặp luôn cố định.
TRAIN = ["firefox-esr-l10n-vi", "libreoffice-help-vi", "libreoffice-l10n-vi",
         "maint-guide-vi", "thunderbird-l10n-vi"]
UNSEEN = ["installation-guide-amd64"]
REPO = Path(__file__).resolve().parent.parent
BLOCK_TAGS = {"p", "div", "li", "td", "th", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
              "h6", "br", "tr", "table", "ul", "ol", "dl", "blockquote", "caption", "hr"}
SKIP_TAGS = {"head", "script", "style", "pre", "noscript", "footer"}
VOID_TAGS = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr"}
VI_ONLY_BASES = {"a": {"\u0306", "\u0302"}, "e": {"\u0302"}, "o": {"\u0302", "\u031b"},
                 "u": {"\u031b"}}


def _vi_only_letters():
    """Tập các chữ cái chỉ tiếng Việt có: ă â đ ê ô ơ ư và các dạng mang dấu thanh."""
    letters = {"đ", "Đ"}
    for code in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        nfd = unicodedata.normalize("NFD", chr(code))
        if VI_ONLY_BASES.get(nfd[0].lower(), set()) & set(nfd[1:]):
            letters.add(chr(code))
    return frozenset(letters)


VI_ONLY = _vi_only_letters()


def fetch_deb(name, debs):
    """Tải NAME_*.deb vào thư mục debs (dùng lại tệp đã có); chạy apt-get update nếu cần."""
    found = sorted(debs.glob(f"{name}_*.deb"))
    if found:
        return found[-1]
    if subprocess.run(["apt-get", "download", name], cwd=debs).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(["apt-get", "download", name], cwd=debs, check=True)
    return sorted(debs.glob(f"{name}_*.deb"))[-1]


def unpack_deb(deb, dest):
    """Giải nén gói bằng dpkg-deb -x (bỏ qua nếu đã giải nén xong trước đó)."""
    marker = dest / ".unpacked"
    if not marker.exists() or marker.read_text() != deb.name:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
        marker.write_text(deb.name)


def deb_version(deb):
    """Phiên bản Debian chính xác của gói, đọc bằng dpkg-deb -f."""
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                          capture_output=True, text=True).stdout.strip()


def read_license(root, name):
    """Giấy phép của khổ 'Files: *' trong debian/copyright, hoặc đoán từ văn bản tự do."""
    text = (root / "usr/share/doc" / name / "copyright").read_text(errors="replace")
    for stanza in re.split(r"\n\s*\n", text):
        if re.search(r"^Files:\s*\*\s*$", stanza, re.M):
            found = re.search(r"^License:\s*(.+)$", stanza, re.M)
            if found:
                return found.group(1).strip()
    if re.search(r"GNU GPL, version 2|GPL-2", text):
        later = re.search(r"or \(?at your option\)? any later", text)
        return "GPL-2.0-or-later" if later else "GPL-2.0"
    return "UNKNOWN"


class BlockText(HTMLParser):
    """Gom chữ HTML theo khối; bỏ phần đầu, mã, chân trang và biến thể ẩn (trừ mặc định)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks, self.buf, self.stack = [], [], []

    def flush(self):
        self.blocks.append("".join(self.buf))
        self.buf.clear()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in VOID_TAGS:
            hidden = "hidden" in attrs and not (attrs.get("id") or "").startswith("default")
            self.stack.append((tag, tag in SKIP_TAGS or hidden))
        if tag in BLOCK_TAGS:
            self.flush()

    def handle_endtag(self, tag):
        while any(t == tag for t, _ in self.stack) and self.stack.pop()[0] != tag:
            pass
        if tag in BLOCK_TAGS:
            self.flush()

    def handle_data(self, data):
        if not any(skip for _, skip in self.stack):
            self.buf.append(data)


def html_blocks(path):
    """Các khối văn bản của một tệp HTML (đã bỏ thẻ)."""
    parser = BlockText()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    parser.flush()
    return parser.blocks


def ftl_values(text, terms):
    """Giá trị của các thông điệp Fluent (.ftl); với biểu thức chọn chỉ giữ biến thể mặc định."""
    values, current, in_select, keep = [], None, False, True
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        head = re.match(r"^\s*(-?[\w.-]+)\s*=\s?(.*)$", line)
        variant = re.match(r"^\s*(\*?)\[[\w-]+\]\s*(.*)$", line)
        if in_select and variant:
            keep = bool(variant.group(1))
            current.append(variant.group(2) if keep else "")
        elif in_select and line.strip() == "}":
            in_select, keep = False, True
        elif head and (not line[0].isspace() or head.group(1).startswith(".")):
            current = [head.group(2)]
            values.append(current)
        elif current is not None and keep:
            current.append(line.strip())
        if current is not None and re.search(r"->\s*$", line):
            current[-1] = re.sub(r"\{[^{}]*->\s*$", "", current[-1])
            in_select = True
    joined = (" ".join(v) for v in values)
    return [re.sub(r"\{\s*(-[\w-]+)\s*\}", lambda m: terms.get(m.group(1), ""), v)
            for v in joined]


def properties_values(text):
    """Giá trị của tệp .properties (giải mã \\uXXXX, tách dạng số nhiều bằng ';')."""
    values = []
    for value in re.findall(r"^\s*[^#!\s][^=:]*?\s*[=:]\s*(.*)$", text, re.M):
        value = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), value)
        values.extend(value.replace("\\n", "\n").split(";"))
    return values


def dtd_values(text, entities):
    """Giá trị thực thể <!ENTITY ...> của tệp .dtd, thay các thực thể thương hiệu đã biết."""
    values = re.findall(r"<!ENTITY\s+\S+\s+\"([^\"]*)\"\s*>", text)
    return [re.sub(r"&([\w.-]+);", lambda m: entities.get(m.group(1), m.group(0)), v)
            for v in values]


def xpi_texts(xpi):
    """Các chuỗi giao diện trong gói ngôn ngữ .xpi (Fluent, .properties, .dtd)."""
    with zipfile.ZipFile(xpi) as zf:
        members = sorted(n for n in zf.namelist() if n.endswith((".ftl", ".properties", ".dtd")))
        files = {n: zf.read(n).decode("utf-8", errors="replace") for n in members}
    terms = {k: v for n, t in files.items() if n.endswith(".ftl")  # -brand-short-name = Firefox
             for k, v in re.findall(r"^(-[\w-]+)\s*=\s*([^{}\n]+?)\s*$", t, re.M)}
    entities = {k: v for n, t in files.items() if n.endswith(".dtd")
                for k, v in re.findall(r"<!ENTITY\s+(\S+)\s+\"([^\"&]*)\"\s*>", t)}
    for name, text in files.items():
        if name.endswith(".ftl"):
            yield from ftl_values(text, terms)
        elif name.endswith(".dtd"):
            yield from dtd_values(text, entities)
        else:
            yield from properties_values(text)


def mo_texts(path):
    """Các msgstr của một danh mục gettext .mo (bỏ phần đầu siêu dữ liệu)."""
    with path.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog
    return [v for k, v in sorted(catalog.items(), key=lambda kv: str(kv[0])) if k and v]


def strip_ui_markup(text):
    """Bỏ giữ chỗ ({ $x }, %S, %1$s, $(ARG1), $1, %TÊN%, &thực_thể;), thẻ HTML, phím tắt ~ và &."""
    text = html.unescape(text.replace("%PRODUCTNAME", "LibreOffice"))
    text = re.sub(r"<[^>]*>|\{[^{}]*\}|&[\w.#-]+;", " ", text)
    text = re.sub(r"%(\d+\$)?[sSdDuUf@]|%\w+%|%[A-Z_]{2,}|%\d+|\$\(\w+\)|\$[\w-]+\$|\$\d+|#\d+",
                  " ", text)
    text = re.sub(r"[~&](?=\w)", "", text)
    text = re.sub(r"\(\s*\)|“\s*”|‘\s*’|«\s*»|\"\s*\"|'\s*'", " ", text)
    return re.sub(r"[ \t]+([,.;:!?…])", r"\1", text)


def raw_texts(name, root):
    """Văn bản thô của một gói (mỗi phần tử là một khối/chuỗi), theo thứ tự tệp cố định."""
    html_dirs = {"libreoffice-help-vi": ("usr/share/libreoffice/help/vi", "*.html"),
                 "maint-guide-vi": ("usr/share/doc/maint-guide-vi/html", "*.vi.html"),
                 UNSEEN[0]: (f"usr/share/doc/{UNSEEN[0]}/vi", "*.html")}
    if name in html_dirs:
        folder, pattern = html_dirs[name]
        for path in sorted((root / folder).rglob(pattern)):
            yield from html_blocks(path)
        return
    texts = ((t for p in sorted(root.rglob("*.mo")) for t in mo_texts(p))
             if name == "libreoffice-l10n-vi" else
             (t for x in sorted(root.rglob("*.xpi")) for t in xpi_texts(x)))
    for text in texts:
        yield from strip_ui_markup(text).split("\n")


def normalise(text):
    """Chuẩn hoá NFC và gộp mọi khoảng trắng thành một dấu cách."""
    text = text.replace("$[officename]", "LibreOffice")
    return " ".join(unicodedata.normalize("NFC", text).split())


def has_diacritic(word):
    """Từ có dấu tiếng Việt: có ký tự mang dấu kết hợp (theo NFD) hoặc đ/Đ."""
    return any(c in "đĐ" or any(unicodedata.combining(m) for m in unicodedata.normalize("NFD", c))
               for c in word)


def looks_like_code(segment):
    """Đoạn chủ yếu là mã, đường dẫn, URL hoặc ký hiệu (không phải văn xuôi)."""
    words = segment.split()
    code = sum(bool(re.search(r"://|[/\\_=<>{}\[\]$@|`]|\w\(|^--?\w|\w\.\w+\.|^\W+$", w))
               for w in words)
    letters = sum(c.isalpha() for c in segment)
    return code > 0.3 * len(words) or letters < 0.6 * len(segment.replace(" ", ""))


def is_clean_vietnamese(segment):
    """Giữ đoạn >= 3 từ, >= 30% từ có dấu, có chữ riêng của tiếng Việt, không phải mã."""
    words = segment.split()
    if len(words) < 3 or not VI_ONLY.intersection(segment):
        return False
    return sum(map(has_diacritic, words)) >= 0.3 * len(words) and not looks_like_code(segment)


def drop_foreign_sentences(segment):
    """Bỏ những câu chưa dịch (>= 4 từ mà không từ nào có dấu) nằm lẫn trong một đoạn."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z\"“(«])", segment)
    keep = (s for s in sentences if len(s.split()) < 4 or any(map(has_diacritic, s.split())))
    return " ".join(keep)


def segments(name, root):
    """Các đoạn sạch (chưa khử trùng lặp) của một gói."""
    for raw in raw_texts(name, root):
        segment = drop_foreign_sentences(normalise(raw))
        if is_clean_vietnamese(segment):
            yield segment


def build_source(name, role, workdir, seen):
    """Tải, giải nén, trích và khử trùng lặp một gói; trả về (các đoạn giữ lại, thông tin)."""
    debs = workdir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = fetch_deb(name, debs)
    root = workdir / "unpacked" / name
    unpack_deb(deb, root)
    kept = []
    for segment in segments(name, root):
        if segment not in seen:
            seen.add(segment)
            kept.append(segment)
    info = {"name": name, "version": deb_version(deb), "license": read_license(root, name),
            "role": role, "segments": len(kept), "words": sum(len(s.split()) for s in kept),
            "bytes": sum(len(s.encode()) + 1 for s in kept)}
    return kept, info


def main():
    """Dựng toàn bộ kho văn bản, ghi tệp kết quả và in bảng tóm tắt."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "work/corpus")
    ap.add_argument("--workdir", type=Path, default=REPO / "work")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seen, texts, infos = set(), {"train": [], "unseen": []}, []
    for name, role in [(n, "train") for n in TRAIN] + [(n, "unseen") for n in UNSEEN]:
        kept, info = build_source(name, role, args.workdir, seen)
        texts[role] += kept
        infos.append(info)
    for role, filename in [("train", "debian_train.txt"), ("unseen", "unseen.txt")]:
        (args.out / filename).write_text("".join(s + "\n" for s in texts[role]), encoding="utf-8")
    (args.out / "sources.json").write_text(json.dumps(infos, ensure_ascii=False, indent=2) + "\n",
                                           encoding="utf-8")
    print(f"{'gói':28} {'vai trò':7} {'giấy phép':26} {'đoạn':>7} {'từ':>8} {'byte':>9}")
    for i in infos:
        print(f"{i['name']:28} {i['role']:7} {i['license'][:26]:26} {i['segments']:>7} "
              f"{i['words']:>8} {i['bytes']:>9}")
        if i["role"] == "train" and not re.match(r"(MPL-2\.0|MIT)\b", i["license"]):
            print(f"  CẢNH BÁO: giấy phép của {i['name']} không phải MPL-2.0/MIT")
    train_mb = sum(i["bytes"] for i in infos if i["role"] == "train") / 1e6
    print(f"Tổng văn bản huấn luyện: {train_mb:.2f} MB")


if __name__ == "__main__":
    main()

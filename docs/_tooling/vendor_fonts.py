"""Chép phông chữ tự phục vụ (gói npm @fontsource) sang docs/_vendor/fonts/ và viết fonts.css.

Chỉ giữ các tập con latin, latin-ext, vietnamese và greek (đủ mọi chữ tiếng Việt dựng sẵn lẫn dấu rời), định dạng
woff2, các độ đậm trong WEIGHTS. Gọi từ scripts/build_docs.sh:

    python docs/_tooling/vendor_fonts.py build/docs-npm/node_modules docs/_vendor/fonts
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

FONTS = {"inter": ("400", "400-italic", "600", "700"), "jetbrains-mono": ("400", "700")}
SUBSETS = ("latin", "latin-ext", "vietnamese", "greek")  # greek: α, β, θ trong mã và đầu ra
BLOCK = re.compile(r"/\* (?P<name>[\w-]+) \*/\s*(?P<body>@font-face \{.*?\})", re.DOTALL)
SOURCE = re.compile(r"src: url\(\./files/(?P<file>[\w.-]+\.woff2)\) format\('woff2'\)[^;]*;")


def vendor(node_modules: Path, target: Path) -> list[str]:
    """Viết target/fonts.css và chép các tệp woff2 nó trỏ tới; trả về tên các tệp đã chép."""
    target.mkdir(parents=True, exist_ok=True)
    css, copied = ["/* Sinh bởi docs/_tooling/vendor_fonts.py từ @fontsource (SIL OFL 1.1); không sửa tay. */"], []
    for package, styles in FONTS.items():
        root = node_modules / "@fontsource" / package
        shutil.copy2(root / "LICENSE", target / f"LICENSE-{package}.txt")
        for style in styles:
            for match in BLOCK.finditer((root / f"{style}.css").read_text(encoding="utf-8")):
                subset = match["name"].removeprefix(f"{package}-").rsplit("-", 2)[0]
                if subset not in SUBSETS:
                    continue
                source = SOURCE.search(match["body"])
                if source is None:
                    raise SystemExit(f"{package}/{style}.css: không thấy tệp woff2 trong {match['name']}")
                shutil.copy2(root / "files" / source["file"], target / source["file"])
                copied.append(source["file"])
                css.append(SOURCE.sub(f"src: url(./{source['file']}) format('woff2');", match["body"]))
    missing = [f"{p}:{s}" for p in FONTS for s in SUBSETS if not any(f.startswith(f"{p}-{s}-") for f in copied)]
    if missing:
        raise SystemExit(f"Thiếu tập con phông chữ: {missing}")
    (target / "fonts.css").write_text("\n".join(css) + "\n", encoding="utf-8")
    return copied


if __name__ == "__main__":
    files = vendor(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"Phông chữ: {len(files)} tệp woff2 trong {sys.argv[2]}")

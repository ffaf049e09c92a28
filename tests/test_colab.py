"""Nút Colab và ô thiết lập của mọi notebook khớp với địa chỉ kho và tag trong pyproject.toml."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("colab", ROOT / "scripts" / "colab.py")
colab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab)

NOTEBOOK_FILES = colab.notebooks()


def test_there_are_notebooks() -> None:
    assert any(p.suffix == ".ipynb" for p in NOTEBOOK_FILES), "notebooks/ chưa có bài nào"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_badge_and_setup_cell_match_pyproject(path: Path) -> None:
    bad = colab.problems(path)
    assert not bad, "\n".join(bad) + "\nSửa: python scripts/colab.py --fix"


def _pyproject(root: Path = ROOT) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def test_settings_come_from_pyproject(tmp_path: Path) -> None:
    """settings() đọc pyproject.toml, không có giá trị viết sẵn: đổi tệp thì kết quả đổi theo."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    cfg = colab.settings()
    data = _pyproject()
    tool = data["tool"]["peft-course"]
    assert cfg == {"repo": data["project"]["urls"]["Repository"].rstrip("/"),
                   "ref": tool["colab-ref"], "branch": tool["colab-branch"]}
    other = text.replace(f'colab-ref = "{cfg["ref"]}"', 'colab-ref = "v9.9.9"').replace(
        f'colab-branch = "{cfg["branch"]}"', 'colab-branch = "thu-nghiem"').replace(
        cfg["repo"], "https://github.com/someone/fork")
    (tmp_path / "pyproject.toml").write_text(other, encoding="utf-8")
    changed = colab.settings(tmp_path)
    assert changed == {"repo": "https://github.com/someone/fork", "ref": "v9.9.9", "branch": "thu-nghiem"}
    assert colab.colab_url("notebooks/03_lora.ipynb", changed) == (
        "https://colab.research.google.com/github/someone/fork/blob/thu-nghiem/notebooks/03_lora.ipynb")
    assert "git+https://github.com/someone/fork@v9.9.9" in colab.setup_cell(changed)


def test_colab_tag_is_the_package_version() -> None:
    """Colab cài gói ở tag colab-ref; nếu đó là một tag phiên bản thì phải là phiên bản của chính gói này."""
    data = _pyproject()
    ref = data["tool"]["peft-course"]["colab-ref"]
    if ref.startswith("v"):
        assert ref == f"v{data['project']['version']}", "đổi version thì đổi colab-ref (python scripts/colab.py --fix)"


def test_setup_cell_installs_only_the_pinned_package() -> None:
    cfg = colab.settings()
    cell = colab.setup_cell()
    assert f'"peft-course @ git+{cfg["repo"]}@{cfg["ref"]}"' in cell
    assert "google.colab" in cell
    for forbidden in ("-U", "--upgrade", "torch", "numpy", "ipywidgets", "!pip"):
        assert forbidden not in cell, forbidden
    compile(cell, "setup", "exec")


def test_setup_cell_matches_contributing() -> None:
    """CONTRIBUTING.md trích nguyên văn ô thiết lập; hai nơi phải giống nhau."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    import re
    import textwrap

    block = re.search(r"^( *)```python\n(.*?)^\1```", text, re.MULTILINE | re.DOTALL)
    assert block, "CONTRIBUTING.md không còn trích ô thiết lập"
    assert textwrap.dedent(block.group(2)).strip() == colab.setup_cell()
    assert colab.badge_line("notebooks/NN_ten.ipynb") in text


def test_repository_url_is_defined_once() -> None:
    """Địa chỉ kho chỉ viết trong pyproject.toml (và được sinh vào notebook, CONTRIBUTING), không ở mkdocs.yml."""
    assert "github.com/peft-course" not in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


@pytest.fixture()
def broken_copy(tmp_path: Path) -> Path:
    """Một bản sao nhỏ của kho với notebook đầu tiên bị làm sai nút Colab và ô thiết lập."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    nb = sorted((ROOT / "notebooks").glob("*.ipynb"))[0]
    shutil.copy(nb, tmp_path / "notebooks")
    shutil.copy(nb.with_suffix(".py"), tmp_path / "notebooks")
    return tmp_path


def _cells_after_setup(path: Path) -> list[tuple[str, str]]:
    return colab.read_cells(path)[2:]


def test_fix_repairs_wrong_badge_and_ref(broken_copy: Path) -> None:
    cfg = colab.settings(broken_copy)
    for path in colab.notebooks(broken_copy):
        before = _cells_after_setup(path)
        text = path.read_text(encoding="utf-8")
        text = text.replace(f"blob/{cfg['branch']}/", "blob/khac/").replace(f"@{cfg['ref']}", "@v0.0.0-cu")
        path.write_text(text, encoding="utf-8")
        found = colab.problems(path, cfg, broken_copy)
        assert any("nút Colab" in p for p in found) and any("ô thiết lập" in p for p in found)
        if "COLAB" in "".join(src for _, src in colab.read_cells(path)[2:]):  # hằng COLAB_URL trong ô mã
            assert any("trỏ nhánh ['khac']" in p for p in found)
        (colab.fix_ipynb if path.suffix == ".ipynb" else colab.fix_py)(path, cfg, broken_copy)
        assert colab.problems(path, cfg, broken_copy) == []
        assert _cells_after_setup(path) == before


def test_fix_inserts_missing_badge_and_setup(broken_copy: Path) -> None:
    cfg = colab.settings(broken_copy)
    nb_path = next(p for p in colab.notebooks(broken_copy) if p.suffix == ".ipynb")
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    outputs = [c.get("outputs") for c in nb["cells"][2:]]
    nb["cells"][0]["source"] = nb["cells"][0]["source"][:1]  # chỉ còn tiêu đề
    del nb["cells"][1]  # mất ô thiết lập
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    assert len(colab.problems(nb_path, cfg, broken_copy)) == 2
    colab.fix_ipynb(nb_path, cfg, broken_copy)
    assert colab.problems(nb_path, cfg, broken_copy) == []
    fixed = json.loads(nb_path.read_text(encoding="utf-8"))
    assert [c.get("outputs") for c in fixed["cells"][2:]] == outputs

    py_path = nb_path.with_suffix(".py")
    text = py_path.read_text(encoding="utf-8")
    badge = next(line for line in text.splitlines() if "Open In Colab" in line)
    start = text.index("# %%\n# Thiết lập:")
    end = text.index("# %%", start + 4)
    broken = (text[:start] + text[end:]).replace("#\n" + badge + "\n", "")
    assert badge not in broken
    py_path.write_text(broken, encoding="utf-8")
    assert len(colab.problems(py_path, cfg, broken_copy)) == 2
    colab.fix_py(py_path, cfg, broken_copy)
    assert colab.problems(py_path, cfg, broken_copy) == []
    assert py_path.read_text(encoding="utf-8") == text

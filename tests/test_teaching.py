"""Một nguồn cho mã dạy học: bản tối giản mà mỗi bài tự xây bằng bản trong `peft_course`, chứng minh bằng phép thử.

Mỗi bài xây phương pháp của mình từ đầu trong các ô có thẻ `teach` (jupytext: `# %% tags=["teach"]`). Kiểm thử
này đọc `notebooks/NN_*.py` (không cần kernel), chạy các câu lệnh `import`, `def`, `class` của những ô đó trong
một không gian tên riêng (phần còn lại của ô là phần minh họa của bài, không chạy ở đây), rồi với từng cặp khai
báo trong `PAIRS` chứng minh bản tự xây bằng bản trong gói: cùng trọng số, cùng đầu vào ⇒ cùng đầu ra (đến sai số
làm tròn) và cùng số tham số huấn luyện. Mọi lớp/hàm trong một ô `teach` phải có mặt trong `PAIRS` hoặc trong
`UNPAIRED` (kèm lý do): mã dạy học mới không thể lặng lẽ trở thành bản sao thứ hai khác đi.
"""

from __future__ import annotations

import ast
import copy
import functools
from collections.abc import Callable
from pathlib import Path

import jupytext
import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from peft_course import count_parameters

ROOT = Path(__file__).resolve().parents[1]
TEACH = "teach"
ATOL = 1e-5


# -- đọc các ô teach ----------------------------------------------------------------------------------------

def lesson_path(lesson: str) -> Path:
    """notebooks/NN_*.py của bài `lesson` ("03" hoặc "03_lora")."""
    found = sorted((ROOT / "notebooks").glob(f"{lesson}*.py"))
    assert len(found) == 1, f"cần đúng một notebooks/{lesson}*.py, thấy {found}"
    return found[0]


def code_cells(path: Path) -> list:
    return [c for c in jupytext.read(path).cells if c.cell_type == "code"]


def teach_cells(path: Path) -> list[str]:
    """Nguồn các ô mã có thẻ `teach`, theo thứ tự trong bài."""
    return [c.source for c in code_cells(path) if TEACH in c.metadata.get("tags", [])]


def _statements(source: str, kinds: tuple[type, ...]) -> list[ast.stmt]:
    """Các câu lệnh cấp ngoài cùng thuộc `kinds` (ô có dòng magic `%…` được bỏ dòng đó)."""
    clean = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    return [node for node in ast.parse(clean).body if isinstance(node, kinds)]


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def teach_names(lesson: str) -> list[str]:
    """Tên các lớp/hàm mà các ô `teach` của bài định nghĩa."""
    return [node.name for src in teach_cells(lesson_path(lesson)) for node in _statements(src, DEFINITIONS)]


@functools.cache
def _namespace(lesson: str) -> dict:
    path = lesson_path(lesson)
    ns: dict = {"__name__": f"teach_{lesson}"}
    imports = [node for cell in code_cells(path) for node in _statements(cell.source, (ast.Import, ast.ImportFrom))]
    exec(compile(ast.Module(body=imports, type_ignores=[]), f"{path.name}:imports", "exec"), ns)
    for src in teach_cells(path):
        defs = _statements(src, (ast.Import, ast.ImportFrom, *DEFINITIONS))
        exec(compile(ast.Module(body=defs, type_ignores=[]), f"{path.name}:teach", "exec"), ns)
    return ns


def teach(lesson: str, **globals_) -> dict:
    """Không gian tên chứa các lớp/hàm của các ô `teach` (bản sao mới), cộng các biến toàn cục mà chúng đọc."""
    ns = dict(_namespace(lesson))
    ns.update(globals_)
    # hàm trong ô đọc biến toàn cục qua __globals__ của chính chúng: trỏ chúng vào bản sao này
    for name, obj in list(ns.items()):
        if callable(obj) and getattr(obj, "__globals__", None) is _namespace(lesson):
            ns[name] = type(obj)(obj.__code__, ns, obj.__name__, obj.__defaults__, obj.__closure__)
            ns[name].__kwdefaults__ = obj.__kwdefaults__
    return ns


# -- tiện ích so sánh ----------------------------------------------------------------------------------------

def trainable(model: nn.Module) -> int:
    return count_parameters(model).trainable


def trainable_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def randomize(module: nn.Module, names: tuple[str, ...], seed: int = 0, std: float = 0.05) -> None:
    """Cho các tham số có tên chứa một trong `names` giá trị ngẫu nhiên (ở bước 0 mọi bản đều bằng mô hình nền)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in module.named_parameters():
            if any(key in n for key in names):
                p.copy_(torch.randn(p.shape, generator=g) * std)


def same_state(source: nn.Module, target: nn.Module) -> None:
    """Chép mọi tham số/bộ đệm của `source` vào `target`; hai bên phải có đúng cùng các tên."""
    missing, unexpected = target.load_state_dict(source.state_dict(), strict=False)
    assert not missing and not unexpected, f"tên trạng thái khác nhau: thiếu {missing}, thừa {unexpected}"


def inputs(tokenizer):
    return tokenizer(["Phản hồi: thầy dạy rất dễ hiểu\nCảm xúc:", "Phản hồi: phòng học nóng\nCảm xúc:"],
                     return_tensors="pt", padding=True)


def assert_same_model(ours: nn.Module, pkg: nn.Module, tok, base: nn.Module | None = None) -> None:
    x = inputs(tok)
    with torch.no_grad():
        got, want = ours(**x).logits, pkg(**x).logits
        torch.testing.assert_close(got, want, rtol=0, atol=ATOL)
        if base is not None:  # so sánh có nội dung: các bản đã khác mô hình nền
            assert (got - base(**x).logits).abs().max() > 1e-3
    assert trainable(ours) == trainable(pkg)


# -- bài 0: tinh chỉnh toàn bộ -------------------------------------------------------------------------------

def pair_gpt2_parameters(base, tok) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    ns = teach("00")
    cfg = base.config
    total = count_parameters(base).total
    assert ns["gpt2_parameters"](cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.n_positions) == total
    tiny = GPT2Config(n_embd=48, n_layer=3, n_head=4, vocab_size=101, n_positions=40)
    with torch.device("meta"):
        other = GPT2LMHeadModel(tiny)
    assert ns["gpt2_parameters"](48, 3, 101, 40) == count_parameters(other).total


def pair_tensor_bytes(base, tok) -> None:
    from peft_course.costs import tensor_bytes

    ns = teach("00")
    groups = [list(base.parameters()), [torch.zeros(3, 5, dtype=torch.float16), torch.zeros(7, dtype=torch.int8)], []]
    for tensors in groups:
        assert ns["tensor_bytes"](tensors) == tensor_bytes(tensors)
    assert ns["tensor_bytes"](groups[1]) == 3 * 5 * 2 + 7


# -- bài 1: BitFit -------------------------------------------------------------------------------------------

def pair_query_bias(base, tok) -> None:
    from peft_course.bitfit import BiasDelta

    ns = teach("01")
    d = base.config.n_embd
    c_attn = base.transformer.h[0].attn.c_attn
    ours = ns["QueryBias"](copy.deepcopy(c_attn), d)
    pkg = BiasDelta(copy.deepcopy(c_attn), size=d)
    randomize(ours, ("delta",))
    with torch.no_grad():
        pkg.delta.copy_(ours.delta)
    for m in (ours, pkg):
        m.base_layer.requires_grad_(False)
    x = torch.randn(2, 5, d, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(x), pkg(x), rtol=0, atol=ATOL)
    assert not torch.allclose(ours(x), c_attn(x))
    assert trainable(ours) == trainable(pkg) == d


def pair_query_bitfit(base, tok) -> None:
    from peft_course.bitfit import BiasDelta, BitFitConfig, apply_bitfit

    ns = teach("01")
    d, L = base.config.n_embd, base.config.n_layer
    ours = ns["query_bitfit"](copy.deepcopy(base))
    pkg = copy.deepcopy(base)
    apply_bitfit(pkg, BitFitConfig("attention_query"))
    randomize(ours, ("delta",))
    with torch.no_grad():
        for mine, theirs in zip(ours.transformer.h, pkg.transformer.h):
            assert isinstance(theirs.attn.c_attn, BiasDelta)
            theirs.attn.c_attn.delta.copy_(mine.attn.c_attn.delta)
    assert trainable(ours) == d * L
    assert_same_model(ours, pkg, tok, base)


# -- bài 2: adapter ------------------------------------------------------------------------------------------

def pair_adapter(base, tok) -> None:
    from peft_course.adapter import BottleneckAdapter

    ns = teach("02")
    ours, pkg = ns["Adapter"](192, 16), BottleneckAdapter(192, 16)
    randomize(ours, ("up",))
    same_state(ours, pkg)
    h = torch.randn(2, 7, 192, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(h), pkg(h), rtol=0, atol=ATOL)
    assert not torch.allclose(ours(h), h)
    assert trainable(ours) == trainable(pkg)


def pair_adapter_size(base, tok) -> None:
    from peft_course.adapter import BottleneckAdapter

    ns = teach("02")
    for d, r in ((192, 16), (768, 48), (64, 1)):
        assert ns["adapter_size"](d, r) == trainable(BottleneckAdapter(d, r)), (d, r)


def pair_with_adapter(base, tok) -> None:
    from peft_course.adapter import AdaptedLayer, BottleneckAdapter

    ns = teach("02")
    c_proj = base.transformer.h[1].mlp.c_proj
    ours = ns["WithAdapter"](copy.deepcopy(c_proj), ns["Adapter"](192, 8))
    pkg = AdaptedLayer(copy.deepcopy(c_proj), BottleneckAdapter(192, 8))
    randomize(ours, ("adapter.up",))
    same_state(ours, pkg)
    x = torch.randn(2, 5, c_proj.weight.shape[0], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(x), pkg(x), rtol=0, atol=ATOL)


def pair_insert_adapters(base, tok, placement: str = "houlsby") -> None:
    from peft_course.adapter import AdapterConfig, apply_adapters

    ns = teach("02")
    ours = ns["insert_adapters"](copy.deepcopy(base), 8, placement)
    pkg = copy.deepcopy(base)
    apply_adapters(pkg, AdapterConfig(r=8, placement=placement))
    randomize(ours, ("adapter.up",))
    same_state(ours, pkg)
    assert trainable_names(ours) == trainable_names(pkg)
    assert_same_model(ours, pkg, tok, base)


# -- bài 3: LoRA ---------------------------------------------------------------------------------------------

def _lora_pair(ns, layer: nn.Module, r: int, alpha: float, rslora: bool):
    from peft_course.lora import LoRAConfig, LoRALinear

    ours = ns["LoRALinear"](copy.deepcopy(layer), r=r, alpha=alpha, rslora=rslora)
    pkg = LoRALinear(copy.deepcopy(layer), LoRAConfig(r=r, alpha=alpha, rslora=rslora, target_modules=["x"]))
    randomize(ours, ("lora_B",))
    same_state(ours, pkg)
    return ours, pkg


def pair_lora_linear(base, tok) -> None:
    ns = teach("03")
    torch.manual_seed(0)
    layers = {"Conv1D": base.transformer.h[0].attn.c_attn, "nn.Linear": nn.Linear(24, 40)}
    for kind, layer in layers.items():
        n_in = layer.weight.shape[0] if isinstance(layer, Conv1D) else layer.in_features
        x = torch.randn(3, n_in, generator=torch.Generator().manual_seed(1))
        for rslora in (False, True):
            ours, pkg = _lora_pair(ns, layer, 4, 8.0, rslora)
            assert ours.scaling == pytest.approx(pkg.scaling), kind
            torch.testing.assert_close(ours(x), pkg(x), rtol=0, atol=ATOL)
            torch.testing.assert_close(ours.delta_weight(), pkg.delta_weight(), rtol=0, atol=1e-7)
            assert not torch.allclose(ours(x), layer(x)), kind
            assert trainable(ours) == trainable(pkg) == 4 * (ours.lora_A.shape[1] + ours.lora_B.shape[0])


def pair_merge_unmerge(base, tok) -> None:
    ns = teach("03")
    layer = base.transformer.h[2].mlp.c_fc
    ours, pkg = _lora_pair(ns, layer, 8, 16.0, False)
    x = torch.randn(2, 5, 192, generator=torch.Generator().manual_seed(1))
    ns["merge"](ours)
    pkg.merge()
    torch.testing.assert_close(ours.base_layer.weight, pkg.base_layer.weight, rtol=0, atol=1e-7)
    torch.testing.assert_close(ours(x), pkg(x), rtol=0, atol=ATOL)
    ns["unmerge"](ours)
    pkg.unmerge()
    torch.testing.assert_close(ours.base_layer.weight, pkg.base_layer.weight, rtol=0, atol=1e-7)
    assert ours.merged is pkg.merged is False


def pair_add_lora(base, tok) -> None:
    from peft_course.lora import LoRAConfig, apply_lora

    ns = teach("03")
    targets = ["c_attn", "c_proj", "c_fc"]
    ours, pkg = copy.deepcopy(base), copy.deepcopy(base)
    names = ns["add_lora"](ours, targets, r=4, alpha=8)
    assert sorted(names) == sorted(apply_lora(pkg, LoRAConfig(r=4, alpha=8, target_modules=targets)))
    randomize(ours, ("lora_B",))
    same_state(ours, pkg)
    assert trainable_names(ours) == trainable_names(pkg)
    assert_same_model(ours, pkg, tok, base)


# -- bài 4: DoRA ---------------------------------------------------------------------------------------------

def pair_dora_linear(base, tok) -> None:
    from peft_course.dora import DoRALinear
    from peft_course.lora import LoRAConfig

    ns = teach("04")
    c_attn = base.transformer.h[0].attn.c_attn
    cfg = LoRAConfig(r=8, alpha=16, target_modules=["c_attn"])
    ours, pkg = ns["DoRALinear"](copy.deepcopy(c_attn), cfg), DoRALinear(copy.deepcopy(c_attn), cfg)
    x = torch.randn(2, 5, 192, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours.magnitude, pkg.magnitude, rtol=0, atol=ATOL)  # m = ‖W₀‖ ở bước 0
    randomize(ours, ("lora_B",))
    with torch.no_grad():
        ours.magnitude.mul_(1 + 0.05 * torch.randn(ours.magnitude.shape, generator=torch.Generator().manual_seed(2)))
    same_state(ours, pkg)
    torch.testing.assert_close(ours(x), pkg(x), rtol=0, atol=ATOL)
    assert not torch.allclose(ours(x), c_attn(x))
    assert trainable(ours) == trainable(pkg) == 8 * (192 + 576) + 576


# -- bài 5: prefix tuning ------------------------------------------------------------------------------------

def _shape(base) -> dict:
    cfg = base.config
    return {"L": cfg.n_layer, "H": cfg.n_head, "d": cfg.n_embd}


def pair_prefix_table(base, tok) -> None:
    from peft_course.prefix import Prefix

    ns, s = teach("05"), _shape(base)
    ours, pkg = ns["MyPrefix"](5, s["L"], s["H"], s["d"]), Prefix(5, s["L"], s["H"], s["d"])
    same_state(ours, pkg)
    for layer in range(s["L"]):
        for a, b in zip(ours.layer_kv(layer), pkg.layer_kv(layer)):
            assert torch.equal(a, b)
    assert trainable(ours) == trainable(pkg) == 5 * 2 * s["L"] * s["d"]


def pair_prefix_attention(base, tok) -> None:
    from peft_course.prefix import Prefix, prefix_attention

    ns, s = teach("05"), _shape(base)
    h, dh = s["H"], s["d"] // s["H"]
    prefix = Prefix(3, s["L"], h, s["d"])
    fake = nn.Module()
    fake.prefix_kv = functools.partial(prefix.layer_kv, 1)
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, h, 6, dh, generator=g)  # 6 token mới sau 3 token trong bộ đệm
    k, v = torch.randn(2, h, 9, dh, generator=g), torch.randn(2, h, 9, dh, generator=g)
    padded = torch.ones(6, 9, dtype=torch.bool).tril(3)[None, None].repeat(2, 1, 1, 1)
    padded[1, ..., :2] = False  # hai token đệm bên trái ở câu thứ hai
    for mask in (None, padded):
        ours, _ = ns["my_prefix_attention"](fake, q, k, v, mask, scaling=dh ** -0.5)
        pkg, _ = prefix_attention(fake, q, k, v, mask, scaling=dh ** -0.5)
        torch.testing.assert_close(ours, pkg, rtol=0, atol=ATOL)


def pair_apply_prefix(base, tok) -> None:
    from peft_course.prefix import PrefixConfig, apply_prefix

    ns = teach("05")  # my_apply_prefix tự đăng ký hàm attention và đọc L, H, d từ model.config
    ours = ns["my_apply_prefix"](copy.deepcopy(base), 5)
    pkg = copy.deepcopy(base)
    apply_prefix(pkg, PrefixConfig(num_virtual_tokens=5))
    with torch.no_grad():
        pkg.prefix.weight.copy_(ours.prefix.weight)
    assert trainable_names(ours) == trainable_names(pkg) == {"prefix.weight"}
    assert_same_model(ours, pkg, tok, base)


# -- khai báo các cặp ----------------------------------------------------------------------------------------
# bài → {tên trong ô teach: (bản trong gói, phép thử)}. Một phép thử có thể phủ vài tên.
PAIRS: dict[str, dict[str, tuple[str, Callable]]] = {
    "00": {
        "gpt2_parameters": ("peft_course.count_parameters", pair_gpt2_parameters),
        "tensor_bytes": ("peft_course.costs.tensor_bytes", pair_tensor_bytes),
    },
    "01": {
        "QueryBias": ("peft_course.bitfit.BiasDelta", pair_query_bias),
        "query_bitfit": ("peft_course.bitfit.apply_bitfit", pair_query_bitfit),
    },
    "02": {
        "Adapter": ("peft_course.adapter.BottleneckAdapter", pair_adapter),
        "adapter_size": ("peft_course.adapter.BottleneckAdapter", pair_adapter_size),
        "WithAdapter": ("peft_course.adapter.AdaptedLayer", pair_with_adapter),
        "insert_adapters": ("peft_course.adapter.apply_adapters", pair_insert_adapters),
    },
    "03": {
        "LoRALinear": ("peft_course.lora.LoRALinear", pair_lora_linear),
        "merge": ("peft_course.lora.LoRALinear.merge", pair_merge_unmerge),
        "unmerge": ("peft_course.lora.LoRALinear.unmerge", pair_merge_unmerge),
        "add_lora": ("peft_course.lora.apply_lora", pair_add_lora),
    },
    "04": {"DoRALinear": ("peft_course.dora.DoRALinear", pair_dora_linear)},
    "05": {
        "MyPrefix": ("peft_course.prefix.Prefix", pair_prefix_table),
        "my_prefix_attention": ("peft_course.prefix.prefix_attention", pair_prefix_attention),
        "my_apply_prefix": ("peft_course.prefix.apply_prefix", pair_apply_prefix),
    },
}
# Mã trong ô teach chưa có bản tương đương trong gói để so (xem /work/briefs/notebook-todo-f.md); mỗi mục kèm lý do.
UNPAIRED: dict[str, dict[str, str]] = {
    "00": {"train_steps": "vòng huấn luyện tối giản (lô ngẫu nhiên có seed, không lịch LR); peft_course.train "
                          "thêm khởi động LR và thứ tự lô khác nên chưa so được từng bước"},
}
# Bài về một phương pháp phải có ít nhất một ô teach (bài 6 so sánh, không xây phương pháp mới).
METHOD_LESSONS = ("00", "01", "02", "03", "04", "05")

CASES = sorted({(lesson, test) for lesson, pairs in PAIRS.items() for _, test in pairs.values()},
               key=lambda item: (item[0], item[1].__name__))


@pytest.mark.parametrize("lesson,check", CASES, ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_teaching_code_equals_package(lesson: str, check: Callable, base) -> None:
    model, tok = base
    if check is pair_insert_adapters:
        for placement in ("houlsby", "pfeiffer"):
            check(model, tok, placement)
    else:
        check(model, tok)


def test_pairs_name_real_package_objects() -> None:
    import importlib

    for pairs in PAIRS.values():
        for target, _ in pairs.values():
            parts = target.split(".")
            for cut in range(len(parts), 0, -1):  # mô-đun dài nhất nhập được, phần còn lại là thuộc tính
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                    break
                except ModuleNotFoundError:
                    continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            assert callable(obj), target


@pytest.mark.parametrize("lesson", METHOD_LESSONS)
def test_every_teaching_definition_is_declared(lesson: str) -> None:
    """Mỗi lớp/hàm trong ô teach có trong PAIRS (được chứng minh bằng gói) hoặc UNPAIRED (có lý do), và ngược lại."""
    names = teach_names(lesson)
    assert names, f"bài {lesson} không có ô mã nào gắn thẻ {TEACH!r} (jupytext: # %% tags=[\"teach\"])"
    declared = set(PAIRS.get(lesson, {})) | set(UNPAIRED.get(lesson, {}))
    assert set(names) == declared, (f"bài {lesson}: ô teach định nghĩa {sorted(names)}, "
                                    f"PAIRS/UNPAIRED khai báo {sorted(declared)}")
    ns = teach(lesson)
    assert all(name in ns for name in names)


def test_teach_tags_are_the_same_in_ipynb() -> None:
    """Thẻ teach có ở cả notebook .ipynb (cặp jupytext), không chỉ trong .py."""
    import json

    for py in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        nb = json.loads(py.with_suffix(".ipynb").read_text(encoding="utf-8"))
        in_ipynb = ["".join(c["source"]).strip() for c in nb["cells"] if TEACH in c["metadata"].get("tags", [])]
        assert in_ipynb == [src.strip() for src in teach_cells(py)], py.name


def test_extraction_runs_only_definitions(tmp_path: Path) -> None:
    """Chỉ import/def/class của ô teach được chạy; ô không có thẻ không góp định nghĩa nào."""
    path = tmp_path / "99_demo.py"
    path.write_text('# %%\nimport math\n\n\ndef hidden():\n    return 0\n\n'
                    '# %% tags=["teach"]\ndef area(r: float) -> float:\n    return math.pi * r * r\n\n\n'
                    'raise RuntimeError("phần minh họa không được chạy")\n', encoding="utf-8")
    sources = teach_cells(path)
    assert len(sources) == 1
    defs = _statements(sources[0], DEFINITIONS)
    assert [n.name for n in defs] == ["area"]
    ns = {"math": __import__("math")}
    exec(compile(ast.Module(body=defs, type_ignores=[]), "demo", "exec"), ns)
    assert ns["area"](2.0) == pytest.approx(4 * 3.141592653589793) and "hidden" not in ns

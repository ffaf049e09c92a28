import time

import pytest
import torch

from peft_course import CourseError, PACKAGED_MODEL, load_base_model, pick_device


def test_packaged_model_loads_offline_quickly():
    start = time.perf_counter()
    model, tok = load_base_model(device="cpu")
    assert time.perf_counter() - start < 20
    assert not model.training
    assert model.config.model_type == "gpt2"
    # bos/eos/pad nằm trong từ vựng nhỏ (không phải 50256 mặc định của GPT2Config)
    for tid in (model.config.bos_token_id, model.config.eos_token_id, tok.pad_token_id):
        assert 0 <= tid < model.config.vocab_size
    assert (PACKAGED_MODEL / "model.safetensors").stat().st_size <= 20 * 2**20


def test_packaged_model_speaks_vietnamese(base):
    model, tok = base
    ids = tok("Hôm nay bài giảng", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    text = tok.decode(out[0], skip_special_tokens=True)
    assert text.startswith("Hôm nay bài giảng") and len(text) > len("Hôm nay bài giảng") + 5


def test_local_path_goes_through_same_loader(base):
    model, _ = load_base_model(str(PACKAGED_MODEL), device="cpu")
    for (n1, p1), (n2, p2) in zip(model.named_parameters(), base[0].named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)


def test_auto_device_is_cpu_here():
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("bad, needle", [
    ("khong-co/mo-hinh-nay", "HF_HUB_OFFLINE"),
    (42, "name_or_path"),
])
def test_bad_model_names(bad, needle):
    with pytest.raises(CourseError, match=needle):
        load_base_model(bad, device="cpu")


@pytest.mark.parametrize("device", ["tpu", "gpu"])
def test_bad_device(device):
    with pytest.raises(CourseError, match="device"):
        pick_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="máy có GPU")
def test_cuda_refused_without_gpu():
    with pytest.raises(CourseError, match="không dùng được"):
        pick_device("cuda")


def test_model_card_matches_the_model_and_the_bench(base):
    """Thẻ mô hình không cũ: số tham số bằng số đếm thật, bảng "có ý nghĩa không" là bảng bench/ đã ghi."""
    import json
    import re
    from pathlib import Path


    card = (Path(PACKAGED_MODEL) / "README.md").read_text(encoding="utf-8")
    model, _ = base
    stated = int(re.search(r"\| tham số \| ([\d,]+)", card).group(1).replace(",", ""))
    assert stated == sum(p.numel() for p in model.parameters())
    bench = json.loads((Path(__file__).parents[1] / "bench/results/meaningfulness.json").read_text(encoding="utf-8"))
    assert bench["table"] in card and all(bench["checks"].values())
    for heading in ("## Giấy phép", "## Perplexity", "## Câu sinh mẫu", "bigram", "unigram", "nguồn chưa thấy"):
        assert heading in card, heading

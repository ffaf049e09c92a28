import pytest
import torch

from peft_course import CourseError, PACKAGED_MODEL, load_base_model, pick_device


def test_packaged_model_loads_offline():
    model, tok = load_base_model(device="cpu")
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
    ours, ref = model.state_dict(), base[0].state_dict()
    assert ours.keys() == ref.keys() and len(ours) > 0
    assert all(torch.equal(ours[k], ref[k]) for k in ref)


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"),  # cuda trước
    (False, True, "mps"),
    (False, False, "cpu"),
])
def test_auto_device_order(monkeypatch, cuda, mps, expected):
    """pick_device() không chỉ định: thử cuda, rồi mps, rồi cpu (giả lập phần cứng, không cần GPU thật)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device().type == expected


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

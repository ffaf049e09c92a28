import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from peft_course import CourseError, count_parameters, freeze


@pytest.fixture(scope="module")
def gpt2_small():
    """GPT-2 small trên thiết bị meta: đúng hình dạng, không tốn bộ nhớ."""
    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config())


def formula_gpt2(c: GPT2Config) -> int:
    """Công thức đếm tham số GPT-2 (wte và lm_head dùng chung, đếm một lần)."""
    d, L, V, T = c.n_embd, c.n_layer, c.vocab_size, c.n_positions
    per_block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    return V * d + T * d + L * per_block + 2 * d


def test_gpt2_small_matches_reference_and_formula(gpt2_small):
    c = count_parameters(gpt2_small)
    assert c.total == 124_439_808 == formula_gpt2(gpt2_small.config)
    assert c.trainable == c.total and c.percent == 100.0
    assert sum(r["total"] for r in c.rows) == c.total


def test_bitfit_count_on_gpt2_small(gpt2_small):
    n = freeze(gpt2_small, r"\.bias$")
    assert n == count_parameters(gpt2_small).trainable == 102_144
    freeze(gpt2_small, ".")  # trả lại trạng thái huấn luyện toàn bộ


def test_packaged_model_formula(base):
    model = base[0]
    assert count_parameters(model).total == formula_gpt2(model.config)
    assert sum(p.numel() for p in model.parameters()) == formula_gpt2(model.config)


def test_grouped_table(base):
    rows = count_parameters(base[0], depth=-1).rows
    assert any(r["name"] == "transformer.h.*.attn.c_attn" for r in rows)
    assert "| mô-đun |" in count_parameters(base[0]).table()


def test_freeze_refuses_unknown_name(gpt2_small):
    with pytest.raises(CourseError, match="không khớp"):
        freeze(gpt2_small, r"q_proj")
    with pytest.raises(CourseError, match="torch.nn.Module"):
        count_parameters("gpt2")

"""Mọi phương pháp trên các họ mô hình khác GPT-2 (Llama, Mistral, Qwen2, GPT-NeoX), không mạng.

Mô hình tí hon khởi tạo ngẫu nhiên được lưu vào thư mục tạm cùng một tokenizer *thêm BOS* và *không có token
đệm* (như Llama/Mistral), dựng từ tokenizer đóng gói: đi đúng đường `from_pretrained` của một mô hình trên hub.
So với peft ở mọi phương pháp peft có (LoRA, DoRA, prefix, prompt); peft không có adapter nút cổ chai.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from peft_course import CourseError, load_base_model
from peft_course.adapter import AdapterConfig, apply_adapters
from peft_course.arch import ARCHS, arch_of, attention_shape, describe, lora_targets
from peft_course.bitfit import BitFitConfig, apply_bitfit
from peft_course.dora import apply_dora
from peft_course.experiments import prepare, run
from peft_course.lora import LoRAConfig, apply_lora, lora_layers
from peft_course.prefix import PrefixConfig, PromptConfig, apply_prefix, apply_prompt

KINDS = ["llama", "mistral", "qwen2", "gpt_neox"]


def bos_tokenizer():
    """Tokenizer đóng gói + token "<s>" thêm vào đầu mỗi chuỗi, không có token đệm (như tokenizer của Llama)."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    from peft_course import PACKAGED_MODEL

    tok = AutoTokenizer.from_pretrained(PACKAGED_MODEL)
    tok.add_special_tokens({"bos_token": "<s>"})
    bos = tok.convert_tokens_to_ids("<s>")
    tok._tokenizer.post_processor = TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    tok.pad_token = None
    return tok


def tiny_model(kind: str, vocab: int):
    """Mô hình `kind` tí hon (2 khối, d = 32, 4 đầu; GQA 2 đầu khóa/giá trị ở họ Llama), trọng số ngẫu nhiên."""
    from transformers import AutoConfig, AutoModelForCausalLM

    options = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, max_position_embeddings=256, bos_token_id=vocab - 1, eos_token_id=0,
                   tie_word_embeddings=False)
    if kind in ("llama", "mistral", "qwen2"):
        options["num_key_value_heads"] = 2
    if kind == "mistral":
        options["sliding_window"] = None
    if kind == "gpt_neox":
        options["rotary_pct"] = 0.5
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(kind, **options))


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """{kind: thư mục} chứa mô hình tí hon và tokenizer thêm BOS, lưu bằng save_pretrained."""
    tok = bos_tokenizer()
    dirs = {}
    for kind in KINDS:
        path = tmp_path_factory.mktemp(kind)
        tiny_model(kind, len(tok)).save_pretrained(path)
        tok.save_pretrained(path)
        dirs[kind] = path
    return dirs


def _head(data, n: int = 48):
    """n ví dụ đầu của một TaskData (kiểm thử nhanh: vài bước trên vài chục ví dụ là đủ để thấy đường chạy)."""
    from dataclasses import replace

    keep = slice(0, n)
    return replace(data, input_ids=data.input_ids[keep], attention_mask=data.attention_mask[keep],
                   labels=data.labels[keep], answer_pos=data.answer_pos[keep], y=data.y[keep])


@pytest.fixture(scope="session")
def courses(tiny_dirs):
    """{kind: Course} từ prepare() trên thư mục tạm (đường của một mô hình hub), tập con nhỏ để chạy nhanh."""
    from dataclasses import replace

    full = {kind: prepare(str(path), "cpu") for kind, path in tiny_dirs.items()}
    return {kind: replace(c, train=_head(c.train), validation=_head(c.validation), test=_head(c.test))
            for kind, c in full.items()}


@pytest.fixture(scope="session")
def batch():
    tok = bos_tokenizer()
    tok.pad_token = tok.eos_token
    enc = tok(["Phản hồi: thầy dạy hay\nCảm xúc:", "Phản hồi: phòng học nóng quá, máy chiếu hỏng\nCảm xúc:"],
              return_tensors="pt", padding=True)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def _randomize(model, seed=1, std=0.3):
    """B ≠ 0 (và m lệch ‖W‖) để nhánh học được thật sự đổi đầu ra trước khi so."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g) * std)
            if hasattr(layer, "magnitude"):
                layer.magnitude.mul_(1 + 0.1 * torch.randn(layer.magnitude.shape, generator=g))


def _base_state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# --- chuẩn bị dữ liệu với tokenizer thêm BOS ------------------------------------------------------------------


def test_prepare_with_bos_tokenizer_takes_label_tokens_without_bos(courses):
    course = courses["llama"]
    bos = course.tokenizer.bos_token_id
    ids = course.task.label_token_ids.tolist()
    assert len(set(ids)) == 3 and bos not in ids
    expected = [course.tokenizer(" " + label, add_special_tokens=False)["input_ids"][0] for label in course.task.labels]
    assert ids == expected
    assert (course.train.input_ids[:, 0] == bos).all()  # BOS đứng đầu mỗi chuỗi, một lần
    assert int((course.train.input_ids == bos).sum()) == len(course.train)
    assert course.tokenizer.pad_token is not None  # tokenizer không có token đệm: dùng EOS
    rows = torch.arange(len(course.train))
    assert torch.equal(course.train.input_ids[rows, course.train.answer_pos + 1], ids_of(course.train))


def ids_of(data):
    return data.label_token_ids[data.y]


def test_labels_with_same_first_token_are_refused_naming_labels():
    from peft_course import FeedbackTask

    with pytest.raises(CourseError, match="'tiêu cực'.*'tiêu điểm'"):
        FeedbackTask(bos_tokenizer(), ["tiêu cực", "tiêu điểm", "tích cực"])


# --- sự thật kiến trúc --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_arch_facts_match_the_model(kind):
    model = tiny_model(kind, 64)
    facts, shape = arch_of(model), attention_shape(model)
    block = model.get_submodule(facts.blocks)[0]
    for name in (facts.attn_out, facts.mlp_out):
        assert isinstance(block.get_submodule(name), torch.nn.Linear)
    for name in facts.qkv:
        assert isinstance(block.get_submodule(f"{facts.attention}.{name}"), torch.nn.Linear)
    assert shape.num_heads == 4 and shape.head_dim == 8
    assert shape.num_kv_heads == (4 if kind == "gpt_neox" else 2)
    assert kind in describe(model)


def test_unsupported_architecture_names_supported_ones():
    from transformers import OPTConfig, OPTForCausalLM

    model = OPTForCausalLM(OPTConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, ffn_dim=32,
                                     num_attention_heads=2, word_embed_proj_dim=16))
    before = _base_state(model)
    with pytest.raises(CourseError, match="'opt'.*llama"):
        apply_prefix(model, PrefixConfig(num_virtual_tokens=2))
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_multi_query_gpt_bigcode_prefix_is_refused_with_alternative():
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    model = GPTBigCodeForCausalLM(GPTBigCodeConfig(vocab_size=64, n_embd=32, n_layer=1, n_head=4, n_positions=32))
    assert attention_shape(model).multi_query
    with pytest.raises(CourseError, match="multi-query.*LoRA"):
        apply_prefix(model, PrefixConfig(num_virtual_tokens=2))


# --- mọi phương pháp, đầu cuối ------------------------------------------------------------------------------

METHODS = {
    "full": lambda m: [],
    "lora": lambda m: apply_lora(m, LoRAConfig(r=4, target_modules=lora_targets(m))),
    "dora": lambda m: apply_dora(m, LoRAConfig(r=4, target_modules=lora_targets(m, attention_only=True))),
    "adapter": lambda m: apply_adapters(m, AdapterConfig(r=4, placement="houlsby")),
    "pfeiffer": lambda m: apply_adapters(m, AdapterConfig(r=4, placement="pfeiffer")),
    "prefix": lambda m: apply_prefix(m, PrefixConfig(num_virtual_tokens=3)),
    "prompt": lambda m: apply_prompt(m, PromptConfig(num_virtual_tokens=3)),
}
RECIPE = {"pfeiffer": "adapter"}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_method_trains_end_to_end(courses, kind, method):
    course = courses[kind]
    model = course.fresh_model()
    METHODS[method](model)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    result = run(course, method, model, RECIPE.get(method, method), steps=3, batch_size=8, eval_every=None,
                 progress=False)
    assert result.trainable > 0 and len(result.history.loss) == 3
    assert all(torch.isfinite(torch.tensor(result.history.loss)))
    assert 0.0 <= result.test_accuracy <= 1.0
    params = dict(model.named_parameters())
    assert all(torch.equal(params[n], v) for n, v in frozen.items())  # trọng số nền không đổi


def test_adapters_wrap_o_proj_and_down_proj_on_llama():
    model = tiny_model("llama", 64)
    houlsby = apply_adapters(model, AdapterConfig(r=4, placement="houlsby"))
    assert [n.rpartition(".")[2] for n in houlsby] == ["o_proj", "down_proj"] * 2
    pfeiffer = apply_adapters(tiny_model("llama", 64), AdapterConfig(r=4, placement="pfeiffer"))
    assert [n.rpartition(".")[2] for n in pfeiffer] == ["down_proj"] * 2


def test_bitfit_on_qwen2_trains_qkv_biases():
    model = tiny_model("qwen2", 64)
    names = apply_bitfit(model, BitFitConfig("all"))
    assert [n.rpartition(".")[2] for n in names] == ["q_proj", "k_proj", "v_proj"] * 2
    query = apply_bitfit(tiny_model("qwen2", 64), BitFitConfig("attention_query"))
    assert [n.rpartition(".")[2] for n in query] == ["q_proj"] * 2


@pytest.mark.parametrize("which", ["mlp", "layernorm"])
def test_bitfit_on_qwen2_refuses_missing_group_naming_existing_biases(which):
    model = tiny_model("qwen2", 64)
    with pytest.raises(CourseError, match=f"'{which}'.*q_proj.*which='all'"):
        apply_bitfit(model, BitFitConfig(which))
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("kind", ["llama", "mistral"])
def test_bitfit_without_biases_is_refused_naming_alternative(kind):
    model = tiny_model(kind, 64)
    with pytest.raises(CourseError, match="không có bias.*LoRA"):
        apply_bitfit(model, BitFitConfig("all"))
    assert all(p.requires_grad for p in model.parameters())


def test_bitfit_attention_query_on_multi_query_takes_only_query_part():
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    model = GPTBigCodeForCausalLM(GPTBigCodeConfig(vocab_size=64, n_embd=32, n_layer=1, n_head=4, n_positions=32))
    apply_bitfit(model, BitFitConfig("attention_query"))
    deltas = [p for n, p in model.named_parameters() if p.requires_grad]
    assert [d.numel() for d in deltas] == [32]  # d phần tử của q, không phải (d + 2·head_dim)/3


# --- bằng peft ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_dora", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_lora_and_dora_logits_equal_peft(kind, use_dora, batch):
    from peft import LoraConfig, get_peft_model

    model = tiny_model(kind, 4001).eval()
    cfg = LoRAConfig(r=4, alpha=8, target_modules=lora_targets(model))
    ours = copy.deepcopy(model)
    (apply_dora if use_dora else apply_lora)(ours, cfg)
    _randomize(ours)
    theirs = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=cfg.target_modules,
                                              use_dora=use_dora, task_type="CAUSAL_LM")).eval()
    sd = theirs.state_dict()
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            sd[f"base_model.model.{name}.lora_A.default.weight"].copy_(layer.lora_A)
            sd[f"base_model.model.{name}.lora_B.default.weight"].copy_(layer.lora_B)
            if use_dora:
                sd[f"base_model.model.{name}.lora_magnitude_vector.default.weight"].copy_(layer.magnitude)
        a, b = ours(**batch).logits, theirs(**batch).logits
        plain = tiny_model(kind, 4001).eval()(**batch).logits
    mask = batch["attention_mask"].bool()
    assert (a - b)[mask].abs().max() < 1e-5
    assert (a - plain)[mask].abs().max() > 1e-3  # nhánh LoRA thật sự đổi đầu ra


@pytest.mark.parametrize("kind", KINDS)
def test_prefix_logits_equal_peft_without_cache(kind, batch):
    """peft (transformers 5) bỏ qua tiền tố khi generate có bộ đệm, nên so ở đường không bộ đệm (use_cache=False)."""
    from peft import PrefixTuningConfig, TaskType, get_peft_model

    ours = tiny_model(kind, 4001).eval()
    apply_prefix(ours, PrefixConfig(num_virtual_tokens=3))
    theirs = get_peft_model(tiny_model(kind, 4001), PrefixTuningConfig(task_type=TaskType.CAUSAL_LM,
                                                                       num_virtual_tokens=3)).eval()
    s = attention_shape(ours)
    assert ours.prefix.weight.shape == (3, 2 * s.num_layers * s.num_kv_heads * s.head_dim)  # GQA: theo đầu k/v
    with torch.no_grad():
        theirs.prompt_encoder["default"].embedding.weight.copy_(ours.prefix.weight)
        a, b = ours(**batch).logits, theirs(**batch, use_cache=False).logits
        plain = tiny_model(kind, 4001).eval()(**batch).logits
    mask = batch["attention_mask"].bool()
    assert (a - b)[mask].abs().max() < 1e-5
    assert (a - plain)[mask].abs().max() > 1e-3  # tiền tố thật sự đổi đầu ra


@pytest.mark.parametrize("kind", KINDS)
def test_prompt_logits_equal_peft(kind, batch):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    ours = tiny_model(kind, 4001).eval()
    apply_prompt(ours, PromptConfig(num_virtual_tokens=3))
    theirs = get_peft_model(tiny_model(kind, 4001), PromptTuningConfig(task_type=TaskType.CAUSAL_LM,
                                                                       num_virtual_tokens=3)).eval()
    with torch.no_grad():
        theirs.prompt_encoder["default"].embedding.weight.copy_(ours.prompt.embedding)
        a, b = ours(**batch).logits, theirs(**batch).logits[:, 3:]  # peft trả cả 3 vị trí ảo ở đầu
    mask = batch["attention_mask"].bool()
    assert (a - b)[mask].abs().max() < 1e-5


@pytest.mark.parametrize("method", ["prefix", "prompt"])
@pytest.mark.parametrize("kind", KINDS)
def test_cached_generation_equals_uncached(kind, method):
    model = tiny_model(kind, 4001).eval()
    METHODS[method](model)
    with torch.no_grad():  # tiền tố lớn hơn để chắc chắn nó ảnh hưởng tới từng token sinh ra
        source = model.prefix.weight if method == "prefix" else model.prompt.embedding
        source.mul_(4)
    ids = bos_tokenizer()(["Phản hồi: thầy dạy hay"], return_tensors="pt")["input_ids"]
    cached = model.generate(ids, max_new_tokens=6, do_sample=False, use_cache=True)
    uncached = model.generate(ids, max_new_tokens=6, do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached)
    # Và bằng argmax của forward đầy đủ trên chuỗi đã sinh (không bộ đệm nào cả).
    with torch.no_grad():
        full = model(cached[:, :-1]).logits.argmax(-1)[:, ids.shape[1] - 1:]
    assert torch.equal(full, cached[:, ids.shape[1]:])


def test_prefix_init_from_words_on_llama_equals_model_keys():
    """init_token_ids: tiền tố = khóa/giá trị (đã quay RoPE ở vị trí 0…k-1) mà Llama đóng băng tính cho các từ."""
    model = tiny_model("llama", 4001).eval()
    ids = [5, 6, 7]
    with torch.no_grad():
        out = copy.deepcopy(model)(torch.tensor([ids]), use_cache=True)
    apply_prefix(model, PrefixConfig(num_virtual_tokens=3, init_token_ids=ids))
    cache = out.past_key_values
    for layer in range(2):
        key, value = model.prefix.layer_kv(layer)
        keys = cache.layers[layer].keys if hasattr(cache, "layers") else cache[layer][0]
        values = cache.layers[layer].values if hasattr(cache, "layers") else cache[layer][1]
        assert torch.allclose(key, keys[0], atol=1e-6) and torch.allclose(value, values[0], atol=1e-6)


# --- dtype: nền bf16, tham số học fp32 --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lora", "dora", "adapter", "prefix", "prompt"])
def test_bf16_base_keeps_trainable_parameters_in_fp32(tiny_dirs, method):
    from peft_course.training import train

    course = prepare(str(tiny_dirs["qwen2"]), "cpu", dtype="bfloat16")
    model = course.fresh_model()
    assert next(model.parameters()).dtype == torch.bfloat16
    METHODS[method](model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    before = [p.detach().clone() for p in trainable]
    train(model, course.train, steps=2, batch_size=4, lr=1e-2, progress=False)
    assert any(not torch.equal(a, p) for a, p in zip(before, trainable))
    assert all(torch.equal(dict(model.named_parameters())[n], v) for n, v in frozen.items())


def test_bitfit_on_bf16_qwen2_keeps_delta_fp32_and_output_dtype(tiny_dirs):
    model, _ = load_base_model(str(tiny_dirs["qwen2"]), "cpu", dtype="bfloat16")
    apply_bitfit(model, BitFitConfig("all"))
    deltas = [p for p in model.parameters() if p.requires_grad]
    assert deltas and all(p.dtype == torch.float32 for p in deltas)
    assert model(torch.tensor([[1, 2, 3]])).logits.dtype == torch.bfloat16


def test_bad_dtype_is_refused_naming_choices():
    with pytest.raises(CourseError, match="'float8'.*'float32', 'bfloat16', 'float16'"):
        load_base_model(dtype="float8", device="cpu")


# --- lỗi khi nạp mô hình (issue 12, mục 6) ---------------------------------------------------------------


def test_load_errors_name_the_path_and_what_is_expected(tmp_path, tiny_dirs):
    import shutil

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CourseError, match="empty.*config.json"):
        load_base_model(str(empty), "cpu")
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_dirs["llama"], no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(CourseError, match="no_weights.*trọng số"):
        load_base_model(str(no_weights), "cpu")
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"x")
    with pytest.raises(CourseError, match="weights.bin.*tệp, không phải thư mục"):
        load_base_model(str(a_file), "cpu")
    with pytest.raises(CourseError, match="chuỗi rỗng"):
        load_base_model("", "cpu")
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_dirs["llama"], truncated)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CourseError, match="truncated.*Lỗi của thư viện"):
        load_base_model(str(truncated), "cpu")


@pytest.mark.parametrize("value, offline", [("1", True), ("ON", True), ("yes", True), ("true", True),
                                            ("0", False), ("off", False), ("false", False), ("", False)])
def test_offline_flag_is_parsed_like_huggingface_hub(monkeypatch, value, offline):
    from huggingface_hub import constants

    from peft_course.model import hub_offline

    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert hub_offline() is offline
    assert constants._is_true(os.environ.get("HF_HUB_OFFLINE")) is offline


def test_unreachable_hub_id_is_refused_with_reason(monkeypatch):
    """HF_HUB_OFFLINE tắt nhưng không có mạng (socket bị chặn): báo lỗi nêu id và lý do, không thử tải."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    with pytest.raises(CourseError, match="'some-user/some-model'.*không kết nối được"):
        load_base_model("some-user/some-model", "cpu")


def test_supported_table_lists_every_family():
    assert set(KINDS) <= set(ARCHS)


# --- mô hình không vừa bộ nhớ GPU (kiểm thử được trên CPU bằng cách giả bộ nhớ trống) ------------------


def test_model_larger_than_free_gpu_memory_is_refused_with_numbers(monkeypatch):
    from peft_course.model import _check_fits

    model = tiny_model("llama", 64)
    need = sum(p.numel() * p.element_size() for p in model.parameters())
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (need, 16 * 2**30))
    with pytest.raises(CourseError, match="'Qwen/Qwen2.5-0.5B'.*còn trống.*bfloat16"):
        _check_fits(model, torch.device("cuda"), "Qwen/Qwen2.5-0.5B")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 * need, 16 * 2**30))
    _check_fits(model, torch.device("cuda"), "Qwen/Qwen2.5-0.5B")  # vừa: không báo gì


def test_cuda_out_of_memory_becomes_course_error():
    from peft_course.model import explain_oom

    with pytest.raises(CourseError, match="Hết bộ nhớ GPU khi huấn luyện bước 3.*batch_size"):
        with explain_oom("huấn luyện bước 3"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_amp_on_cpu_is_refused(courses):
    from peft_course.training import train

    model = courses["llama"].fresh_model()
    apply_lora(model, LoRAConfig(r=2, target_modules=lora_targets(model)))
    with pytest.raises(CourseError, match="amp=True.*bf16"):
        train(model, courses["llama"].train, steps=1, batch_size=4, amp=True, progress=False)

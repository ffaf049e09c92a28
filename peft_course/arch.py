"""Sự thật về kiến trúc của một mô hình ngôn ngữ nhân quả, đọc theo `config.model_type`.

Các phương pháp của khóa học (adapter, BitFit, prefix/prompt tuning) cần biết những điều không suy ra được
chắc chắn từ tên thuộc tính: khối nào là danh sách lớp, lớp chiếu q/k/v/o tên gì, q/k/v có gộp chung một
ma trận không, có bao nhiêu đầu khóa/giá trị (GQA, multi-query), có bias ở đâu, vị trí mã hóa kiểu gì.
Ta nhận dạng kiến trúc bằng `config.model_type` chứ không bằng tên thuộc tính: GPTBigCode cũng có
`transformer.h` và `wpe` như GPT-2 nhưng dùng attention multi-query (một đầu khóa/giá trị chung).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .errors import CourseError


@dataclass(frozen=True)
class ArchFacts:
    """Những gì các phương pháp cần biết về một họ kiến trúc (tên là đường dẫn mô-đun tương đối)."""

    model_type: str  # giá trị của config.model_type
    backbone: str  # mô-đun thân (không có đầu LM): "transformer", "model", "gpt_neox", "model.decoder"
    blocks: str  # danh sách khối, tính từ gốc mô hình: "transformer.h", "model.layers"…
    embed_tokens: str  # bảng embedding token, tính từ gốc mô hình
    attention: str  # mô-đun attention trong một khối: "attn", "self_attn", "attention"
    mlp: str  # mô-đun MLP trong một khối: "mlp" (OPT không có, dùng "")
    qkv: tuple[str, ...]  # lớp chiếu q/k/v trong attention: một lớp gộp ("c_attn",) hoặc ba lớp
    attn_out: str  # lớp chiếu ra của attention, tên đầy đủ trong khối: "attn.c_proj", "self_attn.o_proj"
    mlp_out: str  # lớp chiếu xuống của MLP, tên đầy đủ trong khối: "mlp.c_proj", "mlp.down_proj"
    positions: str  # "learned" (bảng vị trí wpe, cần dịch k vị trí) hoặc "rotary" (RoPE, dịch position_ids)
    position_module: str  # mô-đun nhận vị trí, tính từ gốc: "transformer.wpe", "model.rotary_emb"
    layernorm_bias: bool  # chuẩn hóa có bias (LayerNorm) hay không (RMSNorm)
    fused_qkv_layout: str = "none"  # "concat": [q | k | v] liền nhau (GPT-2); "interleaved": theo từng đầu (NeoX)


# Bảng kiến trúc được hỗ trợ. Thêm một họ mới = thêm một dòng ở đây (và một mô hình tí hon trong tests/test_arch.py).
ARCHS: dict[str, ArchFacts] = {
    "gpt2": ArchFacts("gpt2", "transformer", "transformer.h", "transformer.wte", "attn", "mlp", ("c_attn",),
                      "attn.c_proj", "mlp.c_proj", "learned", "transformer.wpe", True, "concat"),
    "gpt_bigcode": ArchFacts("gpt_bigcode", "transformer", "transformer.h", "transformer.wte", "attn", "mlp",
                             ("c_attn",), "attn.c_proj", "mlp.c_proj", "learned", "transformer.wpe", True, "concat"),
    "llama": ArchFacts("llama", "model", "model.layers", "model.embed_tokens", "self_attn", "mlp",
                       ("q_proj", "k_proj", "v_proj"), "self_attn.o_proj", "mlp.down_proj", "rotary",
                       "model.rotary_emb", False),
    "mistral": ArchFacts("mistral", "model", "model.layers", "model.embed_tokens", "self_attn", "mlp",
                         ("q_proj", "k_proj", "v_proj"), "self_attn.o_proj", "mlp.down_proj", "rotary",
                         "model.rotary_emb", False),
    "qwen2": ArchFacts("qwen2", "model", "model.layers", "model.embed_tokens", "self_attn", "mlp",
                       ("q_proj", "k_proj", "v_proj"), "self_attn.o_proj", "mlp.down_proj", "rotary",
                       "model.rotary_emb", False),
    "gpt_neox": ArchFacts("gpt_neox", "gpt_neox", "gpt_neox.layers", "gpt_neox.embed_in", "attention", "mlp",
                          ("query_key_value",), "attention.dense", "mlp.dense_4h_to_h", "rotary",
                          "gpt_neox.rotary_emb", True, "interleaved"),
}


@dataclass(frozen=True)
class AttentionShape:
    """Hình dạng attention của một mô hình cụ thể (đọc từ config của nó)."""

    num_layers: int  # L: số khối
    hidden: int  # d: số chiều dòng dư
    num_heads: int  # H: số đầu truy vấn
    num_kv_heads: int  # số đầu khóa/giá trị: = H (MHA), < H (GQA), 1 (multi-query)
    head_dim: int  # số chiều mỗi đầu
    max_positions: int | None  # độ dài ngữ cảnh tối đa (None: không giới hạn cứng)

    @property
    def grouped(self) -> bool:
        """True khi nhiều đầu truy vấn dùng chung một đầu khóa/giá trị (GQA hoặc multi-query)."""
        return self.num_kv_heads < self.num_heads

    @property
    def multi_query(self) -> bool:
        return self.num_kv_heads == 1 and self.num_heads > 1

    @property
    def kv_dim(self) -> int:
        """Số chiều của khóa (hoặc giá trị) ở một vị trí: num_kv_heads · head_dim."""
        return self.num_kv_heads * self.head_dim


def model_type(model: nn.Module) -> str | None:
    """`config.model_type` của mô hình, hoặc None nếu mô hình không có config kiểu transformers."""
    return getattr(getattr(model, "config", None), "model_type", None)


def arch_of(model: nn.Module, purpose: str = "phương pháp này") -> ArchFacts:
    """ArchFacts của mô hình; CourseError nêu model_type nhận được và các kiến trúc hỗ trợ nếu không có trong bảng."""
    kind = model_type(model)
    if kind not in ARCHS:
        raise CourseError(f"{purpose} chưa hỗ trợ kiến trúc model_type = {kind!r} ({type(model).__name__}); "
                          f"các kiến trúc được hỗ trợ: {', '.join(ARCHS)}. LoRA/DoRA dùng được trên mọi mô hình có "
                          "nn.Linear (chọn target_modules theo tên lớp của mô hình).")
    return ARCHS[kind]


def attention_shape(model: nn.Module) -> AttentionShape:
    """Đọc L, d, H, số đầu khóa/giá trị, số chiều mỗi đầu từ config (tên trường khác nhau giữa các họ)."""
    facts, c = arch_of(model), model.config
    layers = getattr(c, "num_hidden_layers", None) or c.n_layer
    hidden = getattr(c, "hidden_size", None) or c.n_embd
    heads = getattr(c, "num_attention_heads", None) or c.n_head
    if facts.model_type == "gpt_bigcode":
        kv_heads = 1 if c.multi_query else heads
    else:
        kv_heads = getattr(c, "num_key_value_heads", None) or heads
    head_dim = getattr(c, "head_dim", None) or hidden // heads
    max_positions = getattr(c, "n_positions", None) if facts.positions == "learned" else None
    return AttentionShape(layers, hidden, heads, kv_heads, head_dim, max_positions)


def blocks(model: nn.Module) -> nn.ModuleList:
    """Danh sách khối transformer của mô hình."""
    return model.get_submodule(arch_of(model).blocks)


def block_attention(model: nn.Module) -> list[nn.Module]:
    """Mô-đun attention của từng khối, theo thứ tự lớp."""
    name = arch_of(model).attention
    return [block.get_submodule(name) for block in blocks(model)]


def biased_modules(model: nn.Module) -> list[str]:
    """Tên các mô-đun có tensor bias (để BitFit biết còn gì để huấn luyện)."""
    import torch

    return [n for n, m in model.named_modules() if isinstance(getattr(m, "bias", None), torch.Tensor)]


def describe(model: nn.Module) -> str:
    """Một dòng tiếng Việt tóm tắt kiến trúc: họ, L, d, số đầu q / k-v, vị trí, bias."""
    facts, s = arch_of(model), attention_shape(model)
    kind = "multi-query" if s.multi_query else ("GQA" if s.grouped else "MHA")
    biases = biased_modules(model)
    return (f"{facts.model_type}: {s.num_layers} khối, d = {s.hidden}, {s.num_heads} đầu chú ý, "
            f"{s.num_kv_heads} đầu khóa/giá trị ({kind}), mỗi đầu {s.head_dim} chiều; vị trí "
            f"{'học được' if facts.positions == 'learned' else 'quay (RoPE)'}; {len(biases)} mô-đun có bias.")


# Mọi lớp chiếu tuyến tính của khối (đích LoRA/DoRA "mọi lớp", như bài 3 trên GPT-2), theo tên lá.
LORA_TARGETS: dict[str, list[str]] = {
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_bigcode": ["c_attn", "c_proj", "c_fc"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}


def lora_targets(model: nn.Module, attention_only: bool = False  # True: chỉ các lớp chiếu của attention
                 ) -> list[str]:
    """target_modules cho LoRA/DoRA trên mô hình này: mọi lớp chiếu của khối, hoặc chỉ của attention."""
    facts = arch_of(model, "Chọn target_modules")
    if attention_only:
        return [*facts.qkv, facts.attn_out.rpartition(".")[2]]
    return list(LORA_TARGETS[facts.model_type])

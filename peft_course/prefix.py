"""Prefix tuning (Li & Liang 2021) và prompt tuning (Lester et al. 2021), xây từ đầu (GPT-2 và họ Llama).

Prefix tuning học, ở mỗi lớp, k vector khóa và k vector giá trị ảo: $K' = [P_K; K]$, $V' = [P_V; V]$.
Mỗi token thật chú ý thêm tới k vị trí ảo ấy; ngoài chúng ra không tham số nào được huấn luyện.

Điểm móc (hook) được chọn: một *hàm attention* đăng ký qua `transformers.AttentionInterface` (API công
khai để thay phép tính attention). Hàm này nhận Q, K, V *sau khi* bộ đệm (cache) của thư viện đã được cập
nhật, nên bộ đệm chỉ chứa token thật; tiền tố được nối vào ngay trước softmax ở mọi lần gọi: huấn luyện
(không bộ đệm), forward đầy đủ, và từng bước của `generate` có bộ đệm. Ta không dựa vào hình dạng hay
kiểu của đối tượng bộ đệm (thứ đã đổi nhiều lần giữa các phiên bản transformers/peft).

Vị trí của token thật bắt đầu từ k (như peft và mã gốc của Li & Liang, nơi tiền tố nằm trong
`past_key_values`): một móc trên `transformer.wpe` cộng k vào position_ids. Vì vậy k + độ dài chuỗi
không được vượt `n_positions`. Với vị trí quay (RoPE: Llama, Mistral, Qwen2, GPT-NeoX) móc nằm trên
`rotary_emb` và cũng cộng k; khóa ảo không bị quay (như khóa peft đặt sẵn trong bộ đệm).

Attention nhóm (GQA: Llama 3, Mistral, Qwen2): khóa/giá trị chỉ có `num_key_value_heads` đầu, mỗi đầu dùng
chung cho H / num_key_value_heads đầu truy vấn. Tiền tố vì thế có 2·L·num_key_value_heads·head_dim cột mỗi
token ảo (như peft), và được lặp cho các đầu truy vấn cùng nhóm, giống khóa/giá trị thật.

Prompt tuning chỉ học k vector ở đầu vào (k·d tham số). Vì mặt nạ nhân quả, token ảo ở đầu không bao giờ
nhìn thấy token thật, nên khóa/giá trị của chúng ở mọi lớp chỉ phụ thuộc vào k vector ấy: prompt tuning
chính là prefix tuning với tiền tố do mạng đóng băng sinh ra. Ta cài nó bằng đúng cơ chế ở trên.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .arch import arch_of, attention_shape, block_attention
from .errors import CourseError, require, require_finite_number, require_positive_int
from .inject import PREFIX_ATTN, freeze_base, refuse_if_adapted, require_module
from .model import trainable_dtype

ATTN_NAME = PREFIX_ATTN  # tên hàm attention đăng ký với transformers


@dataclass
class PrefixConfig:
    """Cấu hình prefix tuning."""

    num_virtual_tokens: int = 10  # k: số token ảo (số cặp khóa/giá trị học được ở mỗi lớp)
    reparameterize: bool = False  # True: sinh tiền tố bằng Embedding(k, d) → Linear(d, h) → tanh → Linear(h, 2·L·d)
    hidden: int = 192  # h: bề rộng lớp ẩn của MLP tái tham số hóa (chỉ dùng khi reparameterize=True)
    init_std: float = 0.5  # độ lệch chuẩn khởi tạo ngẫu nhiên của tiền tố (khi không có init_token_ids)
    init_token_ids: list[int] | None = None  # khởi tạo từ khóa/giá trị của các từ thật này (lặp lại cho đủ k)

    def __post_init__(self) -> None:
        require_positive_int("num_virtual_tokens", self.num_virtual_tokens)
        require(isinstance(self.reparameterize, bool), f"reparameterize phải là True/False, nhận được {self.reparameterize!r}.")
        require_positive_int("hidden", self.hidden)
        std = require_finite_number("init_std", self.init_std)
        require(std >= 0, f"init_std phải là số hữu hạn ≥ 0, nhận được {self.init_std!r}.")
        ids = self.init_token_ids
        require(ids is None or (len(ids) > 0 and all(isinstance(i, int) and i >= 0 for i in ids)),
                f"init_token_ids phải là None hoặc danh sách id token (số nguyên ≥ 0) không rỗng, nhận được {ids!r}.")


@dataclass
class PromptConfig:
    """Cấu hình prompt tuning: k token ảo chỉ ở lớp embedding đầu vào."""

    num_virtual_tokens: int = 10  # k: số token ảo, mỗi token là một vector d chiều học được
    init_token_ids: list[int] | None = None  # khởi tạo bằng embedding của các từ thật này (None: k từ đầu từ vựng)

    def __post_init__(self) -> None:
        require_positive_int("num_virtual_tokens", self.num_virtual_tokens)
        ids = self.init_token_ids
        require(ids is None or (len(ids) > 0 and all(isinstance(i, int) and i >= 0 for i in ids)),
                f"init_token_ids phải là None hoặc danh sách id token (số nguyên ≥ 0) không rỗng, nhận được {ids!r}.")


def _shape(model: nn.Module) -> tuple[int, int, int, int | None]:
    """(L, số đầu khóa/giá trị, số chiều khóa = số đầu k/v · head_dim, độ dài tối đa hay None) của mô hình.

    Báo lỗi với kiến trúc không hỗ trợ (kể cả multi-query của GPTBigCode, nơi khóa/giá trị nằm chung trong c_attn).
    """
    require(isinstance(model, nn.Module), f"model phải là torch.nn.Module, nhận được {type(model).__name__}.")
    facts = arch_of(model, "Prefix/prompt tuning")
    require(facts.model_type != "gpt_bigcode",
            "Prefix/prompt tuning chưa hỗ trợ GPTBigCode (attention multi-query, khóa/giá trị gộp trong c_attn); "
            "hãy dùng LoRA (target_modules=['c_attn', 'c_proj']) hoặc một mô hình gpt2/llama/mistral/qwen2/gpt_neox.")
    s = attention_shape(model)
    return s.num_layers, s.num_kv_heads, s.kv_dim, s.max_positions


class Prefix(nn.Module):
    """Bảng tiền tố P có dạng (k, 2·L·d), cùng bố cục với `prompt_embeddings` của peft.

    Cột được xếp theo (lớp, khóa/giá trị, đầu, chiều đầu): lớp l dùng khóa P[:, l, 0] và giá trị P[:, l, 1].
    """

    course_method = "prefix tuning"  # tên mà refuse_if_adapted báo khi gặp mô-đun này

    def __init__(self, k: int, num_layers: int, num_heads: int, d: int, reparameterize: bool = False,
                 hidden: int = 192, init_std: float = 0.5) -> None:
        super().__init__()
        self.k, self.num_layers, self.num_heads, self.d = k, num_layers, num_heads, d
        if reparameterize:
            self.embedding = nn.Embedding(k, d)
            self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 2 * num_layers * d))
        else:
            self.weight = nn.Parameter(torch.randn(k, 2 * num_layers * d) * init_std)

    @property
    def reparameterized(self) -> bool:
        return hasattr(self, "mlp")

    def table(self) -> torch.Tensor:
        """Tiền tố (k, 2·L·d): chính tham số, hoặc đầu ra của MLP khi tái tham số hóa."""
        return self.mlp(self.embedding.weight) if self.reparameterized else self.weight

    def layer_kv(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Khóa và giá trị ảo của lớp `layer`, mỗi cái có dạng (H, k, d/H)."""
        p = self.table().view(self.k, self.num_layers, 2, self.num_heads, self.d // self.num_heads)[:, layer]
        return p[:, 0].transpose(0, 1), p[:, 1].transpose(0, 1)

    @torch.no_grad()
    def init_from(self, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Đặt bảng tiền tố bằng khóa/giá trị có sẵn (mỗi lớp (K, V) dạng (H, k, d/H)), ví dụ của từ thật."""
        require(not self.reparameterized, "init_from chỉ dùng cho tiền tố không tái tham số hóa.")
        table = torch.stack([torch.stack([key.transpose(0, 1), value.transpose(0, 1)], 1) for key, value in kv], 1)
        self.weight.copy_(table.reshape(self.k, -1))

    @torch.no_grad()
    def fold(self) -> None:
        """Tính một lần bảng tiền tố cuối cùng rồi bỏ Embedding và MLP: chỉ k·2·L·d số còn lại."""
        if self.reparameterized:
            table = self.table().detach().clone()
            del self.mlp, self.embedding
            self.weight = nn.Parameter(table)


def frozen_kv(transformer: nn.Module, embeddings: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Chạy các khối GPT-2 đóng băng trên k vector đầu vào (vị trí 0…k-1, nhân quả).

    Trả về, cho mỗi lớp, (K, V) dạng (H, k, d/H): đúng những gì token thật phía sau sẽ chú ý tới.
    """
    t, k = transformer, embeddings.shape[0]
    h = t.drop(embeddings.to(t.wpe.weight.dtype) + t.wpe.weight[:k])  # đọc thẳng bảng vị trí: không qua móc dịch vị trí
    out = []
    for block in t.h:
        attn = block.attn
        q, key, value = (x.view(k, attn.num_heads, attn.head_dim).transpose(0, 1)
                         for x in attn.c_attn(block.ln_1(h)).split(attn.embed_dim, dim=-1))
        out.append((key, value))
        a = F.scaled_dot_product_attention(q, key, value, is_causal=True, scale=attn.scaling)
        h = h + attn.c_proj(a.transpose(0, 1).reshape(k, attn.embed_dim))
        h = h + block.mlp(block.ln_2(h))
    return out


def recorded_kv(model: nn.Module, embeddings: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Như `frozen_kv` nhưng cho mọi kiến trúc hỗ trợ: chạy chính thân mô hình (đóng băng) trên k vector ở vị
    trí 0…k-1 và ghi lại khóa/giá trị (đã quay RoPE nếu có) mà hàm attention nhận được ở từng lớp.

    Trả về, cho mỗi lớp, (K, V) dạng (số đầu k/v, k, head_dim). Cần hàm attention ATTN_NAME đang được dùng.
    """
    attns = block_attention(model)
    store: list = [None] * len(attns)
    saved = [a.__dict__.pop("prefix_kv", None) for a in attns]  # tạm tắt tiền tố: token ảo không tự chú ý tới nó
    for i, a in enumerate(attns):
        a.__dict__["prefix_record"] = functools.partial(store.__setitem__, i)
    model.__dict__["_prefix_unshifted"] = True  # vị trí 0…k-1, không dịch
    try:
        dtype = model.get_submodule(arch_of(model).embed_tokens).weight.dtype
        model.get_submodule(arch_of(model).backbone)(inputs_embeds=embeddings[None].to(dtype), use_cache=False)
    finally:
        model.__dict__.pop("_prefix_unshifted", None)
        for a, source in zip(attns, saved):
            a.__dict__.pop("prefix_record", None)
            if source is not None:
                a.__dict__["prefix_kv"] = source
    return [(key[0], value[0]) for key, value in store]


class Prompt(nn.Module):
    """k vector đầu vào học được (prompt tuning) và khóa/giá trị mà GPT-2 đóng băng tính cho chúng.

    Khóa/giá trị được tính lại một lần mỗi lượt forward (móc trước `transformer`), rồi mỗi lớp đọc phần của mình.
    """

    course_method = "prompt tuning"  # tên mà refuse_if_adapted báo khi gặp mô-đun này

    def __init__(self, model: nn.Module, k: int, init_token_ids: list[int] | None = None) -> None:
        super().__init__()
        self.k = k
        # Khởi tạo bằng embedding của từ thật (mặc định: k token sau vài token đặc biệt đầu từ vựng).
        ids = init_token_ids or list(range(10, 10 + k))
        wte = model.get_submodule(arch_of(model).embed_tokens).weight
        rows = wte[[ids[i % len(ids)] for i in range(k)]].detach()
        self.embedding = nn.Parameter(rows.to(trainable_dtype(wte.dtype)).clone())  # fp32 trên nền bf16/fp16
        self.__dict__["model"] = model  # tham chiếu thường, không đăng ký là mô-đun con
        self._kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._busy = False  # đang tính khóa/giá trị ảo (chạy thân mô hình): các móc không làm gì

    def virtual_kv(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Khóa/giá trị của k token ảo ở mọi lớp, do mô hình đóng băng tính."""
        model = self.model
        if arch_of(model).model_type == "gpt2":  # phép tính viết tay, đọc được (bài 5)
            return frozen_kv(model.transformer, self.embedding)
        self._busy = True
        try:
            return recorded_kv(model, self.embedding)
        finally:
            self._busy = False

    def layer_kv(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Khóa và giá trị ảo của lớp `layer` trong lượt forward hiện tại."""
        return (self._kv or self.virtual_kv())[layer]


def extend_mask(mask: torch.Tensor | None, k: int, q_len: int, kv_len: int, device: torch.device) -> torch.Tensor:
    """Nối k cột "được chú ý" vào trước mặt nạ attention, giữ đúng định dạng mặt nạ nhận được.

    mask có thể là None (transformers bỏ mặt nạ khi chỉ cần nhân quả, không đệm), bool (True = được chú ý)
    hoặc số thực cộng vào điểm (0 = được chú ý). Câu hỏi thứ i là token thứ kv_len - q_len + i.
    """
    if mask is None:
        mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=device).tril(kv_len - q_len)[None, None]
    ones = torch.ones(*mask.shape[:-1], k, dtype=mask.dtype, device=mask.device)
    return torch.cat([ones if mask.dtype == torch.bool else ones * 0, mask], dim=-1)


def prefix_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                     **kwargs) -> tuple[torch.Tensor, None]:
    """softmax(Q [P_K; K]ᵀ · scale + mặt nạ) [P_V; V] cho mỗi đầu; query/key/value dạng (b, H, T, d/H).

    Lớp không có tiền tố (thuộc tính `prefix_kv` vắng) được tính như attention thường.
    """
    b, heads, q_len, _ = query.shape
    kv_len = key.shape[2]
    record = module.__dict__.get("prefix_record")
    if record is not None:  # recorded_kv: ghi lại khóa/giá trị của token ảo
        record((key, value))
    source = module.__dict__.get("prefix_kv")
    if source is None:
        if attention_mask is None:
            attention_mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        key, value = _repeat_heads(key, heads), _repeat_heads(value, heads)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout,
                                             scale=scaling)
        return out.transpose(1, 2).contiguous(), None
    pk, pv = source()
    k = pk.shape[1]
    key = torch.cat([pk.to(key.dtype).expand(b, -1, -1, -1), key], dim=2)
    value = torch.cat([pv.to(value.dtype).expand(b, -1, -1, -1), value], dim=2)
    key, value = _repeat_heads(key, heads), _repeat_heads(value, heads)
    mask = extend_mask(attention_mask, k, q_len, kv_len, query.device)
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def _repeat_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """GQA: lặp mỗi đầu khóa/giá trị cho các đầu truy vấn cùng nhóm, (b, H_kv, T, dh) → (b, H, T, dh)."""
    return x if x.shape[1] == heads else x.repeat_interleave(heads // x.shape[1], dim=1)


def _register_attention() -> None:
    """Đăng ký hàm attention (và cách tạo mặt nạ như sdpa) dưới tên ATTN_NAME; gọi nhiều lần vô hại."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_NAME, prefix_attention)
    try:  # transformers ≥ 4.53 tạo mặt nạ theo tên hàm attention; bản cũ hơn tự đưa mặt nạ số thực
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return
    AttentionMaskInterface.register(ATTN_NAME, sdpa_mask)


def _shift_positions(model: nn.Module, k: int, n_positions: int | None):
    """Móc dịch vị trí token thật thêm k (trên wpe, hoặc rotary_emb với RoPE); báo lỗi nếu vượt n_positions
    hoặc nếu hàm attention đã bị đổi (tiền tố sẽ bị bỏ qua)."""
    facts = arch_of(model)

    def shifted(positions: torch.Tensor) -> torch.Tensor:
        if model.config._attn_implementation != ATTN_NAME:
            raise CourseError(f"attn_implementation đã bị đổi thành {model.config._attn_implementation!r}: tiền tố sẽ "
                              f"bị bỏ qua. Hãy giữ {ATTN_NAME!r} (do apply_prefix/apply_prompt đặt).")
        if model.__dict__.get("_prefix_unshifted"):  # recorded_kv: token ảo ở vị trí 0…k-1
            return positions
        if n_positions is not None and positions.numel() and int(positions.max()) + k >= n_positions:
            raise CourseError(f"Chuỗi dài {int(positions.max()) + 1} token cộng {k} token ảo = "
                              f"{int(positions.max()) + k + 1} vượt n_positions = {n_positions} của mô hình: chuỗi "
                              f"thật tối đa {n_positions - k} token.")
        return positions + k

    def learned(module: nn.Module, args: tuple) -> tuple:
        return (shifted(args[0]), *args[1:])

    def rotary(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if "position_ids" in kwargs:
            return args, {**kwargs, "position_ids": shifted(kwargs["position_ids"])}
        return (args[0], shifted(args[1]), *args[2:]), kwargs

    module = model.get_submodule(facts.position_module)
    if facts.positions == "learned":
        return module.register_forward_pre_hook(learned)
    return module.register_forward_pre_hook(rotary, with_kwargs=True)


def _use_prefix_attention(model: nn.Module) -> None:
    """Đăng ký và bật hàm attention ATTN_NAME trên mô hình."""
    _register_attention()
    model.set_attn_implementation(ATTN_NAME)


def _install(model: nn.Module, source: nn.Module, k: int, n_positions: int | None, name: str) -> list[str]:
    """Phần chung của apply_prefix/apply_prompt: đóng băng, gắn nguồn tiền tố vào từng attention, móc vị trí."""
    freeze_base(model)
    model.add_module(name, source)  # tham số của nguồn tiền tố nằm trong mô hình (được đếm, được lưu)
    _use_prefix_attention(model)
    facts = arch_of(model)
    changed = []
    for i, attn in enumerate(block_attention(model)):
        attn.__dict__["prefix_kv"] = functools.partial(source.layer_kv, i)  # hàm, không phải mô-đun con
        changed.append(f"{facts.blocks}.{i}.{facts.attention}")
    _shift_positions(model, k, n_positions)
    return changed + [facts.position_module]


def _refuse_multi_query(model: nn.Module) -> None:
    """GPTBigCode multi_query có một đầu khóa/giá trị dùng chung: bảng tiền tố H đầu không khớp, nên từ chối."""
    c = model.config
    mq = getattr(c, "model_type", None) == "gpt_bigcode" and getattr(c, "multi_query", True)
    require(not mq, f"model_type = {c.model_type!r} với multi_query = True (multi-query: một đầu khóa/giá trị cho "
                    "mọi đầu truy vấn): prefix/prompt tuning của khóa học cần khóa/giá trị riêng cho từng đầu; hãy "
                    "dùng LoRA (apply_lora) trên mô hình này, hoặc GPT-2 / GPTBigCode với multi_query = False.")


def _check_fresh(model: nn.Module, k: int, method: str = "prefix tuning") -> tuple[int, int, int, int | None]:
    require_module(model)
    _refuse_multi_query(model)
    L, H, d, n_positions = _shape(model)
    refuse_if_adapted(model, method)
    require_positive_int("num_virtual_tokens", k, maximum=None if n_positions is None else n_positions - 1)
    return L, H, d, n_positions


def apply_prefix(model: nn.Module, config: PrefixConfig) -> list[str]:
    """Thêm prefix tuning tại chỗ: đóng băng mọi trọng số nền, chỉ bảng tiền tố (hoặc MLP) học.

    Trả về tên các mô-đun bị đổi (các attention và mô-đun vị trí). Mô hình có thêm mô-đun con `prefix`.
    Với GQA, bảng có 2·L·num_key_value_heads·head_dim cột (như peft), không phải 2·L·d.
    """
    require(isinstance(config, PrefixConfig), f"config phải là PrefixConfig, nhận được {type(config).__name__}.")
    L, H, d, n_positions = _check_fresh(model, config.num_virtual_tokens)
    k, wte = config.num_virtual_tokens, model.get_submodule(arch_of(model).embed_tokens).weight
    ids = config.init_token_ids
    if ids is not None:
        require(max(ids) < wte.shape[0], f"init_token_ids có id {max(ids)} ngoài từ vựng (0 … {wte.shape[0] - 1}).")
        ids = torch.tensor([ids[i % len(ids)] for i in range(k)], device=wte.device)  # lặp lại cho đủ k
    prefix = Prefix(k, L, H, d, config.reparameterize, config.hidden, config.init_std).to(wte.device)
    if ids is not None:
        with torch.no_grad():
            if prefix.reparameterized:  # MLP: các hàng embedding bắt đầu là embedding của từ thật
                prefix.embedding.weight.copy_(wte[ids])
            else:  # Li & Liang: tiền tố = khóa/giá trị mà mạng đóng băng tính cho các từ thật
                prefix.init_from(_real_kv(model, wte[ids]))
    return _install(model, prefix, config.num_virtual_tokens, n_positions, "prefix")


def _real_kv(model: nn.Module, embeddings: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Khóa/giá trị mà mô hình đóng băng tính cho các embedding này (khởi tạo tiền tố từ từ thật)."""
    if arch_of(model).model_type == "gpt2":
        return frozen_kv(model.transformer, embeddings)
    _use_prefix_attention(model)
    return recorded_kv(model, embeddings)


def fold_prefix(model: nn.Module) -> int:
    """Gộp MLP tái tham số hóa vào bảng tiền tố (k, 2·L·d) và bỏ MLP; trả về số tham số còn lại để lưu."""
    prefix = getattr(model, "prefix", None)
    require(isinstance(prefix, Prefix), "Mô hình chưa có prefix: hãy gọi apply_prefix trước fold_prefix.")
    prefix.fold()
    return prefix.weight.numel()


def apply_prompt(model: nn.Module, config: PromptConfig) -> list[str]:
    """Thêm prompt tuning: k vector đầu vào học được (k·d tham số), mọi trọng số nền đóng băng."""
    require(isinstance(config, PromptConfig), f"config phải là PromptConfig, nhận được {type(config).__name__}.")
    _, _, _, n_positions = _check_fresh(model, config.num_virtual_tokens, "prompt tuning")
    vocab = model.get_submodule(arch_of(model).embed_tokens).weight.shape[0]
    ids = config.init_token_ids
    require(ids is None or max(ids) < vocab, f"init_token_ids có id {max(ids or [0])} ngoài từ vựng (0 … {vocab - 1}).")
    prompt = Prompt(model, config.num_virtual_tokens, ids)
    changed = _install(model, prompt, config.num_virtual_tokens, n_positions, "prompt")

    def compute(module, args):  # một lần mỗi lượt forward: khóa/giá trị của token ảo ở mọi lớp
        if not prompt._busy:
            prompt._kv = prompt.virtual_kv()

    def release(module, args, output):
        if not prompt._busy:
            prompt._kv = None

    backbone = model.get_submodule(arch_of(model).backbone)
    backbone.register_forward_pre_hook(compute)
    backbone.register_forward_hook(release)
    return changed


def prefix_parameter_count(k: int, num_layers: int, d: int, hidden: int | None = None) -> int:
    """Số tham số theo công thức: k·2·L·d; với MLP (hidden = h): k·d + (d·h + h) + (h·2·L·d + 2·L·d)."""
    if hidden is None:
        return k * 2 * num_layers * d
    return k * d + d * hidden + hidden + hidden * 2 * num_layers * d + 2 * num_layers * d

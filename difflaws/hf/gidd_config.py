"""The authors' ``config.json``: its keys, their defaults, and what a well-formed one holds.

A key the file leaves out takes the authors' default (``save_pretrained`` may omit
keys equal to it), except ``noise_type``: the authors' class would read 0.0 (a
hybrid), but a file that does not say is more likely one that forgot, so the
importer then asks for ``--noise``.  Keys that only Hugging Face's bookkeeping
reads (:data:`BOOKKEEPING`) are kept verbatim and change nothing.  Any other key
is refused: difflaws cannot tell whether it changes the model.

This module checks the *format* (types, ranges the authors' code needs); what
difflaws cannot honour is refused where the spec is made (:mod:`difflaws.hf.to_spec`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import attrs

from difflaws.errors import UserError

CONFIG_FILE = "config.json"
MODEL_TYPE = "gidd"
ARCHITECTURE = "GiddForDiffusionLM"
#: the two string values ``weight_scaling`` and ``head_scaling`` may take besides a number
FAN_IN, FAN_OUT = "fan_in", "fan_out"

#: keys Hugging Face writes or reads for its own purposes; none changes the forward pass
BOOKKEEPING = frozenset({
    "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "auto_map",
    "_name_or_path", "_commit_hash", "_attn_implementation_autoset", "initializer_range",
    "pad_token_id", "sep_token_id", "mask_token_id", "decoder_start_token_id", "use_cache",
    "return_dict", "output_hidden_states", "output_attentions", "torchscript",
    "use_bfloat16", "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward",
    "is_encoder_decoder", "is_decoder", "add_cross_attention", "tie_encoder_decoder",
    "cross_attention_hidden_size", "id2label", "label2id", "problem_type", "finetuning_task",
    "tokenizer_class", "prefix", "task_specific_params", "max_length", "min_length",
    "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
    "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty",
    "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
    "num_return_sequences", "output_scores", "return_dict_in_generate",
    "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens",
})
DTYPE_KEYS = ("torch_dtype", "dtype")  # older and newer transformers name it differently


@attrs.frozen(kw_only=True)
class GiddConfig:
    """The architecture keys of the authors' config, at the authors' defaults."""

    vocab_size: int = 131_072
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    is_causal: bool = False
    attn_soft_cap: float = 30.0
    max_position_embeddings: int = 1024
    resid_scale: float = 4.0
    rms_norm_eps: float = 1e-6
    use_qk_norm: bool = True
    init_scale: float = 0.4
    emb_init_scale: float = 0.1
    head_init_scale: float = 0.0
    weight_scaling: str | float = FAN_IN
    head_scaling: str | float = 1.0
    bos_token_id: int = 0
    eos_token_id: int = 1
    rope_theta: float = 10_000.0
    rope_scaling: dict | None = None
    attention_bias: bool = False
    mlp_bias: bool = False
    tie_word_embeddings: bool = False
    attn_performer: str = "eager"
    noise_type: float | None = None  # the shift b of the uniform share σ(λ + b); None: unsaid
    min_log_snr: float = -9.0
    max_log_snr: float = 9.0
    #: the BOOKKEEPING keys the file had, verbatim
    bookkeeping: dict = attrs.field(factory=dict)

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim if self.head_dim is not None else \
            self.hidden_size // self.num_attention_heads

    def linear_scale(self, fan_in: int, fan_out: int) -> float:
        """The factor the authors' code multiplies every block matrix's output by."""
        return resolve_scale(self.weight_scaling, fan_in, fan_out)

    def head_scale(self) -> float:
        """The factor on the LM head's output (their tied head applies none)."""
        return 1.0 if self.tie_word_embeddings else \
            resolve_scale(self.head_scaling, self.hidden_size, self.vocab_size)

    def to_json(self) -> dict:
        """Every key, bookkeeping first, as the authors' class would save it."""
        out = dict(self.bookkeeping)
        for field in attrs.fields(GiddConfig):
            if field.name != "bookkeeping" and getattr(self, field.name) is not None:
                out[field.name] = getattr(self, field.name)
            elif field.name in ("head_dim", "rope_scaling"):
                out[field.name] = None
        return out


def resolve_scale(value, fan_in: int, fan_out: int) -> float:
    if value == FAN_IN:
        return fan_in ** -0.5
    if value == FAN_OUT:
        return fan_out ** -0.5
    return float(value)


# -- reading -------------------------------------------------------------------------------
ARCH_KEYS = tuple(f.name for f in attrs.fields(GiddConfig) if f.name != "bookkeeping")
_POSITIVE_INTS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                  "num_attention_heads", "head_dim", "max_position_embeddings")
_TOKEN_IDS = ("bos_token_id", "eos_token_id")


def read_config(folder) -> tuple[GiddConfig, dict]:
    """``FOLDER/config.json`` as a checked :class:`GiddConfig` and as read, or a UserError
    naming the key."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; a GIDD checkpoint folder holds config.json next "
                        "to its safetensors files (pass the folder the model was saved to)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: cannot read it as JSON ({exc}); pass the model's own "
                        "config.json") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: holds a {type(data).__name__}, not a JSON object of config keys")
    return parse_config(data, str(path)), data


def parse_config(data: dict, where: str = CONFIG_FILE) -> GiddConfig:
    model_type = data.get("model_type", MODEL_TYPE)
    if model_type != MODEL_TYPE:
        raise UserError(f"{where}: model_type = {model_type!r}: this is not a GIDD checkpoint "
                        f"(model_type {MODEL_TYPE!r}); difflaws imports only the authors' format")
    unknown = sorted(set(data) - set(ARCH_KEYS) - BOOKKEEPING)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}: not a key of the GIDD config, so "
                        "difflaws cannot tell whether it changes the model; remove it if it "
                        "does not (docs/hf-interop.md lists the keys read)")
    values = {key: _checked(key, data[key], where) for key in ARCH_KEYS if key in data}
    return GiddConfig(**values, bookkeeping={k: data[k] for k in data if k in BOOKKEEPING})


def _checked(key: str, value, where: str):
    field = attrs.fields_dict(GiddConfig)[key]
    kind, default = field.type, field.default

    def bad(why: str) -> UserError:
        return UserError(f"{where}: {key} = {value!r}: {why}")

    if value is None:
        if key in ("head_dim", "rope_scaling"):
            return None
        raise bad(f"must be set (the authors' default is {default!r}); give a value or "
                  "remove the key")
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("must be an integer")
        if key in _POSITIVE_INTS and value < 1:
            raise bad("must be at least 1")
        if key in _TOKEN_IDS and value < 0:
            raise bad("must be a token id (0 or more)")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise bad("must be a string")
        return value
    if kind == "dict | None":
        if not isinstance(value, dict):
            raise bad("must be a JSON object or null")
        return value
    if kind == "str | float":
        if value in (FAN_IN, FAN_OUT):
            return value
        if isinstance(value, str):
            raise bad(f"must be a number, {FAN_IN!r} or {FAN_OUT!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad("must be a number")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and key != "noise_type"):
        raise bad("must be a finite number" + ("" if key != "noise_type" else " or ±Infinity"))
    return value

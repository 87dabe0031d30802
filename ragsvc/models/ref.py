"""A reference to model weights, as written in settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

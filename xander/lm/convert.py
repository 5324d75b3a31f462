"""GGUF -> Hugging Face model directory (for vLLM and transformers), cached next to the GGUF.

transformers reads GGUF (with the ``gguf`` package) and dequantises it; the quantizer is dropped
before ``save_pretrained`` so the directory is a plain bf16 model.  The directory name carries
the GGUF's SHA-256 (first 16 hex digits), so a different file never reuses a stale conversion.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from xander.errors import MissingDependencyError


def hf_dir_for(gguf: Path, sha256: str) -> Path:
    return gguf.parent / f"{gguf.stem}.hf-{sha256[:16]}"


def convert_gguf(gguf: str | Path, sha256: str, dtype: str = "bfloat16") -> Path:
    """The converted model directory for ``gguf`` (made once)."""
    gguf = Path(gguf)
    target = hf_dir_for(gguf, sha256)
    if (target / "config.json").is_file():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("converting a GGUF needs transformers, torch and gguf",
                                     "pip install '.[hf]'") from exc
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=getattr(torch, dtype))
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    os.replace(tmp, target)
    return target

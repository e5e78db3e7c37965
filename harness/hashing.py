"""Run-id hashing: which fields of a config are hashed into a run id, and the hash itself."""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel


def id_payload(model: BaseModel) -> dict[str, Any]:
    """The part of a model that is hashed into a run id: only fields that opt in.

    A field opts in with ``json_schema_extra=IN_ID`` (always hashed) or ``IN_ID_UNLESS_DEFAULT`` (hashed
    only when its value differs from its default). Give every new outcome-changing field the second
    marker: records made before the field existed then keep their run ids. Unmarked fields (logging,
    checkpoint cadence, labels) never change a run id. Nested models are reduced the same way.
    """
    dumped = model.model_dump(mode="json")
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        rule = (field.json_schema_extra or {}).get("run_id") if isinstance(field.json_schema_extra, dict) else None
        value = getattr(model, name)
        if rule is None or (rule == "unless_default" and value == field.get_default(call_default_factory=True)):
            continue
        out[name] = id_payload(value) if isinstance(value, BaseModel) else dumped[name]
    return out


def content_hash(payload: Any, length: int = 10) -> str:
    """Stable short hash of a JSON-serialisable payload (sorted keys)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def safe_name(text: str) -> str:
    """Reduce text to characters allowed in a run directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "run"

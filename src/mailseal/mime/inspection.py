"""Describe a message's S/MIME structure without keys or trust: the layers a reader would meet."""

from __future__ import annotations

from typing import Any

from ..cms.inspection import inspect_cms
from ..cms.parsing import looks_like_cms, parse_content_info
from .entity import Entity
from .opening import MAX_DEPTH, classify
from .signed import parse_multipart_signed


def inspect_message(raw: bytes) -> list[dict[str, Any]]:
    """Layers outermost first; encrypted layers stop the walk (their content needs a key)."""
    layers: list[dict[str, Any]] = []
    if looks_like_cms(raw):
        return [{"form": "cms", **inspect_cms(raw)}]
    entity = Entity.parse(raw)
    for _ in range(MAX_DEPTH):
        kind = classify(entity)
        ctype, params = entity.content_type()
        if kind == "signed":
            detached = parse_multipart_signed(entity)
            layer = {"form": "multipart/signed", "micalg": params.get("micalg"), **inspect_cms(detached.signature)}
            layers.append(layer)
            entity = Entity.content_from_region(detached.content)
            continue
        if kind == "pkcs7":
            der = entity.decoded_body()
            layers.append({"form": ctype, "smime_type": params.get("smime-type"), **inspect_cms(der)})
            info = parse_content_info(der)
            if info["content_type"].native == "signed_data" and info["content"]["encap_content_info"]["content"].native:
                inner = info["content"]["encap_content_info"]["content"]
                entity = Entity.parse_content(inner.native if isinstance(inner.native, bytes) else bytes(inner))
                continue
            break
        layers.append({"form": "entity", "content_type": ctype})
        break
    return layers


__all__ = ["inspect_message"]

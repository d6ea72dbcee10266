"""XML rendering of Open311 documents: the JSON data under the spec's root element, each list item in the
element the spec names (<services><service>, <service_requests><request>, <errors><error> ...).

Built with ElementTree, so text is always escaped; characters XML 1.0 cannot carry (control characters in
imported free text) are dropped, so the document stays well-formed whatever a case's description holds.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

# The element of one item of each list (the Spark convention the spec's JSON is mapped by).
ITEM_TAGS: dict[str, str] = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
}
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render(root: str, data: Any) -> bytes:
    """Returns `data` (dicts, lists and scalars, as dumped for JSON) as a UTF-8 XML document under `root`."""
    return DECLARATION + ET.tostring(_element(root, data), encoding="unicode").encode("utf-8")


def _element(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            element.append(_element(key, item))
    elif isinstance(value, list):
        if tag not in ITEM_TAGS:
            raise ValueError(f"no XML item element defined for a list in <{tag}>")
        for item in value:
            element.append(_element(ITEM_TAGS[tag], item))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("", str(value))
    return element

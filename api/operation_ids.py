"""OpenAPI operation ids made from the method and the path alone ("GET /instances/{id}/file" is
getInstancesByIdFile): stable when handlers are renamed or moved, unique because no two routes
share a method and a path, and predictable for guards and generated clients."""

from __future__ import annotations

import re
from typing import Any

from litestar.types import Method

WORD = re.compile(r"[A-Za-z0-9]+")


def operation_id(route_handler: Any, http_method: Method, path_components: list[Any]) -> str:
    words = [getattr(http_method, "value", str(http_method)).lower()]
    for component in path_components:
        name = getattr(component, "name", None)
        if name is not None:  # a path parameter
            words.append("By" + _camel(name))
        else:
            words.append(_camel(str(component)))
    return "".join(words)


def _camel(text: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in WORD.findall(text))

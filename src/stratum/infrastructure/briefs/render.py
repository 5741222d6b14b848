"""Markdown of a brief, rendered with jinja2 templates shipped in the package."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

# Characters that would turn a title into markup (emphasis, links, headings, tables, HTML).
_SPECIAL = re.compile(r"([\\`*_\[\]<>#|!~])")


def md_escape(value: Any) -> str:
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


@lru_cache(maxsize=1)
def _env() -> Environment:
    # Markdown, not HTML: HTML escaping would mangle it; user text goes through the md filter.
    env = Environment(
        loader=PackageLoader("stratum.infrastructure.briefs", "templates"),
        autoescape=False,  # noqa: S701
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.filters["md"] = md_escape
    return env


def markdown(brief: dict[str, Any]) -> str:
    text = _env().get_template(f"{brief['kind']}.md.j2").render(b=brief)
    # Templates read better with blank lines around blocks; collapse the runs they leave.
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

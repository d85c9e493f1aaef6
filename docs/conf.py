"""Sphinx configuration of plivo-numlink's documentation (``make docs``).

The pages are MyST Markdown; the API reference is generated from the docstrings by autodoc.
The build is strict (``-n -W --keep-going``) and offline: intersphinx is left out, because
its inventories can only be fetched from the network, so references into other projects'
documentation (Python, aiohttp, attrs, ...) are ignored by name below instead of linked.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import plivo_numlink  # noqa: E402

project = "plivo-numlink"
author = "plivo-numlink developers"
copyright = "2026, plivo-numlink developers"
release = plivo_numlink.__version__
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"plivo-numlink {release}"

autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "both"

# Broken references are errors (make docs: -n -W), except references into other projects,
# whose inventories cannot be fetched offline: the standard library, aiohttp, attrs, ...
_EXTERNAL = (
    "aiohttp",
    "attr",
    "attrs",
    "cattrs",
    "tenacity",
    "redis",
    "multidict",
    "yarl",
    "opentelemetry",
    "click",
    "rich",
    "pytest",
    "_pytest",
    "asyncio",
    "collections",
    "concurrent",
    "contextlib",
    "datetime",
    "enum",
    "http",
    "io",
    "logging",
    "os",
    "pathlib",
    "random",
    "re",
    "sqlite3",
    "ssl",
    "types",
    "typing",
    "typing_extensions",
)
_BUILTINS = r"[A-Za-z_][A-Za-z0-9_]*"  # an undotted name: a builtin (str, int, ValueError...)
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_EXTERNAL)})(\..+)?"),
    (r"py:.*", _BUILTINS),
    # Type aliases and helpers of the private modules that a signature names but that are
    # not public (they have no page to link to).
    (r"py:.*", r"plivo_numlink(\.\w+)*\._\w+(\.\w+)*"),
]

# The public modules whose __all__ is the reference; a name documented there is linked to
# wherever a signature names it through its private home (plivo_numlink._report.BulkReport).
PUBLIC_MODULES = (
    "plivo_numlink",
    "plivo_numlink.callbacks",
    "plivo_numlink.testing",
    "plivo_numlink.defaults",
)
_PRIVATE = re.compile(r"^plivo_numlink(?:\.\w+)*?\._\w+")


def _public_home(name: str) -> str | None:
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        if name in getattr(module, "__all__", ()):
            return f"{module_name}.{name}"
    return None


def _resolve_private(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Link ``plivo_numlink._report.BulkReport`` to its public name ``plivo_numlink.BulkReport``."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    if not _PRIVATE.match(target):
        return None
    parts = target.split(".")
    # The class is the last part not starting with "_" that a public module exports;
    # what follows it (a method or attribute) is kept.
    for i in range(len(parts) - 1, 0, -1):
        home = _public_home(parts[i])
        if home is not None:
            new_target = ".".join([home, *parts[i + 1 :]])
            break
    else:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node.get("refdoc", ""), app.builder, node["reftype"], new_target, node, contnode
    )


def _data_names(module_name: str) -> list[str]:
    """The names of ``module_name.__all__`` that automodule's ``:members:`` passes over.

    autodoc documents a constant only where the module itself assigns it with a doc
    comment; the public modules import theirs (``BASE_URL``, ``__version__``, ...), so
    these get an ``autodata`` directive each, and every name in ``__all__`` is documented.
    """
    module = importlib.import_module(module_name)
    return [
        name
        for name in module.__all__
        if not inspect.isclass(value := getattr(module, name))
        and not inspect.isroutine(value)
        and not inspect.ismodule(value)
    ]


_AUTOMODULE = re.compile(r"^\.\. automodule:: (?P<module>[\w.]+)\n(?:   :.*\n)*", re.MULTILINE)


def _add_data_directives(app: Any, docname: str, source: list[str]) -> None:
    if docname != "api":
        return

    def with_data(match: re.Match[str]) -> str:
        module_name = match["module"]
        lines = [f"\n.. autodata:: {module_name}.{name}\n" for name in _data_names(module_name)]
        return match[0] + "".join(lines)

    source[0] = _AUTOMODULE.sub(with_data, source[0])


def _drop_type_docstrings(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """A constant has no docstring of its own: do not show its type's (``str(object='')...``)."""
    if what != "data":
        return
    text = "\n".join(lines).strip()
    for source in (type(obj), getattr(obj, "__origin__", None)):
        doc = inspect.getdoc(source) if source is not None else None
        if doc and text == doc.strip():
            lines.clear()
            return


def setup(app: Any) -> None:
    app.connect("autodoc-process-docstring", _drop_type_docstrings)
    app.connect("missing-reference", _resolve_private)
    app.connect("source-read", _add_data_directives)

"""The API's reference page, rendered on the server from its OpenAPI document: each
operation with its parameters, request body and responses, each schema's fields, and the
problem codes. Plain HTML and a little CSS: it works offline and runs no script."""

from __future__ import annotations

from html import escape
from typing import Any

from stylestudio.api.v1.problems import CODES

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1f2328}
code,pre{font:13px ui-monospace,monospace;background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}
h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de}
section.op{border:1px solid #d0d7de;border-radius:8px;padding:.5rem 1rem;margin:1rem 0}
.method{font-weight:700;text-transform:uppercase;margin-right:.5rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.2rem .5rem;
border-bottom:1px solid #eee;vertical-align:top}
"""


def reference_html(doc: dict[str, Any]) -> str:
    info = doc.get("info", {})
    base = (doc.get("servers") or [{"url": ""}])[0]["url"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info.get('title', 'API'))} reference</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))} <small>{escape(info.get('version', ''))}</small>"
        "</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        f"<p>Base URL: <code>{escape(base)}</code>. Machine-readable: "
        f"<a href='{escape(base)}/openapi.json'>openapi.json</a> (OpenAPI "
        f"{escape(doc.get('openapi', ''))}).</p>",
        "<h2 id=operations>Operations</h2>",
    ]
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            parts.append(_operation(path, method, op))
    parts.append("<h2 id=schemas>Schemas</h2>")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        parts.append(f"<h3 id='schema-{escape(name)}'>{escape(name)}</h3>")
        parts.append(_schema_table(schema))
    parts.append("<h2 id=problems>Problem codes</h2><table><tr><th>code<th>meaning")
    for code, meaning in CODES.items():
        parts.append(f"<tr id='problem-{code}'><td><code>{code}</code><td>{escape(meaning)}")
    parts.append("</table></body></html>")
    return "".join(parts)


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    anchor = escape(op.get("operationId", f"{method}-{path}"))
    out = [
        f"<section class=op id='{anchor}'><h3><span class=method>{escape(method)}</span>"
        f"<code>{escape(path)}</code></h3>",
        f"<p><b>{escape(op.get('summary', ''))}</b></p>",
        f"<p>{escape(op.get('description', ''))}</p>",
    ]
    scopes = _scope_of(op)
    if scopes:
        out.append(f"<p>Needs an API key with the <code>{escape(scopes)}</code> scope.</p>")
    params = op.get("parameters", [])
    if params:
        out.append("<h4>Parameters</h4><table><tr><th>name<th>in<th>type<th>required<th>about")
        for p in params:
            out.append(
                f"<tr><td><code>{escape(p['name'])}</code><td>{escape(p.get('in', ''))}"
                f"<td>{_type(p.get('schema', {}))}<td>{'yes' if p.get('required') else 'no'}"
                f"<td>{escape(p.get('description', ''))}"
            )
        out.append("</table>")
    body = op.get("requestBody")
    if body:
        out.append("<h4>Request body</h4><ul>")
        for ctype, media in body.get("content", {}).items():
            out.append(f"<li><code>{escape(ctype)}</code>: {_type(media.get('schema', {}))}")
        out.append("</ul>")
    out.append("<h4>Responses</h4><table><tr><th>status<th>body<th>about")
    for status, response in op.get("responses", {}).items():
        content = response.get("content", {})
        shown = next(iter(content.items()), None)
        kind = (
            f"<code>{escape(shown[0])}</code> {_type(shown[1].get('schema', {}))}" if shown else ""
        )
        out.append(
            f"<tr><td>{escape(status)}<td>{kind}<td>{escape(response.get('description', ''))}"
        )
    out.append("</table></section>")
    return "".join(out)


def _scope_of(op: dict[str, Any]) -> str:
    """The API key scope the operation needs (each route names it)."""
    return str(op.get("x-required-scope", ""))


def _type(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = escape(ref.rsplit("/", 1)[-1])
        return f"<a href='#schema-{name}'>{name}</a>"
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{escape(str(schema['const']))}</code>"
    text = escape(str(schema.get("type", "any")))
    if schema.get("format"):
        text += f" ({escape(str(schema['format']))})"
    bounds = [
        f"{label} {schema[key]}"
        for key, label in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "length ≤"))
        if key in schema
    ]
    return text + (f" [{escape(', '.join(bounds))}]" if bounds else "")


def _schema_table(schema: dict[str, Any]) -> str:
    props = schema.get("properties", {})
    if not props:
        return f"<p>{_type(schema)}</p>"
    required = set(schema.get("required", []))
    rows = [f"<p>{escape(schema.get('description', ''))}</p>"]
    rows.append("<table><tr><th>field<th>type<th>required<th>about")
    for name, prop in props.items():
        rows.append(
            f"<tr><td><code>{escape(name)}</code><td>{_type(prop)}"
            f"<td>{'yes' if name in required else 'no'}<td>{escape(prop.get('description', ''))}"
        )
    rows.append("</table>")
    return "".join(rows)

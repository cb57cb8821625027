"""GET /s/{token}: the public page of a shared image, with OpenGraph and Twitter cards.

Self-contained HTML (inline CSS, no script). Every user-provided string is escaped. A
revoked, expired or unknown link answers the same small 404 page, so nobody can tell which
it was. Neither answer is cached anywhere, so a revoked link stops working at once.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from stylestudio.db import get_engine, session_scope
from stylestudio.services import sharing
from stylestudio.services.media import media_url
from stylestudio.settings import get_settings

DEFAULT_TITLE = "Product shot"
DESCRIPTION_LIMIT = 200

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    # The page's own URL carries the token: never send it on to another site.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def share_url(token: str) -> str:
    """The public address of a share link (show it to the owner once, at creation)."""
    return sharing.share_url(token, base_url=get_settings().api_url)


@dataclass(frozen=True)
class _Page:
    shared: sharing.SharedImage
    image_url: str
    page_url: str
    public_url: str


async def share_page(request: Request) -> HTMLResponse:
    token = str(request.path_params.get("token", ""))
    page = await asyncio.to_thread(_load, token)
    if page is None:
        return HTMLResponse(
            _not_found_html(get_settings().public_url), status_code=404, headers=_HEADERS
        )
    return HTMLResponse(_page_html(page), headers=_HEADERS)


def _load(token: str) -> _Page | None:
    settings = get_settings()
    # write=True: a view increments the link's counter. A malformed token never opens a
    # connection (resolve_share refuses it before any query), so it takes no lock.
    with session_scope(get_engine(), write=True) as session:
        shared = sharing.resolve_share(session, token=token)
    if shared is None:
        return None
    return _Page(
        shared=shared,
        image_url=media_url(shared.storage_key, base_url=settings.api_url),
        page_url=share_url(token),
        public_url=settings.public_url,
    )


def share_routes() -> list[Route]:
    return [Route("/s/{token}", share_page, methods=["GET"])]


# --------------------------------------------------------------------------- rendering


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _truncate(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:-") + "…"


def _display_date(iso: str) -> str:
    try:
        value = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return ""
    return f"{value.day} {value:%B %Y}"


_CSS = """
*{box-sizing:border-box}
html,body{margin:0;padding:0}
body{min-height:100vh;background:#0f1115;color:#e8e6e3;
font-family:ui-sans-serif,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;
line-height:1.5;-webkit-font-smoothing:antialiased;display:flex;flex-direction:column}
a{color:inherit}
header,footer{padding:18px 24px;display:flex;align-items:center;justify-content:space-between;
max-width:1200px;width:100%;margin:0 auto}
.brand{font-weight:700;letter-spacing:.02em;text-decoration:none;font-size:15px}
.brand span{color:#c9a86a}
main{flex:1;width:100%;max-width:1200px;margin:0 auto;padding:8px 24px 32px;
display:grid;grid-template-columns:minmax(0,1fr) 340px;gap:32px;align-items:start}
figure{margin:0;background:#171a21;border-radius:18px;padding:14px;
box-shadow:0 20px 60px rgba(0,0,0,.45);display:flex;justify-content:center}
figure img{display:block;max-width:100%;height:auto;max-height:78vh;width:auto;
border-radius:10px;object-fit:contain;background:#20242d}
aside{position:sticky;top:24px;background:#171a21;border:1px solid #252a34;border-radius:18px;
padding:24px}
h1{font-size:26px;line-height:1.2;margin:0 0 12px;font-weight:700;overflow-wrap:anywhere}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 18px;padding:0;list-style:none}
.chip{font-size:12px;text-transform:uppercase;letter-spacing:.06em;padding:4px 10px;
border-radius:999px;background:#242936;color:#c9c5bd}
.chip.style{background:#3a301c;color:#e7c98d}
.label{font-size:12px;text-transform:uppercase;letter-spacing:.08em;color:#8b8f99;margin:0 0 6px}
.prompt{margin:0 0 20px;font-size:15px;color:#d9d6d0;white-space:pre-wrap;overflow-wrap:anywhere}
.by{margin:0 0 24px;font-size:14px;color:#a9adb6;overflow-wrap:anywhere}
.by strong{color:#e8e6e3;font-weight:600}
.cta{display:block;text-align:center;text-decoration:none;font-weight:600;font-size:15px;
padding:12px 16px;border-radius:12px;background:#c9a86a;color:#15130f}
.cta:hover{background:#d8b97c}
footer{font-size:12px;color:#9ea3ad}
@media (max-width:880px){main{grid-template-columns:1fr;gap:20px}aside{position:static}
h1{font-size:22px}figure{padding:8px;border-radius:14px}}
.gone{flex:1;display:flex;align-items:center;justify-content:center;padding:24px}
.gone div{max-width:440px;text-align:center;background:#171a21;border:1px solid #252a34;
border-radius:18px;padding:36px 28px}
.gone h1{font-size:22px}
.gone p{color:#a9adb6;margin:0 0 24px}
"""


def _page_html(page: _Page) -> str:
    shared = page.shared
    title = (shared.title or "").strip() or DEFAULT_TITLE
    style = shared.style
    prompt = shared.prompt.strip()
    description = _truncate(prompt) or (
        f"A {style.lower()} product shot made with Style Studio."
        if style
        else "A product shot made with Style Studio."
    )
    alt = _truncate(prompt, 300) or title
    when = _display_date(shared.created_at)
    chips = ""
    if style:
        chips += f'<li class="chip style">{_e(style)} style</li>'
    if when:
        chips += f'<li class="chip">{_e(when)}</li>'
    meta = [
        ("property", "og:type", "website"),
        ("property", "og:site_name", "Style Studio"),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("property", "og:url", page.page_url),
        ("property", "og:image", page.image_url),
        ("property", "og:image:type", shared.content_type),
        ("property", "og:image:width", str(shared.width)),
        ("property", "og:image:height", str(shared.height)),
        ("property", "og:image:alt", alt),
        ("name", "twitter:card", "summary_large_image"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
        ("name", "twitter:image", page.image_url),
        ("name", "twitter:image:alt", alt),
        ("name", "description", description),
    ]
    if page.image_url.startswith("https://"):
        meta.append(("property", "og:image:secure_url", page.image_url))
    meta_tags = "\n".join(
        f'<meta {attr}="{_e(key)}" content="{_e(value)}">' for attr, key, value in meta
    )
    prompt_block = (
        f'<p class="label">Prompt</p>\n<p class="prompt">{_e(prompt)}</p>' if prompt else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{_e(title)} · Style Studio</title>
{meta_tags}
<style>{_CSS}</style>
</head>
<body>
<header>
<a class="brand" href="{_e(page.public_url)}" rel="noopener noreferrer">
Style <span>Studio</span></a>
</header>
<main>
<figure>
<img src="{_e(page.image_url)}" width="{int(shared.width)}" height="{int(shared.height)}"
 alt="{_e(alt)}" decoding="async">
</figure>
<aside>
<h1>{_e(title)}</h1>
<ul class="chips">{chips}</ul>
{prompt_block}
<p class="by">By <strong>{_e(shared.author)}</strong></p>
<a class="cta" href="{_e(page.public_url)}" rel="noopener noreferrer">
Made with Style Studio — try it</a>
</aside>
</main>
<footer><span>Shared with a private link.</span><span>Style Studio</span></footer>
</body>
</html>
"""


def _not_found_html(public_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>Link not available · Style Studio</title>
<style>{_CSS}</style>
</head>
<body>
<div class="gone"><div>
<h1>This link is no longer available</h1>
<p>The owner may have turned sharing off, or the link has expired.</p>
<a class="cta" href="{_e(public_url)}" rel="noopener noreferrer">
Made with Style Studio — try it</a>
</div></div>
</body>
</html>
"""

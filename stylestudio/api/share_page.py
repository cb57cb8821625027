"""GET /s/{token}: the public page of a shared image, with OpenGraph and Twitter cards;
GET /api/share/{token}/image: that image, served through the token; GET /favicon.ico.

Self-contained HTML (inline CSS, no script) in the app's look. Every user-provided string
is escaped. A revoked, expired or unknown link answers the same small 404 page, so nobody
can tell which it was. The image is looked up through the link on every request (no signed
media URL that would outlive it), and neither answer may be kept by a shared cache, so a
revoked link and its image stop working at once.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from stylestudio.api.stored_media import stored_media_response
from stylestudio.db import get_engine, session_scope
from stylestudio.runtime import get_storage
from stylestudio.services.library import sharing
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
# The image: a browser may keep it but must ask again before each use (the answer is 404
# once the link is revoked); no shared cache (CDN, proxy) may keep it at all.
_IMAGE_HEADERS = {
    "Cache-Control": "private, no-cache",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
_GONE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
FAVICON = Path(__file__).resolve().parents[2] / "assets" / "favicon.ico"


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
        image_url=sharing.shared_image_url(token, base_url=settings.api_url),
        page_url=share_url(token),
        public_url=settings.public_url,
    )


async def shared_image(request: Request) -> Response:
    """The image of a live link, looked up through the token on every request: 404 from
    the moment the link is revoked or expires, like the page."""
    token = str(request.path_params.get("token", ""))
    found = await asyncio.to_thread(_shared_file, token)
    if found is None:
        return Response(status_code=404, headers=_GONE_HEADERS)
    # The link is live (checked above): a browser that still holds this file revalidates
    # for a 304 instead of downloading it again.
    response = await stored_media_response(
        request,
        get_storage(),
        found.storage_key,
        media_type=found.content_type,
        headers=_IMAGE_HEADERS,
    )
    return response or Response(status_code=404, headers=_GONE_HEADERS)


def _shared_file(token: str) -> sharing.SharedFile | None:
    with session_scope(get_engine(), write=False) as session:
        return sharing.shared_image_file(session, token=token)


async def favicon(_request: Request) -> Response:
    """The app's icon, for the pages the backend serves itself (the share page)."""
    if not FAVICON.is_file():
        return Response(status_code=404)
    return FileResponse(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )


def share_routes() -> list[Route]:
    return [
        Route("/s/{token}", share_page, methods=["GET"]),
        Route("/api/share/{token}/image", shared_image, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]


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


# The app's look (Radix Themes, light, violet accent on slate grays; see
# components/layout.py): same font stack, colours, header and footer, without any script.
_FONT = (
    "-apple-system,BlinkMacSystemFont,'Segoe UI (Custom)',Roboto,'Helvetica Neue',"
    "'Open Sans (Custom)',system-ui,sans-serif,'Apple Color Emoji','Segoe UI Emoji'"
)
_CSS = (
    """
*{box-sizing:border-box}
html,body{margin:0;padding:0}
body{min-height:100vh;background:#f9f9fb;color:#1c2024;font-family:"""
    + _FONT
    + """;
line-height:1.5;-webkit-font-smoothing:antialiased;display:flex;flex-direction:column}
a{color:inherit}
.bar{position:sticky;top:0;z-index:10;background:rgba(255,255,255,.85);
backdrop-filter:blur(8px);border-bottom:1px solid #e8e8ec}
.bar nav{max-width:1180px;margin:0 auto;padding:0 24px;height:64px;display:flex;
align-items:center;gap:24px}
.brand{display:flex;align-items:center;gap:8px;text-decoration:none;font-weight:700;
font-size:18px;color:#1c2024}
.mark{width:32px;height:32px;border-radius:9px;display:flex;align-items:center;
justify-content:center;background:linear-gradient(135deg,#6e56cf,#ab4aba);color:#fff}
.spacer{flex:1}
.nav{font-size:14px;font-weight:500;color:#60646c;text-decoration:none}
.nav:hover{color:#6550b9}
.button{font-size:14px;font-weight:500;text-decoration:none;color:#fff;background:#6e56cf;
border-radius:6px;padding:7px 12px}
.button:hover{background:#654dc4}
main{flex:1;width:100%;max-width:1180px;margin:0 auto;padding:32px 24px;
display:grid;grid-template-columns:minmax(0,1fr) 340px;gap:32px;align-items:start}
.card{background:#fff;border:1px solid #e8e8ec;border-radius:14px;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
figure{margin:0;padding:14px;display:flex;justify-content:center}
figure img{display:block;max-width:100%;height:auto;max-height:78vh;width:auto;
border-radius:10px;object-fit:contain;background:#f0f0f3}
aside{position:sticky;top:88px;padding:24px}
h1{font-size:24px;line-height:1.25;margin:0 0 12px;font-weight:700;overflow-wrap:anywhere}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 18px;padding:0;list-style:none}
.chip{font-size:12px;font-weight:500;padding:2px 10px;border-radius:999px;background:#f0f0f3;
color:#60646c}
.chip.style{background:#f4f0fe;color:#6550b9}
.label{font-size:12px;font-weight:500;text-transform:uppercase;letter-spacing:.06em;
color:#60646c;margin:0 0 6px}
.prompt{margin:0 0 20px;font-size:15px;color:#1c2024;white-space:pre-wrap;overflow-wrap:anywhere}
.by{margin:0 0 24px;font-size:14px;color:#60646c;overflow-wrap:anywhere}
.by strong{color:#1c2024;font-weight:600}
.cta{display:block;text-align:center;text-decoration:none;font-weight:500;font-size:15px;
padding:10px 16px;border-radius:8px;background:#6e56cf;color:#fff}
.cta:hover{background:#654dc4}
footer{text-align:center;padding:24px;border-top:1px solid #e8e8ec;font-size:12px;
color:#60646c}
@media (max-width:880px){main{grid-template-columns:1fr;gap:20px;padding:20px 16px}
aside{position:static}h1{font-size:22px}figure{padding:8px}.bar nav{padding:0 16px;gap:16px}}
@media (max-width:420px){.nav{display:none}}
.gone{flex:1;display:flex;align-items:center;justify-content:center;padding:24px}
.gone div{max-width:440px;text-align:center;padding:36px 28px}
.gone h1{font-size:22px}
.gone p{color:#60646c;margin:0 0 24px}
"""
)

# lucide's "aperture", the app's brand icon.
_MARK = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="18" height="18" viewBox="0 0 24 24" '
    'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" '
    'stroke-linejoin="round" aria-hidden="true"><circle cx="12" cy="12" r="10"/>'
    '<path d="m14.31 8 5.74 9.94"/><path d="M9.69 8h11.48"/><path d="m7.38 12 5.74-9.94"/>'
    '<path d="M9.69 16 3.95 6.06"/><path d="M14.31 16H2.83"/><path d="m16.62 12-5.74 9.94"/>'
    "</svg>"
)


def _head(title: str, extra: str = "") -> str:
    return f"""<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title>
<link rel="icon" href="/favicon.ico" sizes="any">
{extra}
<style>{_CSS}</style>
</head>"""


def _bar(public_url: str) -> str:
    home = public_url.rstrip("/")
    return f"""<header class="bar"><nav aria-label="Style Studio">
<a class="brand" href="{_e(public_url)}" rel="noopener noreferrer">
<span class="mark">{_MARK}</span>Style Studio</a>
<span class="spacer"></span>
<a class="nav" href="{_e(home)}/explore" rel="noopener noreferrer">Explore</a>
<a class="button" href="{_e(home)}/signup" rel="noopener noreferrer">Create account</a>
</nav></header>"""


_FOOTER = "<footer>Style Studio — product photos, styled. Self-hosted.</footer>"


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
{_head(f"{title} · Style Studio", meta_tags)}
<body>
{_bar(page.public_url)}
<main>
<figure class="card">
<img src="{_e(page.image_url)}" width="{int(shared.width)}" height="{int(shared.height)}"
 alt="{_e(alt)}" decoding="async">
</figure>
<aside class="card">
<h1>{_e(title)}</h1>
<ul class="chips">{chips}</ul>
{prompt_block}
<p class="by">By <strong>{_e(shared.author)}</strong></p>
<a class="cta" href="{_e(page.public_url)}" rel="noopener noreferrer">
Made with Style Studio — try it</a>
</aside>
</main>
{_FOOTER}
</body>
</html>
"""


def _not_found_html(public_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
{_head("Link not available · Style Studio")}
<body>
{_bar(public_url)}
<main class="gone"><div class="card">
<h1>This link is no longer available</h1>
<p>The owner may have turned sharing off, or the link has expired.</p>
<a class="cta" href="{_e(public_url)}" rel="noopener noreferrer">
Made with Style Studio — try it</a>
</div></main>
{_FOOTER}
</body>
</html>
"""

"""Infinite scroll for the paged grids (/gallery, /explore)."""

from __future__ import annotations

# A "Load more" button presses itself when it scrolls into view (and stays a plain button
# for keyboards). Installed once per page load by the pages' on_load.
INFINITE_SCROLL_JS = """
(() => {
  if (window.__styleStudioInfinite) return;
  window.__styleStudioInfinite = true;
  const seen = new IntersectionObserver((entries) => entries.forEach((e) => {
    if (e.isIntersecting && !e.target.disabled) e.target.click();
  }), { rootMargin: "300px" });
  const watch = () => document.querySelectorAll(".load-more").forEach((b) => {
    if (!b.dataset.watched) { b.dataset.watched = "1"; seen.observe(b); }
  });
  new MutationObserver(watch).observe(document.body, { childList: true, subtree: true });
  watch();
})();
"""

"""The viewer of one generation (opened from a gallery card): which variation shows and
the before/after divider; arrow keys and swipes click its `Previous` and `Next`."""

from __future__ import annotations

import reflex as rx

from stylestudio.services.errors import DomainError
from stylestudio.services.generation import generation_viewer
from stylestudio.services.generation.generation_viewer import GenerationViewer, no_viewer
from stylestudio.services.ids import is_row_id
from stylestudio.state.arguments import FLAG, ROW_ID, bounded_int, checked, numbers
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState, media_base_url

# In the viewer, a horizontal swipe on the picture (touch, pen or a mouse drag) and the left
# and right arrow keys (wherever the focus is in the dialog) click `Previous` or `Next`.
# The before/after slider keeps its own drags and keys; Escape is the dialog's own.
VIEWER_GESTURES_JS = """
(() => {
  if (window.__styleStudioViewer) return;
  window.__styleStudioViewer = true;
  const go = (next) => {
    const button = document.getElementById(next ? 'viewer-next' : 'viewer-previous');
    if (button) button.click();
  };
  let start = null;
  document.addEventListener('pointerdown', (e) => {
    const stage = e.target.closest && e.target.closest('#viewer-stage');
    start = stage && !e.target.closest('button') ? [e.clientX, e.clientY] : null;
  }, true);
  document.addEventListener('pointerup', (e) => {
    if (!start) return;
    const dx = e.clientX - start[0], dy = e.clientY - start[1];
    start = null;
    if (Math.abs(dx) >= 40 && Math.abs(dx) > Math.abs(dy)) go(dx < 0);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (!document.getElementById('generation-viewer')) return;
    const own = '.before-after, input, textarea, select, [role=slider]';
    if (e.target.closest && e.target.closest(own)) return;
    e.preventDefault();
    go(e.key === 'ArrowRight');
  });
})();
"""


class ViewerState(SessionState):
    viewer_open: rx.Field[bool] = rx.field(False)
    viewer: rx.Field[GenerationViewer] = rx.field(default_factory=no_viewer)
    index: rx.Field[int] = rx.field(0)  # the variation shown, 0-based
    comparing: rx.Field[bool] = rx.field(False)  # before/after instead of the result alone
    compare_at: rx.Field[int] = rx.field(50)
    loading: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")

    @rx.var
    def image_count(self) -> int:
        return len(self.viewer.images)

    @rx.var
    def position_label(self) -> str:
        count = len(self.viewer.images)
        return f"{self.index + 1} of {count}" if count > 1 else ""

    @rx.event
    @checked(generation_id=ROW_ID)
    async def open_viewer(self, generation_id: int):
        if not is_row_id(generation_id):
            return
        self.viewer_open, self.loading, self.error = True, True, ""
        self.index, self.comparing, self.compare_at = 0, False, 50
        if self.viewer.id != generation_id:
            self.viewer = no_viewer()
        yield rx.call_script(VIEWER_GESTURES_JS)
        user = await self._current_user()
        if user is None:
            self.viewer_open = self.loading = False
            yield rx.redirect("/login")
            return
        base = media_base_url()
        try:
            self.viewer = await in_session(
                lambda s: generation_viewer.get_generation_viewer(
                    s, user_id=user.id, generation_id=generation_id, base_url=base
                ),
                write=False,
            )
        except DomainError as exc:
            self.viewer, self.error = no_viewer(), exc.message
        finally:
            self.loading = False

    @rx.event
    @checked(value=FLAG)
    def set_viewer_open(self, value: bool) -> None:
        self.viewer_open = value is True
        if not self.viewer_open:
            self.comparing = False

    @rx.event
    @checked(index=bounded_int(0, 63))
    def show(self, index: int) -> None:
        valid = isinstance(index, int) and not isinstance(index, bool)
        if valid and 0 <= index < len(self.viewer.images):
            self.index = index

    @rx.event
    @checked(by=bounded_int(-1, 1))
    def step(self, by: int) -> None:
        """Next (+1) or previous (-1) variation, round the end to the start."""
        count = len(self.viewer.images)
        if count and by in (-1, 1):
            self.index = (self.index + by) % count

    @rx.event
    @checked(value=FLAG)
    def set_comparing(self, value: bool) -> None:
        self.comparing = value is True

    @rx.event
    @checked(value=numbers(1, 2))
    def set_compare_at(self, value: list[int | float]) -> None:
        if isinstance(value, list) and value and isinstance(value[0], int | float):
            self.compare_at = max(0, min(100, int(value[0])))

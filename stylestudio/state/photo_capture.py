"""Browser scripts for the studio's other ways in: paste and the camera. Each ends in the
same upload pipeline as a click or a drop: the picture is handed to the drop zone's own file
input, as if it had been chosen in the file dialog."""

from __future__ import annotations

# Hand files to a drop zone as if they had been chosen in its file dialog.
_GIVE_TO_DROPZONE = """
window.__ssGiveFiles = window.__ssGiveFiles || function (zoneId, files) {
  const input = document.querySelector('#' + zoneId + ' input[type=file]');
  if (!input || !files.length) return false;
  const transfer = new DataTransfer();
  for (const f of files) transfer.items.add(f);
  input.files = transfer.files;
  input.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
};
"""

# Paste an image anywhere on the studio page to add it as a product photo (text pastes as usual).
INSTALL_PASTE_JS = (
    _GIVE_TO_DROPZONE
    + """
if (!window.__ssPasteInstalled) {
  window.__ssPasteInstalled = true;
  document.addEventListener('paste', (event) => {
    if (!document.getElementById('product')) return;
    const files = Array.from(event.clipboardData ? event.clipboardData.files : [])
      .filter((f) => f.type.startsWith('image/'));
    if (!files.length) return;
    event.preventDefault();
    window.__ssGiveFiles('product', files);
  });
}
"""
)

START_CAMERA_JS = """
(async () => {
  let video = null;
  for (let i = 0; i < 40 && !video; i++) {
    video = document.getElementById('camera-preview');
    if (!video) await new Promise((r) => setTimeout(r, 50));
  }
  if (!video) return 'the preview did not open';
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return 'this browser gives no camera access here';
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false,
    });
    window.__ssCamera = stream;
    video.srcObject = stream;
    await video.play();
    return '';
  } catch (e) {
    return String((e && e.message) || e);
  }
})()
"""

STOP_CAMERA_JS = """
if (window.__ssCamera) { window.__ssCamera.getTracks().forEach((t) => t.stop()); }
window.__ssCamera = null;
"""

CAPTURE_JS = (
    _GIVE_TO_DROPZONE
    + """
(async () => {
  const video = document.getElementById('camera-preview');
  if (!video || !video.videoWidth) return 'the camera has not started yet';
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((r) => canvas.toBlob(r, 'image/jpeg', 0.92));
  if (window.__ssCamera) { window.__ssCamera.getTracks().forEach((t) => t.stop()); }
  window.__ssCamera = null;
  if (!blob) return 'the picture could not be taken';
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const file = new File([blob], 'camera-' + stamp + '.jpg', { type: 'image/jpeg' });
  return window.__ssGiveFiles('product', [file]) ? '' : 'the upload zone is gone';
})()
"""
)

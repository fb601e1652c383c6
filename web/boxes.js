// qvl web page: the answer's boxes drawn over the image preview. The
// server's /api/v1/chat with boxes: true returns them in pixels of the
// upright image ({label, x1, y1, x2, y2} plus image: {width, height}); the
// browser also shows photos upright (EXIF orientation applied), so a box is
// placed in percent of the image's size and stays put however the preview
// is scaled. Labels are text, never HTML.
"use strict";

// Puts the layer exactly over the picture inside #preview (object-fit: contain may
// leave bands beside it). Called when boxes are drawn and when the page resizes.
function placeBoxLayer() {
  const img = document.getElementById("preview"), layer = document.getElementById("box-layer");
  if (img.hidden || !img.naturalWidth || !img.naturalHeight) return;
  const scale = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
  const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
  layer.style.left = `${img.offsetLeft + (img.clientWidth - w) / 2}px`;
  layer.style.top = `${img.offsetTop + (img.clientHeight - h) / 2}px`;
  layer.style.width = `${w}px`;
  layer.style.height = `${h}px`;
}

// Draws boxes (from the latest answer) over #preview; an empty list clears.
function drawBoxes(boxes, image) {
  const layer = document.getElementById("box-layer");
  layer.replaceChildren();
  placeBoxLayer();
  if (!image || !(image.width > 0) || !(image.height > 0)) return;
  const pct = (v, size) => `${Math.max(0, Math.min(100, (100 * v) / size))}%`;
  for (const b of boxes || []) {
    const box = document.createElement("div");
    box.className = "box";
    box.style.left = pct(b.x1, image.width);
    box.style.top = pct(b.y1, image.height);
    box.style.width = pct(b.x2 - b.x1, image.width);
    box.style.height = pct(b.y2 - b.y1, image.height);
    if (b.label) {
      const label = document.createElement("span");
      label.className = "box-label";
      label.textContent = b.label;
      box.appendChild(label);
    }
    layer.appendChild(box);
  }
}

function clearBoxes() { drawBoxes([], null); }

// The toggle shows or hides the drawn boxes (and asks for them with the next question).
function applyBoxesToggle() {
  document.getElementById("box-layer").hidden = !document.getElementById("show-boxes").checked;
}

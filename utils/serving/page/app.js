// The service's page: send an image (a file, a drop or webcam frames) to /v1/detect and draw
// the answer over it. Plain JavaScript, no build step, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const state = { blob: null, name: "image", busy: false, again: false, webcam: null };

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function authHeaders() {
  const key = $("key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

// One colour per class, the same on every image.
function colour(classId) {
  return `hsl(${(classId * 47) % 360}, 85%, 45%)`;
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// Boxes in image pixels; the overlay's viewBox is the image's size, so they land on it.
function draw(answer) {
  const overlay = $("overlay");
  overlay.replaceChildren();
  overlay.setAttribute("viewBox", `0 0 ${answer.width} ${answer.height}`);
  const line = Math.max(2, Math.round(Math.max(answer.width, answer.height) / 300));
  const fontSize = Math.max(12, Math.round(Math.max(answer.width, answer.height) / 45));
  for (const detection of answer.detections) {
    const [x1, y1, x2, y2] = detection.box;
    const label = `${detection.class} ${detection.score.toFixed(2)}`;
    const group = svgElement("g", { class: "detection" });
    group.append(
      svgElement("rect", {
        class: "box",
        x: x1, y: y1, width: x2 - x1, height: y2 - y1,
        stroke: colour(detection.class_id), "stroke-width": line,
        "data-class": detection.class, "data-score": detection.score,
      }),
    );
    const labelTop = Math.max(y1 - fontSize - 4, 0);
    group.append(
      svgElement("rect", {
        class: "label-background",
        x: x1, y: labelTop, width: (label.length * fontSize * 0.6) + 6, height: fontSize + 4,
        fill: colour(detection.class_id),
      }),
    );
    const text = svgElement("text", { class: "label", x: x1 + 3, y: labelTop + fontSize, "font-size": fontSize });
    text.textContent = label;
    group.append(text);
    overlay.append(group);
  }
}

async function detect() {
  if (!state.blob) return;
  if (state.busy) { state.again = true; return; }  // the newest settings win, one at a time
  state.busy = true;
  try {
    const params = new URLSearchParams({ conf: $("conf").value });
    const classes = $("classes").value.trim();
    if (classes) params.set("classes", classes);
    const form = new FormData();
    form.append("image", state.blob, state.name);
    const response = await fetch(`/v1/detect?${params}`, { method: "POST", body: form, headers: authHeaders() });
    const answer = await response.json();
    if (!response.ok) {
      setStatus(`${response.status}: ${answer.error}`, true);
      return;
    }
    draw(answer);
    $("json").textContent = JSON.stringify(answer, null, 2);
    const count = answer.detections.length;
    setStatus(`${count} detection${count === 1 ? "" : "s"} in ${answer.timing.total_ms} ms ` +
      `(model ${answer.timing.model_ms} ms, batch of ${answer.timing.batch_size})`);
    document.body.dataset.answered = String(Number(document.body.dataset.answered || 0) + 1);
  } catch (error) {
    setStatus(`the service did not answer: ${error}`, true);
  } finally {
    state.busy = false;
    if (state.again) { state.again = false; detect(); }
  }
}

function show(blob, name) {
  state.blob = blob;
  state.name = name || "image";
  const photo = $("photo");
  if (photo.src) URL.revokeObjectURL(photo.src);
  photo.src = URL.createObjectURL(blob);
  $("stage").hidden = false;
  return detect();
}

function useFile(file) {
  if (!file) return;
  stopWebcam();
  setStatus(`detecting in ${file.name}…`);
  show(file, file.name);
}

// -- the webcam: one frame at a time, the next as soon as the previous is answered
async function startWebcam() {
  const video = $("video");
  try {
    state.webcam = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    setStatus(`no webcam: ${error.message}`, true);
    return;
  }
  video.srcObject = state.webcam;
  await video.play();
  $("webcam").textContent = "Stop the webcam";
  const canvas = document.createElement("canvas");
  const step = async () => {
    if (!state.webcam) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
    if (blob) await show(blob, "webcam.jpg");
    requestAnimationFrame(step);
  };
  step();
}

function stopWebcam() {
  if (!state.webcam) return;
  for (const track of state.webcam.getTracks()) track.stop();
  state.webcam = null;
  $("webcam").textContent = "Use the webcam";
}

async function describeModel() {
  try {
    const response = await fetch("/v1/model", { headers: authHeaders() });
    const model = await response.json();
    if (!response.ok) {
      $("model").textContent = `${response.status}: ${model.error}`;
      return;
    }
    $("model").textContent = model.description;
    $("conf").value = model.defaults.conf;
    $("conf-value").textContent = Number(model.defaults.conf).toFixed(2);
  } catch (error) {
    $("model").textContent = `the service did not answer: ${error}`;
  }
}

function wire() {
  $("key").value = localStorage.getItem("yolo-lite-key") || "";
  $("key").addEventListener("change", () => {
    localStorage.setItem("yolo-lite-key", $("key").value.trim());
    describeModel();
  });
  $("file").addEventListener("change", (event) => useFile(event.target.files[0]));
  let timer = null;
  $("conf").addEventListener("input", () => {
    $("conf-value").textContent = Number($("conf").value).toFixed(2);
    clearTimeout(timer);
    timer = setTimeout(detect, 120);
  });
  $("classes").addEventListener("change", detect);
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    useFile(event.dataTransfer.files[0]);
  });
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    $("webcam").hidden = false;
    $("webcam").addEventListener("click", () => (state.webcam ? stopWebcam() : startWebcam()));
  }
  describeModel();
}

wire();

"use strict";
const NAMES = {akiec: "actinic keratosis / intraepithelial carcinoma", bcc: "basal cell carcinoma",
  bkl: "benign keratosis", df: "dermatofibroma", mel: "melanoma", nv: "melanocytic nevus", vasc: "vascular lesion"};
const MALIGNANT = new Set(["akiec", "bcc", "mel"]);
const $ = (id) => document.getElementById(id);

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function pct(p) { return (100 * p).toFixed(1) + "%"; }

async function loadCard() {
  const response = await fetch("/api/model");
  const card = await response.json();
  const metrics = card.test_metrics || {};
  const rows = [
    ["trained on", card.trained_on],
    ["architecture", `${card.arch} at ${card.image_size} px, test-time views: ${card.tta && card.tta.mode}`],
    ["test balanced accuracy", metrics.balanced_accuracy !== undefined ? metrics.balanced_accuracy.toFixed(3) : "n/a"],
    ["test macro AUC", metrics.macro_auc_ovr !== undefined ? metrics.macro_auc_ovr.toFixed(3) : "n/a"],
    ["melanoma sensitivity", metrics.melanoma_sensitivity !== undefined ? metrics.melanoma_sensitivity.toFixed(3) : "n/a"],
    ["calibration", `${card.calibration && card.calibration.method} (temperature ${Number(card.temperature).toFixed(3)})`],
    ["lesion outline by", card.segmentation],
    ["model version", card.model_version],
    ["intended use", card.intended_use],
  ];
  const list = $("card-list");
  list.replaceChildren();
  for (const [key, value] of rows) {
    const dt = document.createElement("dt"); dt.textContent = key;
    const dd = document.createElement("dd"); dd.textContent = value === undefined || value === null ? "n/a" : String(value);
    list.append(dt, dd);
  }
  $("disclaimer").textContent = card.disclaimer + " Trained on " + card.trained_on + ".";
}

function showResult(body) {
  const probs = Object.entries(body.probabilities).sort((a, b) => b[1] - a[1]);
  $("top").textContent = `Most probable: ${NAMES[body.top_class]} (${body.top_class}), ${pct(body.probabilities[body.top_class])}`;
  $("risk").textContent = `Malignant (melanoma, basal cell carcinoma, actinic keratosis) vs benign: ${pct(body.malignant_risk)} malignant`;
  const bars = $("bars");
  bars.replaceChildren();
  for (const [cls, p] of probs) {
    const li = document.createElement("li");
    li.dataset.cls = cls;
    const name = document.createElement("span"); name.textContent = cls + " " + (MALIGNANT.has(cls) ? "(malignant)" : "");
    const bar = document.createElement("div"); bar.className = "bar" + (MALIGNANT.has(cls) ? " malignant" : "");
    const fill = document.createElement("span"); fill.style.width = pct(p); bar.append(fill);
    const value = document.createElement("span"); value.className = "value"; value.textContent = pct(p);
    li.append(name, bar, value);
    bars.append(li);
  }
  const tone = body.skin_tone;
  $("tone").textContent = tone.band
    ? `Skin tone of the surrounding skin: ${tone.band.replace("_", " ")} (ITA ${tone.ita.toFixed(1)} degrees, Fitzpatrick-like type ${tone.fitzpatrick})`
    : `Skin tone: no estimate (${tone.reason})`;
  const svg = $("outline");
  svg.setAttribute("viewBox", `0 0 ${body.display.width} ${body.display.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  for (const polygon of body.outline) {
    const shape = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
    shape.setAttribute("points", polygon.map(([x, y]) => `${x},${y}`).join(" "));
    svg.append(shape);
  }
  const heat = $("heat");
  if (body.heatmap_png) {
    const [left, top, w] = body.heatmap_box;
    heat.src = body.heatmap_png;
    heat.style.left = (100 * left / body.display.width) + "%";
    heat.style.top = (100 * top / body.display.height) + "%";
    heat.style.width = (100 * w / body.display.width) + "%";
    heat.style.height = (100 * w / body.display.height) + "%";
    heat.hidden = !$("show-heat").checked;
  } else {
    heat.hidden = true;
  }
  $("result").hidden = false;
  document.body.dataset.state = "done";
}

async function send(file) {
  document.body.dataset.state = "busy";
  $("result").hidden = true;
  setStatus("Analysing " + file.name + " ...");
  $("preview").src = URL.createObjectURL(file);
  $("view").hidden = false;
  $("outline").replaceChildren();
  $("heat").hidden = true;
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch("/api/predict?explain=" + $("explain").checked + "&masks=false", {method: "POST", body: form});
    const body = await response.json();
    if (!response.ok) {
      setStatus(body.detail || "The server refused the image.", true);
      document.body.dataset.state = "error";
      return;
    }
    setStatus("");
    showResult(body);
  } catch (err) {
    setStatus("Could not reach the server: " + err, true);
    document.body.dataset.state = "error";
  }
}

$("file").addEventListener("change", (event) => { if (event.target.files.length) send(event.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault(); drop.classList.remove("over");
  if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
});
$("show-outline").addEventListener("change", (e) => { $("outline").style.display = e.target.checked ? "" : "none"; });
$("show-heat").addEventListener("change", (e) => { if ($("heat").src) $("heat").hidden = !e.target.checked; });
loadCard().catch((err) => setStatus("Could not load the model card: " + err, true));

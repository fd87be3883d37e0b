// The ortdiffusion web page: drives the AUTOMATIC1111 routes of this server (same origin, same credentials).
"use strict";
const $ = (id) => document.getElementById(id);
const api = (path, options) => fetch("/sdapi/v1/" + path, options).then(async (r) => {
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || body.errors || r.statusText);
  return body;
});
let running = false;

function option(select, value, label) {
  const o = document.createElement("option");
  o.value = value; o.textContent = label || value;
  select.appendChild(o);
}

async function load() {
  const [samplers, schedulers, loras, models, options, controlnets] = await Promise.all([
    api("samplers"), api("schedulers"), api("loras"), api("sd-models"), api("options"),
    fetch("/controlnet/model_list").then((r) => r.json()),
  ]);
  samplers.forEach((s) => option($("sampler_name"), s.name));
  $("sampler_name").value = "Euler a";
  schedulers.forEach((s) => option($("scheduler"), s.name, s.label));
  models.forEach((m) => option($("model"), m.title, m.model_name));
  $("model").value = options.sd_model_checkpoint;
  controlnets.model_list.forEach((m) => option($("control_model"), m));
  loras.forEach((l) => {
    const row = document.createElement("div");
    row.className = "lora";
    row.innerHTML = `<input type="checkbox" data-lora="${l.name}" aria-label="use ${l.name}"><span>${l.name}</span>` +
      `<input type="number" step="0.1" value="1" data-weight="${l.name}" aria-label="${l.name} weight">`;
    $("loras").appendChild(row);
  });
}

function fileAsBase64(input) {
  const file = input.files[0];
  if (!file) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = reject;
    reader.readAsDataURL(file);
  });
}

async function request() {
  let prompt = $("prompt").value;
  document.querySelectorAll("[data-lora]").forEach((box) => {
    if (box.checked) prompt += ` <lora:${box.dataset.lora}:${document.querySelector(`[data-weight="${box.dataset.lora}"]`).value}>`;
  });
  const body = {
    prompt, negative_prompt: $("negative_prompt").value, sampler_name: $("sampler_name").value,
    scheduler: $("scheduler").value, steps: +$("steps").value, cfg_scale: +$("cfg_scale").value,
    width: +$("width").value, height: +$("height").value, n_iter: +$("n_iter").value, seed: +$("seed").value,
    override_settings: { sd_model_checkpoint: $("model").value },
  };
  const [init, mask, control] = await Promise.all([fileAsBase64($("init_image")), fileAsBase64($("mask")),
                                                  fileAsBase64($("control_image"))]);
  if (control && $("control_model").value) {
    body.alwayson_scripts = { controlnet: { args: [{ image: control, module: $("control_module").value,
                                                     model: $("control_model").value }] } };
  }
  if (!init) return ["txt2img", body];
  body.init_images = [init];
  body.denoising_strength = +$("denoising_strength").value;
  if (mask) Object.assign(body, { mask, inpainting_fill: 1, mask_blur: 0 });
  return ["img2img", body];
}

function show(result) {
  const info = JSON.parse(result.info);
  result.images.forEach((b64, i) => {
    const card = document.createElement("figure");
    card.className = "result";
    const url = "data:image/png;base64," + b64;
    card.innerHTML = `<img alt="result" src="${url}"><pre></pre><a download="ortdiffusion-${info.all_seeds[i]}.png" href="${url}">Download</a>`;
    card.querySelector("pre").textContent = info.infotexts[i];
    $("gallery").prepend(card);
  });
  $("status").textContent = `${result.images.length} picture(s), seeds ${info.all_seeds.join(", ")}`;
}

async function poll() {
  while (running) {
    try {
      const p = await api("progress");
      $("progress").value = p.progress;
      if (p.state.sampling_steps) {
        $("status").textContent = `picture ${p.state.job_no + 1}/${p.state.job_count ? Math.max(p.state.job_count, 1) : 1}, ` +
          `step ${p.state.sampling_step}/${p.state.sampling_steps}, about ${p.eta_relative.toFixed(1)} s left`;
      }
    } catch (e) { /* the next poll tries again */ }
    await new Promise((r) => setTimeout(r, 250));
  }
}

$("random-seed").onclick = () => { $("seed").value = Math.floor(Math.random() * 4294967295); };
$("cancel").onclick = () => api("interrupt", { method: "POST" });
$("form").onsubmit = async (event) => {
  event.preventDefault();
  running = true;
  $("generate").disabled = true; $("cancel").disabled = false; $("progress").value = 0;
  $("status").textContent = "queued";
  poll();
  try {
    const [route, body] = await request();
    show(await api(route, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
  } catch (e) {
    $("status").textContent = "error: " + e.message;
  } finally {
    running = false;
    $("generate").disabled = false; $("cancel").disabled = true; $("progress").value = 0;
  }
};
load().catch((e) => { $("status").textContent = "cannot reach the server: " + e.message; });

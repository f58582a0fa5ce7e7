"use strict";
// 盾牌通信 — the page of the local app. Talks only to the app process that served it (same origin);
// keys and decryption stay in that process. No libraries, nothing loaded from elsewhere.
(() => {
  const $ = (sel) => document.querySelector(sel);
  const I18N = window.DUNPAI_I18N;
  const S = {
    lang: localStorage.getItem("dunpai-lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
    me: "", convs: [], contacts: {}, current: null, online: false, fileLimit: 0, voice: null,
    members: [], ws: null, audio: null, mic: null, progress: {},
    cam: null, camOn: false, camStarting: false, noCamera: false, lastPicture: 0, nextPicture: null, drawing: false,
  };

  // -- text ----------------------------------------------------------------------------------------
  function t(key, vars) {
    let s = (I18N[S.lang] && I18N[S.lang][key]) || I18N.zh[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll("{" + k + "}", String(v));
    return s;
  }
  function translate() {
    document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-ph]").forEach((el) => { el.placeholder = t(el.dataset.i18nPh); });
    document.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
    renderOnline(); renderConvs(); if (S.current) { renderHead(); renderMessages(S.lastMessages || []); }
    renderLimit(); renderVoice();
  }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else if (v !== undefined && v !== null) e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }
  function toast(msg) {
    const box = $("#toast"); box.textContent = msg; box.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
  }
  function fmtSize(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : n >= 1024 ? Math.round(n / 1024) + " KB" : n + " B"; }
  function fmtTime(ms) { const d = new Date(ms); return d.toLocaleTimeString(S.lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" }); }

  // -- API -----------------------------------------------------------------------------------------
  async function api(path, body) {
    const opts = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const r = await fetch(path, opts);
    const data = await r.json().catch(() => ({}));
    if (!r.ok) { const e = new Error((data.error && data.error.message) || r.statusText); e.code = data.error && data.error.code; throw e; }
    return data;
  }
  function guarded(fn) { return async (...a) => { try { return await fn(...a); } catch (e) { toast(t("err") + ": " + e.message); } }; }

  // -- live events ---------------------------------------------------------------------------------
  function connect() {
    const ws = new WebSocket("ws://" + location.host + "/ws");
    ws.binaryType = "arraybuffer";
    S.ws = ws;
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") { if (new Uint8Array(ev.data, 0, 1)[0] === 4) showPicture(ev.data); else play(ev.data); return; }
      const e = JSON.parse(ev.data);
      if (e.type === "snapshot") applySnapshot(e);
      else if (e.type === "msg") onMessage(e.msg);
      else if (e.type === "conv") onConv(e.conv);
      else if (e.type === "online") { S.online = e.online; renderOnline(); }
      else if (e.type === "contacts") { S.contacts = e.contacts; renderHead(); renderConvs(); if (S.members.length) refreshMembers(); }
      else if (e.type === "keychange") { S.contacts[e.user] = Object.assign(S.contacts[e.user] || {}, { key_changed: true }); renderHead(); }
      else if (e.type === "progress") { S.progress[e.mid] = Math.round(100 * e.done / e.total); const m = document.querySelector(`.msg[data-mid="${e.mid}"] .progress`); if (m) m.textContent = t("uploading", { p: S.progress[e.mid] }); }
      else if (e.type === "floor") { S.voice = Object.assign(S.voice || {}, { talkgroup: e.group ? e : null }); renderVoice(); }
      else if (e.type === "call") { S.voice = Object.assign(S.voice || {}, { call: e.call }); onCall(e); }
      else if (e.type === "error") toast(t("err") + ": " + e.message);
    };
    ws.onopen = () => { sendFocus(); };
    ws.onclose = () => { setTimeout(() => { load().then(connect); }, 1000); };
  }
  function sendFocus() {
    if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify({ type: "focus", conv: S.current, visible: document.visibilityState === "visible" && document.hasFocus() }));
  }

  // -- conversations -------------------------------------------------------------------------------
  function onConv(c) {
    const i = S.convs.findIndex((x) => x.id === c.id);
    if (i >= 0) S.convs[i] = c; else S.convs.push(c);
    S.convs.sort((a, b) => b.order - a.order);
    renderConvs();
    if (c.id === S.current) { S.currentConv = c; renderHead(); if (c.kind === "group") refreshMembers(); }
  }
  function convName(c) { return c.name || (c.kind === "group" ? "#" + c.id.slice(2, 10) : c.id.slice(2)); }
  function renderConvs() {
    const ul = $("#conv-list"); ul.textContent = "";
    for (const c of S.convs) {
      const verified = c.kind === "user" && S.contacts[c.id.slice(2)] && S.contacts[c.id.slice(2)].verified;
      const li = el("li", { class: "conv" + (c.id === S.current ? " active" : ""), "data-conv": c.id, role: "option", tabindex: "0",
        "aria-selected": c.id === S.current ? "true" : "false", onclick: () => openConv(c.id),
        onkeydown: (ev) => { if (ev.key === "Enter") openConv(c.id); } },
      el("span", { class: "avatar", text: c.kind === "group" ? "#" : convName(c).slice(0, 1).toUpperCase() }),
      el("span", { class: "conv-main" },
        el("span", { class: "conv-name", text: convName(c) + (verified ? " ✔" : "") }),
        el("span", { class: "conv-last", text: c.last ? (c.last.sender === S.me ? t("you") + ": " : "") + c.last.text : "" })),
      el("span", { class: "conv-side" },
        el("span", { class: "conv-time", text: c.last ? fmtTime(c.last.at) : "" }),
        c.unread ? el("span", { class: "unread", text: String(c.unread), "aria-label": "unread" }) : null));
      ul.append(li);
    }
  }
  async function openConv(id) {
    S.current = id; $("#app").dataset.view = "conv";
    $("#empty-pane").hidden = true; $("#conversation").hidden = false;
    const data = await api("/api/messages?conv=" + encodeURIComponent(id));
    S.currentConv = data.conv; S.members = data.members || [];
    renderHead(); renderMessages(data.messages); renderConvs(); sendFocus();
    $("#composer-text").focus();
  }
  function renderHead() {
    const c = S.currentConv; if (!c) return;
    const peer = c.kind === "user" ? c.id.slice(2) : null;
    const contact = peer ? (S.contacts[peer] || {}) : {};
    $("#conv-title").textContent = convName(c);
    const badge = $("#conv-badge");
    badge.textContent = peer ? (contact.verified ? "✔ " + t("verified") : t("unverified")) : "";
    badge.className = contact.verified ? "badge ok" : "badge";
    badge.hidden = !peer;
    badge.dataset.verified = contact.verified ? "1" : "0";
    $("#verify-btn").hidden = !peer; $("#call-btn").hidden = !peer; $("#video-call-btn").hidden = !peer;
    $("#members-btn").hidden = !!peer; $("#ptt-open-btn").hidden = !!peer;
    const changed = peer && contact.key_changed;
    $("#keychange-banner").hidden = !changed;
    if (changed) $("#keychange-text").textContent = t("keychange", { user: peer });
    $("#removed-banner").hidden = !c.removed;
    $("#composer-text").disabled = !!c.removed; $("#send-btn").disabled = !!c.removed;
  }
  function renderMessages(list) {
    S.lastMessages = list;
    const ol = $("#messages"); ol.textContent = "";
    for (const m of list) ol.append(messageEl(m));
    ol.scrollTop = ol.scrollHeight;
  }
  function onMessage(m) {
    if (m.conv !== S.current) return;
    const list = S.lastMessages || [];
    const i = list.findIndex((x) => x.mid === m.mid);
    if (i >= 0) list[i] = m; else list.push(m);
    const ol = $("#messages");
    const old = ol.querySelector(`.msg[data-mid="${m.mid}"]`);
    const fresh = messageEl(m);
    if (old) old.replaceWith(fresh); else { ol.append(fresh); ol.scrollTop = ol.scrollHeight; }
    if (!m.out && document.visibilityState === "visible") sendFocus();
  }
  function messageEl(m) {
    const body = el("div", { class: "bubble" });
    if (S.currentConv && S.currentConv.kind === "group" && !m.out) body.append(el("div", { class: "from", text: m.sender }));
    if (m.kind === "text") body.append(el("div", { class: "text", text: m.text }));
    else if (m.kind === "file") {
      if (m.thumb) body.append(el("img", { class: "thumb", alt: t("preview") + " " + m.file.name, src: "data:image/jpeg;base64," + m.thumb }));
      const link = el("a", { class: "file-link", href: "/api/file/" + encodeURIComponent(m.mid), download: m.file.name, text: m.file.name + " · " + fmtSize(m.file.size) });
      body.append(link);
      if (m.mark === "queued" && m.out) body.append(el("div", { class: "progress", text: t("uploading", { p: S.progress[m.mid] || 0 }) }));
    } else if (m.kind === "location") body.append(mapEl(m.loc));
    const meta = el("div", { class: "meta" }, el("time", { text: fmtTime(m.at) }));
    if (m.out) {
      const mark = el("span", { class: "mark mark-" + m.mark, "data-mark": m.mark, title: t("mark_" + m.mark), text: markIcon(m.mark) + " " + t("mark_" + m.mark) });
      meta.append(mark);
    }
    if (m.error) meta.append(el("span", { class: "error", text: m.error }));
    return el("li", { class: "msg " + (m.out ? "out" : "in"), "data-mid": m.mid, "data-kind": m.kind }, body, meta);
  }
  function markIcon(mark) { return { queued: "…", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!", blocked: "×" }[mark] || ""; }
  function mapEl(loc) {
    // A bundled grid (no online tiles): one degree around the point, lines every 0.1°, the point and
    // a circle of its precision.
    const size = 220, span = 1.0, x0 = loc.lon - span / 2, y0 = loc.lat + span / 2, k = size / span;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${size} ${size}`); svg.setAttribute("class", "map"); svg.setAttribute("role", "img");
    const add = (tag, a) => { const n = document.createElementNS(ns, tag); for (const [kk, v] of Object.entries(a)) n.setAttribute(kk, v); svg.append(n); return n; };
    add("rect", { x: 0, y: 0, width: size, height: size, class: "map-bg" });
    for (let i = 0; i <= 10; i++) {
      add("line", { x1: i * size / 10, y1: 0, x2: i * size / 10, y2: size, class: "grid" });
      add("line", { x1: 0, y1: i * size / 10, x2: size, y2: i * size / 10, class: "grid" });
    }
    const r = Math.max(3, loc.accuracy_m / 111320 * k);
    add("circle", { cx: (loc.lon - x0) * k, cy: (y0 - loc.lat) * k, r: r, class: "area" });
    add("circle", { cx: (loc.lon - x0) * k, cy: (y0 - loc.lat) * k, r: 3, class: "point" });
    const label = t("loc_label", { lat: loc.lat.toFixed(4), lon: loc.lon.toFixed(4), acc: loc.accuracy_m });
    svg.setAttribute("aria-label", label);
    return el("figure", { class: "loc" }, svg, el("figcaption", { text: label }));
  }
  function renderOnline() {
    const s = $("#online-state"); s.dataset.online = S.online ? "1" : "0";
    s.textContent = S.online ? "● " + t("online") : "○ " + t("offline");
  }
  function renderLimit() { $("#limit-hint").textContent = S.fileLimit ? t("limit", { size: fmtSize(S.fileLimit) }) : ""; }

  // -- sending -------------------------------------------------------------------------------------
  const send = guarded(async () => {
    const box = $("#composer-text"); const text = box.value;
    if (!text.trim() || !S.current) return;
    box.value = "";
    await api("/api/send", { conv: S.current, text });
  });
  function sendFile(file) {
    if (!S.current || !file) return;
    if (file.size > S.fileLimit) { toast(t("limit", { size: fmtSize(S.fileLimit) })); return; }
    const q = new URLSearchParams({ conv: S.current, name: file.name, mime: file.type || "application/octet-stream" });
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/file?" + q.toString());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) $("#limit-hint").textContent = t("uploading", { p: Math.round(50 * e.loaded / e.total) }); };
    xhr.onload = () => { renderLimit(); if (xhr.status >= 400) { try { toast(JSON.parse(xhr.responseText).error.message); } catch (e) { toast(xhr.statusText); } } };
    xhr.send(file);
  }

  // -- dialogs -------------------------------------------------------------------------------------
  function dialog(title, build) {
    const d = $("#dialog"), body = $("#dialog-body"); body.textContent = "";
    body.append(el("h2", { text: title }));
    build(body);
    body.append(el("div", { class: "dialog-actions" }, el("button", { value: "close", id: "dialog-close", text: t("close") })));
    d.showModal();
    return body;
  }
  const newChat = () => dialog(t("new_chat"), (b) => {
    const input = el("input", { id: "new-chat-user", "aria-label": t("chat_user"), placeholder: t("chat_user") });
    b.append(input, el("button", { id: "new-chat-open", type: "button", text: t("open"), onclick: guarded(async () => {
      const r = await api("/api/chat", { user: input.value.trim() }); $("#dialog").close(); await openConv(r.conv);
    }) }));
  });
  const newGroup = () => dialog(t("new_group"), (b) => {
    const name = el("input", { id: "new-group-name", placeholder: t("group_name"), "aria-label": t("group_name") });
    const members = el("input", { id: "new-group-members", placeholder: t("group_members"), "aria-label": t("group_members") });
    b.append(name, members, el("button", { id: "new-group-create", type: "button", text: t("create"), onclick: guarded(async () => {
      const list = members.value.split(/[,，\s]+/).filter(Boolean);
      const r = await api("/api/group/create", { name: name.value, members: list }); $("#dialog").close(); await openConv(r.conv);
    }) }));
  });
  const verifyDialog = guarded(async () => {
    const peer = S.current.slice(2);
    const info = await api("/api/safety?user=" + encodeURIComponent(peer));
    dialog(t("safety_title", { user: peer }), (b) => {
      const qr = el("div", { id: "safety-qr", class: "qr" }); qr.innerHTML = info.svg;
      const groups = info.number.split(" ");
      const digits = el("div", { id: "safety-digits", class: "digits", "data-number": info.number });
      groups.forEach((g) => digits.append(el("span", { text: g })));
      b.append(el("p", { class: "hint", text: t("safety_hint") }), qr, digits,
        el("p", { id: "safety-state", text: info.verified ? "✔ " + t("verified") : t("unverified") }),
        el("button", { id: "verify-confirm", type: "button", text: t("mark_verified"), onclick: guarded(async () => {
          await api("/api/verify", { user: peer, number: info.number }); $("#safety-state").textContent = "✔ " + t("verified");
        }) }),
        el("button", { id: "verify-scan", type: "button", text: t("scan"), onclick: () => scanQr(peer) }),
        el("video", { id: "scan-video", playsinline: "", muted: "", hidden: "" }));
    });
  });
  async function scanQr(peer) {
    const video = $("#scan-video");
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ video: true }); } catch (e) { toast(t("no_camera")); return; }
    video.srcObject = stream; video.hidden = false; await video.play();
    const canvas = document.createElement("canvas");
    try {
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 300));
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        const r = await api("/api/verify-scan", { user: peer, image: canvas.toDataURL("image/png") });
        if (r.found) { $("#safety-state").textContent = "✔ " + t("scan_ok"); return; }
      }
      toast(t("scan_none"));
    } catch (e) { toast(t("err") + ": " + e.message); } finally { stream.getTracks().forEach((tr) => tr.stop()); video.hidden = true; }
  }
  async function refreshMembers() {
    if (!S.current || !S.current.startsWith("g:")) return;
    const data = await api("/api/messages?conv=" + encodeURIComponent(S.current));
    S.members = data.members; const list = $("#member-list"); if (list) fillMembers(list);
  }
  function fillMembers(list) {
    list.textContent = "";
    const mine = (S.members.find((m) => m.me) || {}).role;
    for (const m of S.members) {
      const li = el("li", { class: "member", "data-user": m.user, "data-verified": m.verified ? "1" : "0" },
        el("span", { class: "member-name", text: m.user + (m.me ? " (" + t("me_tag") + ")" : "") }),
        el("span", { class: "badge" + (m.verified ? " ok" : ""), text: m.verified ? "✔ " + t("verified") : t("unverified") }),
        el("span", { class: "role", text: t(m.role) }));
      if (!m.me && (mine === "owner" || (mine === "admin" && m.role === "member"))) {
        li.append(el("button", { type: "button", class: "remove", text: t("remove"), onclick: guarded(async () => {
          await api("/api/group/remove", { conv: S.current, user: m.user }); await refreshMembers();
        }) }));
      }
      if (!m.me && mine === "owner") {
        const sel = el("select", { "aria-label": t("role"), onchange: guarded(async (ev) => {
          await api("/api/group/role", { conv: S.current, user: m.user, role: ev.target.value }); await refreshMembers();
        }) });
        for (const r of ["member", "admin", "owner"]) { const o = el("option", { value: r, text: t(r) }); if (r === m.role) o.selected = true; sel.append(o); }
        li.append(sel);
      }
      list.append(li);
    }
  }
  const membersDialog = () => dialog(convName(S.currentConv), (b) => {
    const list = el("ul", { id: "member-list" }); fillMembers(list);
    const name = el("input", { id: "group-rename-name", placeholder: t("new_name"), "aria-label": t("new_name") });
    const user = el("input", { id: "group-add-user", placeholder: t("add_user"), "aria-label": t("add_user") });
    b.append(list,
      el("div", { class: "row" }, name, el("button", { id: "group-rename", type: "button", text: t("rename"), onclick: guarded(async () => {
        await api("/api/group/rename", { conv: S.current, name: name.value }); name.value = "";
      }) })),
      el("div", { class: "row" }, user, el("button", { id: "group-add", type: "button", text: t("add"), onclick: guarded(async () => {
        await api("/api/group/add", { conv: S.current, user: user.value.trim() }); user.value = ""; await refreshMembers();
      }) })));
  });
  const locationDialog = () => dialog(t("loc_title"), (b) => {
    const lat = el("input", { id: "loc-lat", type: "number", step: "any", "aria-label": t("lat"), placeholder: t("lat") });
    const lon = el("input", { id: "loc-lon", type: "number", step: "any", "aria-label": t("lon"), placeholder: t("lon") });
    const prec = el("select", { id: "loc-precision", "aria-label": t("precision") });
    for (const p of ["city", "km", "exact"]) prec.append(el("option", { value: p, text: t("p_" + p) }));
    b.append(lat, lon, prec,
      el("button", { type: "button", id: "loc-gps", text: t("use_gps"), onclick: () => navigator.geolocation.getCurrentPosition((pos) => { lat.value = pos.coords.latitude; lon.value = pos.coords.longitude; }, () => toast(t("err"))) }),
      el("button", { type: "button", id: "loc-send", text: t("send"), onclick: guarded(async () => {
        await api("/api/location", { conv: S.current, lat: Number(lat.value), lon: Number(lon.value), precision: prec.value }); $("#dialog").close();
      }) }));
  });

  // -- audio: microphone to the app, what the app hears to the speaker ----------------------------
  async function audioContext() {
    if (!S.audio) { S.audio = new AudioContext({ sampleRate: 48000 }); S.playAt = 0; }
    if (S.audio.state === "suspended") await S.audio.resume();
    return S.audio;
  }
  async function startMic() {
    if (S.mic) return;
    const ctx = await audioContext();
    await ctx.audioWorklet.addModule("/static/mic-worklet.js");
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 } });
    const src = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "dunpai-mic");
    const sink = ctx.createGain(); sink.gain.value = 0;
    node.port.onmessage = (ev) => { if (S.ws && S.ws.readyState === 1) S.ws.send(ev.data); };
    src.connect(node); node.connect(sink); sink.connect(ctx.destination);
    S.mic = { stream, node, src };
  }
  function stopMic() {
    if (!S.mic) return;
    S.mic.stream.getTracks().forEach((tr) => tr.stop()); S.mic.src.disconnect(); S.mic.node.disconnect(); S.mic = null;
  }
  function play(buf) {
    const bytes = new Uint8Array(buf);
    if (bytes[0] !== 2 || !S.audio) return;
    const pcm = new Int16Array(buf.slice(1));
    const ctx = S.audio, ab = ctx.createBuffer(1, pcm.length, 48000), ch = ab.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    const node = ctx.createBufferSource(); node.buffer = ab; node.connect(ctx.destination);
    S.playAt = Math.max(S.playAt, ctx.currentTime + 0.06); node.start(S.playAt); S.playAt += ab.duration;
  }

  // -- push-to-talk --------------------------------------------------------------------------------
  function renderVoice() {
    const tg = S.voice && S.voice.talkgroup;
    $("#ptt-screen").hidden = !tg;
    if (tg) {
      const conv = S.convs.find((c) => c.id === "g:" + tg.group);
      $("#ptt-group").textContent = conv ? convName(conv) : tg.group;
      const fs = $("#floor-state");
      fs.dataset.holder = tg.holder || ""; fs.dataset.state = tg.state; fs.dataset.emergency = tg.emergency ? "1" : "0";
      fs.dataset.event = tg.event || "";
      let text = tg.holder === S.me ? t("floor_me") : tg.holder ? t("floor_other", { user: tg.holder }) : t("floor_idle");
      if (tg.holder && tg.emergency) text += t("floor_emergency");
      if (tg.state === "queued") text += " · " + t("floor_queued", { n: tg.position });
      if (tg.state === "requested") text += " · " + t("floor_requested");
      if (tg.event === "floor_revoke") text += " · " + t("floor_revoked");
      fs.textContent = text;
      $("#ptt-btn").classList.toggle("talking", tg.state === "talking");
    }
    const call = S.voice && S.voice.call;
    $("#call-screen").hidden = !call;
    renderVideo();
    if (call) {
      const cs = $("#call-state"); cs.dataset.phase = call.phase; cs.dataset.media = call.media;
      cs.textContent = t((call.media === "video" && call.phase !== "active" ? "vcall_" : "call_") + call.phase, { user: call.peer });
      $("#call-accept").hidden = call.phase !== "ringing_in"; $("#call-reject").hidden = call.phase !== "ringing_in";
      $("#call-mute").hidden = call.phase !== "active"; $("#call-mute").textContent = call.muted ? t("unmute") : t("mute");
      $("#call-hangup").hidden = call.phase === "ringing_in";
    }
  }
  const pttPress = guarded(async (emergency) => { await audioContext(); await startMic(); S.ws.send(JSON.stringify({ type: "ptt", action: "press", emergency: !!emergency })); });
  function pttRelease() { if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify({ type: "ptt", action: "release" })); }
  function onCall(e) {
    if (e.event === "connected") {
      S.camOn = !!e.call && e.call.media === "video"; S.lastPicture = 0; $("#remote-video").dataset.frames = "0";
      guarded(startMic)(); guarded(startCamera)();
    }
    if (e.event === "ended") { stopMic(); stopCamera(); S.lastPicture = 0; toast(t("call_ended")); }
    renderVoice();
  }

  // -- video: the camera to the app (0x03 ‖ JPEG, 10 a second), its decoded pictures back (0x04 ‖ JPEG) --
  async function hasCamera() {
    try { return (await navigator.mediaDevices.enumerateDevices()).some((d) => d.kind === "videoinput"); } catch (e) { return false; }
  }
  async function startCamera() {
    if (S.camStarting) return;   // one camera at a time, however fast the button is pressed
    S.camStarting = true;
    try { await openCamera(); } finally { S.camStarting = false; }
  }
  async function openCamera() {
    S.noCamera = !(await hasCamera());
    if (S.cam || !S.camOn || S.noCamera) { renderVideo(); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 10 } }); }
    catch (e) { S.noCamera = true; renderVideo(); return; }
    const call = S.voice && S.voice.call;
    if (!call || call.phase !== "active" || !S.camOn) { stream.getTracks().forEach((tr) => tr.stop()); renderVideo(); return; }
    const video = $("#local-video"); video.srcObject = stream;
    await video.play().catch(() => {});
    const W = 320, H = 240, canvas = document.createElement("canvas"); canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext("2d");
    const cam = { stream, timer: 0, busy: false };
    cam.timer = setInterval(() => {
      const ws = S.ws, vw = video.videoWidth, vh = video.videoHeight;
      if (cam.busy || !ws || ws.readyState !== 1 || ws.bufferedAmount > 500000 || !vw || !vh) return;
      const k = Math.min(vw / W, vh / H);   // fill 4:3, cropping the middle of a wider picture
      ctx.drawImage(video, (vw - W * k) / 2, (vh - H * k) / 2, W * k, H * k, 0, 0, W, H);
      cam.busy = true;
      canvas.toBlob(async (blob) => {
        try {
          if (!blob || S.cam !== cam || ws.readyState !== 1) return;
          const jpeg = new Uint8Array(await blob.arrayBuffer()), out = new Uint8Array(1 + jpeg.length);
          out[0] = 3; out.set(jpeg, 1); ws.send(out.buffer);
        } finally { cam.busy = false; }
      }, "image/jpeg", 0.9);
    }, 100);
    S.cam = cam;
    renderVideo();
  }
  function stopCamera() {
    if (!S.cam) return;
    clearInterval(S.cam.timer); S.cam.stream.getTracks().forEach((tr) => tr.stop());
    $("#local-video").srcObject = null; S.cam = null; renderVideo();
  }
  async function showPicture(buf) {
    // one decode at a time; a window that falls behind skips to the newest picture (live video)
    S.nextPicture = new Blob([new Uint8Array(buf, 1)], { type: "image/jpeg" });
    if (S.drawing) return;
    S.drawing = true;
    try {
      while (S.nextPicture) {
        const blob = S.nextPicture; S.nextPicture = null;
        const bmp = await createImageBitmap(blob).catch(() => null), c = $("#remote-video");
        if (!bmp) continue;
        c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height); bmp.close();
        c.dataset.frames = String(Number(c.dataset.frames) + 1);
        const fresh = !S.lastPicture || performance.now() - S.lastPicture > 1500;
        S.lastPicture = performance.now(); if (fresh) renderVideo();
      }
    } finally { S.drawing = false; }
  }
  function renderVideo() {
    const call = S.voice && S.voice.call, active = !!call && call.phase === "active";
    const live = active && S.lastPicture > 0 && performance.now() - S.lastPicture < 1500;
    const box = $("#call-video"), peer = call ? call.peer : "";
    const shown = active && (call.media === "video" || live || !!S.cam);   // a voice call stays compact
    $("#call-screen").classList.toggle("video", shown);
    box.hidden = !shown; box.dataset.remote = live ? "live" : "none";
    $("#remote-video").hidden = !live; $("#remote-video").setAttribute("aria-label", t("remote_video", { user: peer }));
    $("#remote-none").hidden = live; $("#remote-none").textContent = t("remote_none", { user: peer });
    $("#local-video").hidden = !S.cam; $("#local-video").setAttribute("aria-label", t("local_video"));
    const cam = $("#call-camera");
    cam.hidden = !active; cam.disabled = S.noCamera; cam.setAttribute("aria-pressed", S.cam ? "true" : "false");
    cam.textContent = S.cam ? t("camera_off") : t("camera_on");
    const note = $("#camera-note");
    note.hidden = !(shown && S.noCamera); note.textContent = t("no_camera_call");
    clearTimeout(renderVideo.timer);
    if (live) renderVideo.timer = setTimeout(renderVideo, 1600);   // pictures stopped: say so
  }

  // -- enrolment and start -------------------------------------------------------------------------
  async function load() {
    const st = await api("/api/state");
    if (!st.enrolled) { $("#enrol").hidden = false; $("#sidebar").hidden = true; $("#pane").hidden = true; return false; }
    applySnapshot(st);
    return true;
  }
  function applySnapshot(st) {
    $("#enrol").hidden = true; $("#sidebar").hidden = false; $("#pane").hidden = false;
    S.me = st.me; S.convs = st.convs; S.contacts = st.contacts; S.online = st.online; S.fileLimit = st.file_limit; S.voice = st.voice;
    $("#me").textContent = st.me + " / " + st.device;
    translate();
    document.body.dataset.me = st.me;
  }
  function bind() {
    $("#lang-btn").onclick = () => { S.lang = S.lang === "zh" ? "en" : "zh"; localStorage.setItem("dunpai-lang", S.lang); translate(); };
    $("#back-btn").onclick = () => { $("#app").dataset.view = "list"; S.current = null; sendFocus(); };
    $("#composer").onsubmit = (ev) => { ev.preventDefault(); send(); };
    $("#composer-text").onkeydown = (ev) => { if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(); } };
    $("#attach-btn").onclick = () => $("#file-input").click();
    $("#file-input").onchange = (ev) => { sendFile(ev.target.files[0]); ev.target.value = ""; };
    $("#loc-btn").onclick = locationDialog;
    $("#new-chat-btn").onclick = newChat; $("#new-group-btn").onclick = newGroup;
    $("#verify-btn").onclick = verifyDialog; $("#members-btn").onclick = membersDialog;
    $("#keychange-ack").onclick = guarded(async () => { await api("/api/keychange/ack", { user: S.current.slice(2) }); });
    $("#call-btn").onclick = guarded(async () => { await audioContext(); await api("/api/voice/call", { user: S.current.slice(2) }); });
    $("#call-accept").onclick = guarded(async () => { await audioContext(); await api("/api/voice/accept", {}); });
    $("#call-reject").onclick = guarded(async () => { await api("/api/voice/reject", {}); });
    $("#call-hangup").onclick = guarded(async () => { await api("/api/voice/hangup", {}); });
    $("#video-call-btn").onclick = guarded(async () => { await audioContext(); await api("/api/voice/call", { user: S.current.slice(2), media: "video" }); });
    $("#call-camera").onclick = guarded(async () => { S.camOn = !S.cam; if (S.cam) stopCamera(); else await startCamera(); });
    $("#call-mute").onclick = guarded(async () => { const c = S.voice.call; await api("/api/voice/mute", { muted: !(c && c.muted) }); });
    $("#ptt-open-btn").onclick = guarded(async () => { await api("/api/voice/ptt-join", { group: S.current.slice(2) }); });
    $("#ptt-leave").onclick = guarded(async () => { stopMic(); await api("/api/voice/ptt-leave", {}); });
    const ptt = $("#ptt-btn"), emerg = $("#ptt-emergency");
    ptt.addEventListener("pointerdown", (ev) => { ev.preventDefault(); pttPress(false); });
    emerg.addEventListener("pointerdown", (ev) => { ev.preventDefault(); pttPress(true); });
    for (const b of [ptt, emerg]) {
      b.addEventListener("pointerup", pttRelease); b.addEventListener("pointerleave", (ev) => { if (ev.buttons) pttRelease(); });
      b.addEventListener("keydown", (ev) => { if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) { ev.preventDefault(); pttPress(b === emerg); } });
      b.addEventListener("keyup", (ev) => { if (ev.key === " " || ev.key === "Enter") { ev.preventDefault(); pttRelease(); } });
    }
    const search = $("#search");
    search.oninput = guarded(async () => {
      const q = search.value.trim(); const ul = $("#search-results");
      ul.hidden = !q; $("#conv-list").hidden = !!q; if (!q) return;
      const r = await api("/api/search?q=" + encodeURIComponent(q)); ul.textContent = "";
      if (!r.hits.length) ul.append(el("li", { class: "hint", text: t("no_results") }));
      for (const h of r.hits) ul.append(el("li", { class: "hit", tabindex: "0", "data-mid": h.mid, onclick: () => { search.value = ""; ul.hidden = true; $("#conv-list").hidden = false; openConv(h.conv); } },
        el("strong", { text: h.conv_name || h.conv.slice(2) }), el("span", { text: " " + (h.text || (h.file && h.file.name) || "") })));
    });
    document.addEventListener("keydown", (ev) => {
      if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "k") { ev.preventDefault(); search.focus(); }
      if (ev.altKey && (ev.key === "ArrowDown" || ev.key === "ArrowUp") && S.convs.length) {
        ev.preventDefault();
        const i = S.convs.findIndex((c) => c.id === S.current);
        const j = ev.key === "ArrowDown" ? Math.min(S.convs.length - 1, i + 1) : Math.max(0, i - 1);
        openConv(S.convs[j].id);
      }
    });
    const pane = $("#conversation"), dz = $("#dropzone");
    pane.addEventListener("dragover", (ev) => { ev.preventDefault(); dz.classList.add("show"); });
    pane.addEventListener("dragleave", () => dz.classList.remove("show"));
    pane.addEventListener("drop", (ev) => { ev.preventDefault(); dz.classList.remove("show"); if (ev.dataTransfer.files.length) sendFile(ev.dataTransfer.files[0]); });
    document.addEventListener("visibilitychange", sendFocus);
    window.addEventListener("focus", sendFocus); window.addEventListener("blur", sendFocus);
    $("#enrol-server").value = "ws://127.0.0.1:8765";
    $("#enrol-form").onsubmit = async (ev) => {
      ev.preventDefault(); $("#enrol-error").textContent = ""; $("#enrol-submit").disabled = true;
      try {
        // the app then pushes a snapshot over the socket, ordered with every later change
        await api("/api/enrol", { server: $("#enrol-server").value.trim(), user: $("#enrol-user").value.trim(), device: $("#enrol-device").value.trim(), invite: $("#enrol-invite").value.trim() });
      } catch (e) { $("#enrol-error").textContent = t("err") + ": " + e.message; } finally { $("#enrol-submit").disabled = false; }
    };
  }
  bind();
  translate();
  load().then(() => { connect(); document.body.dataset.ready = "1"; });
})();

/* ragsvc help-desk widget: one <script> tag, no other file, nothing from a CDN.
 *
 *   <script src="https://helpdesk.example.com/widget.js" data-key="WIDGET_KEY" defer></script>
 *
 * data-key (a widget key bound to this page's origin; omit when asking is public), data-lang
 * (en|ja; default: the page's lang), data-title, data-contact-url (the "contact a person" link),
 * data-service-url (where to ask, when it is not where this script came from).
 * Answers stream from POST /v1/ask/stream (server-sent events read through fetch); text from the
 * service is only ever set as textContent, and only http(s) or site links are followed.
 */
(() => {
  "use strict";
  const SERVER = /*RAGSVC_CONFIG*/ {};
  const script = document.currentScript;
  if (!script) return;
  const data = script.dataset;
  const base = new URL(data.serviceUrl || script.src, location.href).origin;
  const lang = (data.lang || document.documentElement.lang || "en").toLowerCase().startsWith("ja") ? "ja" : "en";
  const TEXT = {
    en: {
      open: "Help", title: "Help desk", close: "Close", ask: "Ask", placeholder: "Ask a question…",
      question: "Your question", sources: "Sources", helpful: "Helpful", unhelpful: "Not helpful",
      comment: "What was wrong? (optional)", send: "Send", thanks: "Thank you for the feedback.",
      contact: "Contact a person", down: "The help desk service cannot be reached right now.",
      failed: "Sorry, the answer could not be completed.", writing: "Writing the answer…",
      you: "You", assistant: "Help desk", feedbackFailed: "The feedback could not be sent.",
    },
    ja: {
      open: "ヘルプ", title: "ヘルプデスク", close: "閉じる", ask: "送信", placeholder: "質問を入力…",
      question: "質問", sources: "出典", helpful: "役に立った", unhelpful: "役に立たなかった",
      comment: "どこが違いましたか（任意）", send: "送信", thanks: "ご意見ありがとうございます。",
      contact: "担当者に問い合わせる", down: "現在ヘルプデスクのサービスに接続できません。",
      failed: "申し訳ありません。回答を完了できませんでした。", writing: "回答を作成しています…",
      you: "あなた", assistant: "ヘルプデスク", feedbackFailed: "フィードバックを送信できませんでした。",
    },
  }[lang];
  const contactUrl = safeUrl(data.contactUrl || SERVER.contact_url || "");
  const history = [];
  const conversationId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).slice(0, 64);

  function safeUrl(value) {
    try {
      const url = new URL(value, base);
      return url.protocol === "https:" || url.protocol === "http:" || url.protocol === "mailto:" ? url.href : "";
    } catch (_) {
      return "";
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  const host = el("div", { "data-ragsvc-widget": "" });
  const root = host.attachShadow({ mode: "open" });
  root.append(el("style", { text: `
    :host { all: initial; font: 15px/1.45 system-ui, sans-serif; color: #1d2433; }
    .launcher { position: fixed; right: 20px; bottom: 20px; border: 0; border-radius: 24px; padding: 12px 18px;
      background: #1f5fbf; color: #fff; font: inherit; font-weight: 600; cursor: pointer; box-shadow: 0 2px 8px #0003; }
    .panel { position: fixed; right: 20px; bottom: 76px; width: min(380px, calc(100vw - 40px)); height: min(560px, calc(100vh - 110px));
      display: flex; flex-direction: column; background: #fff; border-radius: 12px; box-shadow: 0 8px 30px #0004; overflow: hidden; }
    .panel[hidden] { display: none; }
    header { display: flex; justify-content: space-between; align-items: center; padding: 10px 14px; background: #1f5fbf; color: #fff; }
    header h2 { font-size: 16px; margin: 0; }
    header button { background: none; border: 0; color: #fff; font-size: 20px; cursor: pointer; }
    .log { flex: 1; overflow-y: auto; padding: 12px 14px; display: flex; flex-direction: column; gap: 10px; }
    .turn { padding: 8px 11px; border-radius: 10px; max-width: 90%; white-space: pre-wrap; overflow-wrap: anywhere; }
    .user { align-self: flex-end; background: #e6eefb; }
    .bot { align-self: flex-start; background: #f3f4f6; }
    .sources { margin: 6px 0 0; padding-left: 20px; font-size: 13px; }
    .sources a { color: #1f5fbf; }
    .actions { display: flex; gap: 6px; margin-top: 6px; align-items: center; flex-wrap: wrap; font-size: 13px; }
    .actions button, form button { font: inherit; cursor: pointer; border: 1px solid #c8cdd6; background: #fff; border-radius: 6px; padding: 3px 8px; }
    .actions textarea { width: 100%; font: inherit; }
    .contact { display: inline-block; margin-top: 6px; color: #1f5fbf; font-weight: 600; }
    form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e3e6eb; }
    form input { flex: 1; font: inherit; padding: 7px 9px; border: 1px solid #c8cdd6; border-radius: 6px; }
    form button { background: #1f5fbf; color: #fff; border: 0; padding: 7px 14px; }
    :focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  ` }));

  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "ragsvc-panel", text: TEXT.open });
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions text" });
  const input = el("input", { type: "text", name: "question", maxlength: "2000", placeholder: TEXT.placeholder, "aria-label": TEXT.question, autocomplete: "off" });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); send(); } },
    input, el("button", { type: "submit", text: TEXT.ask }));
  const closeButton = el("button", { type: "button", "aria-label": TEXT.close, text: "×", onclick: () => toggle(false) });
  const panel = el("section", { class: "panel", id: "ragsvc-panel", role: "dialog", "aria-label": data.title || SERVER.title?.[lang] || TEXT.title, hidden: "" },
    el("header", {}, el("h2", { text: data.title || SERVER.title?.[lang] || TEXT.title }), closeButton), log, form);
  panel.addEventListener("keydown", (event) => { if (event.key === "Escape") { toggle(false); launcher.focus(); } });
  launcher.addEventListener("click", () => toggle(panel.hidden));
  root.append(launcher, panel);
  document.body.append(host);

  function toggle(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) input.focus();
  }

  function contactLink() {
    return contactUrl ? el("a", { class: "contact", href: contactUrl, target: "_blank", rel: "noopener", text: TEXT.contact }) : null;
  }

  function sourceList(sources) {
    if (!sources.length) return null;
    const list = el("ol", { class: "sources", "aria-label": TEXT.sources });
    for (const source of sources) {
      const name = source.kind === "faq" && source.snippet ? source.snippet.split("\n")[0] : source.title;
      const label = name + (source.section && source.section.length ? " › " + source.section.join(" › ") : "");
      const href = source.url ? safeUrl(source.url) : "";
      const item = href ? el("a", { href, target: "_blank", rel: "noopener", text: label }) : document.createTextNode(label);
      list.append(el("li", { value: String(source.n) }, item));
    }
    return list;
  }

  function feedback(traceId) {
    const box = el("div", { class: "actions" });
    const post = (rating, comment) => fetch(base + "/v1/feedback", {
      method: "POST", headers: headers(), body: JSON.stringify({ trace_id: traceId, rating, comment }),
    }).then((r) => { if (!r.ok) throw new Error(String(r.status)); box.replaceChildren(el("span", { role: "status", text: TEXT.thanks })); })
      .catch(() => box.append(el("span", { role: "alert", text: TEXT.feedbackFailed })));
    const up = el("button", { type: "button", "aria-label": TEXT.helpful, title: TEXT.helpful, text: "👍", onclick: () => post(5, "") });
    const down = el("button", { type: "button", "aria-label": TEXT.unhelpful, title: TEXT.unhelpful, text: "👎", onclick: () => {
      const comment = el("textarea", { rows: "2", maxlength: "2000", "aria-label": TEXT.comment, placeholder: TEXT.comment });
      box.replaceChildren(comment, el("button", { type: "button", text: TEXT.send, onclick: () => post(1, comment.value) }));
      comment.focus();
    } });
    box.append(up, down);
    return box;
  }

  function headers() {
    const h = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (data.key) h["X-API-Key"] = data.key;
    return h;
  }

  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      // the whole buffer: a "\r\n" may arrive split across two reads
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let kind = "message";
        const lines = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) lines.push(line.slice(5).replace(/^ /, ""));
        }
        if (lines.length) yield [kind, JSON.parse(lines.join("\n"))];
      }
    }
  }

  async function send() {
    const question = input.value.trim();
    if (!question) return;
    input.value = "";
    log.append(el("div", { class: "turn user" }, el("span", { class: "sr", text: TEXT.you + ": " }), question));
    const text = el("span", { class: "text", text: TEXT.writing });
    const turn = el("div", { class: "turn bot", "aria-busy": "true" }, el("span", { class: "sr", text: TEXT.assistant + ": " }), text);
    log.append(turn);
    log.scrollTop = log.scrollHeight;
    let written = "";
    const finish = (...extra) => { turn.append(...extra.filter(Boolean)); turn.setAttribute("aria-busy", "false"); log.scrollTop = log.scrollHeight; };
    let response;
    try {
      response = await fetch(base + "/v1/ask/stream", {
        method: "POST", headers: headers(),
        body: JSON.stringify({ question, language: data.lang ? lang : undefined, conversation_id: conversationId, history: history.slice(-3) }),
      });
    } catch (_) {  // no answer at all: the service is down, or refuses this page's origin
      text.textContent = TEXT.down;
      return finish(contactLink());
    }
    try {
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        text.textContent = body.detail || TEXT.failed;
        return finish(contactLink());
      }
      for await (const [kind, body] of events(response)) {
        if (kind === "delta") {
          written += body.text;
          text.textContent = written;
        } else if (kind === "answer") {
          text.textContent = body.answer;
          history.push(body.question || question);
          const handoff = body.route === "no_answer" || body.degraded;
          turn.dataset.route = body.route;
          return finish(sourceList(body.sources), handoff ? contactLink() : null, feedback(body.trace_id));
        } else if (kind === "error") {
          text.textContent = body.detail || TEXT.failed;
          return finish(contactLink());
        }
      }
      text.textContent = written || TEXT.failed;
      finish(contactLink());
    } catch (error) {  // the stream broke off, or came garbled
      console.error("ragsvc widget:", error);
      text.textContent = written ? written + "\n\n" + TEXT.failed : TEXT.failed;
      finish(contactLink());
    }
  }
})();

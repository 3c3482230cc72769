// An accessibility check evaluated in the page by the browser tests: labels, names, alt texts,
// document structure, landmarks, and WCAG AA text contrast (4.5:1 for every visible text
// element, large text included) computed from computed styles against the effective
// background. It returns a list of violations, empty when the page passes.
(() => {
  const out = [];
  const doc = document;
  const describe = (e) => {
    let s = e.tagName.toLowerCase();
    if (e.id) s += "#" + e.id;
    else if (e.className && typeof e.className === "string") s += "." + e.className.trim().split(/\s+/).join(".");
    const t = (e.textContent || "").trim().replace(/\s+/g, " ").slice(0, 30);
    return t ? s + ' "' + t + '"' : s;
  };
  const visible = (e) => {
    if (!e.getClientRects().length) return false;
    const cs = getComputedStyle(e);
    return cs.visibility !== "hidden" && cs.display !== "none";
  };

  // Document structure and landmarks.
  if (!(doc.documentElement.getAttribute("lang") || "").trim()) out.push("the html element has no lang");
  if (!doc.title.trim()) out.push("the page has no title");
  const h1s = [...doc.querySelectorAll("h1")].filter(visible);
  if (h1s.length !== 1) out.push(h1s.length + " visible h1 elements, want exactly one");
  if (!doc.querySelector("main, [role=main]")) out.push("no main landmark");
  if (!doc.querySelector("nav, [role=navigation]")) out.push("no navigation landmark");
  if (!doc.querySelector("header, [role=banner]")) out.push("no banner landmark");

  // Form fields: an associated label (label[for], a wrapping label, aria-label, aria-labelledby).
  const labelText = (e) => {
    if ((e.getAttribute("aria-label") || "").trim()) return true;
    const by = (e.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean);
    if (by.some((id) => { const l = doc.getElementById(id); return l && l.textContent.trim(); })) return true;
    if (e.id && [...doc.querySelectorAll("label")].some((l) => l.htmlFor === e.id && l.textContent.trim())) return true;
    const wrap = e.closest("label");
    return !!(wrap && wrap.textContent.trim());
  };
  for (const f of doc.querySelectorAll("input, select, textarea")) {
    if (f.type === "hidden") continue;
    if (!labelText(f)) out.push("form field without a label: " + describe(f));
  }
  // Images: alt present (empty for decoration); SVG images named.
  for (const img of doc.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) out.push("image without alt: " + (img.getAttribute("src") || "").slice(0, 40));
  }
  for (const svg of doc.querySelectorAll("svg[role=img]")) {
    if (!(svg.getAttribute("aria-label") || "").trim() && !svg.querySelector("title")) out.push("svg image without a name");
  }
  // Buttons and links: an accessible name.
  for (const b of doc.querySelectorAll("button, a[href]")) {
    if (!visible(b)) continue;
    const name = (b.textContent || "").trim() || (b.getAttribute("aria-label") || "").trim() ||
      [...b.querySelectorAll("img[alt]")].map((i) => i.alt).join("").trim();
    if (!name) out.push("button or link without a name: " + describe(b));
  }

  // Contrast.
  const parse = (s) => {
    const m = s.match(/rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)/);
    if (!m) return null;
    let a = m[4] === undefined ? 1 : (m[4].endsWith("%") ? parseFloat(m[4]) / 100 : parseFloat(m[4]));
    return [parseFloat(m[1]), parseFloat(m[2]), parseFloat(m[3]), a];
  };
  const over = (top, below) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat([1]);
  };
  const background = (e) => {
    const layers = [];
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  let checked = 0;
  for (const e of doc.body.querySelectorAll("*")) {
    if (["SCRIPT", "STYLE", "NOSCRIPT", "TITLE"].includes(e.tagName) || e.closest("svg")) continue;
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const field = ["INPUT", "BUTTON", "SELECT", "TEXTAREA"].includes(e.tagName) && (e.value || e.textContent || "").trim();
    if ((!own && !field) || !visible(e)) continue;
    const bg = background(e);
    const fgRaw = parse(getComputedStyle(e).color);
    if (!fgRaw) { out.push("unparsed colour " + getComputedStyle(e).color + " on " + describe(e)); continue; }
    const fg = over(fgRaw, bg);
    const r = ratio(fg, bg);
    checked++;
    if (r < 4.5) out.push("contrast " + r.toFixed(2) + ":1 below 4.5:1 on " + describe(e));
  }
  if (checked === 0) out.push("no visible text was checked");
  return out;
})()

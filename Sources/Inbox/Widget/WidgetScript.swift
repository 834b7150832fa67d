/// The drop-in widget served at `/widget.js`: `initUseroFeedbackWidget({...})` with the options of the developer docs.
///
/// Kept in the binary (not a resource file) so a copied `usero` executable is the whole install. The script builds
/// its DOM from fixed markup and sets every configurable or user-supplied text with `textContent` or attributes.
enum WidgetScript {
    static let source = #"""
/* usero feedback widget: initUseroFeedbackWidget({ clientId, ... }). Self-contained, no dependencies. */
(function () {
  'use strict';
  // (A function: an element with that id is a global of the same name, and must not stop the widget.)
  if (typeof window.initUseroFeedbackWidget === 'function') return;
  // Close to the server's address check (which has the last word): a local part of at most 64 visible
  // characters, and a domain of labels of letters, digits and marks, hyphens (not at either end) and the joiners
  // IDNA allows within a label. Browsers without Unicode property escapes get a plainer check.
  var EMAIL;
  try {
    // (Not at either end of a label: a hyphen. The joiners and punctuation may be, as the server's context rules say.)
    var PART = '\\p{L}\\p{Nd}\\p{M}\\u00B7\\u0375\\u05F3\\u05F4\\u30FB\\u200C\\u200D';
    var LABEL = '[' + PART + '](?:[' + PART + '-]*[' + PART + '])?';
    EMAIL = new RegExp('^[^\\s@\\p{Cc}\\p{Cf}]{1,64}@' + LABEL + '(?:\\.' + LABEL + ')+$', 'u');
  } catch (e) {
    EMAIL = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
  }
  function isAddress(text) { return text.length <= 254 && EMAIL.test(text); }
  // The origin this file was served from is the default API host (read now: currentScript is gone later). A module
  // script has no currentScript: then the page's script elements that load a widget.js name it, when they all name
  // one origin (another product's widget.js beside it: no guess). Never the page's own origin unasked: the
  // visitor's words would go to the site's server.
  var served = '';
  try { served = new URL(document.currentScript.src, location.href).origin; } catch (e) { served = ''; }
  if (!served) {
    var tags = document.querySelectorAll('script[src]'), origins = [];
    for (var t = 0; t < tags.length; t++) {
      try {
        var src = new URL(tags[t].getAttribute('src'), location.href);
        if (/\/widget\.js$/.test(src.pathname) && origins.indexOf(src.origin) < 0) origins.push(src.origin);
      } catch (e) { /* not a URL: not ours */ }
    }
    if (origins.length === 1) served = origins[0];
  }
  // Ratings with the mouth of their face icon (inline SVG: no emoji font needed on the visitor's machine).
  var RATINGS = [[1, 'Terrible', 'M8 17q4-4 8 0'], [2, 'Bad', 'M8.5 16q3.5-2 7 0'], [3, 'Good', 'M8.5 14.5q3.5 2.5 7 0'],
    [4, 'Amazing', 'M7.5 13.5q4.5 5 9 0']];
  function svg(size, body) {
    return '<svg viewBox="0 0 24 24" width="' + size + '" height="' + size + '" aria-hidden="true" fill="none" ' +
      'stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">' + body + '</svg>';
  }
  var MAX_FILES = 3, MAX_BYTES = 10 * 1024 * 1024;
  var DARK = { primary: '#7c93ff', primaryText: '#0b1020', background: '#1d2129', surface: '#272c36', text: '#eef1f6',
    muted: '#a3acb9', border: '#3a4150', error: '#ff8787', success: '#69db7c' };
  var LIGHT = { primary: '#3b5bdb', primaryText: '#ffffff', background: '#ffffff', surface: '#f3f5f8', text: '#1c2230',
    muted: '#5f6b7d', border: '#d5dae2', error: '#c92a2a', success: '#2b8a3e' };
  var CSS = [
    ':host{all:initial}',
    '*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}',
    '[hidden]{display:none!important}',
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    'button,input,textarea{font:inherit;color:inherit;margin:0}',
    ':focus-visible{outline:3px solid var(--a);outline-offset:2px}',
    '.launcher{position:fixed;bottom:20px;SIDE:20px;z-index:1;display:flex;align-items:center;gap:8px;padding:11px 18px;',
    'border:0;border-radius:999px;background:var(--p);color:var(--pt);font-size:15px;font-weight:600;cursor:pointer;',
    'box-shadow:0 6px 24px rgba(0,0,0,.25)}',
    '.panel{position:fixed;bottom:80px;SIDE:20px;width:360px;max-width:calc(100vw - 24px);max-height:calc(100vh - 100px);',
    'overflow:auto;background:var(--bg);color:var(--t);border:1px solid var(--b);border-radius:14px;padding:18px;',
    'box-shadow:0 12px 40px rgba(0,0,0,.35);font-size:14px;line-height:1.45}',
    '@media (max-width:420px){.panel{SIDE:12px;bottom:76px}}',
    '.head{display:flex;justify-content:space-between;align-items:center;margin-bottom:12px}',
    'h2{margin:0;font-size:17px;font-weight:700}',
    '.x{border:0;background:none;font-size:22px;line-height:1;cursor:pointer;color:var(--m);padding:2px 6px;border-radius:6px}',
    'fieldset{border:0;padding:0;margin:0 0 12px}legend,.lbl{color:var(--m);font-size:13px;margin-bottom:8px;padding:0}',
    '.lbl{display:block;margin-bottom:6px}',
    '.rates{display:grid;grid-template-columns:repeat(4,1fr);gap:6px}',
    '.rate{display:flex;flex-direction:column;align-items:center;gap:2px;padding:8px 2px;border:1px solid var(--b);',
    'border-radius:10px;background:var(--s);cursor:pointer;font-size:12px}',
    '.rate svg{color:var(--m)}.rate[aria-pressed=true]{border-color:var(--a);box-shadow:0 0 0 1px var(--a) inset}',
    '.rate[aria-pressed=true] svg{color:var(--a)}',
    'textarea,input[type=email]{width:100%;border:1px solid var(--m);border-radius:10px;background:var(--s);padding:10px;',
    'font-size:14px}textarea{min-height:96px;resize:vertical}::placeholder{color:var(--m);opacity:1}',
    '.row{margin-top:10px}.check{display:flex;gap:8px;align-items:center;cursor:pointer;color:var(--t)}',
    '.email{margin-top:8px}.file{display:inline-flex;gap:6px;align-items:center;cursor:pointer;color:var(--a);font-weight:600}',
    '.file:focus-within{outline:3px solid var(--a);outline-offset:2px;border-radius:6px}',
    'ul{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-direction:column;gap:4px}',
    'li{display:flex;justify-content:space-between;gap:8px;background:var(--s);border-radius:8px;padding:4px 8px;font-size:13px}',
    'li span{overflow-wrap:anywhere;min-width:0}',
    'li button{border:0;background:none;cursor:pointer;color:var(--m)}',
    '.err{color:var(--e);margin:10px 0 0}',
    '.send{width:100%;margin-top:14px;padding:11px;border:0;border-radius:10px;background:var(--p);color:var(--pt);',
    'font-weight:600;font-size:15px;cursor:pointer}.send:disabled{opacity:.6;cursor:progress}',
    '.done{text-align:center;padding:18px 0 6px}.done p{margin:0 0 14px;font-size:15px}.done svg{color:var(--ok);display:block;margin:0 auto 10px}',
    '.done button{padding:9px 18px;border:1px solid var(--b);border-radius:10px;background:var(--s);cursor:pointer}',
    // High-contrast modes replace the colours and drop the shadows: the borderless buttons get an edge, and the
    // chosen rating (shown by colour and an inset shadow) a thick border, unlike the focus ring (an outline). A
    // printed page leaves the widget out.
    '@media (forced-colors:active){.launcher,.send,.x,.done button{border:1px solid ButtonText}',
    '.rate[aria-pressed=true]{border:3px solid Highlight}}',
    '@media print{.launcher,.panel{display:none!important}}'
  ].join('');
  var HTML = '<button type="button" class="launcher" aria-haspopup="dialog" aria-expanded="false">' +
    svg(18, '<path d="M4 5h16v11H10l-5 4v-4H4z"/>') + 'Feedback</button>' +
    '<div class="panel" role="dialog" aria-labelledby="uw-t" hidden>' +
    '<div class="head"><h2 id="uw-t"></h2><button type="button" class="x" aria-label="Close">\u00D7</button></div>' +
    '<form novalidate><fieldset><legend>How was your experience?</legend><div class="rates"></div></fieldset>' +
    '<label class="lbl" for="uw-c">Comment</label><textarea id="uw-c" maxlength="50000" dir="auto"></textarea>' +
    '<div class="row emailopt"><label class="check"><input type="checkbox"> Share my email so we can reply</label>' +
    '<label class="sr" for="uw-e">Email</label><input id="uw-e" class="email" type="email" autocomplete="email" placeholder="you@example.com" hidden></div>' +
    '<div class="row shotopt"><label class="file">' +
    svg(18, '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="m3 16 5-5 4 4 3-3 6 6"/>') + 'Attach a screenshot' +
    '<input class="sr" type="file" accept="image/*" multiple></label><ul aria-label="Screenshots" hidden></ul></div>' +
    '<p class="err" id="uw-err" role="alert" hidden></p><button type="submit" class="send">Send feedback</button></form>' +
    '<div class="done" role="status" hidden>' + svg(40, '<circle cx="12" cy="12" r="10"/><path d="m7.5 12.5 3 3 6-6"/>') +
    '<p>Thank you! Your feedback was sent.</p>' +
    '<button type="button">Close</button></div></div>';
  var current = null;

  function call(fn, arg) {
    if (typeof fn !== 'function') return;
    try { fn(arg); } catch (e) { if (window.console) console.error(e); }
  }

  function init(options) {
    var opts = options || {};
    if (!opts.clientId || typeof opts.clientId !== 'string') {
      var err = new Error('initUseroFeedbackWidget: clientId is required');
      call(opts.onError, err);
      if (window.console) console.error(err);
      return null;
    }
    if (opts.plugins && window.console) {
      console.warn('initUseroFeedbackWidget: plugins (such as session replay) come with the @usero/sdk package; ' +
        'this widget ignores them');
    }
    if (current) current.destroy();
    if (!document.body) {
      // Called from <head>: the widget is built once the body is there; the handle works before and after.
      var built = null, wantOpen = false;
      var pending = {
        open: function () { if (built) built.open(); else wantOpen = true; },
        close: function () { if (built) built.close(); else wantOpen = false; },
        destroy: function () {
          document.removeEventListener('DOMContentLoaded', go);
          if (built) built.destroy();
          if (current === pending) current = null;
        }
      };
      var go = function () {
        if (current !== pending) return;
        built = build(opts);
        if (built && wantOpen) built.open();
      };
      document.addEventListener('DOMContentLoaded', go);
      current = pending;
      return pending;
    }
    current = build(opts);
    return current;
  }

  // The fixed markup below goes in through a Trusted Types policy where the page has Trusted Types (a page that
  // requires them for scripts must allow the policy `usero-widget` in its `trusted-types` directive). A page that
  // names other policies without requiring them gets the plain string; one that requires them and refuses ours
  // makes the assignment throw, which `build` reports.
  var policy = null;
  function markup(html) {
    if (policy === null) {
      policy = false;
      try {
        if (window.trustedTypes && window.trustedTypes.createPolicy) {
          policy = window.trustedTypes.createPolicy('usero-widget', { createHTML: function (text) { return text; } });
        }
      } catch (e) { policy = false; }
    }
    return policy ? policy.createHTML(html) : html;
  }

  function build(opts) {
    try {
      return create(opts);
    } catch (e) {
      // A page whose policy refuses what the widget needs (its Trusted Types policy name, say): no half-built
      // widget on the page, and the developer hears why.
      var err = new Error('initUseroFeedbackWidget: ' + (e && e.message ? e.message : 'the widget could not start'));
      call(opts.onError, err);
      if (window.console) console.error(err);
      return null;
    }
  }

  // Why the server would refuse `meta` as `metadata`, or '' (its limits: 10 KB as JSON, 64 levels deep).
  function metadataProblem(meta) {
    if (typeof meta !== 'object' || Array.isArray(meta)) return 'must be an object';
    var json;
    try { json = JSON.stringify(meta); } catch (e) { return 'cannot be sent as JSON (' + e.message + ')'; }
    var size = window.TextEncoder ? new TextEncoder().encode(json).length : unescape(encodeURIComponent(json)).length;
    if (size > 10240) return 'is ' + size + ' bytes as JSON, more than 10 KB';
    // How deep, read off the JSON text: a bracket inside a string does not count.
    var depth = 0, deepest = 0, inString = false;
    for (var i = 0; i < json.length; i++) {
      var c = json.charAt(i);
      if (inString) { if (c === '\\') i++; else if (c === '"') inString = false; }
      else if (c === '"') inString = true;
      else if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth);
      else if (c === '}' || c === ']') depth--;
    }
    return deepest > 64 ? 'is nested ' + deepest + ' levels deep, more than 64' : '';
  }

  // The environment the server takes from `env` (a line end a config file left at its end is dropped, as it would
  // otherwise be refused), or an Error saying why it takes none: with a line break inside, or over 128 characters.
  function environmentOf(env) {
    if (typeof env !== 'string') return '';
    var name = /[\u0000-\u001f\u007f-\u009f]/.test(env) ? env.replace(/^\s+|\s+$/g, '') : env;
    if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return new Error('initUseroFeedbackWidget: environment holds a ' +
      'control character (a line break or a tab); the feedback was sent without it');
    if (Array.from(name).length > 128) return new Error('initUseroFeedbackWidget: environment is longer than 128 ' +
      'characters; the feedback was sent without it');
    return name;
  }

  function create(opts) {
    var base = String(opts.baseUrl || served).replace(/\/+$/, '');
    if (!base) throw new Error('cannot tell where widget.js was loaded from: pass baseUrl, the address of usero');
    var side = opts.position === 'left' ? 'left' : 'right';
    var host = document.createElement('usero-feedback-widget');
    // Inline !important beats any author rule aimed at the host element itself. Set through the CSSOM, which a
    // page's Content-Security-Policy allows where a style attribute needs 'unsafe-inline'.
    var hostStyle = { all: 'initial', display: 'block', position: 'fixed', 'z-index': '2147483000', width: '0',
      height: '0', bottom: '0' };
    hostStyle[side] = '0';
    for (var property in hostStyle) host.style.setProperty(property, hostStyle[property], 'important');
    // Its words are English, left to right, whatever the page's language and direction.
    host.setAttribute('dir', 'ltr');
    host.setAttribute('lang', 'en');
    var root = host.attachShadow({ mode: 'open' });
    var css = CSS.replace(/SIDE/g, side);
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      var style = document.createElement('style');
      style.textContent = css;
      root.appendChild(style);
    }
    var box = document.createElement('div');
    box.innerHTML = markup(HTML);
    root.appendChild(box);
    function $(sel) { return root.querySelector(sel); }
    var launcher = $('.launcher'), panel = $('.panel'), form = $('form'), comment = $('textarea'),
      errBox = $('.err'), send = $('.send'), done = $('.done'), check = $('.check input'), email = $('#uw-e'),
      fileInput = $('input[type=file]'), list = $('ul'), rates = $('.rates');
    $('h2').textContent = opts.title || 'Share Feedback';
    comment.placeholder = opts.placeholder || 'Tell us what you think... (optional)';
    if (opts.showEmailOption === false) $('.emailopt').hidden = true;
    if (opts.showScreenshotOption === false) $('.shotopt').hidden = true;
    // `unseenDone`: a send that succeeded while the panel was closed; its thank-you is shown at the next open.
    var rating = null, files = [], busy = false, isOpen = false, unseenDone = false, destroyed = false, returnTo = null;
    var uploaded = typeof WeakMap === 'function' ? new WeakMap() : null;
    // The last submission that got no success, and the Idempotency-Key it went with: sent again unchanged (the
    // person pressing Send after a timeout or an error), it goes with the same key, so that a first try the server
    // stored after all is answered instead of stored twice. Anything changed is a new submission, with a new key.
    var lastTry = null;
    RATINGS.forEach(function (r) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'rate';
      b.setAttribute('aria-pressed', 'false');
      b.setAttribute('data-rating', r[0]);
      b.innerHTML = markup(svg(26, '<circle cx="12" cy="12" r="10"/><path d="M9 10h.01M15 10h.01" stroke-width="2.6"/>' +
        '<path d="' + r[2] + '"/>'));
      b.appendChild(document.createTextNode(r[1]));
      b.addEventListener('click', function () {
        rating = rating === r[0] ? null : r[0];
        rates.querySelectorAll('.rate').forEach(function (o) {
          o.setAttribute('aria-pressed', String(Number(o.getAttribute('data-rating')) === rating));
        });
        hideError();
      });
      rates.appendChild(b);
    });

    // Theme: the OS scheme (dark when unknown), with explicit values on top.
    var media = window.matchMedia ? window.matchMedia('(prefers-color-scheme: light)') : null;
    // A theme colour the browser takes as one; anything else (a typo) leaves the default, with a word in the console.
    function colour(value, name) {
      if (!value) return '';
      // (window.CSS: `CSS` here is the widget's own style sheet.)
      var api = window.CSS;
      if (typeof value === 'string' && (!api || !api.supports || api.supports('color', value))) return value;
      if (window.console) console.warn('initUseroFeedbackWidget: theme.' + name + ' is not a CSS colour; the default is used');
      return '';
    }
    // A colour's relative luminance (WCAG), from what a canvas says of it (#rrggbb or rgba()), before the widget is
    // on the page; null when it cannot say.
    function luminance(value) {
      var ctx = null;
      try { ctx = document.createElement('canvas').getContext('2d'); } catch (e) { ctx = null; }
      if (!ctx) return null;
      ctx.fillStyle = '#000';
      ctx.fillStyle = value;
      var said = String(ctx.fillStyle), rgb;
      var hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(said);
      var fn = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/.exec(said);
      if (hex) rgb = [parseInt(hex[1], 16), parseInt(hex[2], 16), parseInt(hex[3], 16)];
      else if (fn) rgb = [+fn[1], +fn[2], +fn[3]];
      else return null;
      var l = rgb.map(function (v) {
        v = v / 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
    }
    // Text that reads on `background`: white on a dark colour, near-black on a light one (0.179 is where both
    // contrast equally); null when the colour cannot be read.
    function textOn(background) {
      var l = luminance(background);
      return l === null ? null : l > 0.179 ? '#0b1020' : '#ffffff';
    }
    // Whether `fore` reads on `back` as text (WCAG's 4.5:1); true when either cannot be read.
    function readsOn(fore, back) {
      var a = luminance(fore), b = luminance(back);
      return a === null || b === null || (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) >= 4.5;
    }
    // The theme's own colours, each checked once (a typo warns once, not at every change of scheme).
    var given = {}, over = opts.theme || {}, k;
    for (k in LIGHT) given[k] = colour(over[k], k);
    // A theme that sets its background (or, without one, its text) is light or dark by that colour, whatever the
    // visitor's scheme: the colours it leaves to the widget then read on it (light text on a customer's white
    // background in a dark-scheme browser did not).
    var ownLight = given.background ? luminance(given.background) : null, ownText = given.text ? luminance(given.text) : null;
    var fixedBase = ownLight !== null ? (ownLight > 0.179 ? LIGHT : DARK) : ownText !== null ? (ownText > 0.179 ? DARK : LIGHT) : null;
    function applyTheme() {
      var t = {}, baseTheme = fixedBase || (media && media.matches ? LIGHT : DARK), k;
      for (k in baseTheme) t[k] = given[k] || baseTheme[k];
      // A brand colour without its text colour: text chosen for it, not the base theme's (chosen for the base
      // theme's own primary: dark text on a dark brand blue in dark mode).
      if (t.primary === over.primary && t.primaryText !== over.primaryText) {
        t.primaryText = textOn(t.primary) || t.primaryText;
      }
      // The brand colour as an accent inside the panel (the attach link, the chosen rating, focus rings) only where
      // it reads on the panel: a dark brand blue on the dark theme's panel is the text colour there instead.
      var accent = readsOn(t.primary, t.background) ? t.primary : t.text;
      var vars = { '--p': t.primary, '--pt': t.primaryText, '--a': accent, '--bg': t.background, '--s': t.surface,
        '--t': t.text, '--m': t.muted, '--b': t.border, '--e': t.error, '--ok': t.success };
      for (k in vars) host.style.setProperty(k, vars[k]);
      panel.style.color = t.text;
    }
    applyTheme();
    if (media && media.addEventListener) media.addEventListener('change', applyTheme);

    function user() {
      if (typeof opts.getUser !== 'function') return null;
      try {
        var u = opts.getUser();
        return u && typeof u === 'object' ? u : null;
      } catch (e) { call(opts.onError, e); return null; }
    }
    var sessionUser = user();
    // The address the field was last filled with from getUser: replaced when the signed-in user changes, unless
    // the person typed another one.
    var prefilled = sessionUser && sessionUser.email ? String(sessionUser.email) : '';
    email.value = prefilled;
    function prefill() {
      var now = user(), wanted = now && now.email ? String(now.email) : '';
      if (email.value === prefilled) email.value = wanted;
      prefilled = wanted;
    }
    // Identify the signed-in user, so the team sees who sent what (POST /api/identify): at start, and at a
    // submission by a user who changed since (a single-page app that signed another one in). What the server
    // refused for good (a page off the client's allowlist, an unknown client: a 4xx but 429) is not asked again
    // for the same values on this page, so onError hears of it once.
    var refusedIdentity = null;
    function identify(u) {
      var userId = u && (u.id || u.userId);
      // Within the server's limits, as the feedback's own userId and email are: what it would refuse is left out
      // (an id over 128 characters: no identify at all), not sent to fail on every page view.
      if (!userId || String(userId).length > 128) return;
      var who = { clientId: opts.clientId, userId: String(userId) };
      var mail = u.email ? String(u.email).trim() : '';
      if (mail && isAddress(mail)) who.email = mail;
      if (u.name) who.name = cut(String(u.name), 256);
      // Once per browser session for the same values, not on every page view: identify shares the client's
      // public rate limit with feedback, which a busy site's page views would otherwise use up. The tab keeps a
      // fingerprint of what it sent, not the email and name themselves.
      var said = JSON.stringify(who), key = 'usero-identified:' + opts.clientId, known = null, mark = fingerprint(said);
      try { known = window.sessionStorage.getItem(key); } catch (e) { known = null; }
      if (known === mark || refusedIdentity === said) return;
      request('/api/identify', { headers: { 'Content-Type': 'application/json' }, body: said }).then(function () {
        try { window.sessionStorage.setItem(key, mark); } catch (e) { /* storage refused: identify next time */ }
      }, function (err) {
        if (err && err.status >= 400 && err.status < 500 && err.status !== 429) refusedIdentity = said;
        if (!destroyed) call(opts.onError, err);
      });
    }
    identify(sessionUser);
    // Two 32-bit FNV-1a hashes of the text's UTF-16 units, as 16 hex digits: enough to tell one identity from the
    // next, and no copy of it.
    function fingerprint(text) {
      var a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
      for (var i = 0; i < text.length; i++) {
        var c = text.charCodeAt(i);
        a = Math.imul(a ^ c, 0x01000193) >>> 0;
        b = Math.imul(b ^ c, 0x01000193) >>> 0;
      }
      return ('0000000' + a.toString(16)).slice(-8) + ('0000000' + b.toString(16)).slice(-8);
    }

    function open() {
      // A handle destroyed (or replaced by a later init) stays quiet: no onOpen for a panel that is not there.
      if (isOpen || destroyed) return;
      isOpen = true;
      // Where focus goes back to on closing: the page's own button when the page opened the panel from it.
      var before = document.activeElement;
      returnTo = before && before !== document.body && before !== host ? before : null;
      if (!done.hidden && !unseenDone) reset();
      if (!form.hidden) prefill();
      panel.hidden = false;
      launcher.setAttribute('aria-expanded', 'true');
      if (unseenDone) {
        // Closed while it was being sent: the thank-you it never showed, not an empty form that invites a resend.
        unseenDone = false;
        done.querySelector('button').focus();
      } else {
        rates.querySelector('.rate').focus();
      }
      document.addEventListener('keydown', pageEscape);
      call(opts.onOpen);
    }
    function close() {
      if (!isOpen) return;
      isOpen = false;
      document.removeEventListener('keydown', pageEscape);
      // Focus goes back only from inside the widget (a page closing it, on a route change say, keeps its own
      // focus): to the page's element the panel was opened from (its own Feedback button, through `open()`), when it
      // is still there, else to the launcher.
      var hadFocus = !!root.activeElement;
      panel.hidden = true;
      launcher.setAttribute('aria-expanded', 'false');
      if (hadFocus) {
        if (returnTo && returnTo.isConnected && typeof returnTo.focus === 'function') returnTo.focus();
        if (!returnTo || document.activeElement !== returnTo) launcher.focus();
      }
      returnTo = null;
      call(opts.onClose);
    }
    function reset() {
      form.reset();
      rating = null;
      files = [];
      renderFiles();
      rates.querySelectorAll('.rate').forEach(function (o) { o.setAttribute('aria-pressed', 'false'); });
      email.hidden = true;
      email.value = prefilled;
      form.hidden = false;
      done.hidden = true;
      hideError();
    }
    function showError(text, field) {
      errBox.textContent = text;
      errBox.hidden = false;
      if (field) {
        field.setAttribute('aria-invalid', 'true');
        field.setAttribute('aria-describedby', 'uw-err');
      }
    }
    function hideError() {
      errBox.hidden = true;
      email.removeAttribute('aria-invalid');
      email.removeAttribute('aria-describedby');
    }
    function renderFiles() {
      list.textContent = '';
      list.hidden = !files.length;
      files.forEach(function (f, i) {
        var li = document.createElement('li'), name = document.createElement('span'), rm = document.createElement('button');
        name.textContent = f.name;
        rm.type = 'button';
        rm.textContent = '\u00D7';
        rm.setAttribute('aria-label', 'Remove ' + f.name);
        rm.addEventListener('click', function () { files.splice(i, 1); renderFiles(); fileInput.focus(); });
        li.appendChild(name);
        li.appendChild(rm);
        list.appendChild(li);
      });
    }

    launcher.addEventListener('click', function () { isOpen ? close() : open(); });
    $('.x').addEventListener('click', close);
    done.querySelector('button').addEventListener('click', close);
    root.addEventListener('keydown', function (e) {
      if (e.key !== 'Escape' || !isOpen) return;
      // Handled here: not also the page's (a dialog of the host page under the widget would close with it).
      e.stopPropagation();
      close();
    });
    // The panel is not modal: focus may go on into the page, where the panel can cover what has it. Escape there
    // closes the panel too, unless the page handled that Escape itself.
    function pageEscape(e) {
      if (e.key === 'Escape' && isOpen && !e.defaultPrevented) close();
    }
    email.addEventListener('input', hideError);
    // Focus stays on the box (a screen reader then says it is checked); the field is next in the tab order.
    check.addEventListener('change', function () {
      email.hidden = !check.checked;
      if (!check.checked) hideError();  // (an error about the address no longer applies)
    });
    comment.addEventListener('input', hideError);
    fileInput.addEventListener('change', function () {
      var picked = Array.prototype.slice.call(fileInput.files || []);
      fileInput.value = '';
      hideError();
      // Every file left out says why, together (each message replaced the one before, found by a review).
      var refused = [];
      for (var i = 0; i < picked.length; i++) {
        var f = picked[i];
        if (files.length >= MAX_FILES) { refused.push('You can attach up to ' + MAX_FILES + ' screenshots.'); break; }
        // A file without a type (no extension) goes to the server, which reads what it is; SVG is refused there
        // (it can carry script), so it is refused here with the reason.
        if (f.type === 'image/svg+xml') { refused.push(f.name + ': SVG images cannot be attached. Use PNG or JPEG.'); continue; }
        if (f.type && !/^image\//.test(f.type)) { refused.push(f.name + ' is not an image.'); continue; }
        if (f.size > MAX_BYTES) { refused.push(f.name + ' is larger than 10 MB.'); continue; }
        // The same file picked again is attached once (it would be uploaded and stored twice).
        var again = files.some(function (g) {
          return g.name === f.name && g.size === f.size && g.lastModified === f.lastModified;
        });
        if (!again) files.push(f);
      }
      if (refused.length) showError(refused.join(' '));
      renderFiles();
    });

    // A request that gets no answer in `seconds` is given up (a stalled proxy would otherwise leave the person on
    // "Sending…" for ever); the person is told to try again.
    function request(path, init, seconds) {
      init.method = 'POST';
      init.credentials = 'omit';
      init.headers = init.headers || {};
      init.headers['X-Usero-Widget'] = '1';
      var abort = typeof AbortController === 'function' ? new AbortController() : null, timer = null;
      if (abort) {
        init.signal = abort.signal;
        timer = setTimeout(function () { abort.abort(); }, (seconds || 30) * 1000);
      }
      function settled(value) { if (timer) clearTimeout(timer); return value; }
      return fetch(base + path, init).then(settled, function (e) { settled(); throw e; }).then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          if (!res.ok) {
            var e = new Error(body.error || 'Request failed (' + res.status + ')');
            e.status = res.status;
            if (body.issues && typeof body.issues === 'object') e.issues = body.issues;
            throw e;
          }
          return body;
        });
      });
    }
    // What the person sees: the server's words only where they can act on them (a file too large, not an image);
    // the exact error goes to onError for the developer.
    function forPeople(err) {
      var s = err.status;
      if (!s) return 'Sorry, your feedback could not be sent. Check your connection and try again.';
      if (s === 400 && /^File /.test(err.message)) return (err.fileName ? err.fileName + ': ' : '') + err.message + '.';
      if (s === 400 && err.issues && err.issues.userEmail) return 'Please enter a valid email address.';
      if (s === 413) {
        return err.fileName ? err.fileName + ' is too large to send (10 MB at most).'
          : 'Your feedback is too large to send. Please shorten it.';
      }
      if (s === 429) return 'Too much feedback from here just now. Please try again in a minute.';
      if (s >= 500) return 'Sorry, something went wrong on our side. Please try again later.';
      return 'Sorry, feedback cannot be sent from this page.';
    }
    function upload(file) {
      var data = new FormData();
      data.append('clientId', opts.clientId);
      data.append('screenshot', file, file.name);
      return request('/api/screenshots', { body: data }, 120).then(function (body) { return body.screenshot; }, function (e) {
        e.fileName = file.name;
        throw e;
      });
    }

    // 128 random bits as hex (a UUID's worth; `crypto.randomUUID` exists only on https pages).
    function newKey() {
      var bytes = new Uint8Array(16), out = '';
      if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
      else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
      for (var j = 0; j < 16; j++) out += (bytes[j] < 16 ? '0' : '') + bytes[j].toString(16);
      return out;
    }
    function cut(text, max) {
      text = String(text);
      if (text.length <= max) return text;
      var code = text.charCodeAt(max - 1);
      return text.slice(0, code >= 0xD800 && code <= 0xDBFF ? max - 1 : max);
    }

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (busy) return;
      // The user as getUser says now: none (signed out since the page loaded) sends none, never the earlier one.
      // Trimmed as the server counts white space (Unicode's, which has U+0085 where trim() does not): a comment of
      // white space alone is no comment here either.
      var text = comment.value.replace(/^[\s\u0085]+|[\s\u0085]+$/g, ''), u = user(), address = '';
      if (!rating && !text) { showError('Choose a rating or write a comment.'); return; }
      if (opts.showEmailOption === false) {
        // The page's own word, with no field to correct it: sent when it is an address, left out when not.
        address = u && u.email ? String(u.email).trim() : '';
        if (!isAddress(address)) address = '';
      } else if (check.checked) {
        address = email.value.trim();
        if (!address) {
          showError('Enter your email address, or untick \u201CShare my email\u201D.', email);
          email.focus();
          return;
        }
        if (!isAddress(address)) { showError('Please enter a valid email address.', email); email.focus(); return; }
      }
      // What the page supplies is cut to the server's limits (never a surrogate pair in two), so that a long URL
      // or title never costs the visitor their feedback. Of the fragment only a route goes (`#/settings`, `#!/…`),
      // up to its first `?`, `&` or `=`: sign-in flows put tokens there (`#access_token=…`,
      // `#/reset?token=…`), which browsers never send to a server.
      var here = location.href, hash = location.hash, route = /^#!?\/[^?&=]*/.exec(hash);
      if (hash) here = here.slice(0, here.length - hash.length) + (route ? route[0] : '');
      var payload = { clientId: opts.clientId, pageUrl: cut(here, 8192) };
      if (rating) payload.rating = rating;
      if (text) payload.comment = text;
      if (address) payload.userEmail = address;
      if (document.title) payload.pageTitle = cut(document.title, 8192);
      if (document.referrer) payload.referrer = cut(document.referrer, 8192);
      // The page's own setting: one the server would refuse is left out and reported, as metadata is below.
      var env = environmentOf(opts.environment);
      if (env instanceof Error) call(opts.onError, env);
      else if (env) payload.environment = env;
      if (opts.metadata !== undefined && opts.metadata !== null) {
        // The page's own data: one the server would refuse (not an object, not JSON, over 10 KB, over 64 levels
        // deep) is left out and reported to the page's developer, rather than costing every visitor their feedback.
        var metaProblem = metadataProblem(opts.metadata);
        if (metaProblem) call(opts.onError, new Error('initUseroFeedbackWidget: metadata ' + metaProblem +
          '; the feedback was sent without it'));
        else payload.metadata = opts.metadata;
      }
      var id = u && (u.id || u.userId);
      if (id && String(id).length <= 128) payload.userId = String(id);
      identify(u);
      busy = true;
      send.disabled = true;
      send.textContent = files.length ? 'Uploading\u2026' : 'Sending\u2026';
      hideError();
      var shots = [];
      files.reduce(function (chain, f) {
        return chain.then(function () {
          // Uploaded by an earlier try that failed later: sent again as it was, not uploaded twice.
          if (uploaded && uploaded.has(f)) { shots.push(uploaded.get(f)); return; }
          return upload(f).then(function (s) { if (uploaded) uploaded.set(f, s); shots.push(s); });
        });
      }, Promise.resolve()).then(function () {
        if (shots.length) payload.screenshots = shots;
        send.textContent = 'Sending\u2026';
        var body = JSON.stringify(payload);
        if (!lastTry || lastTry.body !== body) lastTry = { body: body, key: newKey() };
        return request('/api/feedback', {
          headers: { 'Content-Type': 'application/json', 'Idempotency-Key': lastTry.key }, body: body
        });
      }).then(function (body) {
        lastTry = null;
        if (destroyed) return;
        form.hidden = true;
        done.hidden = false;
        if (isOpen) done.querySelector('button').focus();
        else unseenDone = true;
        payload.feedbackId = body.feedbackId;
        call(opts.onSubmit, payload);
      }, function (err) {
        if (destroyed) return;
        showError(forPeople(err));
        call(opts.onError, err);
        // A refusal the person cannot act on (an unknown clientId, an origin off the allowlist) reads the same to
        // them; the console tells the page's developer which, without an onError.
        if (window.console && err.status >= 400 && err.status < 500 && err.status !== 429) {
          // The fields it named (`issues`), which the message alone (`Invalid data provided`) does not say.
          var named = err.issues ? Object.keys(err.issues).map(function (field) {
            return field + ': ' + [].concat(err.issues[field]).join('; ');
          }).join(', ') : '';
          console.warn('initUseroFeedbackWidget: the server refused ' + (err.fileName ? 'the screenshot ' +
            err.fileName : 'the feedback') + ': ' + err.message + (named ? ' (' + named + ')' : '') + ' (HTTP ' +
            err.status + ')');
        }
      }).then(function () {
        busy = false;
        send.disabled = false;
        send.textContent = 'Send feedback';
        // A disabled button loses the focus (to the page's body, where Escape no longer reaches the panel).
        if (isOpen && !form.hidden && !root.activeElement) send.focus();
      });
    });

    // On the root element, not the body: a body with a transform (or will-change) would hold the fixed launcher
    // at the bottom of the page instead of the screen.
    document.documentElement.appendChild(host);
    // Named, not `this`: destroy may be called detached (`var d = w.destroy; d()`).
    var instance = {
      open: open,
      close: close,
      destroy: function () {
        if (destroyed) return;
        // Gone while open: the page hears it closed; a send still running reports nothing afterwards.
        if (isOpen) { isOpen = false; document.removeEventListener('keydown', pageEscape); call(opts.onClose); }
        destroyed = true;
        if (media && media.removeEventListener) media.removeEventListener('change', applyTheme);
        if (host.parentNode) host.parentNode.removeChild(host);
        if (current === instance) current = null;
      }
    };
    return instance;
  }

  window.initUseroFeedbackWidget = init;
})();
"""#
}

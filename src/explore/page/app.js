// Strata explorer: plain DOM, no framework. Every name from the store goes in as text, never as HTML.
'use strict';

const main = document.getElementById('main');

// ------------------------------------------------------------------ helpers

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return add(el, kids);
}

function add(el, kids) {
  for (const c of kids.flat(Infinity)) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Replace an element's content (arrays flattened, null/false left out). */
function fill(el, ...kids) {
  el.replaceChildren();
  return add(el, kids);
}

async function api(route, params) {
  const q = new URLSearchParams(params || {}).toString();
  const res = await fetch('/api/' + route + (q ? '?' + q : ''), { headers: { Accept: 'application/json' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.message || res.statusText);
  return body;
}

// go-units HumanSizeWithPrecision(n, 3), as the CLI prints sizes
function size(n) {
  if (n === null || n === undefined || n < 0) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  let s = v.toPrecision(3);
  if (!s.includes('e') && s.includes('.')) s = s.replace(/\.?0+$/, '');
  return s + units[i];
}

function pct(x) {
  if (x === null || x === undefined) return '+Inf %';
  return (x * 100).toFixed(4) + ' %';
}

function short(id) { return String(id).replace(/^sha256:/, '').slice(0, 12); }

const PALETTE = ['#2f6db5', '#c2581c', '#2e8b57', '#8e44ad', '#b8860b', '#c0392b', '#16a085', '#5d6d7e', '#d35400', '#1f618d', '#7d3c98', '#117a65'];
const colors = new Map();
/** One colour per layer, in the order layers are first drawn. */
function colorOf(diffId) {
  if (!colors.has(diffId)) colors.set(diffId, PALETTE[colors.size % PALETTE.length]);
  return colors.get(diffId);
}

const KIND_LABEL = { A: 'added', C: 'changed', D: 'removed', '': 'unchanged' };

function setView(name) {
  for (const a of document.querySelectorAll('.top nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function fail(e) {
  fill(main, h('p', { class: 'error', role: 'alert', text: 'Error: ' + e.message }));
}

// ------------------------------------------------------------------ routing

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/images';
  const [p, qs] = raw.split('?');
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, q: new URLSearchParams(qs || '') };
}

let token = 0;
async function route() {
  const my = ++token;
  const { parts, q } = parseHash();
  try {
    if (parts[0] === 'image' && parts[1]) await imageView(parts[1], q, my);
    else if (parts[0] === 'containers') await containersView(my);
    else if (parts[0] === 'compare') await compareView(q, my);
    else await imagesView(my);
  } catch (e) {
    if (my === token) fail(e);
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('viewer-close').addEventListener('click', () => document.getElementById('viewer').close());
  if (!location.hash) {
    try {
      const s = await api('start');
      if (s && s.kind === 'image') location.hash = '#/image/' + encodeURIComponent(s.id);
      else if (s && s.kind === 'container') {
        const cs = await api('containers');
        const c = cs.find((x) => x.id === s.id);
        if (c) location.hash = '#/compare?' + new URLSearchParams({ a: c.imageId, b: c.id });
      }
    } catch (e) { /* the list is a fine start */ }
  }
  route();
});

// ------------------------------------------------------------------ images

async function imagesView(my) {
  setView('images');
  const imgs = await api('images');
  if (my !== token) return;
  const name = (i) => (i.tags[0] || short(i.id));
  const rows = imgs.map((i) => h('tr', {},
    h('td', {}, h('a', { href: '#/image/' + encodeURIComponent(i.id), text: name(i) }), i.tags.length > 1 ? h('div', { class: 'sub', text: i.tags.slice(1).join(', ') }) : null),
    h('td', { class: 'mono', text: short(i.id) }),
    h('td', { class: 'num', text: i.layers.length }),
    h('td', { class: 'num', text: size(i.size) }),
    h('td', { class: 'num', text: size(i.uniqueSize) }),
    h('td', { class: 'num', text: size(i.sharedSize) }),
    h('td', {}, i.base ? `${i.base.name} + ${i.base.addedLayers} ${i.base.addedLayers === 1 ? 'layer' : 'layers'}` : h('span', { class: 'muted', text: 'base' })),
  ));
  const sharing = imgs.map((i) => h('div', { class: 'share-row' },
    h('div', { class: 'mono', text: name(i) }),
    h('div', { class: 'blocks', role: 'list', 'aria-label': 'layers of ' + name(i) },
      i.layers.map((l, k) => h('div', {
        class: 'block', role: 'listitem', style: `background:${colorOf(l.diffId)};flex:${Math.max(1, Math.log10(l.size + 10))}`,
        title: `layer ${k} ${short(l.diffId)} ${size(l.size)}${l.sharedWith.length ? ' · also in ' + l.sharedWith.join(', ') : ' · only here'}`,
        text: size(l.size),
      }))),
  ));
  fill(main, 
    h('h2', { text: 'Images' }),
    h('div', { class: 'panel' }, imgs.length ? h('table', { class: 'images' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Image' }), h('th', { text: 'ID' }), h('th', { class: 'num', text: 'Layers' }), h('th', { class: 'num', text: 'Size' }),
        h('th', { class: 'num', text: 'Unique' }), h('th', { class: 'num', text: 'Shared' }), h('th', { text: 'Sits on' }))),
      h('tbody', {}, rows)) : h('p', { class: 'muted', text: 'No images in this store.' })),
    h('h3', { style: 'margin-top:18px', text: 'Shared layers' }),
    h('div', { class: 'panel', id: 'sharing' }, h('p', { class: 'muted', text: 'Blocks of one colour are one layer, stored once and shared by every image that lists it.' }), sharing),
  );
}

// ------------------------------------------------------------------ one image

async function imageView(ref, q, my) {
  setView('images');
  const img = await api('image', { ref });
  if (my !== token) return;
  const state = {
    ref: img.id,
    layer: Math.min(Number(q.get('layer') ?? img.layers.length - 1), img.layers.length - 1),
    aggregate: q.get('view') === 'image',
    filter: '',
    kinds: { A: true, C: true, D: true, '': true },
  };
  const layerList = h('ol', { class: 'layers', 'aria-label': 'Layers, bottom to top' });
  const filesPanel = h('section', { class: 'panel', 'aria-label': 'Files' });
  const wastePanel = h('section', { class: 'panel', id: 'waste', 'aria-label': 'Waste' }, h('h3', { text: 'Waste' }), h('p', { class: 'muted', text: 'Analysing every layer…' }));
  fill(main, 
    h('h2', {}, img.name, ' ', h('span', { class: 'sub', text: img.id })),
    h('p', { class: 'muted', text: `${size(img.size)} · ${img.layers.length} layers · ${img.os}/${img.architecture}${img.created ? ' · created ' + img.created : ''}` }),
    h('div', { class: 'grid' },
      h('div', { class: 'stack' }, h('section', { class: 'panel', 'aria-label': 'Layers' }, h('h3', { text: 'Layers (bottom to top)' }), layerList)),
      h('div', { class: 'stack' }, filesPanel, wastePanel)),
  );
  const buttons = img.layers.map((l) => {
    const cmd = l.dockerfile.length ? l.dockerfile.join('\n') : (l.createdBy || '(no command recorded)');
    const b = h('button', { type: 'button', role: 'option', 'data-layer': l.index, 'aria-selected': String(l.index === state.layer), tabindex: l.index === state.layer ? 0 : -1 },
      h('div', {}, h('b', { text: `#${l.index}` }), ' ', h('span', { text: size(l.size) }), h('span', { class: 'waste', 'data-waste': l.index })),
      h('div', { class: 'cmd', text: cmd }),
      l.comment ? h('div', { class: 'meta', text: l.comment }) : null,
      h('div', { class: 'meta', text: `${short(l.diffId)}${l.sharedWith.length ? ' · shared with ' + l.sharedWith.join(', ') : ''}` }),
    );
    b.addEventListener('click', () => select(l.index, true));
    return h('li', {}, b);
  });
  layerList.setAttribute('role', 'listbox');
  layerList.append(...buttons);
  layerList.addEventListener('keydown', (ev) => {
    const d = ev.key === 'ArrowDown' ? 1 : ev.key === 'ArrowUp' ? -1 : 0;
    if (!d) return;
    ev.preventDefault();
    select(Math.max(0, Math.min(img.layers.length - 1, state.layer + d)), true);
  });
  function select(i, focus) {
    state.layer = i;
    for (const li of layerList.querySelectorAll('button')) {
      const on = Number(li.dataset.layer) === i;
      li.setAttribute('aria-selected', String(on));
      li.tabIndex = on ? 0 : -1;
      if (on && focus) li.focus();
    }
    history.replaceState(null, '', '#/image/' + encodeURIComponent(ref) + '?' + new URLSearchParams({ layer: i, view: state.aggregate ? 'image' : 'layer' }));
    drawFiles();
  }
  function drawFiles() {
    const l = img.layers[state.layer];
    const tree = h('ul', { class: 'tree', role: 'tree', 'aria-label': 'Files' });
    const filter = h('input', { type: 'search', placeholder: 'Filter by path', 'aria-label': 'Filter by path', value: state.filter });
    filter.addEventListener('input', () => { state.filter = filter.value; applyFilter(tree, state); });
    const views = h('span', { role: 'radiogroup', 'aria-label': 'View' },
      ...[['layer', 'This layer'], ['image', 'Image up to this layer']].map(([v, label]) => {
        const r = h('input', { type: 'radio', name: 'tree-view', value: v, checked: (v === 'image') === state.aggregate });
        r.addEventListener('change', () => { state.aggregate = v === 'image'; select(state.layer, false); });
        return h('label', {}, r, ' ', label, ' ');
      }));
    const kinds = h('span', { 'aria-label': 'Kinds' }, ...['A', 'C', 'D', ''].map((k) => {
      const c = h('input', { type: 'checkbox', checked: state.kinds[k] });
      c.addEventListener('change', () => { state.kinds[k] = c.checked; applyFilter(tree, state); });
      return h('label', {}, c, ' ', KIND_LABEL[k], ' ');
    }));
    fill(filesPanel, 
      h('h3', { text: `Files of layer #${l.index}${state.aggregate ? ' (image up to this layer)' : ''}` }),
      h('div', { class: 'toolbar' }, views, filter, kinds),
      tree,
    );
    const ctx = { ref: state.ref, layer: state.layer, aggregate: state.aggregate, state, tree };
    loadDir(ctx, tree, '/', 0).then(() => {
      const first = tree.querySelector('.row');
      if (first) first.tabIndex = 0;
    }).catch((e) => fill(tree, h('li', { class: 'error', text: e.message })));
    treeKeys(tree, ctx);
  }
  if (img.layers.length === 0) fill(filesPanel, h('p', { class: 'muted', text: 'This image has no layers.' }));
  else select(state.layer, false);
  loadWaste(img, wastePanel, my);
}

const PAGE = 500;

async function loadDir(ctx, ul, dir, offset) {
  const params = { ref: ctx.ref, layer: ctx.layer, path: dir, offset, limit: PAGE };
  if (ctx.aggregate) params.aggregate = 1;
  const listing = await api('tree', params);
  const more = ul.querySelector(':scope > li.more-li');
  if (more) more.remove();
  if (listing.total === 0 && offset === 0) ul.append(h('li', { class: 'muted', role: 'none', text: ctx.aggregate ? '(empty directory)' : '(nothing in this layer here)' }));
  for (const e of listing.entries) ul.append(node(ctx, e));
  const shown = listing.offset + listing.entries.length;
  if (shown < listing.total) {
    const b = h('button', { type: 'button', class: 'more', text: `Show more (${shown} of ${listing.total})` });
    b.addEventListener('click', () => loadDir(ctx, ul, dir, shown));
    ul.append(h('li', { class: 'more-li', role: 'none' }, b));
  }
  applyFilter(ctx.tree, ctx.state);
  // directory sizes come separately: they walk subtrees
  if (listing.entries.some((e) => e.type === 'dir')) {
    const sp = { ref: ctx.ref, layer: ctx.layer, path: dir };
    if (ctx.aggregate) sp.aggregate = 1;
    api('sizes', sp).then((sizes) => {
      for (const li of ul.querySelectorAll(':scope > li[data-type="dir"]')) {
        const n = li.dataset.name;
        if (n in sizes) li.querySelector(':scope > .row .size').textContent = size(sizes[n]);
      }
    }).catch(() => {});
  }
}

const VIEW_LIMIT = 256 * 1024;

function node(ctx, e) {
  const isDir = e.type === 'dir';
  const row = h('div', { class: 'row mark-' + (e.mark || 'none') + (e.noise ? ' noise' : ''), tabindex: -1, 'data-path': e.path },
    h('span', { class: 'twisty', 'aria-hidden': 'true', text: isDir && e.hasChildren ? '▸' : '' }),
    h('span', { class: 'name' },
      e.mark ? h('span', { class: 'badge', title: KIND_LABEL[e.mark], text: e.mark }) : null,
      e.name + (isDir ? '/' : ''),
      e.linkTarget !== undefined ? ' → ' + e.linkTarget : '',
      e.mark === 'D' ? h('span', { class: 'tag removed', text: 'removed' }) : null,
      e.opaque ? h('span', { class: 'tag', text: 'opaque' }) : null,
      e.noise ? h('span', { class: 'tag noise', title: 'noise a commit would usually leave out', text: e.noise }) : null),
    h('span', { class: 'size', text: isDir ? '' : size(e.size) }),
    h('span', {}, e.type === 'file' && e.mark !== 'D' && e.size <= VIEW_LIMIT ? h('button', { type: 'button', class: 'view-btn', tabindex: -1, text: 'view', 'aria-label': 'view ' + e.path }) : null),
  );
  const li = h('li', { role: 'treeitem', 'data-name': e.name, 'data-type': e.type, 'data-mark': e.mark, 'data-path': e.path }, row);
  if (isDir && e.hasChildren) li.setAttribute('aria-expanded', 'false');
  row.addEventListener('click', (ev) => {
    if (ev.target.classList.contains('view-btn')) { viewFile(ctx, e.path); return; }
    row.focus();
    if (isDir) toggle(ctx, li);
  });
  return li;
}

async function toggle(ctx, li, open) {
  if (!li.hasAttribute('aria-expanded')) return;
  const want = open ?? li.getAttribute('aria-expanded') !== 'true';
  li.setAttribute('aria-expanded', String(want));
  li.querySelector(':scope > .row .twisty').textContent = want ? '▾' : '▸';
  let ul = li.querySelector(':scope > ul');
  if (want && !ul) {
    ul = h('ul', { role: 'group' });
    li.append(ul);
    await loadDir(ctx, ul, li.dataset.path, 0);
  }
  if (ul) ul.hidden = !want;
}

function visibleRows(tree) {
  return [...tree.querySelectorAll('.row')].filter((r) => r.offsetParent !== null);
}

function treeKeys(tree, ctx) {
  tree.addEventListener('keydown', (ev) => {
    const row = ev.target.closest('.row');
    if (!row) return;
    const li = row.parentElement;
    const rows = visibleRows(tree);
    const i = rows.indexOf(row);
    const go = (r) => { if (!r) return; for (const x of tree.querySelectorAll('.row[tabindex="0"]')) x.tabIndex = -1; r.tabIndex = 0; r.focus(); };
    switch (ev.key) {
      case 'ArrowDown': go(rows[i + 1]); break;
      case 'ArrowUp': go(rows[i - 1]); break;
      case 'Home': go(rows[0]); break;
      case 'End': go(rows[rows.length - 1]); break;
      case 'ArrowRight':
        if (li.getAttribute('aria-expanded') === 'false') toggle(ctx, li, true);
        else if (li.getAttribute('aria-expanded') === 'true') go(li.querySelector(':scope > ul .row'));
        break;
      case 'ArrowLeft':
        if (li.getAttribute('aria-expanded') === 'true') toggle(ctx, li, false);
        else go(li.parentElement.closest('li[role="treeitem"]')?.querySelector(':scope > .row'));
        break;
      case 'Enter': case ' ':
        if (li.hasAttribute('aria-expanded')) toggle(ctx, li);
        else if (li.dataset.type === 'file' && li.dataset.mark !== 'D') viewFile(ctx, li.dataset.path);
        break;
      default: return;
    }
    ev.preventDefault();
  });
  tree.addEventListener('focusin', (ev) => {
    const row = ev.target.closest('.row');
    if (!row) return;
    for (const x of tree.querySelectorAll('.row[tabindex="0"]')) if (x !== row) x.tabIndex = -1;
    row.tabIndex = 0;
  });
}

function applyFilter(tree, state) {
  const f = state.filter.trim().toLowerCase();
  const visit = (li) => {
    const kids = [...li.querySelectorAll(':scope > ul > li[role="treeitem"]')];
    let childShown = false;
    for (const k of kids) if (visit(k)) childShown = true;
    const isDir = li.dataset.type === 'dir';
    const kindOk = isDir && !li.dataset.mark ? true : state.kinds[li.dataset.mark || ''];
    const pathOk = !f || li.dataset.path.toLowerCase().includes(f);
    const show = childShown || (kindOk && (pathOk || (isDir && !f)));
    li.hidden = !show;
    return show;
  };
  for (const li of tree.querySelectorAll(':scope > li[role="treeitem"]')) visit(li);
}

async function viewFile(ctx, p) {
  const dlg = document.getElementById('viewer');
  document.getElementById('viewer-title').textContent = p;
  const pre = document.getElementById('viewer-text');
  pre.textContent = 'Loading…';
  if (!dlg.open) dlg.showModal();
  try {
    const f = await api('file', { ref: ctx.ref, layer: ctx.layer, path: p });
    pre.textContent = f.text;
  } catch (e) {
    pre.textContent = e.message;
  }
}

async function loadWaste(img, panel, my) {
  let a;
  try { a = await api('analysis', { ref: img.id }); } catch (e) { fill(panel, h('h3', { text: 'Waste' }), h('p', { class: 'error', text: e.message })); return; }
  if (my !== token) return;
  for (const l of a.layers) {
    const el = document.querySelector(`[data-waste="${l.index}"]`);
    if (el && l.wastedBytes > 0) el.textContent = ` · ${size(l.wastedBytes)} wasted later`;
  }
  const refs = a.references.slice(0, 50);
  const noisy = a.layers.filter((l) => l.noise.length);
  fill(panel, 
    h('h3', { text: 'Waste' }),
    h('div', { class: 'facts' },
      h('div', { class: 'fact', id: 'efficiency' }, h('b', { text: pct(a.efficiencyScore) }), h('span', { text: 'efficiency' })),
      h('div', { class: 'fact', id: 'wasted' }, h('b', { text: String(a.inefficientBytes) }), h('span', { text: `wasted bytes (${size(a.inefficientBytes)})` })),
      h('div', { class: 'fact' }, h('b', { text: pct(a.userWastedPercent) }), h('span', { text: 'of the bytes above the first layer' })),
    ),
    refs.length ? h('table', { class: 'wasted-paths' },
      h('thead', {}, h('tr', {}, h('th', { class: 'num', text: 'Count' }), h('th', { class: 'num', text: 'Wasted' }), h('th', { text: 'Path (written in one layer, overwritten or removed in a later one)' }))),
      h('tbody', {}, refs.map((r) => h('tr', {}, h('td', { class: 'num', text: r.count }), h('td', { class: 'num', text: size(r.sizeBytes) }), h('td', { class: 'mono', text: r.file }))))) :
      h('p', { class: 'muted', text: 'Nothing wasted: no path is written by more than one layer.' }),
    a.references.length > refs.length ? h('p', { class: 'muted', text: `… and ${a.references.length - refs.length} more paths` }) : null,
    h('h3', { style: 'margin-top:12px', text: 'Noise per layer' }),
    noisy.length ? noisy.map((l) => l.noise.map((n) => h('div', { class: 'noise-line' },
      `layer #${l.index}: ${n.label}: ${n.count} ${n.count === 1 ? 'file' : 'files'}, ${size(n.bytes)} (${n.paths.join(', ')}${n.count > n.paths.length ? ` and ${n.count - n.paths.length} more` : ''})`))) :
      h('p', { class: 'muted', text: 'No noise recognised (pid files, caches, shell history, package lists, logs).' }),
  );
}

// ------------------------------------------------------------------ compare

async function compareView(q, my) {
  setView('compare');
  const [imgs, cts] = await Promise.all([api('images'), api('containers')]);
  if (my !== token) return;
  const label = (i) => i.tags[0] || short(i.id);
  const selA = h('select', { id: 'cmp-a', 'aria-label': 'Image A' }, imgs.map((i) => h('option', { value: i.id, text: label(i) })));
  const selB = h('select', { id: 'cmp-b', 'aria-label': 'Image or container B' },
    h('optgroup', { label: 'Images' }, imgs.map((i) => h('option', { value: i.id, text: label(i) }))),
    cts.length ? h('optgroup', { label: 'Containers (pending changes)' }, cts.map((c) => h('option', { value: c.id, text: `${c.name} (${c.image})` }))) : null);
  if (q.get('a')) selA.value = q.get('a');
  if (q.get('b')) selB.value = q.get('b');
  else if (imgs.length > 1) selB.value = imgs[1].id;
  const out = h('div', { id: 'compare-out' });
  const go = h('button', { type: 'button', text: 'Compare' });
  const run = () => { location.hash = '#/compare?' + new URLSearchParams({ a: selA.value, b: selB.value }); };
  go.addEventListener('click', run);
  fill(main, 
    h('h2', { text: 'Compare' }),
    h('div', { class: 'panel' },
      h('div', { class: 'toolbar' }, h('label', {}, 'A ', selA), h('label', {}, 'B ', selB), go),
      h('p', { class: 'muted', text: 'What B adds (A), changes (C) and removes (D) relative to image A. A container shows what commit would capture.' }),
      out));
  if (!q.get('a') || !q.get('b')) return;
  fill(out, h('p', { class: 'muted', text: 'Comparing…' }));
  const r = await api('compare', { a: q.get('a'), b: q.get('b') });
  if (my !== token) return;
  selA.value = r.a.id;
  selB.value = r.b.id;
  const s = r.summary;
  const tree = h('ul', { class: 'tree', role: 'tree', 'aria-label': 'Changes' });
  fill(out, 
    h('h3', { text: `${r.a.name} → ${r.b.name}${r.b.kind === 'container' ? ' (container)' : ''}` }),
    h('p', { id: 'compare-summary' },
      h('span', { class: 'mark-A' }, h('span', { class: 'badge', text: 'A' })), `${s.added.count} added, ${size(s.added.bytes)}  `,
      h('span', { class: 'mark-C' }, h('span', { class: 'badge', text: 'C' })), `${s.changed.count} changed, ${size(s.changed.bytes)}  `,
      h('span', { class: 'mark-D' }, h('span', { class: 'badge', text: 'D' })), `${s.deleted.count} removed, ${size(s.deleted.bytes)}`),
    r.changes.length ? tree : h('p', { class: 'muted', text: 'No differences.' }),
    r.truncated ? h('p', { class: 'muted', text: `Only the first ${r.changes.length} changes are drawn.` }) : null);
  // the flat change list as a tree (parents that are not changes themselves shown plain)
  const root = { kids: new Map() };
  for (const c of r.changes) {
    let n = root;
    const parts = c.path.split('/').filter(Boolean);
    parts.forEach((p, i) => {
      if (!n.kids.has(p)) n.kids.set(p, { name: p, path: '/' + parts.slice(0, i + 1).join('/'), kids: new Map(), change: null });
      n = n.kids.get(p);
    });
    n.change = c;
  }
  const total = (n) => (n.change ? n.change.size : 0) + [...n.kids.values()].reduce((a, k) => a + total(k), 0);
  const draw = (n, ul, depth) => {
    for (const k of [...n.kids.values()].sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const mark = k.change ? k.change.kind : '';
      const row = h('div', { class: 'row mark-' + (mark || 'none'), tabindex: -1 },
        h('span', { class: 'twisty', text: k.kids.size ? '▾' : '' }),
        h('span', { class: 'name' }, mark ? h('span', { class: 'badge', title: KIND_LABEL[mark], text: mark }) : null, k.name + (k.kids.size ? '/' : ''), mark === 'D' ? h('span', { class: 'tag removed', text: 'removed' }) : null),
        h('span', { class: 'size', text: size(total(k)) }), h('span', {}));
      const li = h('li', { role: 'treeitem', 'data-path': k.path, 'data-mark': mark }, row);
      if (k.kids.size) {
        li.setAttribute('aria-expanded', 'true');
        const sub = h('ul', { role: 'group' });
        li.append(sub);
        draw(k, sub, depth + 1);
        row.addEventListener('click', () => { const open = li.getAttribute('aria-expanded') !== 'true'; li.setAttribute('aria-expanded', String(open)); sub.hidden = !open; row.firstChild.textContent = open ? '▾' : '▸'; });
      }
      ul.append(li);
    }
  };
  draw(root, tree, 0);
  const first = tree.querySelector('.row');
  if (first) first.tabIndex = 0;
  tree.addEventListener('keydown', (ev) => {
    const rows = visibleRows(tree);
    const i = rows.indexOf(ev.target);
    const next = ev.key === 'ArrowDown' ? rows[i + 1] : ev.key === 'ArrowUp' ? rows[i - 1] : null;
    if (ev.key === 'Enter' || ev.key === ' ') { ev.target.click(); ev.preventDefault(); return; }
    if (next) { ev.target.tabIndex = -1; next.tabIndex = 0; next.focus(); ev.preventDefault(); }
  });
}

// ------------------------------------------------------------------ containers

async function containersView(my) {
  setView('containers');
  const cs = await api('containers');
  if (my !== token) return;
  fill(main, 
    h('h2', { text: 'Containers' }),
    h('div', { class: 'panel' }, cs.length ? h('table', { class: 'containers' },
      h('thead', {}, h('tr', {}, ['Name', 'Image', 'Status', 'Ports', 'Pending changes', ''].map((t) => h('th', { text: t })))),
      h('tbody', {}, cs.map((c) => h('tr', { 'data-id': c.id },
        h('td', {}, h('b', { text: c.name }), h('div', { class: 'sub', text: short(c.id) })),
        h('td', { text: c.image }),
        h('td', { text: c.status || c.state }),
        h('td', { class: 'mono', text: c.ports.join(', ') }),
        h('td', { text: `${c.pendingChanges} ${c.pendingChanges === 1 ? 'path' : 'paths'}, ${size(c.pendingBytes)}` }),
        h('td', {}, h('a', { href: '#/compare?' + new URLSearchParams({ a: c.imageId, b: c.id }), text: 'compare with its image' })))))) :
      h('p', { class: 'muted', text: 'No containers.' })),
  );
}

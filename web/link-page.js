// A link's page: its details and their edit form, a click chart with a range picker, the top
// referrers, countries, devices, browsers and operating systems (bots apart), the clicks per
// rule and A/B variant of a link with rules, its live and recent visits, its QR code as SVG
// and PNG, and delete. The numbers refresh every few seconds (the replicas' report interval) without a
// reload.
import { api, can, query, linkPath, linkRoute } from './api.js';
import { h, notify, numberFormat, dateTimeFormat, saveBlob } from './dom.js';
import { clickChart } from './chart.js';
import { editForm } from './link-edit.js';
import { visitsSections } from './visits.js';

/** How often the numbers refresh: the replicas' default report interval. */
const REFRESH_MS = 5000;

const RANGES = [
  { id: '48h', label: 'Last 48 hours', hours: 48, granularity: 'hour' },
  { id: '7d', label: 'Last 7 days', hours: 7 * 24, granularity: 'day' },
  { id: '30d', label: 'Last 30 days', hours: 30 * 24, granularity: 'day' },
  { id: '365d', label: 'Last 365 days', hours: 365 * 24, granularity: 'day' },
  { id: 'all', label: 'All time', hours: null, granularity: 'day' },
];

const shareFormat = new Intl.NumberFormat(undefined, { style: 'percent' });

const DIMENSIONS = [
  ['referrers', 'Referrers'], ['countries', 'Countries'], ['devices', 'Devices'], ['browsers', 'Browsers'], ['os', 'Operating systems'],
  ['rules', 'Rules'], ['variants', 'A/B variants'],
];

/** The page of the link `code` on `domain` (its host name; undefined: the default domain). */
export function linkView(code, domain) {
  const { path, domain: only } = linkPath(code, domain);
  const heading = h('h1', {}, code);
  const details = h('dl', { class: 'details' });
  const error = h('p', { class: 'field-error', role: 'alert' });
  const range = h('select', { id: 'range' }, RANGES.map((option) => h('option', { value: option.id }, option.label)));
  const totals = h('p', { class: 'totals', id: 'totals' });
  const chartBox = h('div', { class: 'chart-box', id: 'chart' });
  const tops = h('div', { class: 'tops' });
  const qr = qrSection(code, path, only);
  const deleteButton = h('button', { type: 'button', class: 'danger', id: 'delete' }, 'Delete link');
  const editButton = h('button', { type: 'button', id: 'edit' }, 'Edit');
  const linkCard = h('section', { class: 'card' }, h('h2', {}, 'Link'), details,
    h('p', { class: 'actions' }, editButton, ' ', deleteButton));
  /** The link as last read, for the edit form to begin from. */
  let current = null;
  let editing = null;
  function closeEditor() {
    editing?.remove();
    editing = null;
    linkCard.hidden = false;
    editButton.focus();
  }
  editButton.addEventListener('click', () => {
    if (!current || editing) return;
    editing = h('section', { class: 'card' }, editForm(current, {
      path,
      domain: only,
      onSaved: (saved) => {
        // A move: the link's page is now at its new address.
        if (saved.domain !== current.domain) {
          location.hash = linkRoute(saved);
          return;
        }
        current = saved;
        showDetails(details, saved);
        closeEditor();
        refresh();
      },
      onClose: closeEditor,
    }));
    linkCard.hidden = true;
    linkCard.after(editing);
    editing.querySelector('input').focus();
  });
  const dialog = confirmDialog(code, async () => {
    try {
      await api('DELETE', `${path}${query({ domain: only })}`);
      notify(`Deleted ${code}`);
      await refresh();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  deleteButton.addEventListener('click', () => dialog.showModal());
  range.addEventListener('change', () => refresh());

  let timer;
  let left = false;
  async function refresh() {
    clearTimeout(timer);
    try {
      const [link, stats, everyone] = await Promise.all([
        api('GET', `${path}${query({ domain: only })}`),
        api('GET', `${path}/stats${statsQuery(range.value, true, only)}`),
        api('GET', `${path}/stats${statsQuery(range.value, false, only)}`),
      ]);
      if (left) return;
      error.textContent = '';
      current = link;
      showDetails(details, link);
      deleteButton.hidden = link.status === 'deleted' || !can('links:delete');
      editButton.hidden = link.status === 'deleted' || !can('links:edit');
      qr.show(link.short_url);
      const choice = RANGES.find((option) => option.id === range.value);
      totals.replaceChildren(
        h('strong', { id: 'total-clicks' }, numberFormat.format(link.clicks)), ' clicks in all · ',
        `${numberFormat.format(stats.total)} by people and ${numberFormat.format(stats.bots)} by bots in the range`);
      chartBox.replaceChildren(clickChart(everyone.series, stats.series, choice.granularity),
        h('p', { class: 'legend' }, h('span', { class: 'key people' }), 'people ', h('span', { class: 'key bots' }), 'bots'));
      const routed = link.rules.length || link.split;
      tops.replaceChildren(...DIMENSIONS.filter(([key]) => routed || (key !== 'rules' && key !== 'variants'))
        .map(([key, title]) => topList(title, stats[key])));
    } catch (failure) {
      if (left) return;
      error.textContent = failure.status === 404 ? `No link has the code ${code}.` : failure.message;
    }
    if (!left) timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
  const visits = can('stats:read') ? visitsSections(path, only) : null;

  const element = h('section', {},
    h('p', {}, h('a', { href: '#/' }, '← All links')),
    heading,
    error,
    h('div', { class: 'columns' },
      h('div', {}, linkCard),
      qr.element),
    h('section', { class: 'card' },
      h('h2', {}, 'Clicks'),
      h('label', { for: 'range' }, 'Range'), range,
      totals, chartBox,
      h('p', { class: 'help' }, 'Bots (crawlers, link previews, HTTP libraries, headless browsers) are drawn apart in the chart and left out of the lists.')),
    tops,
    visits?.element,
    dialog);
  return { element, leave: () => { left = true; clearTimeout(timer); qr.leave(); visits?.leave(); } };
}

function statsQuery(rangeID, excludingBots, domain) {
  const choice = RANGES.find((option) => option.id === rangeID);
  const now = new Date();
  const parameters = { granularity: choice.granularity, exclude_bots: String(excludingBots), domain };
  if (choice.hours) {
    const from = new Date(now.getTime() - choice.hours * 3600 * 1000);
    if (choice.granularity === 'hour') from.setUTCMinutes(0, 0, 0);
    else from.setUTCHours(0, 0, 0, 0);
    parameters.from = from.toISOString();
    parameters.to = now.toISOString();
  }
  return query(parameters);
}

function showDetails(list, link) {
  const rows = [
    ['Short URL', h('a', { href: link.short_url, id: 'link-short-url', target: '_blank', rel: 'noopener' }, link.short_url)],
    ['Domain', h('span', { id: 'link-domain' }, link.domain)],
    ['Target', h('span', { class: 'target', id: 'link-target' }, link.url)],
    ['Status', h('span', { class: `status status-${link.status}`, id: 'link-status' }, link.status)],
    ['Created', dateTimeFormat.format(new Date(link.created_at))],
    ['Expires', link.expires_at ? dateTimeFormat.format(new Date(link.expires_at)) : 'never'],
    ['Max clicks', link.max_clicks ? numberFormat.format(link.max_clicks) : 'no limit'],
  ];
  if (link.title) rows.push(['Title', h('span', { id: 'link-title' }, link.title)]);
  if (link.tags.length) rows.push(['Tags', h('span', { id: 'link-tags' }, link.tags.join(', '))]);
  if (link.notes) rows.push(['Notes', h('span', { class: 'notes' }, link.notes)]);
  const options = [`${link.redirect_type} redirect`, link.forward_query ? 'forwards the query' : 'drops the query'];
  if (link.crawlable) options.push('crawlable');
  const utm = Object.entries(link.utm).map(([name, value]) => `utm_${name}=${value}`);
  if (utm.length) options.push(utm.join('&'));
  rows.push(['Options', h('span', { id: 'link-options' }, options.join(' · '))]);
  if (link.rules.length || link.split) {
    const parts = [];
    if (link.rules.length) parts.push(`${link.rules.length} rule${link.rules.length === 1 ? '' : 's'}`);
    if (link.split) parts.push(`its own target split ${link.split.map((each) => `${each.weight} %`).join(' / ')}`);
    rows.push(['Routing', h('span', { id: 'link-routing' }, parts.join(' · '))]);
  }
  if (link.password_protected) rows.push(['Password', h('span', { id: 'link-password' }, 'visitors must give one')]);
  rows.push(['Revision', h('span', { id: 'link-revision' }, String(link.revision))]);
  list.replaceChildren(...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function topList(title, values) {
  const total = values.reduce((sum, item) => sum + item.clicks, 0);
  const section = h('section', { class: 'card top' }, h('h2', {}, title));
  if (!values.length) {
    section.append(h('p', { class: 'help' }, 'No clicks yet.'));
    return section;
  }
  section.append(h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col', class: 'number' }, 'Clicks'),
      h('th', { scope: 'col', class: 'number' }, 'Share'))),
    h('tbody', {}, values.map((item) => h('tr', {},
      h('td', {}, item.value),
      h('td', { class: 'number' }, numberFormat.format(item.clicks)),
      h('td', { class: 'number' }, shareFormat.format(total ? item.clicks / total : 0)))))));
  return section;
}

/** The QR code, fetched with the key (so as a blob, not by URL), and its downloads. */
function qrSection(code, path, domain) {
  const image = h('img', { id: 'qr', width: '200', height: '200', alt: '' });
  const downloads = h('p', { class: 'downloads' });
  let shown = null;
  const urls = [];
  const element = h('section', { class: 'card qr' }, h('h2', {}, 'QR code'), image, downloads);
  async function download(format) {
    try {
      saveBlob(await api('GET', `${path}/qr${query({ format, size: 1024, domain })}`), `${code}.${format}`);
    } catch (failure) {
      notify(failure.message);
    }
  }
  return {
    element,
    async show(shortURL) {
      if (shown === shortURL) return;
      shown = shortURL;
      try {
        const blob = await api('GET', `${path}/qr${query({ format: 'svg', size: 200, domain })}`);
        const url = URL.createObjectURL(blob);
        urls.push(url);
        image.src = url;
        image.alt = `QR code of ${shortURL}`;
        downloads.replaceChildren(
          h('button', { type: 'button', class: 'quiet', onclick: () => download('svg') }, 'Download SVG'), ' ',
          h('button', { type: 'button', class: 'quiet', onclick: () => download('png') }, 'Download PNG'));
      } catch (failure) {
        shown = null;
        downloads.replaceChildren(h('span', { class: 'field-error' }, failure.message));
      }
    },
    leave() { for (const url of urls) URL.revokeObjectURL(url); },
  };
}

function confirmDialog(code, onConfirm) {
  const confirm = h('button', { type: 'button', class: 'danger', id: 'confirm-delete' }, 'Delete');
  const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel');
  const dialog = h('dialog', { 'aria-labelledby': 'delete-title' },
    h('h2', { id: 'delete-title' }, `Delete ${code}?`),
    h('p', {}, 'Its short URL stops redirecting on every replica. Codes are never reused, and the clicks stay.'),
    h('p', { class: 'actions' }, cancel, ' ', confirm));
  cancel.addEventListener('click', () => dialog.close());
  confirm.addEventListener('click', () => {
    dialog.close();
    onConfirm();
  });
  return dialog;
}

// Bulk create: links from pasted lines (a URL, optionally an alias after a space) or from a CSV
// file with a header row (the columns `master links import` reads: url, alias, expires_at,
// max_clicks, tags, domain, title), sent through the bulk API in chunks, each item with its own
// result. Progress is shown while it runs, the create rate limit is waited out (a chunk is
// retried with its Idempotency-Key); the failed rows are listed with their errors and can be
// downloaded as CSV to fix and retry.
import { api, domains } from './api.js';
import { h, field, notify, saveBlob } from './dom.js';

/** Items per bulk request (the API takes up to 1000): small enough to show progress often. */
const CHUNK = 200;
/** Most rows one run takes, so that a mistaken file cannot keep the page busy for an hour. */
const MOST_ROWS = 100000;

/** RFC 4180 records of `text`: quoted fields with doubled quotes, CRLF or LF line ends. */
export function parseCSV(text) {
  const records = [];
  let record = [];
  let value = '';
  let quoted = false;
  for (let index = 0; index < text.length; index += 1) {
    const character = text[index];
    if (quoted) {
      if (character === '"' && text[index + 1] === '"') { value += '"'; index += 1; }
      else if (character === '"') quoted = false;
      else value += character;
    } else if (character === '"' && value === '') quoted = true;
    else if (character === ',') { record.push(value); value = ''; }
    else if (character === '\n' || character === '\r') {
      if (character === '\r' && text[index + 1] === '\n') index += 1;
      record.push(value);
      if (record.length > 1 || record[0] !== '') records.push(record);
      record = [];
      value = '';
    } else value += character;
  }
  if (value !== '' || record.length) {
    record.push(value);
    records.push(record);
  }
  return records;
}

/** The create requests of pasted lines: `URL` or `URL alias`; blank lines and `#` comments skipped. */
function itemsFromLines(text) {
  const items = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (!words.length || words[0].startsWith('#')) return;
    const item = { url: words[0] };
    if (words[1]) item.alias = words[1];
    items.push({ row: index + 1, source: line.trim(), item });
  });
  return items;
}

/** The create requests of a CSV file's records, the first naming the columns. */
function itemsFromCSV(records) {
  const [header, ...rows] = records;
  const position = Object.fromEntries(header.map((name, index) => [name.trim().toLowerCase(), index]));
  if (position.url === undefined) throw new Error('The first row must name the columns, url among them.');
  return rows.map((values, index) => {
    const value = (name) => (position[name] === undefined ? '' : (values[position[name]] ?? '').trim());
    const item = { url: value('url') };
    if (value('alias')) item.alias = value('alias');
    if (value('expires_at')) item.expires_at = value('expires_at');
    if (value('max_clicks')) {
      if (!/^\d{1,15}$/.test(value('max_clicks'))) return { row: index + 2, source: values.join(','), problem: 'max_clicks must be a whole number' };
      item.max_clicks = Number(value('max_clicks'));
    }
    if (value('tags')) item.tags = value('tags').split(/\s+/);
    if (value('domain')) item.domain = value('domain');
    if (value('title')) item.title = value('title');
    return { row: index + 2, source: values.join(','), item };
  });
}

export function bulkView() {
  const lines = h('textarea', { rows: '8', spellcheck: 'false', placeholder: 'https://example.com/a\nhttps://example.com/b my-alias' });
  const file = h('input', { type: 'file', accept: '.csv,text/csv' });
  const tags = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const domain = h('select', {}, h('option', { value: '' }, 'default domain'));
  const linesField = field('bulk-lines', 'Links, one per line', lines, 'A URL, optionally followed by a space and an alias. Lines starting with # are skipped.');
  const fileField = field('bulk-file', 'Or a CSV file', file, 'A header row naming url and any of alias, expires_at, max_clicks, tags, domain, title (as master links export writes them).');
  const tagsField = field('bulk-tags', 'Tags for every link (optional)', tags, 'Separated by spaces.');
  const domainField = field('bulk-domain', 'Domain (for rows that name none)', domain);
  domainField.element.hidden = true;
  const formError = h('p', { class: 'field-error', role: 'alert', id: 'bulk-error' });
  const progress = h('progress', { max: '1', value: '0', hidden: true, id: 'bulk-progress' });
  const status = h('p', { class: 'help', id: 'bulk-status', 'aria-live': 'polite' });
  const results = h('div', { id: 'bulk-results' });
  const button = h('button', { type: 'submit' }, 'Create links');
  const form = h('form', { class: 'card bulk', novalidate: true },
    h('h2', {}, 'Create many links'),
    linesField.element, fileField.element, tagsField.element, domainField.element,
    formError, button, progress, status);
  domains().then((all) => {
    domain.replaceChildren(...all.map((each) => h('option', { value: each.default ? '' : each.name },
      each.default ? `${each.name} (default)` : each.name)));
    domainField.element.hidden = all.length < 2;
  }).catch(() => {});

  async function rowsToCreate() {
    if (file.files.length) {
      const chosen = file.files[0];
      if (chosen.size > 64 * 1024 * 1024) throw new Error('The file is over 64 MiB; use master links import for it.');
      return itemsFromCSV(parseCSV(await chosen.text()));
    }
    return itemsFromLines(lines.value);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.textContent = '';
    results.replaceChildren();
    let rows;
    try {
      rows = await rowsToCreate();
    } catch (failure) {
      formError.textContent = failure.message;
      return;
    }
    if (!rows.length) {
      formError.textContent = 'Paste at least one URL or choose a CSV file.';
      return;
    }
    if (rows.length > MOST_ROWS) {
      formError.textContent = `That is ${rows.length} rows; the web app takes up to ${MOST_ROWS}. Use master links import for more.`;
      return;
    }
    const extraTags = tags.value.trim().toLowerCase().split(/[\s,]+/).filter(Boolean);
    for (const { item } of rows.filter((row) => row.item)) {
      if (!item.domain && domain.value) item.domain = domain.value;
      if (extraTags.length) item.tags = [...new Set([...(item.tags ?? []), ...extraTags])];
    }
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    const created = [];
    const failed = rows.filter((row) => row.problem)
      .map((row) => ({ ...row, result: { status: 400, error: { message: row.problem } } }));
    const valid = rows.filter((row) => !row.problem);
    progress.max = Math.max(valid.length, 1);
    try {
      for (let start = 0; start < valid.length; start += CHUNK) {
        const chunk = valid.slice(start, start + CHUNK);
        const answer = await sendChunk(chunk.map((row) => row.item), (seconds) => {
          status.textContent = `Over the create rate limit: waiting ${seconds} s…`;
        });
        answer.results.forEach((result, index) => {
          if (result.status === 201) created.push({ ...chunk[index], result });
          else failed.push({ ...chunk[index], result });
        });
        progress.value = start + chunk.length;
        status.textContent = `${start + chunk.length} of ${valid.length} rows sent…`;
      }
      failed.sort((a, b) => a.row - b.row);
      status.textContent = `${created.length} created, ${failed.length} failed.`;
      notify(`${created.length} links created`);
    } catch (failure) {
      formError.textContent = `${failure.message} ${created.length} were created before it stopped.`;
    } finally {
      button.disabled = false;
      progress.hidden = true;
    }
    results.replaceChildren(resultTable(created, failed));
  });

  /**
   * Sends one chunk, waiting out the rate limit (429) and a short outage (503) as `Retry-After`
   * says; the retry carries the same Idempotency-Key, so a lost answer creates nothing twice.
   */
  async function sendChunk(links, waiting) {
    const headers = crypto.randomUUID ? { 'Idempotency-Key': crypto.randomUUID() } : {};
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await api('POST', '/api/links/bulk', { links }, { headers });
      } catch (failure) {
        if (![429, 503].includes(failure.status) || attempt === 20) throw failure;
        const seconds = Math.min(failure.retryAfter ?? 1, 120);
        waiting(seconds);
        await new Promise((resume) => { setTimeout(resume, seconds * 1000); });
      }
    }
  }

  const element = h('section', {},
    h('h1', {}, 'Bulk create'),
    form,
    results);
  return { element, leave: () => {} };
}

/** The failed rows first, with their errors and a download; then the links made. */
function resultTable(created, failed) {
  const section = h('section', { class: 'card' }, h('h2', {}, 'Results'));
  if (failed.length) {
    const download = h('button', { type: 'button', class: 'quiet', id: 'bulk-failed-download' }, 'Download the failed rows');
    download.addEventListener('click', () => {
      const quote = (text) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
      const csv = ['row,url,alias,error', ...failed.map(({ row, item, result }) =>
        [String(row), item?.url ?? '', item?.alias ?? '', result.error?.message ?? String(result.status)].map(quote).join(','))];
      saveBlob(new Blob([`${csv.join('\n')}\n`], { type: 'text/csv' }), 'failed.csv');
    });
    section.append(h('h3', {}, `${failed.length} failed`), h('p', { class: 'toolbar' }, download),
      h('div', { class: 'table-scroll' }, h('table', { class: 'failed', id: 'bulk-failed' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Row'), h('th', { scope: 'col' }, 'Input'), h('th', { scope: 'col' }, 'Error'))),
        h('tbody', {}, failed.map(({ row, source, result }) => h('tr', {},
          h('td', { class: 'number' }, String(row)), h('td', { class: 'target' }, source),
          h('td', {}, result.error?.message ?? `HTTP ${result.status}`)))))));
  }
  if (created.length) {
    section.append(h('h3', {}, `${created.length} created`),
      h('div', { class: 'table-scroll' }, h('table', { id: 'bulk-created' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Row'), h('th', { scope: 'col' }, 'Short URL'), h('th', { scope: 'col' }, 'Target'))),
        h('tbody', {}, created.slice(0, 1000).map(({ row, result }) => h('tr', {},
          h('td', { class: 'number' }, String(row)),
          h('td', {}, h('a', { href: result.short_url, target: '_blank', rel: 'noopener' }, result.short_url)),
          h('td', { class: 'target' }, result.url)))))));
    if (created.length > 1000) section.append(h('p', { class: 'help' }, `The first 1000 of ${created.length} are shown; the list of links has them all.`));
  }
  return section;
}

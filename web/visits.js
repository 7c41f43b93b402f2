// A link's visits: a "Live" panel fed by the master's stream of new visits (Server-Sent Events,
// read with fetch so that the API key travels in a header, never in the URL), and a "Recent
// visits" table from the visits API, newest first, a page at a time.
import { api, query, session, ApiError } from './api.js';
import { h, dateTimeFormat } from './dom.js';

/** Most visits the live panel shows; older ones scroll away. */
const LIVE_ROWS = 50;
/** Visits per page of the table. */
const PAGE = 25;
/** Wait before a dropped live stream is opened again. */
const RECONNECT_MS = 2000;

const COLUMNS = ['Time', 'Outcome', 'Country', 'Device', 'Browser', 'OS', 'Referrer', 'Rule'];

/** What a visit's outcome means, in words. */
function outcomeText(outcome) {
  if (outcome >= 300 && outcome < 400) return `${outcome} redirect`;
  return { 200: 'password asked', 403: 'wrong password', 404: 'not found', 410: 'gone', 429: 'too many tries' }[outcome]
    ?? String(outcome);
}

/** One visit as a table row. */
function visitRow(visit) {
  const rule = visit.rule === null ? '—' : `${visit.rule}${visit.variant === null ? '' : ` / variant ${visit.variant + 1}`}`;
  return h('tr', { class: visit.bot ? 'bot' : undefined },
    h('td', {}, h('time', { datetime: visit.occurred_at }, dateTimeFormat.format(new Date(visit.occurred_at)))),
    h('td', {}, outcomeText(visit.outcome)),
    h('td', {}, visit.country), h('td', {}, visit.bot ? 'bot' : visit.device), h('td', {}, visit.browser),
    h('td', {}, visit.os), h('td', {}, visit.referrer), h('td', {}, rule));
}

function table(id, body) {
  return h('div', { class: 'table-scroll' },
    h('table', { id }, h('thead', {}, h('tr', {}, COLUMNS.map((title) => h('th', { scope: 'col' }, title)))), body));
}

/**
 * The visits sections of the link at `path` (its API path) on `domain` (undefined: the default
 * one): `{ element, leave }`; leaving closes the live stream.
 */
export function visitsSections(path, domain) {
  const liveRows = h('tbody', {});
  const liveState = h('p', { class: 'help', id: 'live-state', role: 'status' }, 'Connecting…');
  const recentRows = h('tbody', {});
  const recentError = h('p', { class: 'field-error', role: 'alert' });
  const older = h('button', { type: 'button', id: 'visits-older', hidden: true }, 'Older visits');
  const reload = h('button', { type: 'button', id: 'visits-reload' }, 'Refresh');
  let cursor = null;
  let left = false;
  const aborter = new AbortController();

  async function loadRecent(next) {
    try {
      const page = await api('GET', `${path}/visits${query({ domain, limit: PAGE, cursor: next ?? undefined })}`);
      if (left) return;
      recentError.textContent = '';
      const rows = page.visits.map(visitRow);
      if (next) recentRows.append(...rows); else recentRows.replaceChildren(...rows);
      if (!next && rows.length === 0) {
        recentRows.replaceChildren(h('tr', {}, h('td', { colspan: COLUMNS.length }, 'No visits in the last seven days.')));
      }
      cursor = page.next_cursor;
      older.hidden = !cursor;
    } catch (failure) {
      if (!left) recentError.textContent = failure.message;
    }
  }
  older.addEventListener('click', () => loadRecent(cursor));
  reload.addEventListener('click', () => loadRecent(null));

  /** Reads the live stream until it ends, then opens it again after a pause. */
  async function follow() {
    while (!left) {
      try {
        const response = await fetch(`${path}/visits/live${query({ domain })}`, {
          headers: { Authorization: `Bearer ${session.key ?? ''}`, Accept: 'text/event-stream' },
          cache: 'no-store', signal: aborter.signal,
        });
        if (!response.ok) throw new ApiError(response.status, 'live', `The live view answered ${response.status}.`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let pending = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          pending += value;
          let end;
          while ((end = pending.indexOf('\n\n')) >= 0) {
            handle(pending.slice(0, end));
            pending = pending.slice(end + 2);
          }
        }
        liveState.textContent = 'The live view was interrupted; reconnecting…';
      } catch (failure) {
        if (left) return;
        liveState.textContent = failure.status === 503
          ? 'The live view is busy; trying again shortly…'
          : 'The live view is unreachable; reconnecting…';
      }
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }

  /** One event of the stream: `ready`, or a `visit` to show at the top. */
  function handle(text) {
    const lines = text.split('\n');
    const type = lines.find((line) => line.startsWith('event: '))?.slice(7);
    const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
    if (type === 'ready') {
      liveState.textContent = 'Live: new visits appear here as they happen.';
    } else if (type === 'visit') {
      if (liveRows.querySelector('.empty')) liveRows.replaceChildren();
      liveRows.prepend(visitRow(JSON.parse(data)));
      while (liveRows.rows.length > LIVE_ROWS) liveRows.lastElementChild.remove();
    }
  }

  liveRows.append(h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length }, 'Waiting for visits…')));
  loadRecent(null);
  follow();

  const element = h('div', {},
    h('section', { class: 'card', id: 'live' },
      h('h2', {}, 'Live'), liveState, table('live-visits', liveRows)),
    h('section', { class: 'card', id: 'recent' },
      h('h2', {}, 'Recent visits'), recentError, table('recent-visits', recentRows),
      h('p', { class: 'actions' }, reload, ' ', older),
      h('p', { class: 'help' }, 'Every visit of the last seven days: redirects, and the 404s and 410s of this address. No addresses or user agents are kept.')));
  return { element, leave: () => { left = true; aborter.abort(); } };
}

// The home view: the create form (errors on their fields, a domain picker, the new short URL
// with a copy button) and the list of links, newest first, with a text, a tag and a domain
// filter, cursor paging, and the export of what the filters select as CSV.
import { api, can, query, domains, linkRoute } from './api.js';
import { h, notify, numberFormat, dateTimeFormat, saveBlob } from './dom.js';

const FIELDS = ['url', 'alias', 'expires_at', 'max_clicks', 'password'];

export function linksView() {
  const list = linkList();
  const form = createForm(() => list.reload());
  const element = h('section', {},
    h('h1', {}, 'Links'),
    can('links:create') ? form.element : null,
    list.element);
  // Both pickers list the domains; a failure leaves them at the default domain alone.
  domains().then((all) => { form.showDomains(all); list.showDomains(all); }).catch(() => {});
  return { element, leave: list.leave };
}

/** `<option>`s of the domains, the default one's value empty. */
function domainOptions(all) {
  return all.map((domain) => h('option', { value: domain.default ? '' : domain.name },
    domain.default ? `${domain.name} (default)` : domain.name));
}

function createForm(onCreated) {
  const inputs = {
    url: h('input', { id: 'url', name: 'url', type: 'url', required: true, placeholder: 'https://example.com/page' }),
    alias: h('input', { id: 'alias', name: 'alias', type: 'text', maxlength: '64', autocomplete: 'off', spellcheck: 'false' }),
    expires_at: h('input', { id: 'expires_at', name: 'expires_at', type: 'datetime-local' }),
    max_clicks: h('input', { id: 'max_clicks', name: 'max_clicks', type: 'number', min: '1', step: '1', inputmode: 'numeric' }),
    password: h('input', { id: 'password', name: 'password', type: 'password', maxlength: '128', autocomplete: 'new-password' }),
  };
  const errors = {};
  const labels = { url: 'Target URL', alias: 'Alias (optional)', expires_at: 'Expires (optional, your local time)', max_clicks: 'Max clicks (optional)', password: 'Password visitors must give (optional)' };
  const fields = FIELDS.map((name) => {
    errors[name] = h('p', { id: `${name}-error`, class: 'field-error' });
    inputs[name].setAttribute('aria-describedby', `${name}-error`);
    return h('div', { class: `field field-${name}` }, h('label', { for: name }, labels[name]), inputs[name], errors[name]);
  });
  const domain = h('select', { id: 'domain', name: 'domain' }, h('option', { value: '' }, 'default domain'));
  const domainField = h('div', { class: 'field field-domain', hidden: true },
    h('label', { for: 'domain' }, 'Domain'), domain);
  const formError = h('p', { class: 'field-error', role: 'alert' });
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Shorten');
  const form = h('form', { class: 'card create', novalidate: true }, h('h2', {}, 'New link'), fields[0], domainField,
    ...fields.slice(1), formError, button, result);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const name of FIELDS) {
      errors[name].textContent = '';
      inputs[name].removeAttribute('aria-invalid');
    }
    formError.textContent = '';
    result.replaceChildren();
    const body = { url: inputs.url.value.trim() };
    if (inputs.alias.value.trim()) body.alias = inputs.alias.value.trim();
    if (inputs.expires_at.value) {
      const expiry = new Date(inputs.expires_at.value); // datetime-local is local time
      if (Number.isNaN(expiry.getTime())) return showError({ field: 'expires_at', message: 'Enter a date and time.' });
      body.expires_at = expiry.toISOString();
    }
    if (inputs.max_clicks.value) body.max_clicks = Number(inputs.max_clicks.value);
    if (inputs.password.value) body.password = inputs.password.value;
    if (domain.value) body.domain = domain.value;
    button.disabled = true;
    try {
      const created = await api('POST', '/create', body);
      const chosen = domain.value;
      form.reset();
      domain.value = chosen;
      result.replaceChildren(shortURLBox(created));
      notify(`Created ${created.short_url}`);
      onCreated();
    } catch (failure) {
      showError(failure);
    } finally {
      button.disabled = false;
    }
  });

  function showError(failure) {
    const field = failure.field;
    if (field && errors[field]) {
      errors[field].textContent = failure.message;
      inputs[field].setAttribute('aria-invalid', 'true');
      inputs[field].focus();
    } else {
      formError.textContent = failure.message;
    }
  }
  return {
    element: form,
    /** Offers every domain; the picker shows only when there is more than the default one. */
    showDomains(all) {
      domain.replaceChildren(...domainOptions(all));
      domainField.hidden = all.length < 2;
    },
  };
}

/** The new short URL, a link to its page and a copy button. */
function shortURLBox(created) {
  const copy = h('button', { type: 'button', class: 'quiet copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(created.short_url);
      copy.textContent = 'Copied';
      notify('Short URL copied');
    } catch {
      notify('Copying is not allowed here; select the URL instead.');
    }
  });
  return h('p', { class: 'created' },
    h('a', { href: created.short_url, class: 'short-url', id: 'short-url', target: '_blank', rel: 'noopener' }, created.short_url),
    ' ', copy, ' ',
    h('a', { href: linkRoute(created) }, 'Details'));
}

/** A tag as the API accepts it. */
const TAG = /^[a-z0-9_-]{1,32}$/;

function linkList() {
  const filter = h('input', { id: 'filter', type: 'search', autocomplete: 'off', 'aria-describedby': 'filter-help' });
  const tagFilter = h('input', { id: 'tag-filter', type: 'search', autocomplete: 'off', spellcheck: 'false', maxlength: '32', 'aria-describedby': 'tag-filter-error' });
  const tagError = h('p', { id: 'tag-filter-error', class: 'field-error' });
  const domainFilter = h('select', { id: 'domain-filter' }, h('option', { value: '*' }, 'All domains'));
  const domainFilterField = h('div', { hidden: true }, h('label', { for: 'domain-filter' }, 'Domain'), domainFilter);
  const body = h('tbody');
  const empty = h('p', { class: 'help', hidden: true }, 'No links yet.');
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'More');
  const exportButton = h('button', { type: 'button', class: 'quiet', id: 'export' }, 'Export CSV');
  const error = h('p', { class: 'field-error', role: 'alert' });
  let cursor = null;
  /** The default domain's host, once the domains are known: the filter's empty choice. */
  let defaultHost;
  let generation = 0;
  let debounce;

  /** The filters as the API takes them, or null when the tag cannot be one. */
  function filters() {
    // The API searches from three characters on (a trigram); shorter text lists everything.
    const text = filter.value.trim();
    const tag = tagFilter.value.trim().toLowerCase();
    tagError.textContent = '';
    tagFilter.removeAttribute('aria-invalid');
    if (tag && !TAG.test(tag)) {
      tagError.textContent = 'A tag is 1-32 characters of a-z, 0-9, - and _.';
      tagFilter.setAttribute('aria-invalid', 'true');
      return null;
    }
    return {
      q: [...text].length >= 3 ? text : '',
      tag,
      domain: domainFilter.value === '*' ? undefined : domainFilter.value || defaultHost,
    };
  }

  async function load(append) {
    const mine = ++generation;
    error.textContent = '';
    const selected = filters();
    if (!selected) return;
    try {
      const page = await api('GET', `/api/links${query({ limit: 20, ...selected, cursor: append ? cursor : null })}`);
      if (mine !== generation) return;
      if (!append) body.replaceChildren();
      for (const link of page.links) body.append(row(link, showTag));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.hidden = body.children.length > 0;
    } catch (failure) {
      if (mine === generation) error.textContent = failure.message;
    }
  }
  function showTag(tag) {
    tagFilter.value = tag;
    load(false);
    tagFilter.focus();
  }
  for (const input of [filter, tagFilter]) {
    input.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => load(false), 250);
    });
  }
  domainFilter.addEventListener('change', () => load(false));
  more.addEventListener('click', () => load(true));
  exportButton.addEventListener('click', async () => {
    const selected = filters();
    if (!selected) return;
    exportButton.disabled = true;
    try {
      saveBlob(await api('GET', `/api/links.csv${query(selected)}`), 'links.csv');
      notify('Exported the links as links.csv');
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      exportButton.disabled = false;
    }
  });
  load(false);

  const element = h('section', { class: 'card' },
    h('h2', {}, 'Your links'),
    h('div', { class: 'filters' },
      h('div', {},
        h('label', { for: 'filter' }, 'Filter by code, target, title or notes'),
        filter,
        h('p', { id: 'filter-help', class: 'help' }, 'Newest first. Filtering starts at three characters.')),
      h('div', {}, h('label', { for: 'tag-filter' }, 'Tag'), tagFilter, tagError),
      domainFilterField),
    h('p', { class: 'toolbar' }, exportButton, h('span', { class: 'help' }, 'Every link the filters select, as CSV.')),
    error,
    h('div', { class: 'table-scroll' },
      h('table', { class: 'links' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Code'), h('th', { scope: 'col' }, 'Domain'),
          h('th', { scope: 'col' }, 'Target'), h('th', { scope: 'col' }, 'Tags'),
          h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'number' }, 'Clicks'),
          h('th', { scope: 'col' }, 'Created'))),
        body)),
    empty,
    more);
  return {
    element,
    reload: () => load(false),
    leave: () => clearTimeout(debounce),
    /** Offers a filter by domain when there is more than the default one. */
    showDomains(all) {
      defaultHost = all.find((domain) => domain.default)?.name;
      domainFilter.replaceChildren(h('option', { value: '*' }, 'All domains'), ...domainOptions(all));
      domainFilterField.hidden = all.length < 2;
    },
  };
}

/** A link's row; its tags are buttons that filter the list by them. */
function row(link, showTag) {
  return h('tr', { 'data-code': link.code, 'data-domain': link.domain },
    h('td', {}, h('a', { href: linkRoute(link) }, link.code)),
    h('td', {}, link.domain),
    h('td', { class: 'target' }, link.title ? [h('strong', {}, link.title), h('br'), link.url] : link.url),
    h('td', {}, link.tags.map((tag) => h('button', {
      type: 'button', class: 'quiet tag', 'aria-label': `Show only links tagged ${tag}`, onclick: () => showTag(tag),
    }, tag))),
    h('td', {}, h('span', { class: `status status-${link.status}` }, link.status)),
    h('td', { class: 'number' }, numberFormat.format(link.clicks)),
    h('td', {}, dateTimeFormat.format(new Date(link.created_at))));
}

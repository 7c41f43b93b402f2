// The API keys (admins): create one (its secret shown once, here only), see every key's role,
// limits, expiry and last use, and revoke one. The API refuses this page's calls to any other role.
import { api } from './api.js';
import { h, field, notify, dateTimeFormat, showError } from './dom.js';

const ROLES = [
  ['viewer', 'viewer: reads links and statistics'],
  ['creator', 'creator: creates links, reads its own'],
  ['editor', 'editor: creates, edits and deletes links'],
  ['admin', 'admin: everything, keys and domains too'],
];

const when = (text) => (text ? dateTimeFormat.format(new Date(text)) : '–');

export function keysView() {
  const body = h('tbody');
  const error = h('p', { id: 'keys-error', class: 'field-error', role: 'alert' });
  const secret = h('div', { 'aria-live': 'polite' });
  let left = false;

  async function load() {
    try {
      const { keys } = await api('GET', '/api/keys');
      if (left) return;
      error.textContent = '';
      body.replaceChildren(...keys.map(row));
    } catch (failure) {
      if (!left) error.textContent = failure.message;
    }
  }

  function row(key) {
    const limits = [...key.tags.map((tag) => `#${tag}`), ...key.domains].join(' ') || '–';
    const revoke = h('button', { type: 'button', class: 'quiet', 'aria-label': `Revoke ${key.name}` }, 'Revoke');
    revoke.addEventListener('click', () => confirmRevocation(key));
    return h('tr', { 'data-key': key.id },
      h('td', {}, h('strong', {}, key.name), h('br'), h('span', { class: 'help' }, key.id)),
      h('td', {}, key.role),
      h('td', {}, limits),
      h('td', {}, key.revoked_at ? `revoked ${when(key.revoked_at)}` : key.expires_at ? `until ${when(key.expires_at)}` : 'active'),
      h('td', {}, when(key.last_used_at)),
      h('td', {}, key.revoked_at ? null : revoke));
  }

  function confirmRevocation(key) {
    const confirm = h('button', { type: 'button', class: 'danger', id: 'confirm-revoke' }, 'Revoke');
    const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel');
    const dialog = h('dialog', { 'aria-labelledby': 'revoke-title' },
      h('h2', { id: 'revoke-title' }, `Revoke ${key.name}?`),
      h('p', {}, 'Every master refuses it at once. This cannot be undone.'),
      h('p', { class: 'actions' }, confirm, ' ', cancel));
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => dialog.remove());
    confirm.addEventListener('click', async () => {
      try {
        await api('DELETE', `/api/keys/${encodeURIComponent(key.id)}`);
        notify(`Revoked ${key.name}`);
        load();
      } catch (failure) {
        error.textContent = failure.message;
      }
      dialog.close();
    });
    element.append(dialog);
    dialog.showModal();
  }

  const name = field('key-name', 'Name', h('input', { type: 'text', required: true, maxlength: '100', autocomplete: 'off' }),
    'What the key is for: shown here and in the audit trail.');
  const role = field('key-role', 'Role', h('select', {}, ...ROLES.map(([value, label]) => h('option', { value }, label))));
  const tags = field('key-tags', 'Tags (optional)', h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' }),
    'Limits the key to links with one of these tags (space separated); what it creates gets them.');
  const expires = field('key-expires', 'Expires (optional, your local time)', h('input', { type: 'datetime-local' }));
  const fields = { name, role, tags, expires_at: expires };
  const formError = h('p', { class: 'field-error', role: 'alert' });
  const add = h('form', { class: 'card', novalidate: true, id: 'key-add' },
    h('h2', {}, 'New key'), name.element, role.element, tags.element, expires.element, formError,
    h('button', { type: 'submit' }, 'Create key'));
  add.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const each of Object.values(fields)) each.clear();
    formError.textContent = '';
    secret.replaceChildren();
    const request = { name: name.input.value.trim(), role: role.input.value };
    const tagList = tags.input.value.split(/\s+/).filter(Boolean);
    if (tagList.length) request.tags = tagList;
    if (expires.input.value) request.expires_at = new Date(expires.input.value).toISOString();
    try {
      const created = await api('POST', '/api/keys', request);
      add.reset();
      secret.replaceChildren(h('section', { class: 'card result' },
        h('h2', {}, `Key ${created.name}`),
        h('p', {}, 'Its secret, shown only now (only its hash is stored):'),
        h('p', {}, h('code', { id: 'new-secret' }, created.secret))));
      load();
    } catch (failure) {
      showError(failure, fields, formError);
    }
  });
  load();

  const element = h('section', {},
    h('h1', {}, 'API keys'),
    add,
    secret,
    h('section', { class: 'card' },
      error,
      h('div', { class: 'table-scroll' }, h('table', { id: 'keys' },
        h('thead', {}, h('tr', {}, ...['Key', 'Role', 'Limited to', 'Status', 'Last used'].map((label) => h('th', { scope: 'col' }, label)),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        body))));
  return { element, leave: () => { left = true; } };
}

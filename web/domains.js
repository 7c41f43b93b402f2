// The short domains: each with its live links and fallback pages (where its root, an unknown
// code and an expired, deleted or used-up link redirect), a form to add one, editing a domain's
// fallbacks, and removing one (refused while links use it unless they are deleted with it).
import { api, can, domains } from './api.js';
import { h, field, notify, showError } from './dom.js';

const FALLBACKS = [
  ['root_url', 'Root page (/)'],
  ['not_found_url', 'Unknown code'],
  ['expired_url', 'Expired, deleted or used-up link'],
];

/** Inputs for a domain's fallbacks, with `prefix` on their ids; `values()` gives the body part. */
function fallbackFields(prefix, domain = {}) {
  const fields = Object.fromEntries(FALLBACKS.map(([name, label]) => {
    const input = h('input', { type: 'url', placeholder: 'https://… (empty: the replica\'s own 404 / 410 page)' });
    input.value = domain[name] ?? '';
    return [name, field(`${prefix}-${name}`, label, input)];
  }));
  return {
    fields,
    elements: FALLBACKS.map(([name]) => fields[name].element),
    values: () => Object.fromEntries(FALLBACKS.map(([name]) => [name, fields[name].input.value.trim() || null])),
  };
}

export function domainsView() {
  const body = h('tbody');
  const error = h('p', { class: 'field-error', role: 'alert' });
  const editor = h('div');
  let left = false;

  async function load() {
    try {
      const all = await domains();
      if (left) return;
      error.textContent = '';
      body.replaceChildren(...all.map((domain) => row(domain)));
    } catch (failure) {
      if (!left) error.textContent = failure.message;
    }
  }

  function row(domain) {
    const edit = h('button', { type: 'button', class: 'quiet', 'aria-label': `Edit ${domain.name}` }, 'Edit');
    const remove = h('button', { type: 'button', class: 'quiet', 'aria-label': `Remove ${domain.name}` }, 'Remove');
    edit.addEventListener('click', () => openEditor(domain));
    remove.addEventListener('click', () => confirmRemoval(domain));
    const fallback = (name) => (domain[name] ? h('span', { class: 'target' }, domain[name]) : h('span', { class: 'help' }, 'own page'));
    return h('tr', { 'data-domain': domain.name },
      h('td', {}, h('strong', {}, domain.name), domain.default ? ' (default)' : ''),
      h('td', { class: 'number' }, String(domain.links)),
      ...FALLBACKS.map(([name]) => h('td', {}, fallback(name))),
      h('td', {}, can('domains:manage') ? h('span', { class: 'toolbar' }, edit, domain.default ? null : remove) : null));
  }

  function openEditor(domain) {
    const fallbacks = fallbackFields('domain-edit', domain);
    const formError = h('p', { class: 'field-error', role: 'alert' });
    const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel');
    const form = h('form', { class: 'card', novalidate: true, id: 'domain-edit' },
      h('h2', {}, `Fallback pages of ${domain.name}`),
      ...fallbacks.elements, formError,
      h('p', { class: 'actions' }, h('button', { type: 'submit' }, 'Save'), ' ', cancel));
    cancel.addEventListener('click', () => editor.replaceChildren());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      for (const each of Object.values(fallbacks.fields)) each.clear();
      formError.textContent = '';
      try {
        await api('PATCH', `/api/domains/${encodeURIComponent(domain.name)}`, fallbacks.values());
        notify(`Saved ${domain.name}`);
        editor.replaceChildren();
        load();
      } catch (failure) {
        showError(failure, fallbacks.fields, formError);
      }
    });
    editor.replaceChildren(form);
    form.querySelector('input').focus();
  }

  function confirmRemoval(domain) {
    const cascade = h('input', { type: 'checkbox', id: 'remove-cascade' });
    const confirm = h('button', { type: 'button', class: 'danger', id: 'confirm-remove' }, 'Remove');
    const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel');
    const problem = h('p', { class: 'field-error', role: 'alert' });
    const dialog = h('dialog', { 'aria-labelledby': 'remove-title' },
      h('h2', { id: 'remove-title' }, `Remove ${domain.name}?`),
      h('p', {}, 'Replicas stop serving it. Its codes are never issued again on that name.'),
      domain.links > 0
        ? h('label', { for: 'remove-cascade', class: 'check' }, cascade, ` Also delete its ${domain.links} live links`)
        : null,
      problem,
      h('p', { class: 'actions' }, cancel, ' ', confirm));
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => dialog.remove());
    confirm.addEventListener('click', async () => {
      problem.textContent = '';
      try {
        await api('DELETE', `/api/domains/${encodeURIComponent(domain.name)}${cascade.checked ? '?cascade=true' : ''}`);
        dialog.close();
        notify(`Removed ${domain.name}`);
        load();
      } catch (failure) {
        problem.textContent = failure.code === 'domain_in_use'
          ? `${failure.message}. Tick the box to delete them with it.` : failure.message;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  const name = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'go.example.com' });
  const nameField = field('domain-add-name', 'Host name', name, 'Point its DNS at the replicas first; Unicode names are stored IDNA-encoded.');
  const fallbacks = fallbackFields('domain-add');
  const fields = { name: nameField, ...fallbacks.fields };
  const formError = h('p', { class: 'field-error', role: 'alert' });
  const add = h('form', { class: 'card', novalidate: true, id: 'domain-add' },
    h('h2', {}, 'Add a domain'), nameField.element, ...fallbacks.elements, formError,
    h('button', { type: 'submit' }, 'Add domain'));
  add.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const each of Object.values(fields)) each.clear();
    formError.textContent = '';
    try {
      const added = await api('POST', '/api/domains', { name: name.value.trim(), ...fallbacks.values() });
      notify(`Added ${added.name}`);
      add.reset();
      load();
    } catch (failure) {
      showError(failure, fields, formError);
    }
  });
  load();

  const element = h('section', {},
    h('h1', {}, 'Domains'),
    h('section', { class: 'card' },
      h('p', { class: 'help' }, 'Every replica serves each domain\'s links to requests whose Host names it.'),
      error,
      h('div', { class: 'table-scroll' }, h('table', { id: 'domains' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Domain'), h('th', { scope: 'col', class: 'number' }, 'Links'),
          ...FALLBACKS.map(([, label]) => h('th', { scope: 'col' }, label)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        body))),
    editor,
    can('domains:manage') ? add : null);
  return { element, leave: () => { left = true; } };
}

// Editing a link on its page: every field the API lets an edit change, sent as a PATCH of the
// fields that changed, with `If-Match` naming the revision the form was opened on. When someone
// else saved in between (412), the form keeps the user's changes, shows what the other edit
// changed, and offers to save over it or to start again from the current link.
import { api, query, domains } from './api.js';
import { h, field, notify, localDateTimeValue } from './dom.js';
import { routingEditor, canonicalJSON } from './rules.js';

const UTM = ['source', 'medium', 'campaign', 'term', 'content'];
const REDIRECT_TYPES = [
  [302, '302 Found (default: every click is seen)'],
  [301, '301 Moved permanently (browsers may cache it)'],
  [307, '307 Temporary redirect'],
  [308, '308 Permanent redirect'],
];

/** What the form shows of `link`, as the inputs hold it. */
function formValues(link) {
  const values = {
    url: link.url,
    title: link.title ?? '',
    notes: link.notes ?? '',
    tags: link.tags.join(' '),
    expires_at: localDateTimeValue(link.expires_at),
    max_clicks: link.max_clicks == null ? '' : String(link.max_clicks),
    redirect_type: String(link.redirect_type),
    forward_query: link.forward_query,
    crawlable: link.crawlable,
    domain: link.domain,
  };
  for (const name of UTM) values[`utm_${name}`] = link.utm[name] ?? '';
  return values;
}

const LABELS = {
  url: 'Target URL', title: 'Title', notes: 'Notes', tags: 'Tags', expires_at: 'Expires', max_clicks: 'Max clicks',
  redirect_type: 'Redirect type', forward_query: 'Forward the query', crawlable: 'Crawlable', domain: 'Domain',
};
for (const name of UTM) LABELS[`utm_${name}`] = `utm_${name}`;

/**
 * The edit form of `link` (`path` and `domain` name it in the API). `onSaved(link)` gets the
 * link after a save; `onClose()` is called on cancel.
 */
export function editForm(link, { path, domain, onSaved, onClose }) {
  let base = link;
  const inputs = {
    url: h('input', { type: 'url', required: true, maxlength: '2048' }),
    title: h('input', { type: 'text', maxlength: '512' }),
    notes: h('textarea', { rows: '3', maxlength: '4096' }),
    tags: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' }),
    expires_at: h('input', { type: 'datetime-local' }),
    max_clicks: h('input', { type: 'number', min: '1', step: '1', inputmode: 'numeric' }),
    redirect_type: h('select', {}, REDIRECT_TYPES.map(([code, label]) => h('option', { value: String(code) }, label))),
    forward_query: h('input', { type: 'checkbox' }),
    crawlable: h('input', { type: 'checkbox' }),
    domain: h('select', {}, h('option', { value: link.domain }, link.domain)),
    password: h('input', { type: 'password', autocomplete: 'new-password', maxlength: '128' }),
    remove_password: h('input', { type: 'checkbox' }),
  };
  for (const name of UTM) inputs[`utm_${name}`] = h('input', { type: 'text', maxlength: '200', autocomplete: 'off' });
  for (const [name, input] of Object.entries(inputs)) input.id = `edit-${name}`;
  const help = {
    tags: 'Separated by spaces: a-z, 0-9, - and _.',
    expires_at: 'Your local time; empty: never.',
    max_clicks: 'Empty: no limit.',
    forward_query: null,
    crawlable: null,
    domain: 'Moving it keeps its clicks; the old short URL stops working and its code stays taken there.',
    password: link.password_protected
      ? 'Visitors give a password now. A new one replaces it; empty keeps it.'
      : 'Optional, 6-128 characters: visitors must give it before they are sent on.',
    remove_password: null,
  };
  const fields = Object.fromEntries(Object.entries(inputs).map(([name, input]) =>
    [name, field(`edit-${name}`, name === 'forward_query'
      ? 'Forward the visitor\'s query string to the target'
      : name === 'crawlable' ? 'Let search engines follow it (robots.txt, no noindex)'
        : name === 'remove_password' ? 'Remove the password' : LABELS[name], input, help[name])]));
  const routing = routingEditor(link, () => inputs.url.value.trim());
  const formError = h('p', { class: 'field-error', role: 'alert', id: 'edit-error' });
  const conflict = h('div', { class: 'conflict', id: 'edit-conflict', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', id: 'edit-save' }, 'Save');
  const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel');
  const form = h('form', { class: 'edit', novalidate: true, id: 'edit-form' },
    h('h2', {}, 'Edit link'),
    conflict,
    fields.url.element, fields.domain.element, fields.title.element, fields.notes.element, fields.tags.element,
    h('div', { class: 'row' }, fields.expires_at.element, fields.max_clicks.element),
    fields.redirect_type.element, fields.forward_query.element, fields.crawlable.element,
    h('fieldset', {}, h('legend', {}, 'Campaign parameters added to the target (unless the visitor sets them)'),
      h('div', { class: 'row' }, UTM.map((name) => fields[`utm_${name}`].element))),
    routing.element,
    h('fieldset', {}, h('legend', {}, 'Password'), fields.password.element,
      link.password_protected ? fields.remove_password.element : null),
    formError,
    h('p', { class: 'actions' }, save, ' ', cancel));

  function fill(values) {
    for (const [name, input] of Object.entries(inputs)) {
      if (!(name in values)) continue;
      if (input.type === 'checkbox') input.checked = values[name];
      else input.value = values[name];
    }
  }
  fill(formValues(link));
  // The domain picker shows when there is another domain to move to.
  fields.domain.element.hidden = true;
  domains().then((all) => {
    if (all.length < 2) return;
    inputs.domain.replaceChildren(...all.map((each) => h('option', { value: each.name }, each.name)));
    inputs.domain.value = base.domain;
    fields.domain.element.hidden = false;
  }).catch(() => {});
  cancel.addEventListener('click', () => onClose());

  /** The edit's body: the fields whose input differs from `from`, or a problem on a field. */
  function changes(from) {
    const before = formValues(from);
    const body = {};
    const value = (name) => (inputs[name].type === 'checkbox' ? inputs[name].checked : inputs[name].value.trim());
    const changed = (name) => value(name) !== (typeof before[name] === 'string' ? before[name].trim() : before[name]);
    if (changed('url')) body.url = value('url');
    if (changed('title')) body.title = value('title') || null;
    if (changed('notes')) body.notes = value('notes') || null;
    if (changed('tags')) body.tags = value('tags').split(/[\s,]+/).filter(Boolean).map((tag) => tag.toLowerCase());
    if (changed('expires_at')) {
      if (!value('expires_at')) body.expires_at = null;
      else {
        const expiry = new Date(value('expires_at'));
        if (Number.isNaN(expiry.getTime())) return { problem: ['expires_at', 'Enter a date and time.'] };
        body.expires_at = expiry.toISOString();
      }
    }
    if (changed('max_clicks')) {
      const text = value('max_clicks');
      if (text && !/^\d+$/.test(text)) return { problem: ['max_clicks', 'Enter a whole number.'] };
      body.max_clicks = text ? Number(text) : null;
    }
    if (changed('redirect_type')) body.redirect_type = Number(value('redirect_type'));
    if (changed('forward_query')) body.forward_query = value('forward_query');
    if (changed('crawlable')) body.crawlable = value('crawlable');
    if (changed('domain')) body.domain = value('domain');
    if (UTM.some((name) => changed(`utm_${name}`))) {
      body.utm = {};
      for (const name of UTM) if (value(`utm_${name}`)) body.utm[name] = value(`utm_${name}`);
    }
    const { rules, split } = routing.value();
    if (canonicalJSON(rules) !== canonicalJSON(from.rules)) body.rules = rules;
    if (canonicalJSON(split) !== canonicalJSON(from.split)) body.split = split;
    if (inputs.remove_password.checked) body.password = null;
    else if (inputs.password.value) body.password = inputs.password.value;
    return { body };
  }

  function clearErrors() {
    for (const each of Object.values(fields)) each.clear();
    formError.textContent = '';
  }

  function showError(failure) {
    const name = failure.field === 'utm' ? 'utm_source' : failure.field;
    if (name && fields[name]) fields[name].showError(failure.message);
    else formError.textContent = failure.field ? `${failure.field}: ${failure.message}` : failure.message;
  }

  /** Shows what the other edit changed, between the revision the form began on and `current`. */
  function showConflict(current) {
    const before = formValues(base);
    const after = formValues(current);
    const differences = Object.keys(after).filter((name) => before[name] !== after[name]);
    const overwrite = h('button', { type: 'button', id: 'edit-overwrite' }, 'Save mine over theirs');
    const restart = h('button', { type: 'button', class: 'quiet', id: 'edit-restart' }, 'Discard mine and start from theirs');
    conflict.replaceChildren(
      h('p', {}, h('strong', {}, 'Someone else saved this link while you were editing it'),
        ` (revision ${base.revision} → ${current.revision}). Your changes are still in the form.`),
      differences.length
        ? h('ul', {}, differences.map((name) => h('li', {}, `${LABELS[name]}: now “${String(after[name])}”`)))
        : h('p', {}, 'Their edit changed no field this form shows.'),
      h('p', { class: 'actions' }, overwrite, ' ', restart));
    conflict.hidden = false;
    overwrite.addEventListener('click', () => submit(current.revision));
    restart.addEventListener('click', () => {
      base = current;
      conflict.hidden = true;
      fill(formValues(current));
      clearErrors();
      inputs.url.focus();
    });
    conflict.querySelector('button').focus();
  }

  /**
   * Saves the fields the user changed since the form began, if the link is still at
   * `revision` (after a conflict, the other edit's: the user's fields win, theirs stay).
   */
  async function submit(revision) {
    clearErrors();
    const { body, problem } = changes(base);
    if (problem) return fields[problem[0]].showError(problem[1]);
    if (!Object.keys(body).length) {
      formError.textContent = 'Nothing changed.';
      return;
    }
    save.disabled = true;
    try {
      const saved = await api('PATCH', `${path}${query({ domain })}`, body,
        { headers: { 'If-Match': `"${revision}"` } });
      conflict.hidden = true;
      notify(`Saved ${saved.code} (revision ${saved.revision})`);
      onSaved(saved);
    } catch (failure) {
      if (failure.status === 412) {
        try {
          const current = await api('GET', `${path}${query({ domain })}`);
          showConflict(current);
        } catch (reading) {
          formError.textContent = reading.message;
        }
      } else {
        showError(failure);
      }
    } finally {
      save.disabled = false;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit(base.revision);
  });
  return form;
}

// A link's redirect rules and A/B split, edited as rows: each rule has conditions (a kind and
// its values, separated by commas) and a target (a URL or a split between weighted URLs); the
// link's own target may be split too. A preview asks the master where a described visitor would
// go through the rules as they stand in the form, decided by the code the replicas run.
import { api } from './api.js';
import { h, localDateTimeValue } from './dom.js';

const KINDS = [
  ['device', 'Device', 'mobile, tablet, desktop or bot'],
  ['os', 'Operating system', 'ios, android, windows, macos, chromeos, linux'],
  ['browser', 'Browser', 'chrome, safari, firefox, edge, opera, samsung internet'],
  ['language', 'Language', 'en, de, pt-BR (en also takes en-GB)'],
  ['country', 'Country', 'DE, AT, CH'],
  ['query', 'Query parameter', 'promo, or ref=newsletter'],
  ['ip', 'IP address or network', '203.0.113.0/24, 2001:db8::/32'],
  ['after', 'From', ''],
  ['before', 'Until', ''],
];
const TIMES = new Set(['after', 'before']);

const DEVICES = [['desktop', 'a desktop'], ['mobile', 'a phone'], ['tablet', 'a tablet']];
const SYSTEMS = [['windows', 'Windows'], ['macos', 'macOS'], ['linux', 'Linux'], ['ios', 'iOS'], ['android', 'Android'], ['chromeos', 'ChromeOS']];

let counter = 0;
/** A fresh id for an input of the editor. */
const nextID = (prefix) => `${prefix}-${++counter}`;

/** Rows of weighted URLs: `{ element, value() }`, the value `[{url, weight}]`. */
function splitRows(split, label) {
  const rows = h('div', { class: 'split-rows' });
  const add = h('button', { type: 'button', class: 'quiet' }, 'Add a target');
  function row(target = { url: '', weight: 50 }) {
    const url = h('input', { type: 'url', class: 'split-url', value: target.url, 'aria-label': `${label}: target URL`, maxlength: '2048' });
    const weight = h('input', { type: 'number', class: 'split-weight', min: '1', max: '99', step: '1', value: String(target.weight), 'aria-label': `${label}: weight in percent` });
    const remove = h('button', { type: 'button', class: 'quiet' }, 'Remove');
    const element = h('div', { class: 'row split-row' }, url, weight, remove);
    remove.addEventListener('click', () => element.remove());
    rows.append(element);
  }
  (split?.length ? split : [{ url: '', weight: 50 }, { url: '', weight: 50 }]).forEach(row);
  add.addEventListener('click', () => row());
  return {
    element: h('div', { class: 'split' }, rows, add, h('p', { class: 'help' }, 'Weights are percent and sum to 100; a visitor keeps its variant.')),
    value: () => [...rows.querySelectorAll('.split-row')].map((element) => ({
      url: element.querySelector('.split-url').value.trim(),
      weight: Number(element.querySelector('.split-weight').value),
    })),
  };
}

/** One condition's row: a kind and its values. */
function conditionRow(kind = 'device', values = []) {
  const select = h('select', { class: 'condition-kind', 'aria-label': 'Condition' },
    KINDS.map(([value, title]) => h('option', { value }, title)));
  select.value = kind;
  const text = h('input', { type: 'text', class: 'condition-values', 'aria-label': 'Values, separated by commas', autocomplete: 'off', spellcheck: 'false' });
  const time = h('input', { type: 'datetime-local', class: 'condition-time', 'aria-label': 'Time' });
  const remove = h('button', { type: 'button', class: 'quiet' }, 'Remove');
  function show() {
    const timed = TIMES.has(select.value);
    text.hidden = timed;
    time.hidden = !timed;
    text.placeholder = KINDS.find(([value]) => value === select.value)[2];
  }
  if (TIMES.has(kind)) time.value = localDateTimeValue(values);
  else text.value = values.join(', ');
  select.addEventListener('change', show);
  show();
  const element = h('div', { class: 'row condition' }, select, text, time, remove);
  remove.addEventListener('click', () => element.remove());
  return element;
}

/** One rule's fieldset. */
function ruleBox(rule, onRemove) {
  const conditions = h('div', { class: 'conditions' });
  for (const [kind, values] of Object.entries(rule?.when ?? { device: ['mobile'] })) conditions.append(conditionRow(kind, values));
  const addCondition = h('button', { type: 'button', class: 'quiet add-condition' }, 'Add a condition');
  addCondition.addEventListener('click', () => conditions.append(conditionRow()));
  const targetID = nextID('rule-target');
  const kind = h('select', { class: 'rule-kind', 'aria-label': 'Send these visitors to' },
    h('option', { value: 'url' }, 'one URL'), h('option', { value: 'split' }, 'an A/B split'));
  kind.value = rule?.split ? 'split' : 'url';
  const url = h('input', { type: 'url', class: 'rule-url', id: targetID, value: rule?.url ?? '', maxlength: '2048', placeholder: 'https://…' });
  const split = splitRows(rule?.split, 'Rule split');
  const remove = h('button', { type: 'button', class: 'quiet' }, 'Remove this rule');
  function show() {
    url.hidden = kind.value !== 'url';
    split.element.hidden = kind.value !== 'split';
  }
  kind.addEventListener('change', show);
  show();
  const element = h('fieldset', { class: 'rule' }, h('legend', {}, 'Rule'),
    h('p', { class: 'help' }, 'When all of these hold (each lists alternatives):'), conditions, addCondition,
    h('div', { class: 'row' }, h('label', { for: targetID }, 'send the visitor to'), kind), url, split.element,
    h('p', { class: 'actions' }, remove));
  remove.addEventListener('click', () => { element.remove(); onRemove(); });
  element.ruleValue = () => {
    const when = {};
    for (const row of conditions.querySelectorAll('.condition')) {
      const name = row.querySelector('.condition-kind').value;
      if (TIMES.has(name)) {
        const value = row.querySelector('.condition-time').value;
        if (value) when[name] = new Date(value).toISOString();
      } else {
        const values = row.querySelector('.condition-values').value.split(',').map((each) => each.trim()).filter(Boolean);
        if (values.length) when[name] = [...(when[name] ?? []), ...values];
      }
    }
    return kind.value === 'url' ? { when, url: url.value.trim() } : { when, split: split.value() };
  };
  return element;
}

/**
 * The rules and split editor for `link` (or a new link when `link` is undefined), with a preview
 * that uses `targetOf()` as the link's own URL: `{ element, value(), preview }`, the value
 * `{ rules, split }` as the API takes them.
 */
export function routingEditor(link, targetOf) {
  const rules = h('div', { class: 'rules', id: 'rules' });
  const addRule = h('button', { type: 'button', id: 'add-rule' }, 'Add a rule');
  const numbered = () => rules.querySelectorAll('.rule').forEach((box, index) => {
    box.querySelector('legend').textContent = `Rule ${index + 1}`;
  });
  function add(rule) {
    rules.append(ruleBox(rule, numbered));
    numbered();
  }
  (link?.rules ?? []).forEach(add);
  addRule.addEventListener('click', () => add());
  const splitting = h('input', { type: 'checkbox', id: 'split-own' });
  splitting.checked = Boolean(link?.split);
  const own = splitRows(link?.split, 'Own split');
  own.element.hidden = !splitting.checked;
  splitting.addEventListener('change', () => { own.element.hidden = !splitting.checked; });

  const value = () => ({
    rules: [...rules.querySelectorAll('.rule')].map((box) => box.ruleValue()),
    split: splitting.checked ? own.value() : null,
  });
  const preview = previewBox(value, targetOf);
  const element = h('fieldset', { class: 'routing' }, h('legend', {}, 'Rules and A/B split'),
    h('p', { class: 'help' }, 'Tried in order on every visit; the first rule whose conditions all hold gives the target, else the link’s own.'),
    rules, addRule,
    h('label', { for: 'split-own', class: 'check' }, splitting, ' Split the link’s own target between several URLs (A/B)'),
    own.element, preview);
  return { element, value };
}

/** "A visitor on … goes to …", asked of the master for the rules as the form holds them. */
function previewBox(value, targetOf) {
  const device = h('select', { id: 'preview-device' }, DEVICES.map(([key, title]) => h('option', { value: key }, title)));
  const os = h('select', { id: 'preview-os' }, SYSTEMS.map(([key, title]) => h('option', { value: key }, title)));
  const country = h('input', { type: 'text', id: 'preview-country', maxlength: '2', placeholder: 'DE', size: '3' });
  const language = h('input', { type: 'text', id: 'preview-language', placeholder: 'de-DE, en;q=0.5' });
  const ask = h('button', { type: 'button', id: 'preview-ask' }, 'Where does this visitor go?');
  const answer = h('p', { id: 'preview-answer', 'aria-live': 'polite' });
  ask.addEventListener('click', async () => {
    const visitor = { device: device.value, os: os.value };
    if (country.value.trim()) visitor.country = country.value.trim();
    if (language.value.trim()) visitor.language = language.value.trim();
    const { rules, split } = value();
    const body = { url: targetOf(), rules, visitor };
    if (split) body.split = split;
    try {
      const result = await api('POST', '/api/routing/preview', body);
      const system = SYSTEMS.find(([key]) => key === os.value)[1];
      const place = visitor.country ? ` in ${visitor.country.toUpperCase()}` : '';
      const speaking = visitor.language ? ` speaking ${visitor.language}` : '';
      const why = result.rule === 'default' ? 'no rule holds' : `rule ${result.rule}`;
      answer.textContent = `A visitor on ${device.selectedOptions[0].textContent} with ${system}${place}${speaking} goes to `
        + `${result.target} (${why}${result.variant ? `, variant ${result.variant}` : ''}).`;
    } catch (failure) {
      answer.textContent = failure.message;
    }
  });
  return h('div', { class: 'preview' },
    h('p', {}, h('strong', {}, 'Preview')),
    h('div', { class: 'row' },
      h('label', {}, 'Device ', device), h('label', {}, 'OS ', os),
      h('label', {}, 'Country ', country), h('label', {}, 'Languages ', language)),
    ask, answer);
}

/** `value` as JSON with every object's keys sorted, so that two routings compare by content. */
export function canonicalJSON(value) {
  return JSON.stringify(value, (key, inner) => (inner && typeof inner === 'object' && !Array.isArray(inner)
    ? Object.fromEntries(Object.keys(inner).sort().map((name) => [name, inner[name]]))
    : inner));
}

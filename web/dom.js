// Small helpers to build the page: elements from a tag, attributes and children, never from
// HTML strings, so no text from the API can become markup.

/** `h('a', {href: '#/'}, 'text', child)`: an element; `on*` attributes become listeners. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else element.setAttribute(name, value === true ? '' : value);
  }
  append(element, children);
  return element;
}

/** An SVG element (`svg('rect', {x: 1})`). */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Says `text` in the live region at the bottom of the page (screen readers announce it). */
let noticeTimer;
export function notify(text) {
  const notice = document.getElementById('notice');
  notice.textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.textContent = ''; }, 5000);
}

export const numberFormat = new Intl.NumberFormat();
export const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Offers `blob` as a download named `filename`. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const anchor = h('a', { href: url, download: filename });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Shows an API error on its field among `fields` (from `field`), else in `fallback`. */
export function showError(failure, fields, fallback) {
  if (failure.field && fields[failure.field]) fields[failure.field].showError(failure.message);
  else fallback.textContent = failure.message;
}

/** A labelled form field: `{ element, input, error, showError(message), clear() }`. */
export function field(name, label, input, help) {
  const error = h('p', { id: `${name}-error`, class: 'field-error' });
  input.id ||= name;
  input.name ||= name;
  input.setAttribute('aria-describedby', help ? `${name}-help ${name}-error` : `${name}-error`);
  const element = h('div', { class: `field field-${name}` },
    input.type === 'checkbox'
      ? h('label', { for: input.id, class: 'check' }, input, ' ', label)
      : [h('label', { for: input.id }, label), input],
    help && h('p', { id: `${name}-help`, class: 'help' }, help),
    error);
  return {
    element,
    input,
    error,
    showError(message) {
      error.textContent = message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    },
    clear() {
      error.textContent = '';
      input.removeAttribute('aria-invalid');
    },
  };
}

/** `date` (an ISO instant) as a `datetime-local` input's value, in local time; '' for none. */
export function localDateTimeValue(date) {
  if (!date) return '';
  const value = new Date(date);
  const pad = (number) => String(number).padStart(2, '0');
  return `${value.getFullYear()}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}T${pad(value.getHours())}:${pad(value.getMinutes())}`;
}

// Sign in: the API key, checked against the API before it is kept in sessionStorage.
import { api, ApiError, session } from './api.js';
import { h } from './dom.js';

export function signInView(onSignedIn) {
  const error = h('p', { id: 'key-error', class: 'field-error', role: 'alert' });
  const input = h('input', {
    id: 'api-key', name: 'api-key', type: 'password', required: true, autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': 'key-help key-error',
  });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card', novalidate: true },
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { id: 'key-help', class: 'help' }, 'make run prints the key of its run; master keys create makes one.'),
    error,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    error.textContent = '';
    input.removeAttribute('aria-invalid');
    if (!key) return showError('Enter an API key.');
    button.disabled = true;
    session.signIn(key);
    try {
      session.remember(await api('GET', '/api/me', undefined, { checkingKey: true }));
      onSignedIn();
    } catch (failure) {
      session.signOut();
      showError(failure instanceof ApiError && failure.status === 401
        ? 'This key is not valid.' : failure.message);
    } finally {
      button.disabled = false;
    }
  });
  function showError(text) {
    error.textContent = text;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
  return h('section', { class: 'narrow' }, h('h1', {}, 'Sign in'), form);
}

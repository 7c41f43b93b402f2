// The web app: sign in with an API key, create, list, export and bulk-create links, a page per
// link with live clicks, analytics, its QR code and its edit form, the short domains, and (for
// admins) the API keys. Views by the URL's fragment: `#/`, `#/bulk`, `#/domains`, `#/keys`, and
// `#/links/<code>` or `#/links/<domain>/<code>` for a link on another short domain than the
// default one. Controls the key's role does not allow are not offered.
import { api, can, session } from './api.js';
import { signInView } from './sign-in.js';
import { linksView } from './links.js';
import { linkView } from './link-page.js';
import { bulkView } from './bulk.js';
import { domainsView } from './domains.js';
import { keysView } from './keys.js';

const view = document.getElementById('view');
const signOut = document.getElementById('sign-out');
const nav = document.getElementById('nav');

/** The view of a fragment that names no link. */
const VIEWS = { '#/bulk': bulkView, '#/domains': domainsView, '#/keys': keysView };
/** The right each view's link in the navigation needs. */
const NAV_RIGHTS = { '#/bulk': 'links:create', '#/keys': 'keys:manage' };
/** Stops the current view's timers when another one takes its place. */
let leaveView = () => {};

function route() {
  leaveView();
  leaveView = () => {};
  signOut.hidden = !session.key;
  nav.hidden = !session.key;
  for (const link of nav.querySelectorAll('a')) {
    const right = NAV_RIGHTS[link.getAttribute('href')];
    link.hidden = right !== undefined && !can(right);
  }
  let content;
  if (!session.key) {
    content = signInView(route);
  } else {
    const match = /^#\/links\/(?:([a-z0-9.-]{1,253})\/)?([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
    const page = match ? linkView(match[2], match[1]) : (VIEWS[location.hash] ?? linksView)();
    for (const link of nav.querySelectorAll('a')) {
      if (link.getAttribute('href') === (VIEWS[location.hash] ? location.hash : '#/')) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    content = page.element;
    leaveView = page.leave;
  }
  view.replaceChildren(content);
  const heading = view.querySelector('h1');
  if (heading) document.title = `${heading.textContent} · Shortener`;
  view.focus({ preventScroll: true });
}

signOut.addEventListener('click', () => {
  session.signOut();
  location.hash = '#/';
  route();
});
window.addEventListener('hashchange', route);
// A key rejected by the API (401) signs out; show the sign-in form at once.
window.addEventListener('shortener:signed-out', route);
// A session from before the app asked what its key may do asks now.
if (session.key && !session.me) {
  api('GET', '/api/me').then((me) => session.remember(me)).catch(() => {}).finally(route);
} else {
  route();
}

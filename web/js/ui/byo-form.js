// byo-form: "Bring your own SIP account": registers an account the user types in.
//
// The password goes to the server in the register request and, only if "Remember on this
// device" is ticked, into localStorage (byo-store.js). Otherwise the form clears it once sent.

import { byId } from './dom.js';

// Accepts "alice@example.com" as well as "sip:alice@example.com"; returns null when it is not
// a SIP address at all.
export function normaliseSipUri(text) {
  let t = text.trim();
  if (t === '') return null;
  if (!/^sips?:/i.test(t)) t = `sip:${t}`;
  t = t.replace(/^sips?:/i, (s) => s.toLowerCase());
  return /^sips?:[^@\s:;]+(:[^@\s]*)?@[^\s@;]+(;[^\s]*)?$/.test(t) ? t : null;
}

export function normaliseProxy(text) {
  const t = text.trim();
  if (t === '') return '';
  const withScheme = /^sips?:/i.test(t) ? t : `sip:${t}`;
  return /^sips?:[^\s@]+$/.test(withScheme) ? withScheme : null;
}

export function mountByoForm(accounts) {
  const form = byId('byo-form');
  const uri = byId('byo-uri');
  const username = byId('byo-username');
  const password = byId('byo-password');
  const proxy = byId('byo-proxy');
  const transport = byId('byo-transport');
  const remember = byId('byo-remember');
  const error = byId('byo-error');
  const submit = byId('byo-submit');

  function showError(text, field = null) {
    error.textContent = text;
    error.hidden = text === '';
    for (const input of [uri, username, password, proxy]) input.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const parsedUri = normaliseSipUri(uri.value);
    if (!parsedUri) return showError('Enter a SIP address like sip:alice@sip.example.com.', uri);
    if (password.value === '') return showError('Enter the password.', password);
    const parsedProxy = normaliseProxy(proxy.value);
    if (parsedProxy === null) return showError('Enter the proxy as a host name, like sip.example.com, or leave it empty.', proxy);
    showError('');
    // An empty username means the common case: the same as the address's user part.
    const authUser = username.value.trim() || parsedUri.replace(/^sips?:/, '').split('@')[0];
    const params = { uri: parsedUri, username: authUser, password: password.value };
    if (parsedProxy) params.proxy = parsedProxy;
    if (transport.value) params.transport = transport.value;
    submit.disabled = true;
    try {
      await accounts.addByo(params, remember.checked);
      form.reset();
    } catch (err) {
      showError(err.message);
    } finally {
      submit.disabled = false;
    }
  });

  // Re-registering a BYO account whose password was not remembered: bring its details back
  // into the form and let the user type the password.
  accounts.addEventListener('needpassword', (ev) => {
    const { params, remembered } = ev.detail.account;
    uri.value = params.uri;
    username.value = params.username || '';
    proxy.value = params.proxy || '';
    transport.value = params.transport || '';
    remember.checked = Boolean(remembered);
    password.value = '';
    showError('');
    password.focus();
  });
}

// login-form: asks for the web user and password, only when the server wants a login.

import { byId } from './dom.js';

const REASONS = {
  wrong_credentials: 'Wrong user name or password.',
  unreachable: 'Cannot reach the server. tabphone keeps trying: sign in again once the status says Connected.',
  timeout: 'The server did not answer. Try again.',
};

export function loginErrorWords(err) {
  if (!err) return '';
  return REASONS[err.reason] || `Could not sign in: ${err.message}`;
}

export function mountLoginForm(session) {
  const form = byId('login-form');
  const user = byId('login-user');
  const password = byId('login-password');
  const error = byId('login-error');
  const submit = byId('login-submit');

  function showError(text, field = null) {
    error.textContent = text;
    error.hidden = text === '';
    for (const input of [user, password]) input.removeAttribute('aria-invalid');
    if (field) field.setAttribute('aria-invalid', 'true');
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (user.value.trim() === '') return focusWith(user, 'Enter your user name.');
    if (password.value === '') return focusWith(password, 'Enter your password.');
    showError('');
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await session.login(user.value.trim(), password.value);
      password.value = '';
    } catch (err) {
      showError(loginErrorWords(err), err.reason === 'wrong_credentials' ? password : null);
      if (err.reason === 'wrong_credentials') password.select();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });

  function focusWith(field, text) {
    showError(text, field);
    field.focus();
  }

  // A failed automatic re-login (password changed on the server) arrives as a phase change.
  session.addEventListener('phase', (ev) => {
    if (ev.detail.phase === 'login' && ev.detail.error) showError(loginErrorWords(ev.detail.error));
  });

  return {
    focus() {
      (user.value ? password : user).focus();
    },
  };
}

// notify: a desktop notification for a call ringing while the tab is hidden (another tab in
// front, the window minimised), so a call is not missed just because the dialer is out of
// sight. Browsers only grant the permission from a user gesture, so it is asked for on the
// first click anywhere in the page, once; a refusal is respected and never asked again.
// Clicking the notification brings the tab forward; it closes itself when the call stops ringing.

let shown = null;

export function askForNotificationsOnFirstClick() {
  if (!('Notification' in window) || Notification.permission !== 'default') return;
  document.addEventListener('click', () => {
    if (Notification.permission === 'default') Notification.requestPermission().catch(() => {});
  }, { once: true });
}

export function notifyIncomingCall(callerName) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  if (!document.hidden) return;
  closeIncomingCallNotification();
  shown = new Notification('Incoming call', {
    body: callerName || 'Unknown caller',
    tag: 'tabphone-incoming',
    requireInteraction: true,
  });
  shown.onclick = () => {
    window.focus();
    closeIncomingCallNotification();
  };
}

export function closeIncomingCallNotification() {
  if (shown) shown.close();
  shown = null;
}

// title: the tab's title, which two things write: the call state ("Ringing… · tabphone") and
// the missed-call count ("(2) tabphone"). Each sets its part here, so neither overwrites the
// other.

const base = document.title;
let callPart = '';
let missed = 0;

function render() {
  const count = missed > 0 ? `(${missed}) ` : '';
  document.title = `${count}${callPart ? `${callPart} · ` : ''}${base}`;
}

export function setCallTitle(text) {
  callPart = text || '';
  render();
}

export function setMissedTitle(count) {
  missed = count;
  render();
}

// dom: the few DOM helpers the UI modules share.
// Elements are built with properties and text nodes, never innerHTML, so names and reasons
// that come from a SIP provider can never become markup.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name.startsWith('aria-') || name === 'role' || name === 'for') node.setAttribute(name, value === true ? 'true' : value);
    else node[name] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html lacks #${id}`);
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

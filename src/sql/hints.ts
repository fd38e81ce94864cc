/** Routing hints carried in a `/* dbmesh:... *\/` comment. Unknown hint text is ignored. */

export type RouteHint =
  | { readonly target: 'primary' }
  | { readonly target: 'replica' }
  | { readonly target: 'backend'; readonly id: string };

const PRIMARY: RouteHint = Object.freeze({ target: 'primary' });
const REPLICA: RouteHint = Object.freeze({ target: 'replica' });
const BACKEND_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** `body` is the comment text after `dbmesh:`, trimmed. */
export function parseHint(body: string | null): RouteHint | null {
  if (body === null) return null;
  if (body === 'primary') return PRIMARY;
  if (body === 'replica') return REPLICA;
  if (body.startsWith('backend=')) {
    const id = body.slice(8);
    if (BACKEND_ID_RE.test(id)) return { target: 'backend', id };
  }
  return null;
}

// Safe HTML building: a tagged template that escapes every interpolated value unless it is already SafeHtml.

// A class with a private field so that a plain string (or a lookalike object) can never pass for SafeHtml,
// and the constructor stays private to this module: the only ways in are `html` and `raw`.
class SafeHtmlFragment {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  toString(): string {
    return this.#value;
  }
}

export type SafeHtml = SafeHtmlFragment;

export type HtmlValue = SafeHtml | string | number | bigint | null | undefined | readonly HtmlValue[];

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for use in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (ch) => ESCAPES[ch] ?? ch);
}

function render(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof SafeHtmlFragment) return value.toString();
  if (typeof value === 'string') return escapeHtml(value);
  if (typeof value === 'number' || typeof value === 'bigint') return escapeHtml(String(value));
  if (Array.isArray(value)) return value.map(render).join('');
  // Booleans and objects usually mean a template bug (`cond && html\`…\``, a forgotten field); fail loudly
  // rather than printing "false" or "[object Object]" into a buyer's page.
  throw new TypeError(`html: cannot interpolate a value of type ${typeof value}`);
}

/** Tagged template: literal parts are trusted markup, every `${value}` is escaped (or kept if SafeHtml). */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + (strings[i + 1] ?? '');
  }
  return new SafeHtmlFragment(out);
}

/** Marks a trusted constant as markup. Never pass data that came from a request, Amazon, or the store. */
export function raw(trusted: string): SafeHtml {
  return new SafeHtmlFragment(trusted);
}

export function isSafeHtml(value: unknown): value is SafeHtml {
  return value instanceof SafeHtmlFragment;
}

/**
 * Returns the URL if it is safe for an href/src/action: http(s) absolute URLs and same-site relative
 * references. Escaping alone does not stop `javascript:` URLs, so anything else becomes `#`.
 */
export function safeUrl(url: string): string {
  const trimmed = url.trim();
  if (trimmed === '') return '#';
  // Protocol-relative (`//host`) and backslash tricks (`/\host`) leave the site; refuse them.
  if (/^[/\\]{2}/.test(trimmed)) return '#';
  if (/^[/?#.]/.test(trimmed)) return trimmed;
  try {
    const parsed = new URL(trimmed);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? trimmed : '#';
  } catch {
    // No scheme and not parseable on its own: a relative path like `checkout?x=1`, unless a scheme hides in it.
    return /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? '#' : trimmed;
  }
}

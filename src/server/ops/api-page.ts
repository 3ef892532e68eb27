/**
 * The OpenAPI document as a page a person reads (`/api/docs`): rendered on the hub into
 * plain HTML, with no script at all and nothing loaded from elsewhere, so it works offline
 * and under a Content-Security-Policy that allows only its own style sheet.
 */
import { createHash } from 'node:crypto';

type Json = Record<string, unknown>;

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.05rem;margin:0;font-family:ui-monospace,monospace}
section{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.2rem;font-weight:700}.get{color:#05668d}.post{color:#2a7d2e}
.put{color:#9a6700}.delete{color:#b42318}.who{color:#555;font-size:.9rem}
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #e3e3e3;padding:.2rem .5rem;text-align:left;vertical-align:top}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:.82rem;max-height:24rem}
code{font-family:ui-monospace,monospace}details{margin:.3rem 0}`;

/** The Content-Security-Policy the page is served with: its one style block, nothing else. */
export const API_PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const escape = (text: unknown) =>
  String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** The rules of a parameter's schema in a few words: type, bounds, pattern. */
function rules(schema: Json): string {
  const parts: string[] = [String(schema.type ?? 'any')];
  for (const key of ['minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'const'])
    if (schema[key] !== undefined) parts.push(`${key} ${JSON.stringify(schema[key])}`);
  return parts.join(', ');
}

/** The page for `document` (an OpenAPI 3.1 document from openApiDocument). */
export function apiPage(document: Json): string {
  const info = document.info as { title: string; version: string; description: string };
  const paths = document.paths as Record<string, Record<string, Json>>;
  const sections: string[] = [];
  for (const [path, operations] of Object.entries(paths))
    for (const [method, op] of Object.entries(operations)) {
      const parameters = (op.parameters as Json[]) ?? [];
      // (Integer-like keys come first in an object: sorted, 2XX reads before 401.)
      const responses = Object.keys(op.responses as Json).sort();
      const body = (op.requestBody as { content: Record<string, { schema: unknown }> } | undefined)
        ?.content;
      sections.push(`<section id="${escape(op.operationId)}">
<h2><span class="m ${escape(method)}">${escape(method.toUpperCase())}</span>${escape(path)}${op['x-tandem-websocket'] ? ' (WebSocket)' : ''}</h2>
<p>${escape(op.summary)}</p>
<p class="who">Who may call it: <code>${escape(op['x-tandem-access'])}</code></p>
${
  parameters.length > 0
    ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>rules</th></tr>${parameters
        .map(
          (p) =>
            `<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${escape(rules(p.schema as Json))}</code></td></tr>`,
        )
        .join('')}</table>`
    : ''
}
${
  body
    ? Object.entries(body)
        .map(
          ([type, content]) =>
            `<details><summary>body: <code>${escape(type)}</code></summary><pre>${escape(JSON.stringify(content.schema, null, 2))}</pre></details>`,
        )
        .join('\n')
    : ''
}
<p class="who">Answers: ${responses.map((r) => `<code>${escape(r)}</code>`).join(' ')}</p>
</section>`);
    }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(info.title)}</title><style>${STYLE}</style></head>
<body><h1>${escape(info.title)} <small>v${escape(info.version)}</small></h1>
<p>${escape(info.description)}</p>
<p>The same description as an OpenAPI 3.1 document: <a href="/api/v1/openapi.json"><code>/api/v1/openapi.json</code></a>.</p>
${sections.join('\n')}
</body></html>
`;
}

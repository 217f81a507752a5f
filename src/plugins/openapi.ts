// OpenAPI for the JSON routes, generated from their zod schemas: /docs/json (the document) and /docs (readable).
import swagger from '@fastify/swagger';
import { jsonSchemaTransform } from '@fastify/type-provider-zod';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { html, type SafeHtml } from '../views/html.ts';
import { STYLESHEET_URL } from '../views/layout.ts';

export const DOCS_PATH = '/docs';
export const DOCS_JSON_PATH = '/docs/json';
/** The version of the JSON contract (DESIGN §3), not of the software: the docs reveal no build details. */
export const API_VERSION = '1.0.0';

export const API_TAGS = [
  { name: 'checkout', description: 'The merchant frontend: button configuration, completion and status.' },
  { name: 'operations', description: 'Probes for orchestrators and load balancers.' },
] as const;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

// The few fields of the generated document the page shows; the document itself stays as @fastify/swagger built it.
interface DocParameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: { pattern?: string; type?: string };
}
interface DocOperation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: DocParameter[];
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, { description?: string }>;
}
interface DocDocument {
  info: { title: string; version: string; description?: string };
  paths?: Record<string, Partial<Record<(typeof METHODS)[number], DocOperation>> | undefined>;
}

/** The document's texts mark code with backticks (as Markdown does): shown as <code>, everything escaped. */
function text(value: string | undefined): SafeHtml[] {
  return (value ?? '')
    .split('`')
    .map((part, i) => (i % 2 === 1 ? html`<code>${part}</code>` : html`${part}`));
}

function renderOperation(method: string, path: string, op: DocOperation): SafeHtml {
  const params = (op.parameters ?? []).map(
    (p) =>
      html`<div class="details__row"><dt><code>${p.name}</code> (${p.in}${p.required ? ', required' : ''})</dt><dd>${text(p.description)}${
        p.schema?.pattern ? html` <span class="muted">pattern <code>${p.schema.pattern}</code></span>` : null
      }</dd></div>`,
  );
  const bodyTypes = Object.keys(op.requestBody?.content ?? {});
  const responses = Object.entries(op.responses ?? {}).map(
    ([status, response]) =>
      html`<div class="details__row"><dt>${status}</dt><dd>${text(response.description)}</dd></div>`,
  );
  return html`<section class="card">
<h2 class="card__title"><code>${method.toUpperCase()} ${path}</code></h2>
${op.summary ? html`<p>${text(op.summary)}</p>` : null}
${op.description ? html`<p class="muted">${text(op.description)}</p>` : null}
${params.length > 0 ? html`<h3>Parameters</h3><dl class="details">${params}</dl>` : null}
${bodyTypes.length > 0 ? html`<h3>Request body</h3><p><code>${bodyTypes.join(', ')}</code></p>` : null}
<h3>Responses</h3>
<dl class="details">${responses}</dl>
</section>`;
}

/** A readable page from the generated document: same source, so it never drifts from /docs/json. */
export function renderDocsPage(document: DocDocument): string {
  const operations: SafeHtml[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (op) operations.push(renderOperation(method, path, op));
    }
  }
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${document.info.title} — API reference</title>
<link rel="stylesheet" href="${STYLESHEET_URL}">
</head>
<body class="page">
<main id="main" class="container site-main">
<h1 class="page-title">${document.info.title}</h1>
<p>API version ${document.info.version}. ${text(document.info.description)}</p>
<p>The machine-readable OpenAPI document: <a href="${DOCS_JSON_PATH}"><code>${DOCS_JSON_PATH}</code></a>.</p>
${operations}
</main>
</body>
</html>
`;
  return page.toString();
}

async function openapiPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Amazon Pay checkout-return service',
        version: API_VERSION,
        description:
          'JSON routes for the merchant frontend. Errors are `{ "error": { "code", "message" } }`; every response carries `x-request-id`. POST bodies must be `application/json` and same-origin.',
      },
      servers: [{ url: app.checkout.settings.publicBaseUrl }],
      tags: [...API_TAGS],
    },
    // Only routes that declare a tag are documented: the pages, assets, metrics and these docs stay out.
    hideUntagged: true,
    transform: jsonSchemaTransform,
  });

  app.get(DOCS_JSON_PATH, async (_request, reply) =>
    reply.header('cache-control', 'no-cache').send(app.swagger()),
  );

  app.get(DOCS_PATH, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(renderDocsPage(app.swagger() as unknown as DocDocument)),
  );
}

export default fp(openapiPlugin, { name: 'openapi', dependencies: ['checkout-services'] });

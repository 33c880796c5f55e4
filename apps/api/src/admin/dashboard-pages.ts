import { DASHBOARD_PATH, LOGIN_PATH, LOGOUT_PATH } from './dashboard-http';

/** Text safe inside HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #151a21; color: #d8dee9; margin: 0; }
  main { max-width: 34rem; margin: 12vh auto; padding: 2rem; background: #1e252e; border-radius: 8px; }
  h1 { font-size: 1.3rem; margin-top: 0; }
  p { line-height: 1.45; }
  .message { padding: .6rem .8rem; border-radius: 4px; background: #4c2a2a; color: #ffd7d7; }
  textarea { width: 100%; box-sizing: border-box; min-height: 7rem; font-family: monospace; font-size: .8rem; }
  button { margin-top: .8rem; padding: .45rem 1.1rem; font-size: 1rem; cursor: pointer; }
  code { background: #2b333e; padding: 0 .25rem; border-radius: 3px; }
`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function message(text: string | undefined): string {
  return text ? `<p class="message" role="alert" id="message">${escapeHtml(text)}</p>\n` : '';
}

/**
 * The login form: the operator pastes a JWT (it is POSTed, never put in a URL) and gets an HttpOnly
 * session cookie for the dashboard's paths.
 */
export function loginPage(problem?: string): string {
  return page(
    'IPM queue dashboard: log in',
    `<h1>IPM queue dashboard</h1>
${message(problem)}<p>Paste a JWT whose <code>permissions</code> include <code>operate_queues</code>.
API keys are not accepted here.</p>
<form method="post" action="${LOGIN_PATH}" id="login">
<label for="token">JWT</label>
<textarea id="token" name="token" required autocomplete="off" spellcheck="false"></textarea>
<button type="submit">Log in</button>
</form>`,
  );
}

/** A valid credential without the operator permission: say so, and offer to log in as someone else. */
export function forbiddenPage(problem: string): string {
  return page(
    'IPM queue dashboard: access refused',
    `<h1>Access refused</h1>
${message(problem)}<p>The queue dashboard shows and changes the jobs of every tenant: it needs a JWT holding
<code>operate_queues</code>.</p>
<form method="post" action="${LOGOUT_PATH}">
<button type="submit">Log in with another token</button>
</form>
<p><a href="${DASHBOARD_PATH}">Back to the dashboard</a></p>`,
  );
}

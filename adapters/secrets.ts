// Secrets are referenced by name, never written out: a configured command argument or URL may say
// ${env:NAME} (an environment variable of the worker) or ${file:/path} (a file's first line), and
// the reference is resolved only at the moment of use, inside the activity. What a run records in
// its history, what logs and reports print, is the reference, and redact() masks whatever looks
// like a credential that was written literally (a URL password, a token=...).
import { readFileSync } from 'node:fs';

/** Thrown when a referenced secret is missing: says which reference and where it was looked for. */
export class SecretMissing extends Error {
  override readonly name = 'SecretMissing';
}

const REF = /\$\{(env|file):([^}]+)\}/g;

export function hasSecretRefs(text: string): boolean {
  return new RegExp(REF.source).test(text);
}

/** `text` with every ${env:NAME} and ${file:PATH} replaced by the secret's value. */
export function resolveSecretRefs(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(REF, (_m, kind: string, ref: string) => {
    if (kind === 'env') {
      const v = env[ref];
      if (v === undefined) throw new SecretMissing(`the secret \${env:${ref}} is not set in the worker's environment`);
      return v;
    }
    try {
      return readFileSync(ref, 'utf8').split('\n')[0]!.trim();
    } catch (e) {
      throw new SecretMissing(`the secret \${file:${ref}} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
}

/** Masks credentials written literally: URL passwords, key=value secrets, bearer tokens. */
export function redact(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]+@/gi, '$1***@')
    .replace(/\b(password|passwd|pwd|token|secret|api[_-]?key|apikey|access[_-]?key)(["']?\s*[=:]\s*["']?)[^\s&"',;]+/gi, '$1$2***')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 ***')
    .replace(/\b(PGPASSWORD)=\S+/g, '$1=***');
}

/** A URL as it may be shown: its origin and path, credentials and query masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    const query = u.search ? '?…' : '';
    u.search = '';
    return redact(u.toString()) + query;
  } catch {
    return redact(url);
  }
}

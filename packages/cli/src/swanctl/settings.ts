/**
 * strongSwan's settings syntax (strongswan.conf(5), swanctl.conf(5)), as `settings_parser`:
 *
 *   name { … }                 section (re-opening a section merges it)
 *   name : ref1, ref2 { … }    section inheriting the settings/sections of other sections (dotted paths)
 *   key = value                value up to the end of the line, trimmed; "quoted" values may span
 *                              lines and know \" \\ \n \t escapes
 *   # comment                  to the end of the line (not inside quotes)
 *   include PATTERN            other files (glob * ? relative to the including file); a missing
 *                              file matched by a glob is fine, a missing plain path is an error
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';

export interface SettingsSection {
  name: string;
  settings: Map<string, string>;
  sections: Map<string, SettingsSection>;
  refs: string[];
}

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

export function newSection(name: string): SettingsSection {
  return { name, settings: new Map(), sections: new Map(), refs: [] };
}

type Tok = { t: 'word' | 'str' | 'punct' | 'nl'; v: string; line: number };

function tokenize(text: string, file: string): Tok[] {
  const out: Tok[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      out.push({ t: 'nl', v: '\n', line });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '{' || c === '}' || c === '=' || c === ':' || c === ',') {
      out.push({ t: 'punct', v: c, line });
      i++;
    } else if (c === '"') {
      const start = line;
      let v = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) {
          const e = text[i + 1]!;
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
          i += 2;
          continue;
        }
        if (text[i] === '\n') line++;
        v += text[i++];
      }
      if (i >= text.length) throw new SettingsError(`${file}:${start}: unterminated string`);
      i++;
      out.push({ t: 'str', v, line: start });
    } else {
      let v = '';
      while (i < text.length && !' \t\r\n{}=:,#"'.includes(text[i]!)) v += text[i++];
      out.push({ t: 'word', v, line });
    }
  }
  return out;
}

/** The raw text of a value: everything after `=` to the end of the line (minus comment), trimmed. */
function rawValue(text: string, lineNo: number): string {
  const l = text.split('\n')[lineNo - 1] ?? '';
  const eq = l.indexOf('=');
  let v = eq >= 0 ? l.slice(eq + 1) : '';
  const hash = v.indexOf('#');
  if (hash >= 0) v = v.slice(0, hash);
  return v.trim();
}

function globFiles(pattern: string, base: string): string[] {
  const p = isAbsolute(pattern) ? pattern : join(base, pattern);
  if (!/[*?[]/.test(p)) {
    if (!existsSync(p)) throw new SettingsError(`include ${pattern}: no such file`);
    return [p];
  }
  const dir = dirname(p);
  if (/[*?[]/.test(dir))
    throw new SettingsError(`include ${pattern}: globs in directory names are not supported`);
  const re = new RegExp(
    `^${basename(p)
      .replace(/[.+^${}()|\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => re.test(f))
    .sort()
    .map((f) => join(dir, f));
}

function parseInto(root: SettingsSection, text: string, file: string, depth: number): void {
  if (depth > 10) throw new SettingsError(`${file}: includes nested too deep`);
  const toks = tokenize(text, file);
  const stack: SettingsSection[] = [root];
  let i = 0;
  const at = (k: number) => toks[k];
  while (i < toks.length) {
    const tk = toks[i]!;
    if (tk.t === 'nl') {
      i++;
      continue;
    }
    const cur = stack[stack.length - 1]!;
    if (tk.t === 'punct' && tk.v === '}') {
      if (stack.length === 1) throw new SettingsError(`${file}:${tk.line}: unexpected }`);
      stack.pop();
      i++;
      continue;
    }
    if (tk.t !== 'word' && tk.t !== 'str')
      throw new SettingsError(`${file}:${tk.line}: unexpected "${tk.v}"`);
    if (tk.t === 'word' && tk.v === 'include' && at(i + 1)?.t !== 'punct') {
      const pat = at(i + 1);
      if (!pat || pat.t === 'nl') throw new SettingsError(`${file}:${tk.line}: include without a file`);
      for (const f of globFiles(pat.v, dirname(file))) parseInto(cur, readFileSync(f, 'utf8'), f, depth + 1);
      i += 2;
      continue;
    }
    const next = at(i + 1);
    if (next?.t === 'punct' && next.v === '=') {
      // value: a quoted string, or the rest of the line verbatim
      const v = at(i + 2);
      let value: string;
      if (v?.t === 'str') {
        value = v.v;
        i += 3;
      } else {
        value = rawValue(text, tk.line);
        i += 2;
        while (i < toks.length && toks[i]!.t !== 'nl') i++;
      }
      cur.settings.set(tk.v, value);
      continue;
    }
    let j = i + 1;
    const refs: string[] = [];
    if (at(j)?.t === 'punct' && at(j)!.v === ':') {
      j++;
      while (
        at(j) &&
        (at(j)!.t === 'word' || at(j)!.t === 'str' || (at(j)!.t === 'punct' && at(j)!.v === ','))
      ) {
        if (at(j)!.t !== 'punct') refs.push(at(j)!.v);
        j++;
      }
    }
    while (at(j)?.t === 'nl') j++;
    if (at(j)?.t === 'punct' && at(j)!.v === '{') {
      let sec = cur.sections.get(tk.v);
      if (!sec) {
        sec = newSection(tk.v);
        cur.sections.set(tk.v, sec);
      }
      sec.refs.push(...refs);
      stack.push(sec);
      i = j + 1;
      continue;
    }
    throw new SettingsError(`${file}:${tk.line}: expected "=" or "{" after "${tk.v}"`);
  }
  if (stack.length !== 1)
    throw new SettingsError(`${file}: missing } (section "${stack[stack.length - 1]!.name}")`);
}

function find(root: SettingsSection, path: string): SettingsSection | undefined {
  let s: SettingsSection | undefined = root;
  for (const part of path.split('.')) s = s?.sections.get(part);
  return s;
}

/** Resolves `name : ref` inheritance: own settings win over referenced ones. */
function resolveRefs(root: SettingsSection, s: SettingsSection, seen: Set<SettingsSection>): void {
  if (seen.has(s)) return;
  seen.add(s);
  for (const ref of s.refs) {
    const r = find(root, ref);
    if (!r) throw new SettingsError(`section ${s.name} references unknown section ${ref}`);
    resolveRefs(root, r, seen);
    for (const [k, v] of r.settings) if (!s.settings.has(k)) s.settings.set(k, v);
    for (const [k, sub] of r.sections) if (!s.sections.has(k)) s.sections.set(k, sub);
  }
  for (const sub of s.sections.values()) resolveRefs(root, sub, seen);
}

export function parseSettings(text: string, file = '<input>'): SettingsSection {
  const root = newSection('');
  parseInto(root, text, file, 0);
  resolveRefs(root, root, new Set());
  return root;
}

export function parseSettingsFile(path: string): SettingsSection {
  return parseSettings(readFileSync(path, 'utf8'), path);
}

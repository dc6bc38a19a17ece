/**
 * RE2 patterns on a JavaScript RegExp engine (control side checks and compiles; workers only run
 * the compiled RegExp). Envoy's `safe_regex` uses RE2: linear-time, no backreferences, no
 * lookaround. JavaScript's engine backtracks and reads some RE2 syntax differently, so a pattern
 * is accepted only when it means the same thing in both and cannot backtrack badly; everything
 * else is refused with the construct named. Matches are full-string, as Envoy's
 * `RegexMatcher::match` (RE2::FullMatch) is.
 * https://github.com/google/re2/wiki/Syntax
 */

/** RE2's default repetition limit (`{n,m}` above it is a syntax error in RE2). */
const MAX_REPEAT = 1000;

/** Control side: the JS source equivalent to RE2 `pattern`, or `{ error }` naming the construct. */
export function translateRe2(pattern: string): { source: string } | { error: string } {
  let out = "";
  let i = 0;
  const n = pattern.length;
  // Per open group: did it contain a quantifier (star height), and was the group itself a capture.
  const groups: { quantified: boolean }[] = [{ quantified: false }];
  let lastAtomQuantified = false;
  let lastAtomGroupQuantified = false;
  let lastAtomStart = -1;
  let depth = 0;
  while (i < n) {
    const c = pattern[i]!;
    if (c === "\\") {
      const d = pattern[i + 1];
      if (d === "A" || d === "z") {
        // RE2's text anchors; without the m flag JavaScript's ^ and $ mean the same.
        out += d === "A" ? "^" : "$";
        i += 2;
        lastAtomStart = -1;
        continue;
      }
      if (d === "b" || d === "B") {
        out += c + d;
        i += 2;
        lastAtomStart = -1;
        continue;
      }
      const e = escape(pattern, i, false);
      if ("error" in e) return e;
      lastAtomStart = out.length;
      out += e.out;
      i = e.next;
      lastAtomQuantified = false;
      lastAtomGroupQuantified = false;
      continue;
    }
    if (c === "[") {
      // A character class. RE2 reads a leading "]" as a literal and knows POSIX classes, which
      // JavaScript reads differently; escapes are mapped one by one.
      let j = i + 1;
      let cls = "[";
      if (pattern[j] === "^") {
        cls += "^";
        j++;
      }
      if (pattern[j] === "]") {
        cls += "\\]";
        j++;
      }
      while (j < n && pattern[j] !== "]") {
        const ch = pattern[j]!;
        if (ch === "\\") {
          const e = escape(pattern, j, true);
          if ("error" in e) return e;
          cls += e.out;
          j = e.next;
          continue;
        }
        if (ch === "[" && pattern[j + 1] === ":") return { error: "POSIX character classes like [[:alpha:]] are not supported yet" };
        cls += ch === "[" || ch === "/" ? "\\" + ch : ch;
        j++;
      }
      if (j >= n) return { error: "missing ] in a character class" };
      lastAtomStart = out.length;
      out += cls + "]";
      i = j + 1;
      lastAtomQuantified = false;
      lastAtomGroupQuantified = false;
      continue;
    }
    if (c === "(") {
      if (pattern[i + 1] === "?") {
        const rest = pattern.slice(i + 2);
        if (rest.startsWith("=") || rest.startsWith("!")) return { error: "lookahead (?= / (?! is not supported by RE2" };
        if (rest.startsWith("<=") || rest.startsWith("<!")) return { error: "lookbehind (?<= / (?<! is not supported by RE2" };
        if (rest.startsWith(">")) return { error: "atomic groups (?> are not supported by RE2" };
        if (rest.startsWith(":")) {
          out += "(?:";
          i += 3;
        } else if (rest.startsWith("P<") || rest.startsWith("<")) {
          const start = rest.startsWith("P<") ? 2 : 1;
          const close = rest.indexOf(">");
          const name = close < 0 ? "" : rest.slice(start, close);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return { error: "invalid named group" };
          out += `(?<${name}>`;
          i += 2 + close + 1;
        } else if (rest.startsWith("P=") || rest.startsWith("P>")) {
          return { error: "named backreferences are not supported by RE2" };
        } else {
          return { error: "inline flags such as (?i) are not supported yet" };
        }
      } else {
        out += "(";
        i++;
      }
      depth++;
      groups.push({ quantified: false });
      lastAtomStart = -1;
      continue;
    }
    if (c === ")") {
      if (depth === 0) return { error: "unmatched )" };
      depth--;
      const g = groups.pop()!;
      out += ")";
      i++;
      lastAtomStart = out.length - 1;
      lastAtomQuantified = false;
      lastAtomGroupQuantified = g.quantified;
      if (g.quantified) groups[groups.length - 1]!.quantified = true;
      continue;
    }
    if (c === "*" || c === "+" || c === "?" || c === "{") {
      let q = c;
      let j = i + 1;
      if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!m) {
          // RE2 reads a "{" that does not start a repetition as a literal.
          lastAtomStart = out.length;
          out += "\\{";
          i++;
          lastAtomQuantified = false;
          lastAtomGroupQuantified = false;
          continue;
        }
        const lo = Number(m[1]);
        const hi = m[3] === undefined || m[3] === "" ? lo : Number(m[3]);
        if (lo > MAX_REPEAT || hi > MAX_REPEAT) return { error: `repetition count above ${MAX_REPEAT} is refused by RE2` };
        if (m[3] !== undefined && m[3] !== "" && hi < lo) return { error: `invalid repetition ${m[0]}` };
        q = m[0];
        j = i + m[0].length;
      }
      if (lastAtomStart < 0) return { error: `nothing to repeat before ${JSON.stringify(q)}` };
      if (lastAtomQuantified) return { error: `a repeated repetition ${JSON.stringify(q)} is refused by RE2` };
      if (pattern[j] === "+") return { error: "possessive quantifiers (*+, ++, ?+) are not supported by RE2" };
      if (lastAtomGroupQuantified && q !== "?" && q !== "{0,1}" && q !== "{1}") {
        return { error: "a repeated group that contains a repetition (such as (a+)*) could backtrack exponentially here; it is not supported" };
      }
      out += q;
      if (pattern[j] === "?") {
        out += "?";
        j++;
      }
      groups[groups.length - 1]!.quantified = true;
      lastAtomQuantified = true;
      i = j;
      continue;
    }
    if (c === "|" || c === "^" || c === "$") {
      out += c;
      i++;
      lastAtomStart = -1;
      continue;
    }
    // RE2 reads a stray "]" or "}" as a literal; u-mode JavaScript refuses them unescaped.
    out += c === "/" || c === "]" || c === "}" ? "\\" + c : c;
    lastAtomStart = out.length - 1;
    lastAtomQuantified = false;
    lastAtomGroupQuantified = false;
    i++;
  }
  if (depth !== 0) return { error: "missing )" };
  return { source: out };
}

/** Characters JavaScript's u-mode accepts after a backslash as themselves. */
const JS_SYNTAX = "^$\\.*+?()[]{}|/-";
/** RE2 escapes that mean the same in JavaScript. */
const SAME_ESCAPES = "dDwWsSntrfv";

/** One escape sequence at `pattern[i]` ("\\…") mapped to JavaScript, or the reason it is refused. */
function escape(pattern: string, i: number, inClass: boolean): { out: string; next: number } | { error: string } {
  const d = pattern[i + 1];
  if (d === undefined) return { error: "a trailing backslash is not a valid pattern" };
  if (d >= "1" && d <= "9") return { error: `backreference \\${d} is not supported by RE2` };
  if (d === "0") return { out: "\\0", next: i + 2 };
  if (SAME_ESCAPES.includes(d)) return { out: "\\" + d, next: i + 2 };
  if (d === "a") return { out: "\\x07", next: i + 2 };
  if (d === "x") {
    if (pattern[i + 2] === "{") {
      const close = pattern.indexOf("}", i + 3);
      const hex = close < 0 ? "" : pattern.slice(i + 3, close);
      if (!/^[0-9a-fA-F]{1,6}$/.test(hex)) return { error: "invalid \\x{…} escape" };
      return { out: `\\u{${hex}}`, next: close + 1 };
    }
    const hex = pattern.slice(i + 2, i + 4);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return { error: "invalid \\x escape" };
    return { out: "\\x" + hex, next: i + 4 };
  }
  if (d === "k") return { error: "named backreference \\k is not supported by RE2" };
  if (d === "Q" || d === "E") return { error: "\\Q…\\E literal text is not supported yet" };
  if (d === "p" || d === "P") return { error: "Unicode classes \\p / \\P are not supported yet" };
  if (d === "C") return { error: "\\C (any byte) is not supported" };
  if (!inClass && (d === "b" || d === "B")) return { out: "\\" + d, next: i + 2 };
  if (/[A-Za-z0-9]/.test(d)) return { error: `invalid escape sequence \\${d}` };
  // Escaped punctuation is a literal in RE2; u-mode JavaScript only accepts syntax characters.
  return { out: JS_SYNTAX.includes(d) ? "\\" + d : d, next: i + 2 };
}

/** Control side: why `pattern` is refused, or undefined when it is usable. */
export function re2Problem(pattern: string): string | undefined {
  const t = translateRe2(pattern);
  if ("error" in t) return t.error;
  try {
    new RegExp(t.source, "u");
  } catch (e) {
    return `invalid regex: ${(e as Error).message}`;
  }
  return undefined;
}

/** Control side: a RegExp that matches the whole input (RE2::FullMatch). Throws on a refused pattern. */
export function compileFullMatch(pattern: string, ignoreCase = false): RegExp {
  const t = translateRe2(pattern);
  if ("error" in t) throw new Error(`regex ${JSON.stringify(pattern)}: ${t.error}`);
  return new RegExp(`^(?:${t.source})$`, ignoreCase ? "ui" : "u");
}

/** Control side: a global RegExp for regex_rewrite (RE2::GlobalReplace). */
export function compileGlobal(pattern: string): RegExp {
  const t = translateRe2(pattern);
  if ("error" in t) throw new Error(`regex ${JSON.stringify(pattern)}: ${t.error}`);
  return new RegExp(t.source, "gu");
}

/** Control side: turns an RE2 substitution (`\1`, `\\`) into a JS replacement string (`$1`, `$$`). */
export function translateSubstitution(sub: string): string {
  let out = "";
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i]!;
    if (c === "\\" && i + 1 < sub.length) {
      const d = sub[i + 1]!;
      if (d >= "0" && d <= "9") {
        out += d === "0" ? "$&" : "$" + d;
        i++;
        continue;
      }
      if (d === "\\") {
        out += "\\";
        i++;
        continue;
      }
    }
    out += c === "$" ? "$$" : c;
  }
  return out;
}

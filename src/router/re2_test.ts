import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { compileFullMatch, compileGlobal, re2Problem, translateSubstitution } from "./re2.ts";

const MATCHES: [string, string, boolean][] = [
  // [pattern, input, full match?]
  ["/v[0-9]+", "/v12", true],
  ["/v[0-9]+", "/v12/x", false], // full match, not search
  ["a|b", "ab", false], // the alternation is grouped before anchoring
  ["a|b", "b", true],
  ["[]a]+", "]a]", true], // RE2: a leading "]" in a class is a literal
  ["[^]a]", "b", true],
  ["a\\#b", "a#b", true], // escaped punctuation is a literal
  ["x]y}", "x]y}", true], // stray "]" and "}" are literals in RE2
  ["x{", "x{", true], // "{" that does not start a repetition is a literal
  ["\\x{41}\\x42", "AB", true],
  ["\\Aab\\z", "ab", true],
  ["\\d{2,3}", "1234", false],
  ["(?P<year>\\d{4})-(?<m>\\d\\d)", "2024-05", true],
  ["a.c", "a\nc", false], // "." does not match a newline (RE2's default)
  ["\\bword\\b.*", "word up", true],
  ["[\\w.-]+@[\\w.-]+", "a.b-c@d.e", true],
];

for (const [pattern, input, want] of MATCHES) {
  test(`re2: ${JSON.stringify(pattern)} ${want ? "matches" : "does not match"} ${JSON.stringify(input)}`, () => {
    assert.equal(re2Problem(pattern), undefined);
    assert.equal(compileFullMatch(pattern).test(input), want);
  });
}

const REFUSED: [string, RegExp][] = [
  ["(a)\\1", /backreference/],
  ["(?<n>a)\\k<n>", /named backreference/],
  ["a(?=b)", /lookahead/],
  ["(?<=a)b", /lookbehind/],
  ["(?>a)", /atomic/],
  ["a*+", /possessive/],
  ["a**", /repeated repetition/],
  ["(a*)*", /backtrack/],
  ["(x+x+)+y", /backtrack/],
  ["(?i)abc", /inline flags/],
  ["\\Qa.b\\E", /\\Q/],
  ["\\pL", /Unicode classes/],
  ["[[:digit:]]", /POSIX/],
  ["a{2000}", /above 1000/],
  ["a{3,2}", /invalid repetition/],
  ["\\e", /invalid escape/],
  ["(ab", /missing \)/],
  ["ab)", /unmatched \)/],
  ["[ab", /missing \]/],
  ["*a", /nothing to repeat/],
];

for (const [pattern, why] of REFUSED) {
  test(`re2: ${JSON.stringify(pattern)} is refused`, () => assert.match(re2Problem(pattern) ?? "accepted", why));
}

test("re2: GlobalReplace substitution: \\1 groups, \\0 the match, $ is literal", () => {
  const re = compileGlobal("(\\w+)@(\\w+)");
  assert.equal("a@b c@d".replace(re, translateSubstitution("\\2.\\1$")), "b.a$ d.c$");
  assert.equal("xyz".replace(compileGlobal("y"), translateSubstitution("[\\0]")), "x[y]z");
});

/**
 * The text cleaning of the CLIP tokenizer against Python, character by character, over all of
 * Unicode (test/fixtures/pipeline/characters.json, made by scripts/clip_tokens_reference.py):
 * ftfy.fix_text (fix_encoding off) on every code point alone, ftfy's unescape_html on every HTML5
 * entity name in four spellings and on numeric references, the class every code point gets from
 * CLIP's regex and whitespace_clean (Python `regex` module), and `str.lower()`.
 *
 * Where the two Unicode databases differ (Python 3.11 has Unicode 14, the `regex` module and
 * Node's ICU newer versions), only code points assigned in both are compared; the tests count
 * how many that leaves out.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixText, unescapeHtml } from '../src/pipeline/fix-text.js';
import { CLIP_PATTERN, WHITESPACE_RUN } from '../src/pipeline/tokenizer.js';
import { isPythonSpace, stripPython } from '../src/pipeline/tokenizer-files.js';
import { fixtureDir } from './helpers/fixtures.js';

interface CharactersFixture {
  fix_text: Record<string, string>;
  fix_encoding_differs: string[];
  pattern_class: [string, number][];
  lower: Record<string, string>;
  python_unassigned: [number, number][];
  entities: [string, string?][];
}

const chars = JSON.parse(
  readFileSync(join(fixtureDir, 'pipeline', 'characters.json'), 'utf8'),
) as CharactersFixture;

const MAX_CODE_POINT = 0x10ffff;
const isSurrogate = (cp: number): boolean => cp >= 0xd800 && cp <= 0xdfff;
const unassignedInJs = /^\p{Cn}$/u;

describe('ftfy.fix_text on each character alone (fix_encoding off)', () => {
  it('changes exactly the characters ftfy changes, into the same text', () => {
    const mismatches: string[] = [];
    let changed = 0;
    for (let cp = 0; cp <= MAX_CODE_POINT; cp++) {
      if (isSurrogate(cp)) continue;
      const char = String.fromCodePoint(cp);
      const want = chars.fix_text[cp.toString(16)] ?? char;
      const got = fixText(char);
      if (got !== char) changed++;
      if (got !== want)
        mismatches.push(`U+${cp.toString(16)}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
    }
    expect(mismatches).toEqual([]);
    // fixText changes exactly the characters ftfy changes (the reference lists only those).
    expect(changed).toBe(Object.keys(chars.fix_text).length);
  });

  it('finds no single character that mojibake repair would change', () => {
    expect(chars.fix_encoding_differs).toEqual([]);
  });

  it('treats the classes ftfy fixes as ftfy does', () => {
    // Spot checks that say what the table above holds.
    expect(fixText('ﬁ ﬂ ﬃ Ĳ ǆ')).toBe('fi fl ffi IJ dž');
    expect(fixText('ＡＢＣ１２３！　ｶﾞ')).toBe('ABC123! ガ');
    expect(fixText('“a” ‘b’ ‚c‛ „d‟ ʼe')).toBe(`"a" 'b' 'c' "d" 'e`);
    expect(fixText('a\r\nb\rc\u2028d\u2029e')).toBe('a\nb\nc\nd\ne');
    expect(fixText('\x85 \x93x\x94 \x80')).toBe('… "x" €');
    expect(fixText('\x00a\x07b\x1b[31mc\x1b[0m\ufeffd\x7f')).toBe('abcd');
    // Not NFKC: superscripts, fractions, roman numerals, circled and math letters stay.
    expect(fixText('x² ½ Ⅻ ① 𝐀 ℃ ™ µ ſ')).toBe('x² ½ Ⅻ ① 𝐀 ℃ ™ µ ſ');
    // NFC: decomposed accents compose, singletons map (U+212B ANGSTROM SIGN -> Å).
    expect(fixText('e\u0301 \u212b')).toBe('é Å');
    expect(fixText('lone \ud83d surrogate')).toBe('lone \ufffd surrogate');
  });
});

describe("ftfy's HTML unescaping", () => {
  it('decodes every entity spelling and numeric reference as ftfy.fixes.unescape_html', () => {
    const mismatches = chars.entities
      .filter(([input, output]) => unescapeHtml(input) !== (output ?? input))
      .map(
        ([input, output]) =>
          `${input}: ${JSON.stringify(unescapeHtml(input))} != ${JSON.stringify(output ?? input)}`,
      );
    expect(mismatches).toEqual([]);
    expect(chars.entities.length).toBe(12656);
    expect(chars.entities.filter(([, output]) => output !== undefined).length).toBeGreaterThan(3000);
  });

  it('repeats until nothing changes, and stops unescaping from the first line with a "<"', () => {
    expect(fixText('&amp;amp;amp; &#38;lt;')).toBe('& <');
    expect(fixText('a &amp; b <i>x</i> &amp;')).toBe('a &amp; b <i>x</i> &amp;');
    expect(fixText('a &amp; b\n<i> &amp;\n&amp;')).toBe('a & b\n<i> &amp;\n&amp;');
    expect(fixText('&lt;b&gt; &amp;')).toBe('<b> &');
    // Only "&...;" forms: no semicolon, no decoding (unlike Python's html.unescape).
    expect(fixText('AT&T &amp R&D &copy')).toBe('AT&T &amp R&D &copy');
    // ftfy's all-caps names, and numeric references following html.unescape.
    expect(fixText('P&EACUTE;REZ STRA&SZLIG;E &LTRI;')).toBe('PÉREZ STRASSE &LTRI;');
    expect(fixText('&#59; &#0; &#1;x &#128; &#x1F600;')).toBe('&#59; \ufffd x € 😀');
  });
});

/** Python's class of each code point in CLIP's regex (IGNORECASE) and in whitespace_clean. */
function jsClass(char: string): string {
  const whitespace = new RegExp(`^(?:${WHITESPACE_RUN.source})$`, 'u');
  if (whitespace.test(char)) return 'S';
  const pattern = new RegExp(CLIP_PATTERN.source, 'gu');
  const alone = [...char.matchAll(pattern)].map((m) => m[0]);
  if (alone.length === 0) return 'X';
  // A letter joins a run of letters, a digit stays alone, anything else joins a run of others.
  if ([...`a${char}`.matchAll(pattern)].length === 1) return 'L';
  if ([...`${char}${char}`.matchAll(pattern)].length === 2) return 'N';
  if ([...`!${char}`.matchAll(pattern)].length === 1) return 'O';
  return '?';
}

describe("CLIP's regex, whitespace and lowercasing, as Python's", () => {
  it('classifies every code point assigned in both Unicode versions as the regex module does', () => {
    const mismatches: string[] = [];
    let compared = 0;
    let skipped = 0;
    let cp = 0;
    for (const [kind, count] of chars.pattern_class) {
      for (const end = cp + count; cp < end; cp++) {
        if (kind === 'U') continue;
        const char = String.fromCodePoint(cp);
        if (unassignedInJs.test(char)) {
          skipped++;
          continue;
        }
        compared++;
        const got = jsClass(char);
        if (got !== kind) mismatches.push(`U+${cp.toString(16)}: ${got} != ${kind}`);
      }
    }
    expect(cp).toBe(MAX_CODE_POINT + 1);
    expect(mismatches).toEqual([]);
    // 297334 compared and 13007 left out with Node 20.20 (ICU 78, Unicode 17): the regex module
    // (2026.9) already knows newer letters. An older ICU leaves out more.
    expect(compared).toBeGreaterThan(270_000);
    expect(skipped).toBeLessThan(40_000);
  });

  it('lowercases every code point assigned in both Unicode versions as str.lower()', () => {
    const unassignedInPython = new Set<number>();
    for (const [first, count] of chars.python_unassigned) {
      for (let cp = first; cp < first + count; cp++) unassignedInPython.add(cp);
    }
    const mismatches: string[] = [];
    for (let cp = 0; cp <= MAX_CODE_POINT; cp++) {
      if (isSurrogate(cp) || unassignedInPython.has(cp)) continue;
      const char = String.fromCodePoint(cp);
      const want = chars.lower[cp.toString(16)] ?? char;
      if (char.toLowerCase() !== want) mismatches.push(`U+${cp.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
    // The context rule Python and JavaScript share: a word-final capital sigma is "ς".
    expect('ΟΔΥΣΣΕΥΣ ΣΑ'.toLowerCase()).toBe('οδυσσευς σα');
  });

  it("strips what Python's str.strip() strips (U+001C..U+001F and U+0085 too, not U+FEFF)", () => {
    expect(stripPython('\x1c\x1d\x1e\x1f\x85\u3000 a b \t\n\u2029')).toBe('a b');
    expect(stripPython('\ufeffa\u200b')).toBe('\ufeffa\u200b');
    const spaces = [];
    for (let cp = 0; cp <= 0xffff; cp++) if (isPythonSpace(cp)) spaces.push(cp.toString(16));
    expect(spaces.join(' ')).toBe(
      '9 a b c d 1c 1d 1e 1f 20 85 a0 1680 2000 2001 2002 2003 2004 2005 2006 2007 2008 2009 200a 2028 2029 202f 205f 3000',
    );
  });
});

/**
 * ftfy's `fix_text` (ftfy 6.3, default config), which transformers' slow `CLIPTokenizer` runs on
 * every prompt when ftfy is installed (`whitespace_clean(ftfy.fix_text(text)).lower()`), so the
 * ids diffusers feeds its text encoder depend on it. Written from ftfy's source (`__init__.py`,
 * `fixes.py`, `chardata.py`); every rule below names the ftfy step it reproduces.
 *
 * What is reproduced, in ftfy's order, per segment, repeated until the text stops changing:
 *   unescape_html         HTML entities, ftfy's rules (only `&...;` forms, also all-caps names),
 *                         switched off from the first line that holds a literal "<" onwards
 *   fix_c1_controls       U+0080..U+009F read as Windows-1252 (U+0093 -> a curly quote, ...)
 *   fix_latin_ligatures   ﬁ -> fi, ĳ -> ij, ... (22 characters)
 *   fix_character_width   fullwidth ASCII and halfwidth katakana / hangul -> normal width, U+3000 -> " "
 *   uncurl_quotes         ‘ ’ ‚ ‛ ʼ -> ', “ ” „ ‟ -> "
 *   fix_line_breaks       \r\n, \r, U+2028, U+2029, U+0085 -> \n
 *   fix_surrogates        lone UTF-16 surrogates -> U+FFFD
 *   remove_terminal_escapes  ANSI "ESC [ digits/; letter" sequences
 *   remove_control_chars  U+0000..U+0008, U+000B, U+000E..U+001F, U+007F, U+206A..U+206F, U+FEFF,
 *                         U+FFF9..U+FFFC
 *   NFC normalization     (not NFKC: superscripts, fractions, roman numerals, circled letters, ℃,
 *                         ﬀ-style ligatures outside the list above... stay as they are)
 *
 * What is NOT reproduced: `fix_encoding`, ftfy's mojibake repair (text that was UTF-8 decoded as
 * Latin-1 / Windows-125x / MacRoman / cp437, like "cafÃ©" for "café"). ftfy decides it with a
 * statistical "badness" heuristic over the whole segment and then re-decodes the text; a prompt
 * that ftfy judges to be mojibake is repaired by diffusers and left as typed here. ftfy is built
 * to avoid false positives: in the reference set (tokens-extra.json) it changed exactly the 11
 * prompts written as mojibake and none of the 311 others (accents, CJK, emoji, symbols, web text).
 *
 * Core module: no Node built-ins; the HTML entity table comes from the `entities` package (the
 * WHATWG list, the same list as Python's `html.entities.html5`).
 */
import { decodeHTML, decodeHTMLStrict } from 'entities';

/** ftfy's `max_decode_length`: a line longer than this many code points is fixed in pieces. */
const MAX_SEGMENT_CODE_POINTS = 1_000_000;

/**
 * `ftfy.fix_text(text)` with the default config, minus `fix_encoding` (see the module comment).
 *
 * ftfy fixes the text line by line (a segment ends after each "\n"). HTML unescaping starts on
 * ("auto") and is switched off for the first segment holding a literal "<" and every segment
 * after it: ftfy takes such text to be real HTML, whose entities must stay.
 */
export function fixText(text: string): string {
  let unescapeOn = true;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    end = limitSegment(text, pos, end);
    const segment = text.slice(pos, end);
    if (unescapeOn && segment.includes('<')) unescapeOn = false;
    out += fixSegment(segment, unescapeOn);
    pos = end;
  }
  return out;
}

/** `end`, or the index after MAX_SEGMENT_CODE_POINTS code points from `pos` if that comes first. */
function limitSegment(text: string, pos: number, end: number): number {
  // Python counts code points; a surrogate pair is one code point, two UTF-16 units.
  if (end - pos <= MAX_SEGMENT_CODE_POINTS) return end;
  let i = pos;
  for (let n = 0; n < MAX_SEGMENT_CODE_POINTS && i < end; n++) {
    const unit = text.charCodeAt(i);
    const isPair = unit >= 0xd800 && unit <= 0xdbff && i + 1 < end && isLowSurrogate(text.charCodeAt(i + 1));
    i += isPair ? 2 : 1;
  }
  return i;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * ftfy's `fix_and_explain` loop for one segment: every fixer in ftfy's order, then NFC, until a
 * whole pass changes nothing. Repeating is what turns "&amp;amp;" into "&" (one level per pass).
 *
 * Termination: after the first pass, only what unescape_html produces can give the other fixers
 * something new (they remove characters or map them to characters none of them maps again), and
 * each entity (4 characters or more) becomes at most 3 characters even after them, so every pass
 * that changes the text shortens it.
 */
function fixSegment(text: string, unescapeOn: boolean): string {
  for (;;) {
    const before = text;
    if (unescapeOn) text = unescapeHtml(text);
    // ftfy's fix_encoding would run here: not reproduced (module comment).
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === before) return text;
  }
}

/**
 * ftfy's candidate entities: "&", an optional "#", 1 to 24 ASCII letters or digits, ";". Entities
 * without the semicolon ("&amp", which Python's `html.unescape` would decode) are left alone.
 */
const HTML_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy's `unescape_html`: one left-to-right pass of `_unescape_fixup` over the candidates. */
export function unescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(HTML_ENTITY, unescapeEntity);
}

function unescapeEntity(entity: string): string {
  if (entity.charCodeAt(1) === 0x23 /* # */) return unescapeNumeric(entity);
  // A named entity of the HTML5 list, with its semicolon.
  const named = decodeHTMLStrict(entity);
  if (named !== entity) return named;
  // ftfy also decodes the all-caps spelling of an all-lowercase name ("&EACUTE;" -> "É",
  // "&SZLIG;" -> "SS"), as the upper-cased character, unless Python's html.unescape already reads
  // the all-caps spelling as something (a different entity, or a legacy prefix: "&LTRI;" is
  // "<" + "RI;" there, so ftfy leaves it alone).
  const name = entity.slice(1, -1);
  const lower = name.toLowerCase();
  if (name !== name.toUpperCase() || lower === name) return entity;
  const lowerEntity = `&${lower};`;
  const char = decodeHTMLStrict(lowerEntity);
  if (char === lowerEntity || decodeHTML(entity) !== entity) return entity;
  return char.toUpperCase();
}

/**
 * ftfy hands "&#...;" to Python's `html.unescape` and keeps the result only if the semicolon was
 * consumed: so the digits must be the whole body (decimal, or x/X and hex), and a reference to
 * ";" itself ("&#59;") stays as written. The value follows html.unescape's rules.
 */
function unescapeNumeric(entity: string): string {
  const body = entity.slice(2, -1);
  let code: number;
  if (/^[0-9]+$/.test(body)) code = Number.parseInt(body, 10);
  else if (/^[xX][0-9a-fA-F]+$/.test(body)) code = Number.parseInt(body.slice(1), 16);
  else return entity;
  const char = charRefValue(code);
  return char.includes(';') ? entity : char;
}

/** Python's `html._replace_charref` for a numeric reference (24 digits overflow to > 0x10FFFF). */
function charRefValue(code: number): string {
  if (code === 0x00) return '\ufffd';
  if (code === 0x0d) return '\r';
  if (code >= 0x80 && code <= 0x9f) return WINDOWS_1252_C1[code - 0x80];
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\ufffd';
  if (isInvalidCodePoint(code)) return '';
  return String.fromCodePoint(code);
}

/** html's `_invalid_codepoints`: references to these decode to nothing. */
function isInvalidCodePoint(code: number): boolean {
  return (
    (code >= 0x01 && code <= 0x08) ||
    code === 0x0b ||
    (code >= 0x0e && code <= 0x1f) ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0xfdd0 && code <= 0xfdef) ||
    (code & 0xfffe) === 0xfffe
  );
}

/**
 * Bytes 0x80..0x9F in Windows-1252, the five bytes it leaves undefined (81, 8D, 8F, 90, 9D)
 * passing through as the C1 control of the same number: ftfy's "sloppy-windows-1252", which is
 * also the table of Python's html `_invalid_charrefs` for &#128; .. &#159;.
 */
// biome-ignore format: one row per 8 bytes
const WINDOWS_1252_C1 = [
  '\u20ac', '\x81', '\u201a', '\u0192', '\u201e', '\u2026', '\u2020', '\u2021',
  '\u02c6', '\u2030', '\u0160', '\u2039', '\u0152', '\x8d', '\u017d', '\x8f',
  '\x90', '\u2018', '\u2019', '\u201c', '\u201d', '\u2022', '\u2013', '\u2014',
  '\u02dc', '\u2122', '\u0161', '\u203a', '\u0153', '\x9d', '\u017e', '\u0178',
];

/** ftfy's `fix_c1_controls`: C1 control characters are almost always Windows-1252 bytes. */
function fixC1Controls(text: string): string {
  return text.replace(/[\x80-\x9f]/g, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80]);
}

/**
 * ftfy's `LIGATURES`: Latin typographic ligatures and the legacy digraph characters. Other
 * ligatures (æ, œ, and those of other scripts) are deliberately kept by ftfy.
 */
const LIGATURES: Readonly<Record<string, string>> = {
  '\u0132': 'IJ',
  '\u0133': 'ij',
  '\u0149': '\u02bcn',
  '\u01f1': 'DZ',
  '\u01f2': 'Dz',
  '\u01f3': 'dz',
  '\u01c4': 'D\u017d',
  '\u01c5': 'D\u017e',
  '\u01c6': 'd\u017e',
  '\u01c7': 'LJ',
  '\u01c8': 'Lj',
  '\u01c9': 'lj',
  '\u01ca': 'NJ',
  '\u01cb': 'Nj',
  '\u01cc': 'nj',
  '\ufb00': 'ff',
  '\ufb01': 'fi',
  '\ufb02': 'fl',
  '\ufb03': 'ffi',
  '\ufb04': 'ffl',
  '\ufb05': '\u017ft',
  '\ufb06': 'st',
};
const LIGATURE_CHARS = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;

function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_CHARS, (c) => LIGATURES[c]);
}

/**
 * ftfy's `WIDTH_MAP`: U+3000 IDEOGRAPHIC SPACE -> " ", and every character of U+FF01..U+FFEF
 * (fullwidth ASCII, halfwidth katakana and hangul, fullwidth symbols) -> its NFKC form when that
 * differs. Built the way ftfy builds it; only this block is NFKC-folded, nothing else.
 */
const WIDTH_MAP: ReadonlyMap<string, string> = (() => {
  const map = new Map<string, string>([['\u3000', ' ']]);
  for (let code = 0xff01; code < 0xfff0; code++) {
    const char = String.fromCharCode(code);
    const folded = char.normalize('NFKC');
    if (folded !== char) map.set(char, folded);
  }
  return map;
})();

function fixCharacterWidth(text: string): string {
  return text.replace(/[\u3000\uff01-\uffef]/g, (c) => WIDTH_MAP.get(c) ?? c);
}

/** ftfy's `uncurl_quotes` (its SINGLE_QUOTE_RE and DOUBLE_QUOTE_RE). */
function uncurlQuotes(text: string): string {
  return text.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
}

/** ftfy's `fix_line_breaks`. (U+0085 never survives to here: fix_c1_controls made it "…".) */
function fixLineBreaks(text: string): string {
  return text.replace(/\r\n?|[\u2028\u2029\x85]/g, '\n');
}

/**
 * ftfy's `fix_surrogates`: it first joins surrogate pairs that Python holds as two code points
 * (a JavaScript string already reads those as one character), then replaces the lone ones.
 */
function fixSurrogates(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** ftfy's `ANSI_RE`: Python's `\d` there is any Unicode decimal digit, as `\p{Nd}` here. */
function removeTerminalEscapes(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character is what is matched
  return text.replace(/\x1b\[[\p{Nd};]*[a-zA-Z]/gu, '');
}

/** ftfy's `CONTROL_CHARS`. Tabs, line feeds, form feeds, CR, joiners and bidi marks stay. */
function removeControlChars(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing these control characters is the point
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

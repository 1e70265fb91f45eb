/**
 * Reading a Stable Diffusion `tokenizer/` folder's files the way transformers' slow
 * `CLIPTokenizer.from_pretrained` (4.x) reads them, into checked tables: the vocabulary, the
 * merges, the special tokens and the other "added tokens" (strings the tokenizer cuts out of the
 * prompt before anything else and maps straight to their ids).
 *
 * The caller reads the files (this module does no I/O and runs in browsers); each may be passed
 * as its text or as the parsed JSON. Anything diffusers could not use, or would use wrongly
 * without complaint, is a LoadError naming the file and the fix.
 *
 * Decision on tokenizer.json: the model (normalizer, pre-tokenizer, BPE) is always built from
 * vocab.json + merges.txt, because that is what the slow CLIPTokenizer diffusers loads reads; a
 * tokenizer.json may disagree (an older converter's regex, no ftfy, a different lowercasing) and
 * diffusers would never notice. Only its `added_tokens` list is read, and only when
 * tokenizer_config.json has no `added_tokens_decoder`: that is the one thing transformers' slow
 * loader takes from it (its "fast -> slow" legacy path).
 */
import { DdimError, LoadError } from '../errors.js';

/** The files of a `tokenizer/` folder, as text or parsed JSON. */
export interface ClipTokenizerFiles {
  /** vocab.json: token -> id. */
  vocab: string | Record<string, unknown>;
  /** merges.txt: `#version: ...` then one `left right` merge per line, best first. */
  merges: string;
  /** tokenizer_config.json (model_max_length, special tokens, added_tokens_decoder). */
  tokenizerConfig?: string | Record<string, unknown>;
  /** special_tokens_map.json: overrides tokenizer_config.json's special tokens (SD 2.x's pad "!"). */
  specialTokensMap?: string | Record<string, unknown>;
  /** tokenizer.json: only its `added_tokens` are read (see the module comment). */
  tokenizerJson?: string | Record<string, unknown>;
}

/** A string cut out of the prompt before tokenization, with transformers' AddedToken flags. */
export interface AddedTokenSpec {
  content: string;
  id: number;
  /** Strip whitespace to the token's left (from the text before it). */
  lstrip: boolean;
  /** Strip whitespace to its right. */
  rstrip: boolean;
  /** Only a token when not glued to other text. */
  singleWord: boolean;
  special: boolean;
}

/** Everything the tokenizer needs, checked. */
export interface ClipTokenizerSpec {
  /** vocab.json (token -> id), checked: what the BPE model is built from. */
  vocab: Record<string, number>;
  /** Its number of entries (transformers' `vocab_size`). */
  vocabSize: number;
  merges: [string, string][];
  modelMaxLength: number;
  bos: AddedTokenSpec;
  eos: AddedTokenSpec;
  unk: AddedTokenSpec;
  pad: AddedTokenSpec;
  /** Every added token (the special ones included), in no particular order. */
  addedTokens: AddedTokenSpec[];
  /** Contents of the special tokens (transformers' `all_special_tokens`). */
  specialContents: Set<string>;
  /** Contents of the `additional_special_tokens` among them. */
  additionalSpecialContents: Set<string>;
  /** transformers' `clean_up_tokenization_spaces` (only used to decode the truncated text). */
  cleanUpTokenizationSpaces: boolean;
}

/**
 * The slow CLIPTokenizer reads at most this many merges (`[1 : 49152 - 256 - 2 + 1]` of the
 * lines): openai's BPE table size minus the 256 byte tokens and the two special tokens.
 */
export const MAX_MERGES = 49152 - 256 - 2;

/** CLIP's context length, used when tokenizer_config.json gives no model_max_length. */
export const DEFAULT_MODEL_MAX_LENGTH = 77;

/** The largest model_max_length accepted: the ids are padded to it for every prompt. */
const MAX_MODEL_MAX_LENGTH = 1 << 20;

/** Ids are Int32 (what the ONNX text encoders take, or widen to int64). */
const MAX_ID = 2 ** 31 - 1;

/** transformers' SPECIAL_TOKENS_ATTRIBUTES without the list; CLIP's defaults for its four. */
const SPECIAL_KEYS = [
  'bos_token',
  'eos_token',
  'unk_token',
  'sep_token',
  'pad_token',
  'cls_token',
  'mask_token',
];
const CLIP_DEFAULTS: Readonly<Record<string, string>> = {
  bos_token: '<|startoftext|>',
  eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
  pad_token: '<|endoftext|>',
};

const FOLDER_FIX = "pass the files of the model's tokenizer/ folder, unchanged";

/**
 * The checked tables of a tokenizer folder's files. Only LoadErrors escape: whatever else reading
 * the caller's objects throws (a getter, a Proxy) is wrapped in one.
 */
export function readTokenizerFiles(files: ClipTokenizerFiles): ClipTokenizerSpec {
  try {
    return readUnguarded(files);
  } catch (cause) {
    if (cause instanceof DdimError) throw cause;
    throw new LoadError({
      field: 'files',
      problem: `could not be read (${cause instanceof Error ? cause.message : String(cause)})`,
      fix: 'pass the text of each file, or plain objects parsed from it.',
      cause,
    });
  }
}

function readUnguarded(files: ClipTokenizerFiles): ClipTokenizerSpec {
  if (files === null || typeof files !== 'object') {
    throw new LoadError({
      field: 'files',
      value: files,
      problem: 'must be an object { vocab, merges, tokenizerConfig?, specialTokensMap?, tokenizerJson? }',
      fix: FOLDER_FIX,
    });
  }
  const { vocab, vocabSize } = readVocab(files.vocab);
  const merges = readMerges(files.merges);
  const config = readJsonObject(files.tokenizerConfig, 'tokenizer_config.json') ?? {};
  const specialMap = readJsonObject(files.specialTokensMap, 'special_tokens_map.json');
  // transformers' from_pretrained: a config with `added_tokens_decoder` (written by
  // transformers >= 4.34) is self-contained; otherwise special_tokens_map.json overrides the
  // config's special tokens and tokenizer.json's `added_tokens` become added tokens.
  let settings: Record<string, unknown> = { ...CLIP_DEFAULTS, ...config };
  const added = new Map<string, AddedTokenSpec>();
  if (config.added_tokens_decoder !== undefined) {
    readAddedTokensDecoder(config.added_tokens_decoder, added);
  } else {
    if (specialMap) {
      settings = { ...settings, ...specialMap };
      // transformers keeps the config's additional special tokens and appends the map's.
      settings.additional_special_tokens = [
        ...tokenList(config.additional_special_tokens, 'tokenizer_config.json'),
        ...tokenList(specialMap.additional_special_tokens, 'special_tokens_map.json'),
      ];
    }
    const tokenizerJson = readJsonObject(files.tokenizerJson, 'tokenizer.json');
    if (tokenizerJson) readTokenizerJsonAddedTokens(tokenizerJson.added_tokens, added);
  }

  // Every special token becomes an added token (transformers' PreTrainedTokenizer.__init__:
  // `_add_tokens(all_special_tokens_extended, special_tokens=True)`), keeping the flags an entry
  // of added_tokens_decoder / tokenizer.json already gave it. This is why SD 2.x, whose pad
  // token is "!", turns every "!" of a prompt into id 0 (diffusers issue #4153).
  const specialContents = new Set<string>();
  const additionalSpecialContents = new Set<string>();
  const special = (key: string, value: unknown, where: string): AddedTokenSpec | undefined => {
    const token = readSpecialToken(value, where);
    if (token === undefined) return undefined;
    specialContents.add(token.content);
    if (key === 'additional_special_tokens') additionalSpecialContents.add(token.content);
    const existing = added.get(token.content);
    if (existing) {
      existing.special = true;
      return existing;
    }
    const id = Object.hasOwn(vocab, token.content) ? vocab[token.content] : undefined;
    if (id === undefined) {
      throw new LoadError({
        field: `${key} (${where})`,
        value: token.content,
        problem:
          'is not in vocab.json: transformers would give it a new id past the text encoder\u2019s table',
        fix: 'use a token of vocab.json (CLIP: <|startoftext|>, <|endoftext|>, or "!" for SD 2.x padding).',
      });
    }
    const spec: AddedTokenSpec = { ...token, id, special: true };
    added.set(spec.content, spec);
    return spec;
  };
  const where = (key: string): string =>
    specialMap && config.added_tokens_decoder === undefined && Object.hasOwn(specialMap, key)
      ? 'special_tokens_map.json'
      : 'tokenizer_config.json';
  const resolved: Record<string, AddedTokenSpec | undefined> = {};
  for (const key of SPECIAL_KEYS) resolved[key] = special(key, settings[key], where(key));
  const extraWhere = where('additional_special_tokens');
  for (const item of tokenList(settings.additional_special_tokens, extraWhere)) {
    special('additional_special_tokens', item, extraWhere);
  }
  const required = (key: string): AddedTokenSpec => {
    const token = resolved[key];
    if (token) return token;
    throw new LoadError({
      field: `${key} (${where(key)})`,
      value: settings[key],
      problem: 'is missing: a CLIP tokenizer needs bos, eos, unk and pad tokens',
      fix: `set it, e.g. "${CLIP_DEFAULTS[key]}".`,
    });
  };
  const modelMaxLength = readModelMaxLength(settings.model_max_length);
  const cleanUp = settings.clean_up_tokenization_spaces;
  if (cleanUp !== undefined && cleanUp !== null && typeof cleanUp !== 'boolean') {
    throw new LoadError({
      field: 'tokenizer_config.json clean_up_tokenization_spaces',
      value: cleanUp,
      problem: 'must be true or false',
      fix: 'remove it (false) or set a boolean.',
    });
  }
  return {
    vocab,
    vocabSize,
    merges,
    modelMaxLength,
    bos: required('bos_token'),
    eos: required('eos_token'),
    unk: required('unk_token'),
    pad: required('pad_token'),
    addedTokens: [...added.values()],
    specialContents,
    additionalSpecialContents,
    cleanUpTokenizationSpaces: cleanUp === true,
  };
}

/**
 * vocab.json, checked: an object of token -> integer id, no id twice. Parsed here from text, the
 * object itself is kept (copying 49408 keys would double the load time); an object the caller
 * passes is copied, so that what was checked is what the BPE model reads.
 */
function readVocab(value: unknown): { vocab: Record<string, number>; vocabSize: number } {
  const fromText = typeof value === 'string';
  const raw = fromText ? parseJson(value, 'vocab.json') : value;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new LoadError({
      field: 'vocab.json',
      value: raw,
      problem: 'must be a JSON object mapping each token to its id',
      fix: "pass the text (or parsed JSON) of the tokenizer folder's vocab.json.",
    });
  }
  let entries: [string, unknown][];
  try {
    entries = Object.entries(raw);
  } catch (cause) {
    throw new LoadError({ field: 'vocab.json', problem: 'could not be read', fix: FOLDER_FIX, cause });
  }
  if (entries.length === 0) {
    throw new LoadError({ field: 'vocab.json', problem: 'is empty', fix: FOLDER_FIX });
  }
  const tokenOfId = new Map<number, string>();
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_ID) {
      throw new LoadError({
        field: `vocab.json entry ${JSON.stringify(token)}`,
        value: id,
        problem: `must be an integer id from 0 to ${MAX_ID}`,
        fix: FOLDER_FIX,
      });
    }
    const other = tokenOfId.get(id);
    if (other !== undefined) {
      throw new LoadError({
        field: `vocab.json entry ${JSON.stringify(token)}`,
        value: id,
        problem: `has the same id as ${JSON.stringify(other)}: the file is corrupt`,
        fix: FOLDER_FIX,
      });
    }
    tokenOfId.set(id, token);
  }
  const vocab = fromText
    ? (raw as Record<string, number>)
    : (Object.fromEntries(entries) as Record<string, number>);
  return { vocab, vocabSize: entries.length };
}

/**
 * merges.txt as the slow CLIPTokenizer reads it: the whole text stripped, split on "\n", the
 * first line (the `#version` header) skipped, then at most MAX_MERGES lines, each split on
 * whitespace. Python skips the first line whatever it holds, so a file without the header would
 * silently lose its best merge: that, and any line that is not two tokens, is an error here.
 */
function readMerges(text: unknown): [string, string][] {
  if (typeof text !== 'string') {
    throw new LoadError({
      field: 'merges.txt',
      value: text,
      problem: 'must be the text of the file',
      fix: "pass the tokenizer folder's merges.txt as a string.",
    });
  }
  const lines = stripPython(text).split('\n');
  if (!lines[0].startsWith('#version')) {
    throw new LoadError({
      field: 'merges.txt',
      value: lines[0],
      problem: 'does not start with its "#version: 0.2" line, which the tokenizer skips unread',
      fix: 'pass merges.txt unchanged; if the header was lost, add "#version: 0.2" as the first line.',
    });
  }
  const count = Math.min(lines.length - 1, MAX_MERGES);
  if (count === 0) {
    throw new LoadError({ field: 'merges.txt', problem: 'holds no merges', fix: FOLDER_FIX });
  }
  const merges: [string, string][] = new Array(count);
  for (let i = 0; i < count; i++) {
    const parts = MERGE_LINE.exec(lines[i + 1]);
    if (!parts) {
      throw new LoadError({
        field: `merges.txt line ${i + 2}`,
        value: lines[i + 1],
        problem: 'must be two tokens separated by a space',
        fix: FOLDER_FIX,
      });
    }
    merges[i] = [parts[1], parts[2]];
  }
  return merges;
}

function tokenList(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  throw new LoadError({
    field: `additional_special_tokens (${where})`,
    value,
    problem: 'must be a list of tokens',
    fix: 'write a JSON list of strings or {"content": ...} objects.',
  });
}

/** Python's whitespace (`str.isspace`, see isPythonSpace) as a regex class body. */
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** A merge line that Python's `line.split()` cuts into exactly two tokens. */
const MERGE_LINE = new RegExp(
  `^[${PY_SPACE}]*([^${PY_SPACE}]+)[${PY_SPACE}]+([^${PY_SPACE}]+)[${PY_SPACE}]*$`,
);

function readModelMaxLength(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_MODEL_MAX_LENGTH;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2 || value > MAX_MODEL_MAX_LENGTH) {
    throw new LoadError({
      field: 'tokenizer_config.json model_max_length',
      value,
      problem: `must be an integer from 2 to ${MAX_MODEL_MAX_LENGTH} (the ids are padded to it)`,
      fix: "set it to the text encoder's context length: 77 for every CLIP text encoder of Stable Diffusion.",
    });
  }
  return value;
}

/** A special token's value: a string, an AddedToken object (`{content, lstrip, ...}`), or null. */
function readSpecialToken(value: unknown, where: string): Omit<AddedTokenSpec, 'id'> | undefined {
  if (value === undefined || value === null) return undefined;
  const token = readTokenFlags(value, where);
  return token.content === '' ? undefined : token;
}

function readTokenFlags(value: unknown, where: string): Omit<AddedTokenSpec, 'id'> {
  if (typeof value === 'string') {
    return { content: value, lstrip: false, rstrip: false, singleWord: false, special: false };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const token = value as Record<string, unknown>;
    const flag = (name: string): boolean => {
      const flagValue = token[name];
      if (flagValue === undefined || typeof flagValue === 'boolean') return flagValue === true;
      throw new LoadError({
        field: `${where} token ${describeContent(token.content)} ${name}`,
        value: flagValue,
        problem: 'must be true or false',
        fix: FOLDER_FIX,
      });
    };
    if (typeof token.content === 'string') {
      return {
        content: token.content,
        lstrip: flag('lstrip'),
        rstrip: flag('rstrip'),
        singleWord: flag('single_word'),
        special: flag('special'),
      };
    }
  }
  throw new LoadError({
    field: `${where} token`,
    value,
    problem: 'must be a string or an object with a string "content"',
    fix: 'write the token as "<|endoftext|>" or {"content": "<|endoftext|>", ...}.',
  });
}

function describeContent(content: unknown): string {
  return typeof content === 'string' ? JSON.stringify(content) : '';
}

/** tokenizer_config.json's `added_tokens_decoder`: {"49406": {"content": ..., ...}, ...}. */
function readAddedTokensDecoder(value: unknown, added: Map<string, AddedTokenSpec>): void {
  const where = 'tokenizer_config.json added_tokens_decoder';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LoadError({
      field: where,
      value,
      problem: 'must be an object of id -> token',
      fix: FOLDER_FIX,
    });
  }
  for (const [key, token] of Object.entries(value)) {
    addToken(added, Number(key), key, readTokenFlags(token, where), where);
  }
}

/** tokenizer.json's `added_tokens`: [{"id": 49406, "content": ..., ...}, ...]. */
function readTokenizerJsonAddedTokens(value: unknown, added: Map<string, AddedTokenSpec>): void {
  const where = 'tokenizer.json added_tokens';
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) {
    throw new LoadError({ field: where, value, problem: 'must be a list', fix: FOLDER_FIX });
  }
  for (const token of value) {
    const id =
      token !== null && typeof token === 'object' ? (token as Record<string, unknown>).id : undefined;
    addToken(added, id, id, readTokenFlags(token, where), where);
  }
}

function addToken(
  added: Map<string, AddedTokenSpec>,
  id: unknown,
  shownId: unknown,
  token: Omit<AddedTokenSpec, 'id'>,
  where: string,
): void {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_ID) {
    throw new LoadError({
      field: `${where} id`,
      value: shownId,
      problem: `must be an integer id from 0 to ${MAX_ID}`,
      fix: FOLDER_FIX,
    });
  }
  // transformers skips empty tokens; a later entry with the same content wins, as in its dicts.
  if (token.content !== '') added.set(token.content, { ...token, id });
}

function readJsonObject(value: unknown, file: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  const parsed = typeof value === 'string' ? parseJson(value, file) : value;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LoadError({
      field: file,
      value: parsed,
      problem: 'must be a JSON object',
      fix: `pass the text (or parsed JSON) of the tokenizer folder's ${file}, or leave it out.`,
    });
  }
  return parsed as Record<string, unknown>;
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new LoadError({
      field: file,
      value: text,
      problem: `is not valid JSON (${(cause as Error).message})`,
      fix: `pass the text of the tokenizer folder's ${file}, unchanged.`,
      cause,
    });
  }
}

/**
 * Python's `str.isspace()` (what `str.strip()` and `str.split()` remove): the Unicode White_Space
 * characters plus U+001C..U+001F. Not JavaScript's `\s`, which adds U+FEFF and lacks U+001C..U+001F
 * and U+0085.
 */
export function isPythonSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d) || (code >= 0x1c && code <= 0x1f);
  if (code < 0x85) return false;
  return (
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000
  );
}

// Scans, not regexes: `/\s+$/` backtracks quadratically on long runs of inner whitespace.

/** Python's `str.lstrip()`. */
export function lstripPython(text: string): string {
  let start = 0;
  while (start < text.length && isPythonSpace(text.charCodeAt(start))) start++;
  return start === 0 ? text : text.slice(start);
}

/** Python's `str.rstrip()`. */
export function rstripPython(text: string): string {
  let end = text.length;
  while (end > 0 && isPythonSpace(text.charCodeAt(end - 1))) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** Python's `str.strip()`. */
export function stripPython(text: string): string {
  return rstripPython(lstripPython(text));
}

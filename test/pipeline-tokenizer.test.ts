/**
 * The CLIP tokenizer of the Stable Diffusion pipeline against what diffusers feeds its text
 * encoder: openai's own tokenizer (tokens.json, 36 prompts) and transformers' slow
 * CLIPTokenizer with ftfy, the one diffusers loads (tokens-extra.json, 322 prompts, four
 * tokenizer folders). Every prompt must give the same ids, except the ones whose text ftfy's
 * mojibake repair changes (not ported, see src/pipeline/fix-text.ts): for those the expected ids
 * are transformers' with that one ftfy step switched off.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, LoadError } from '../src/errors.js';
import { fixText } from '../src/pipeline/fix-text.js';
import { ClipTokenizer, type ClipTokenizerFiles, MAX_PROMPT_LENGTH } from '../src/pipeline/tokenizer.js';
import {
  type ConfigName,
  type ExtraCase,
  type ExtraFixture,
  loadExtra,
  loadOpenaiTokens,
  type ReferenceRun,
  referenceTokenizers,
  sd1Files,
  tokenizerFile,
} from './helpers/clip-tokenizer.js';
import { throwingArray, throwingGetter, throwingProxy } from './helpers/hostile.js';

/** The prompts whose text ftfy's fix_encoding (mojibake repair, not ported) changes. */
const MOJIBAKE_CASES = [
  'tokens_json/mojibake',
  'mojibake_0',
  'mojibake_1',
  'mojibake_2',
  'mojibake_3',
  'mojibake_4',
  'mojibake_5',
  'mojibake_6',
  'mojibake_7',
  'mojibake_8',
  'mojibake_9',
];

let extra: ExtraFixture;
let tokenizers: Record<ConfigName, ClipTokenizer>;

beforeAll(() => {
  extra = loadExtra();
  tokenizers = referenceTokenizers(extra);
});

function caseNamed(name: string): ExtraCase {
  const found = extra.cases.find((c) => c.name === name);
  if (!found) throw new Error(`no case ${name}`);
  return found;
}

/** What the port must give: transformers' run, with fix_encoding off where it changed the text. */
function expected(c: ExtraCase, config: ConfigName): ReferenceRun | undefined {
  return c.fix_encoding_changes ? c.without_fix_encoding?.[config] : c[config];
}

describe("openai's tokens.json (SimpleTokenizer with ftfy)", () => {
  const { cases } = loadOpenaiTokens();

  it('gives the SD 1.x ids of every prompt but the mojibake one', () => {
    const sd1 = tokenizers.sd1;
    const differing = cases.filter((c) => !equalIds(sd1.encode(c.prompt).ids, c.sd1)).map((c) => c.name);
    expect(differing).toEqual(['mojibake']);
    expect(cases).toHaveLength(36);
  });

  it('gives, for the mojibake prompt, what diffusers gives with ftfy fix_encoding off', () => {
    const openai = cases.find((c) => c.name === 'mojibake')!;
    const ours = Array.from(tokenizers.sd1.encode(openai.prompt).ids);
    expect(ours).toEqual(caseNamed('tokens_json/mojibake').without_fix_encoding?.sd1?.ids);
    // "cafÃ© crÃ¨me": ftfy reads it as UTF-8 mojibake and tokenizes "café crème"; the port keeps
    // the characters as typed.
    expect(openai.sd1.slice(0, 6)).toEqual([49406, 15304, 1075, 12138, 614, 49407]);
    expect(ours.slice(0, 12)).toEqual([49406, 3471, 127, 352, 5811, 1075, 127, 352, 126, 357, 614, 49407]);
  });

  it('gives the SD 2.x ids: padded with "!" (0), and "!" inside a prompt cut out as the pad token', () => {
    const sd2 = tokenizers.sd2;
    // tokens.json's sd2 pads openai's ids with 0; transformers' SD 2.x tokenizer also makes the
    // pad token "!" an added token, so a "!" in the prompt becomes id 0 (diffusers #4153).
    const withBang = cases.filter((c) => c.prompt.includes('!')).map((c) => c.name);
    expect(withBang).toEqual(['punctuation']);
    for (const c of cases) {
      const ours = sd2.encode(c.prompt).ids;
      const transformers = caseNamed(`tokens_json/${c.name}`);
      expect(Array.from(ours), c.name).toEqual(expected(transformers, 'sd2')?.ids);
      if (c.name !== 'mojibake' && !withBang.includes(c.name))
        expect(Array.from(ours), c.name).toEqual(c.sd2);
    }
    const punctuation = sd2.encode(cases.find((c) => c.name === 'punctuation')!.prompt).ids;
    // "Hello, world!!! What's up??": openai has "!!!" as one id (995), SD 2.x three pad ids.
    expect(Array.from(punctuation.slice(0, 8))).toEqual([49406, 3306, 267, 1002, 0, 0, 0, 768]);
  });
});

describe("transformers' slow CLIPTokenizer with ftfy (tokens-extra.json)", () => {
  const configs: ConfigName[] = ['sd1', 'sd2', 'added', 'json_added'];

  it.each(configs)(
    '%s: every prompt gives diffusers\u2019 ids, untruncated length and removed text',
    (config) => {
      const tokenizer = tokenizers[config];
      const mismatches: string[] = [];
      let compared = 0;
      for (const c of extra.cases) {
        const want = expected(c, config);
        if (!want) continue;
        compared++;
        const got = tokenizer.encode(c.prompt);
        if (!equalIds(got.ids, want.ids)) mismatches.push(`${c.name}: ids`);
        if (got.length !== want.length) mismatches.push(`${c.name}: length ${got.length} != ${want.length}`);
        if (got.truncated !== want.length > 77) mismatches.push(`${c.name}: truncated`);
        if (got.removedText !== want.removed_text) {
          mismatches.push(
            `${c.name}: removed ${JSON.stringify(got.removedText)} != ${JSON.stringify(want.removed_text)}`,
          );
        }
      }
      expect(mismatches).toEqual([]);
      expect(compared).toBe(config === 'sd1' || config === 'sd2' ? 322 : 16);
    },
  );

  it('lists exactly the mojibake prompts as changed by fix_encoding, and they do differ from diffusers', () => {
    expect(extra.cases.filter((c) => c.fix_encoding_changes).map((c) => c.name)).toEqual(MOJIBAKE_CASES);
    for (const name of MOJIBAKE_CASES) {
      const c = caseNamed(name);
      expect(equalIds(tokenizers.sd1.encode(c.prompt).ids, c.sd1.ids), name).toBe(false);
    }
  });

  it("cleans every prompt's text as ftfy.fix_text does (fix_encoding off)", () => {
    const mismatches = extra.cases.filter((c) => fixText(c.prompt) !== c.fixed_text).map((c) => c.name);
    expect(mismatches).toEqual([]);
  });

  it('truncates with diffusers\u2019 warning text, also inside a multi-byte character', () => {
    const rare = tokenizers.sd1.encode(caseNamed('length_rare_boundary').prompt);
    expect(rare.truncated).toBe(true);
    expect(rare.ids[76]).toBe(49407);
    // The cut falls between the byte tokens of "𝕬": Python decodes the bytes left with U+FFFD.
    expect(rare.removedText).toBe('\ufffd\ufffd𝕭𝕮 ꙮ end');
  });
});

describe('ClipTokenizer API', () => {
  it("reads the special tokens and model_max_length from the folder's configs", () => {
    const { sd1, sd2 } = tokenizers;
    expect([sd1.modelMaxLength, sd1.bosTokenId, sd1.eosTokenId, sd1.padTokenId]).toEqual([
      77, 49406, 49407, 49407,
    ]);
    expect([sd2.modelMaxLength, sd2.bosTokenId, sd2.eosTokenId, sd2.padTokenId]).toEqual([
      77, 49406, 49407, 0,
    ]);
  });

  it('encodes the empty prompt as bos, eos and padding', () => {
    const empty = tokenizers.sd1.encode('');
    expect(empty).toEqual({
      ids: Int32Array.from([49406, ...new Array(76).fill(49407)]),
      length: 2,
      truncated: false,
    });
    expect(Array.from(tokenizers.sd2.encode('').ids)).toEqual([49406, 49407, ...new Array(75).fill(0)]);
  });

  it('encodes a batch as the rows of each prompt', () => {
    const prompts = ['a red cube', 'a blue sphere', '', caseNamed('length_long_2').prompt];
    const batch = tokenizers.sd2.encodeBatch(prompts);
    expect(batch.dims).toEqual([4, 77]);
    expect(batch.ids).toBeInstanceOf(Int32Array);
    prompts.forEach((prompt, row) => {
      const single = tokenizers.sd2.encode(prompt);
      expect(batch.encodings[row]).toEqual(single);
      expect(Array.from(batch.ids.subarray(row * 77, row * 77 + 77))).toEqual(Array.from(single.ids));
    });
    expect(tokenizers.sd1.encodeBatch([])).toEqual({ ids: new Int32Array(0), dims: [0, 77], encodings: [] });
  });

  it('builds the model from vocab.json + merges.txt: tokenizer.json changes only the added tokens', () => {
    const withJson = ClipTokenizer.fromFiles({
      ...sd1Files(),
      tokenizerJson: tokenizerFile('tokenizer.json'),
    });
    const without = ClipTokenizer.fromFiles(sd1Files());
    for (const c of extra.cases)
      expect(equalIds(withJson.encode(c.prompt).ids, Array.from(without.encode(c.prompt).ids))).toBe(true);
    // A tokenizer.json with an unusable model is not read beyond its added tokens.
    const odd = ClipTokenizer.fromFiles({
      ...sd1Files(),
      tokenizerJson: { model: { type: 'WordPiece' }, normalizer: null, added_tokens: [] },
    });
    expect(Array.from(odd.encode('a photo').ids.slice(0, 4))).toEqual([49406, 320, 1125, 49407]);
  });

  it('ignores special_tokens_map.json and tokenizer.json when tokenizer_config.json has added_tokens_decoder', () => {
    const files: ClipTokenizerFiles = {
      ...sd1Files(),
      tokenizerConfig: extra.configs.added.tokenizer_config,
      specialTokensMap: { pad_token: '!' },
      tokenizerJson: { added_tokens: [{ id: 320, content: 'zzz' }] },
    };
    const tokenizer = ClipTokenizer.fromFiles(files);
    expect(tokenizer.padTokenId).toBe(49407);
    expect(Array.from(tokenizer.encode('a cat! zzz <cat-toy>').ids.slice(0, 7))).toEqual([
      49406, 320, 2368, 256, 20055, 49408, 49407,
    ]);
  });

  it('takes special tokens as strings or {content} objects, and pads to model_max_length', () => {
    const tokenizer = ClipTokenizer.fromFiles({
      vocab: JSON.parse(tokenizerFile('vocab.json')),
      merges: tokenizerFile('merges.txt'),
      tokenizerConfig: { model_max_length: 6, pad_token: { content: '!', lstrip: false }, bos_token: null },
      specialTokensMap: { bos_token: { content: '<|startoftext|>' } },
    });
    expect(tokenizer.modelMaxLength).toBe(6);
    expect(tokenizer.encode('a photo')).toEqual({
      ids: Int32Array.from([49406, 320, 1125, 49407, 0, 0]),
      length: 4,
      truncated: false,
    });
    expect(tokenizer.encode('a photo of an astronaut riding')).toEqual({
      ids: Int32Array.from([49406, 320, 1125, 539, 550, 49407]),
      length: 8,
      truncated: true,
      removedText: 'astronaut riding',
    });
  });

  it('uses 77 and CLIP\u2019s special tokens when the folder has no tokenizer_config.json', () => {
    const bare = ClipTokenizer.fromFiles({
      vocab: tokenizerFile('vocab.json'),
      merges: tokenizerFile('merges.txt'),
    });
    expect([bare.modelMaxLength, bare.bosTokenId, bare.eosTokenId, bare.padTokenId]).toEqual([
      77, 49406, 49407, 49407,
    ]);
    const prompt = caseNamed('ordinary_0').prompt;
    expect(Array.from(bare.encode(prompt).ids)).toEqual(caseNamed('ordinary_0').sd1.ids);
  });

  it('tokenizes prompts up to MAX_PROMPT_LENGTH, deeply nested entities included, and no longer ones', () => {
    const nested = tokenizers.sd1.encode(`&${'amp;'.repeat(4000)} x`);
    expect(Array.from(nested.ids.slice(0, 4))).toEqual([49406, 261, 343, 49407]);
    const long = tokenizers.sd1.encode('a red fox in the snow, '.repeat(800));
    expect(long.length).toBe(800 * 7 + 2);
    expect(long.truncated).toBe(true);
    expect(tokenizers.sd1.encode('x'.repeat(MAX_PROMPT_LENGTH)).length).toBe(MAX_PROMPT_LENGTH / 4 + 2);
    expect(() => tokenizers.sd1.encode('x'.repeat(MAX_PROMPT_LENGTH + 1))).toThrow(ArgumentError);
    expect(() => tokenizers.sd1.encodeBatch(['ok', 'x'.repeat(MAX_PROMPT_LENGTH + 1)])).toThrow(
      /texts\[1\] is 20001/,
    );
  });
});

describe('hostile input', () => {
  const files = (): ClipTokenizerFiles => sd1Files();

  function loadError(patch: Partial<ClipTokenizerFiles>, field: RegExp, problem: RegExp): LoadError {
    let error: unknown;
    try {
      ClipTokenizer.fromFiles({ ...files(), ...patch });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LoadError);
    const load = error as LoadError;
    expect(load.field).toMatch(field);
    expect(load.problem).toMatch(problem);
    expect(load.fix).toBeTruthy();
    return load;
  }

  it('rejects a prompt that is not a string with an ArgumentError', () => {
    const tokenizer = tokenizers.sd1;
    for (const value of [undefined, null, 42, ['a'], { text: 'a' }, Symbol('a'), 1n]) {
      expect(() => tokenizer.encode(value as unknown as string)).toThrow(ArgumentError);
    }
    expect(() => tokenizer.encodeBatch('a prompt' as unknown as string[])).toThrow(ArgumentError);
    expect(() => tokenizer.encodeBatch(['ok', 3 as unknown as string])).toThrow(
      /texts\[1\] must be a string/,
    );
  });

  it('rejects vocab.json that is not a JSON object of integer ids', () => {
    loadError({ vocab: '{"a": 1,' }, /^vocab\.json$/, /not valid JSON/);
    loadError({ vocab: '[1, 2]' }, /^vocab\.json$/, /JSON object/);
    loadError({ vocab: '{}' }, /^vocab\.json$/, /empty/);
    loadError({ vocab: '{"a": 1.5}' }, /vocab\.json entry "a"/, /integer id/);
    loadError({ vocab: '{"a": -1}' }, /vocab\.json entry "a"/, /integer id/);
    loadError({ vocab: '{"a": "1"}' }, /vocab\.json entry "a"/, /integer id/);
    loadError({ vocab: '{"a": 1, "b": 1}' }, /vocab\.json entry "b"/, /same id as "a"/);
    loadError({ vocab: 7 as unknown as string }, /^vocab\.json$/, /JSON object/);
  });

  it('rejects merges.txt without its #version line or with malformed lines', () => {
    const merges = tokenizerFile('merges.txt');
    const lines = merges.split('\n');
    const error = loadError({ merges: lines.slice(1).join('\n') }, /^merges\.txt$/, /#version/);
    expect(error.fix).toMatch(/#version: 0\.2/);
    loadError(
      { merges: [lines[0], 'i n', 'a b c', ...lines.slice(3)].join('\n') },
      /merges\.txt line 3/,
      /two tokens/,
    );
    loadError(
      { merges: [lines[0], 'i n', 'lonely', ...lines.slice(3)].join('\n') },
      /merges\.txt line 3/,
      /two/,
    );
    loadError({ merges: [lines[0], '', 'i n'].join('\n') }, /merges\.txt line 2/, /two tokens/);
    loadError({ merges: '#version: 0.2\n' }, /^merges\.txt$/, /no merges/);
    loadError({ merges: undefined as unknown as string }, /^merges\.txt$/, /text of the file/);
    // Windows line endings are whitespace to Python's split(): accepted, same merges.
    const crlf = ClipTokenizer.fromFiles({ ...files(), merges: merges.replaceAll('\n', '\r\n') });
    expect(Array.from(crlf.encode('a photo of an astronaut').ids)).toEqual(
      Array.from(tokenizers.sd1.encode('a photo of an astronaut').ids),
    );
  });

  it('rejects special tokens that are missing or not in the vocabulary', () => {
    const pad = loadError(
      { specialTokensMap: { pad_token: '<pad>' } },
      /pad_token \(special_tokens_map\.json\)/,
      /not in vocab\.json/,
    );
    expect(pad.value).toBe('<pad>');
    const noMap = { specialTokensMap: undefined };
    loadError(
      { ...noMap, tokenizerConfig: { eos_token: null } },
      /eos_token \(tokenizer_config\.json\)/,
      /missing/,
    );
    loadError({ ...noMap, tokenizerConfig: { bos_token: '' } }, /bos_token/, /missing/);
    // special_tokens_map.json wins over tokenizer_config.json (transformers' legacy path).
    expect(ClipTokenizer.fromFiles({ ...files(), tokenizerConfig: { eos_token: null } }).eosTokenId).toBe(
      49407,
    );
    loadError(
      { ...noMap, tokenizerConfig: { unk_token: 5 } },
      /tokenizer_config\.json token/,
      /string or an object/,
    );
    loadError(
      { ...noMap, tokenizerConfig: { unk_token: { content: 'x', lstrip: 'yes' } } },
      /lstrip/,
      /true or false/,
    );
    loadError({ vocab: '{"a": 0, "b": 1}', merges: '#version: 0.2\na b' }, /bos_token/, /not in vocab\.json/);
    loadError({ tokenizerConfig: { additional_special_tokens: '<x>' } }, /additional_special_tokens/, /list/);
    loadError(
      { tokenizerConfig: { added_tokens_decoder: { abc: { content: '<x>' } } } },
      /added_tokens_decoder id/,
      /integer id/,
    );
    loadError(
      { tokenizerJson: { added_tokens: [{ content: '<x>' }] } },
      /tokenizer\.json added_tokens id/,
      /integer id/,
    );
    loadError({ tokenizerJson: { added_tokens: 'x' } }, /tokenizer\.json added_tokens/, /list/);
  });

  it('rejects configs that are not JSON objects, and unusable model_max_length', () => {
    loadError({ tokenizerConfig: '{"model_max_length": 77' }, /^tokenizer_config\.json$/, /not valid JSON/);
    loadError({ specialTokensMap: '[]' }, /^special_tokens_map\.json$/, /JSON object/);
    loadError({ tokenizerJson: 'null' }, /^tokenizer\.json$/, /JSON object/);
    const huge = loadError(
      { tokenizerConfig: { model_max_length: 1e30 } },
      /model_max_length/,
      /integer from 2/,
    );
    expect(huge.fix).toMatch(/77/);
    loadError({ tokenizerConfig: { model_max_length: '77' } }, /model_max_length/, /integer/);
    loadError({ tokenizerConfig: { model_max_length: 1 } }, /model_max_length/, /integer from 2/);
    loadError(
      { tokenizerConfig: { clean_up_tokenization_spaces: 'yes' } },
      /clean_up_tokenization_spaces/,
      /true or false/,
    );
    expect(() => ClipTokenizer.fromFiles(null as unknown as ClipTokenizerFiles)).toThrow(LoadError);
  });

  it('turns unreadable objects into typed errors', () => {
    loadError({ vocab: throwingProxy() as Record<string, unknown> }, /^vocab\.json$/, /could not be read/);
    loadError(
      { tokenizerConfig: throwingProxy() as Record<string, unknown> },
      /^files$/,
      /could not be read/,
    );
    loadError({ specialTokensMap: throwingGetter({}, 'pad_token') }, /^files$/, /hostile getter/);
    expect(() => ClipTokenizer.fromFiles(throwingProxy() as ClipTokenizerFiles)).toThrow(LoadError);
    expect(() => tokenizers.sd1.encodeBatch(throwingArray(2) as string[])).toThrow(ArgumentError);
  });
});

function equalIds(got: Int32Array, want: readonly number[] | undefined): boolean {
  if (!want || got.length !== want.length) return false;
  return got.every((id, i) => id === want[i]);
}

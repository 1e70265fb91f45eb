/**
 * The CLIP tokenizer of Stable Diffusion pipelines: a prompt -> the `modelMaxLength` (77) input
 * ids diffusers' `StableDiffusionPipeline` feeds its text encoder.
 *
 * It reproduces what diffusers runs for SD 1.x / 2.x: transformers' slow `CLIPTokenizer` with
 * ftfy installed, called as `tokenizer(prompt, padding="max_length",
 * max_length=tokenizer.model_max_length, truncation=True)`:
 *
 *   1. the added tokens (the special tokens `<|startoftext|>`, `<|endoftext|>`, the pad token,
 *      any others the folder declares) are cut out of the raw prompt and kept as their ids;
 *   2. each piece between them: `whitespace_clean(ftfy.fix_text(piece)).lower()` (fix-text.ts),
 *      CLIP's regex split, each word's UTF-8 bytes as GPT-2 byte characters, BPE with `</w>`
 *      ending the word (the BPE itself is `@huggingface/tokenizers`' BPE model);
 *   3. `[bos] + ids[:modelMaxLength - 2] + [eos]`, padded with the pad token to modelMaxLength:
 *      `<|endoftext|>` (49407) for SD 1.x, `!` (0) for SD 2.x.
 *
 * Core module: no Node built-ins, no I/O (the caller reads the folder's files).
 */
import * as hfTokenizers from '@huggingface/tokenizers';
import { ArgumentError } from '../errors.js';
import { fixText } from './fix-text.js';
import {
  type AddedTokenSpec,
  type ClipTokenizerFiles,
  type ClipTokenizerSpec,
  lstripPython,
  readTokenizerFiles,
  rstripPython,
  stripPython,
} from './tokenizer-files.js';

export type { ClipTokenizerFiles } from './tokenizer-files.js';

/** One prompt's ids, as diffusers computes them. */
export interface ClipEncoding {
  /** `modelMaxLength` ids: bos, the prompt's first `modelMaxLength - 2` ids, eos, then padding. */
  ids: Int32Array;
  /** The number of ids before truncation and padding, bos and eos included. */
  length: number;
  /** Whether ids were cut (`length > modelMaxLength`); diffusers then logs a warning. */
  truncated: boolean;
  /**
   * When truncated: the cut ids decoded, the text of diffusers' warning ("The following part of
   * your input was truncated because CLIP can only handle sequences up to 77 tokens: ...").
   */
  removedText?: string;
}

/** A batch of prompts: the ids of all of them, row after row, and each one's encoding. */
export interface ClipBatchEncoding {
  /** `[batch, modelMaxLength]` ids, row-major. */
  ids: Int32Array;
  /** `[batch, modelMaxLength]`. */
  dims: [number, number];
  /** Each prompt's encoding, in order. */
  encodings: ClipEncoding[];
}

/**
 * CLIP's pre-tokenization regex (the slow tokenizer's `self.pat`), written for JavaScript so
 * that it splits exactly as the Python `regex` module does with `re.IGNORECASE`:
 * - the text is already lowercased, so ignoring case only matters for "ſ" (U+017F), which
 *   case-folds to "s": hence `[sſ]`;
 * - `\s` is Python's (the Unicode White_Space set), not JavaScript's (which adds U+FEFF, lacks
 *   U+0085);
 * - U+0345 (combining ypogegrammeni) folds to "ι", so under IGNORECASE it is in neither
 *   `[\p{L}]` nor `[^\s\p{L}\p{N}]`: Python drops it, and so does this pattern.
 * Exported for the character-level tests only (not part of the package's API).
 */
export const CLIP_PATTERN =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: U+0345 alone is excluded on purpose (above)
  /<\|[sſ]tartoftext\|>|<\|endoftext\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\p{L}\p{N}\u0345]+/gu;

/** `\s+` of the Python `regex` module (whitespace_clean's), as above. Exported for tests. */
export const WHITESPACE_RUN = /[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;

/** The two words the slow tokenizer's BPE cache maps straight to themselves (not BPE'd). */
const CACHED_WORDS: ReadonlySet<string> = new Set(['<|startoftext|>', '<|endoftext|>']);

/** GPT-2's `bytes_to_unicode`: each byte as a printable character (BPE never sees raw bytes). */
const BYTE_CHARS: readonly string[] = (() => {
  const chars: string[] = new Array(256);
  let next = 256;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    chars[byte] = String.fromCharCode(printable ? byte : next++);
  }
  return chars;
})();
const CHAR_BYTES: ReadonlyMap<string, number> = new Map(BYTE_CHARS.map((char, byte) => [char, byte]));

const utf8 = new TextEncoder();

/**
 * The longest prompt accepted, in UTF-16 code units. CLIP reads only its first 75 tokens (a few
 * hundred characters), so a longer prompt is a mistake; the cap bounds the work on hostile text:
 * ftfy's loop unescapes one level of "&amp;amp;..." per pass over the whole line (quadratic, in
 * Python too), and BPE on one enormous word is slow. At this length the worst inputs measured
 * take well under a second.
 */
export const MAX_PROMPT_LENGTH = 20_000;

/**
 * The part of `@huggingface/tokenizers`' BPE model used here. Typed locally because the
 * package's .d.ts re-export their modules by extensionless relative paths, which TypeScript's
 * NodeNext resolution cannot follow (the named exports type as missing; the JavaScript is fine).
 */
interface BpeModel {
  /** A pre-token (byte characters) -> its BPE tokens, `</w>` on the last, unknown ones as unk. */
  encode(tokens: string[]): string[];
  /** vocab.json as a map, token -> id. */
  tokens_to_ids: Map<string, number>;
  /** vocab.json inverted, id -> token. */
  vocab: string[];
}
interface BpeConfig {
  type: 'BPE';
  vocab: Record<string, number>;
  merges: [string, string][];
  end_of_word_suffix: string;
  unk_token: string;
  ignore_merges: boolean;
}
const Bpe = (hfTokenizers as unknown as { BPE: new (config: BpeConfig) => BpeModel }).BPE;

/**
 * The CLIP tokenizer of a Stable Diffusion `tokenizer/` folder, giving the ids diffusers' pipeline
 * feeds its text encoder (transformers' slow `CLIPTokenizer` with ftfy; see the module comment).
 * Build it with `ClipTokenizer.fromFiles`.
 */
export class ClipTokenizer {
  /** Every encoding has exactly this many ids (77 for Stable Diffusion's CLIP text encoders). */
  readonly modelMaxLength: number;
  /** The id every encoding starts with (`<|startoftext|>`, 49406). */
  readonly bosTokenId: number;
  /** The id that ends the prompt (`<|endoftext|>`, 49407). */
  readonly eosTokenId: number;
  /** The id the encodings are padded with: `<|endoftext|>` for SD 1.x, `!` (0) for SD 2.x. */
  readonly padTokenId: number;

  readonly #spec: ClipTokenizerSpec;
  readonly #bpe: BpeModel;
  readonly #unkId: number;
  readonly #addedById = new Map<number, AddedTokenSpec>();
  readonly #addedByContent = new Map<string, AddedTokenSpec>();
  /** Matches the added tokens, longest first: the leftmost-longest cut of transformers' trie. */
  readonly #addedPattern: RegExp | undefined;

  private constructor(spec: ClipTokenizerSpec) {
    this.#spec = spec;
    this.modelMaxLength = spec.modelMaxLength;
    this.bosTokenId = spec.bos.id;
    this.eosTokenId = spec.eos.id;
    this.padTokenId = spec.pad.id;
    this.#unkId = spec.unk.id;
    for (const token of spec.addedTokens) {
      this.#addedById.set(token.id, token);
      this.#addedByContent.set(token.content, token);
    }
    const contents = [...this.#addedByContent.keys()].sort((a, b) => b.length - a.length);
    this.#addedPattern =
      contents.length > 0 ? new RegExp(contents.map(escapeRegExp).join('|'), 'g') : undefined;
    this.#bpe = new Bpe({
      type: 'BPE',
      vocab: spec.vocab,
      merges: spec.merges,
      end_of_word_suffix: '</w>',
      unk_token: spec.unk.content,
      ignore_merges: false,
    });
  }

  /**
   * A tokenizer from the contents of a Stable Diffusion `tokenizer/` folder: vocab.json and
   * merges.txt (required), tokenizer_config.json and special_tokens_map.json (optional, for
   * model_max_length and the special tokens), tokenizer.json (optional; only its added tokens
   * are read, as the slow tokenizer does). Throws LoadError naming the file that is wrong.
   */
  static fromFiles(files: ClipTokenizerFiles): ClipTokenizer {
    return new ClipTokenizer(readTokenizerFiles(files));
  }

  /** One prompt's `modelMaxLength` ids, as diffusers' pipeline computes them. */
  encode(text: string): ClipEncoding {
    checkPrompt(text, 'text');
    return this.#encode(text);
  }

  /** Several prompts (a batch, or the negative prompts), each encoded as `encode` does. */
  encodeBatch(texts: readonly string[]): ClipBatchEncoding {
    if (!Array.isArray(texts)) {
      throw new ArgumentError({
        field: 'texts',
        value: texts,
        problem: 'must be an array of strings',
        fix: 'pass the prompts as a list, e.g. ["a red cube", "a blue sphere"].',
      });
    }
    let prompts: unknown[];
    try {
      prompts = Array.from(texts);
    } catch (cause) {
      throw new ArgumentError({
        field: 'texts',
        problem: 'could not be read',
        fix: 'pass a plain array of strings.',
        cause,
      });
    }
    for (let i = 0; i < prompts.length; i++) checkPrompt(prompts[i], `texts[${i}]`);
    const length = this.modelMaxLength;
    const ids = new Int32Array(prompts.length * length);
    const encodings = (prompts as string[]).map((text, row) => {
      const encoding = this.#encode(text);
      ids.set(encoding.ids, row * length);
      return encoding;
    });
    return { ids, dims: [prompts.length, length], encodings };
  }

  #encode(text: string): ClipEncoding {
    const tokens = this.#tokenIds(text);
    const max = this.modelMaxLength;
    const kept = Math.min(tokens.length, max - 2);
    const ids = new Int32Array(max).fill(this.padTokenId);
    ids[0] = this.bosTokenId;
    for (let i = 0; i < kept; i++) ids[i + 1] = tokens[i];
    ids[kept + 1] = this.eosTokenId;
    const truncated = tokens.length > kept;
    const encoding: ClipEncoding = { ids, length: tokens.length + 2, truncated };
    // diffusers: batch_decode(untruncated_ids[:, model_max_length - 1 : -1]), the ids past the
    // kept ones, without the final eos.
    if (truncated) encoding.removedText = this.#decode(tokens.slice(kept));
    return encoding;
  }

  /** The prompt's ids without bos / eos (transformers' `tokenize` + `convert_tokens_to_ids`). */
  #tokenIds(text: string): number[] {
    const ids: number[] = [];
    for (const piece of this.#splitAddedTokens(text)) {
      if (piece === '') continue;
      const added = this.#addedByContent.get(piece);
      if (added) ids.push(added.id);
      else this.#pieceIds(piece, ids);
    }
    return ids;
  }

  /**
   * transformers' `tokenize`: the text cut at the added tokens, then each token's lstrip /
   * rstrip / single_word flags applied to its neighbours, exactly in its order (the neighbour
   * strings are edited in place while walking the list). CLIP's own tokens have none of the flags.
   */
  #splitAddedTokens(text: string): string[] {
    const pattern = this.#addedPattern;
    if (!pattern) return [text];
    const pieces: string[] = [];
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) pieces.push(text.slice(last, match.index));
      pieces.push(match[0]);
      last = match.index + match[0].length;
    }
    if (last < text.length) pieces.push(text.slice(last));
    for (let i = 0; i < pieces.length; i++) {
      const token = this.#addedByContent.get(pieces[i]);
      if (!token) continue;
      const left = i > 0 ? pieces[i - 1] : '';
      const right = i < pieces.length - 1 ? pieces[i + 1] : '';
      if (token.rstrip && right) pieces[i + 1] = lstripPython(right);
      if (token.lstrip && left) pieces[i - 1] = rstripPython(left);
      if (token.singleWord && left && !left.endsWith(' ')) {
        pieces[i - 1] += pieces[i];
        pieces[i] = '';
      } else if (token.singleWord && right && !right.startsWith(' ')) {
        pieces[i + 1] = pieces[i] + pieces[i + 1];
        pieces[i] = '';
      }
    }
    return pieces;
  }

  /** The slow CLIPTokenizer's `_tokenize` for a piece of text without added tokens, as ids. */
  #pieceIds(piece: string, ids: number[]): void {
    const text = stripPython(fixText(piece).replace(WHITESPACE_RUN, ' ')).toLowerCase();
    for (const [word] of text.matchAll(CLIP_PATTERN)) {
      if (CACHED_WORDS.has(word)) {
        ids.push(this.#bpe.tokens_to_ids.get(word) ?? this.#unkId);
        continue;
      }
      let byteWord = '';
      for (const byte of utf8.encode(word)) byteWord += BYTE_CHARS[byte];
      for (const token of this.#bpe.encode([byteWord])) {
        // transformers looks a token up among the added tokens first, then in the vocabulary.
        ids.push(this.#addedByContent.get(token)?.id ?? this.#bpe.tokens_to_ids.get(token) ?? this.#unkId);
      }
    }
  }

  /**
   * transformers' slow `decode` (skip_special_tokens false), used only for the truncation
   * warning's text: tokens -> bytes -> UTF-8 (invalid sequences as U+FFFD) with `</w>` as a
   * space; added tokens that are not special are kept as they are, joined with spaces.
   */
  #decode(ids: readonly number[]): string {
    const idToToken = this.#bpe.vocab;
    // transformers' `legacy_added_tokens`: the added tokens that are not special, and the
    // additional special tokens whose id is past the vocabulary.
    const { specialContents, additionalSpecialContents, vocabSize } = this.#spec;
    const legacy = (token: AddedTokenSpec | undefined): boolean =>
      token !== undefined &&
      (!specialContents.has(token.content) ||
        (additionalSpecialContents.has(token.content) && token.id >= vocabSize));
    const texts: string[] = [];
    let run: string[] = [];
    const flush = (): void => {
      if (run.length === 0) return;
      const text = tokensToString(run);
      run = [];
      if (text !== '') texts.push(text);
    };
    for (const id of ids) {
      const added = this.#addedById.get(id);
      const token = added?.content ?? idToToken[id] ?? '';
      if (legacy(added)) {
        flush();
        texts.push(token);
      } else {
        run.push(token);
      }
    }
    if (run.length > 0) texts.push(tokensToString(run));
    const text = texts.join(' ');
    return this.#spec.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
  }
}

function checkPrompt(text: unknown, field: string): asserts text is string {
  if (typeof text !== 'string') {
    throw new ArgumentError({
      field,
      value: text,
      problem: 'must be a string',
      fix: 'pass the prompt as text; use "" for an empty (unconditional) prompt.',
    });
  }
  if (text.length > MAX_PROMPT_LENGTH) {
    throw new ArgumentError({
      field,
      value: text,
      problem: `is ${text.length} characters long, over the ${MAX_PROMPT_LENGTH} accepted`,
      fix: 'shorten it: the text encoder sees only the first 75 tokens (a few hundred characters).',
    });
  }
}

/** The slow CLIPTokenizer's `convert_tokens_to_string`. */
function tokensToString(tokens: readonly string[]): string {
  const bytes: number[] = [];
  for (const token of tokens) {
    for (const char of token) {
      const byte = CHAR_BYTES.get(char);
      // Python would raise KeyError on a character outside the byte alphabet (only possible in
      // an odd special token); its UTF-8 bytes are the useful reading for a warning text.
      if (byte !== undefined) bytes.push(byte);
      else bytes.push(...utf8.encode(char));
    }
  }
  const text = new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
  return stripPython(text.replaceAll('</w>', ' '));
}

/** transformers' `clean_up_tokenization` (when the config sets clean_up_tokenization_spaces). */
function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

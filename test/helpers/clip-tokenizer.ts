/**
 * The CLIP tokenizer fixtures: test/fixtures/tiny-sd/tokenizer (SD 1.5's files, copied from the
 * shared tiny-sd folder), tokens.json (openai's own tokenizer), and the references made by
 * scripts/clip_tokens_reference.py from transformers' slow CLIPTokenizer with ftfy
 * (test/fixtures/pipeline/tokens-extra.json, characters.json).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipTokenizer, type ClipTokenizerFiles } from '../../src/pipeline/tokenizer.js';
import { fixtureDir } from './fixtures.js';

export const tokenizerDir = join(fixtureDir, 'tiny-sd', 'tokenizer');

export function tokenizerFile(name: string): string {
  return readFileSync(join(tokenizerDir, name), 'utf8');
}

/** The files of the SD 1.5 tokenizer folder, as the caller would read them. */
export function sd1Files(): ClipTokenizerFiles {
  return {
    vocab: tokenizerFile('vocab.json'),
    merges: tokenizerFile('merges.txt'),
    tokenizerConfig: tokenizerFile('tokenizer_config.json'),
    specialTokensMap: tokenizerFile('special_tokens_map.json'),
  };
}

/** One run of diffusers' tokenization: `tokenizer(prompt, padding="max_length", ...)`. */
export interface ReferenceRun {
  ids: number[];
  length: number;
  removed_text?: string;
}

export type ConfigName = 'sd1' | 'sd2' | 'added' | 'json_added';

export interface ExtraCase {
  name: string;
  prompt: string;
  fixed_text: string;
  fix_encoding_changes: boolean;
  sd1: ReferenceRun;
  sd2: ReferenceRun;
  added?: ReferenceRun;
  json_added?: ReferenceRun;
  without_fix_encoding?: Partial<Record<ConfigName, ReferenceRun>>;
}

export interface ExtraFixture {
  source: Record<string, string>;
  configs: {
    sd2: { tokenizer_config: Record<string, unknown>; special_tokens_map: Record<string, unknown> };
    added: { tokenizer_config: Record<string, unknown> };
    json_added: { tokenizer_json: Record<string, unknown> };
  };
  cases: ExtraCase[];
}

export function loadExtra(): ExtraFixture {
  return JSON.parse(readFileSync(join(fixtureDir, 'pipeline', 'tokens-extra.json'), 'utf8')) as ExtraFixture;
}

/** The four tokenizer folders the reference script ran (see its docstring). */
export function referenceTokenizers(extra: ExtraFixture): Record<ConfigName, ClipTokenizer> {
  const base = sd1Files();
  const { vocab, merges } = base;
  return {
    sd1: ClipTokenizer.fromFiles({ ...base, tokenizerJson: tokenizerFile('tokenizer.json') }),
    sd2: ClipTokenizer.fromFiles({
      vocab,
      merges,
      tokenizerConfig: extra.configs.sd2.tokenizer_config,
      specialTokensMap: extra.configs.sd2.special_tokens_map,
    }),
    added: ClipTokenizer.fromFiles({ vocab, merges, tokenizerConfig: extra.configs.added.tokenizer_config }),
    json_added: ClipTokenizer.fromFiles({
      vocab,
      merges,
      tokenizerConfig: base.tokenizerConfig,
      tokenizerJson: extra.configs.json_added.tokenizer_json,
    }),
  };
}

/** A case of tokens.json (openai's SimpleTokenizer). */
export interface OpenaiCase {
  name: string;
  prompt: string;
  ids: number[];
  n_tokens: number;
  truncated: boolean;
  sd1: number[];
  sd2: number[];
}

export function loadOpenaiTokens(): { cases: OpenaiCase[] } {
  return JSON.parse(readFileSync(join(fixtureDir, 'tiny-sd', 'tokens.json'), 'utf8')) as {
    cases: OpenaiCase[];
  };
}

/**
 * The core (browser) loader: URLs and Hub ids over fetch, against a Hub-like server on
 * 127.0.0.1. No Node config source is registered in this file (it imports the core entry), so
 * these tests see exactly what a browser build does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  ConfigError,
  DDIMInverseScheduler,
  DDIMScheduler,
  DEFAULT_MAX_BYTES,
  LoadError,
  loadSchedulerConfig,
  toDiffusersJsonString,
} from '../src/index.js';
import { type ConfigSource, registerConfigSource, saveSchedulerConfig } from '../src/loading/hub.js';
import {
  endlessBody,
  fixtureText,
  guardNetwork,
  type HubServer,
  loadError,
  SD21_DDIM_CONFIG,
  SD21_DDIM_SAVED,
  startHubServer,
  startSilentServer,
} from './helpers/hub-server.js';

const COMMIT = '5b2c1e4f0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b';
const FIXTURE_FILES = [
  'sd15-pndm.json',
  'sd21-ddim-v.json',
  'sdxl-base-euler.json',
  'zero-snr-trailing-v.json',
  'cogvideox-2b-ddim.json',
];

let hub: HubServer;

let restoreFetch: () => void;

beforeAll(async () => {
  restoreFetch = guardNetwork();
  hub = await startHubServer();
  hub.repos.set('stabilityai/stable-diffusion-2-1', {
    commit: COMMIT,
    branches: ['main', 'refs/pr/1'],
    files: { 'scheduler/scheduler_config.json': fixtureText('sd21-ddim-v.json') },
  });
  hub.repos.set('single', {
    commit: COMMIT,
    files: { 'scheduler_config.json': fixtureText('sd15-pndm.json') },
  });
  hub.repos.set('org/private', {
    commit: COMMIT,
    token: 'hf_test_token',
    files: { 'scheduler/scheduler_config.json': fixtureText('sdxl-base-euler.json') },
  });
  hub.repos.set('org/lfs', {
    commit: COMMIT,
    viaCdn: true,
    files: { 'scheduler/scheduler_config.json': fixtureText('cogvideox-2b-ddim.json') },
  });
});

afterAll(async () => {
  restoreFetch();
  await hub.close();
});

afterEach(() => {
  hub.requests.length = 0;
});

describe('Hub repo ids', () => {
  it('loads a config from a repo subfolder at a revision, as diffusers would', async () => {
    const loaded = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      revision: 'main',
      endpoint: hub.url,
    });
    expect(loaded.config).toEqual(JSON.parse(fixtureText('sd21-ddim-v.json')));
    expect(loaded.origin).toBe('network');
    expect(loaded.commit).toBe(COMMIT);
    expect(loaded.resolvedFrom).toBe(
      `${hub.url}/stabilityai/stable-diffusion-2-1/resolve/main/scheduler/scheduler_config.json`,
    );
    expect(hub.requests.map((r) => r.path)).toEqual([
      '/stabilityai/stable-diffusion-2-1/resolve/main/scheduler/scheduler_config.json',
    ]);
  });

  it('loads a single-name repo without subfolder, revision defaulting to main', async () => {
    const loaded = await loadSchedulerConfig('single', { endpoint: hub.url });
    expect(loaded.config._class_name).toBe('PNDMScheduler');
    expect(hub.requests[0]!.path).toBe('/single/resolve/main/scheduler_config.json');
  });

  it('encodes the revision as one URL segment (refs/pr/1 -> refs%2Fpr%2F1)', async () => {
    await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      revision: 'refs/pr/1',
      endpoint: hub.url,
    });
    expect(hub.requests[0]!.path).toBe(
      '/stabilityai/stable-diffusion-2-1/resolve/refs%2Fpr%2F1/scheduler/scheduler_config.json',
    );
  });

  it('follows a redirect to a CDN on another origin, without sending the token there', async () => {
    const loaded = await loadSchedulerConfig('org/lfs', {
      subfolder: 'scheduler',
      endpoint: hub.url,
      token: 'hf_abc',
    });
    expect(loaded.config._class_name).toBe('CogVideoXDDIMScheduler');
    expect(loaded.config.snr_shift_scale).toBe(3);
    const cdn = hub.requests.find((r) => r.server === 'cdn');
    expect(cdn).toBeDefined();
    expect(cdn!.authorization).toBeUndefined();
    expect(hub.requests.find((r) => r.server === 'hub')!.authorization).toBe('Bearer hf_abc');
  });

  it('a private repo answers 401 without a token: LoadError telling to pass token or set HF_TOKEN', async () => {
    const error = await loadError(
      loadSchedulerConfig('org/private', { subfolder: 'scheduler', endpoint: hub.url }),
    );
    expect(error.field).toBe('token');
    expect(error.message).toContain('HTTP 401');
    expect(error.message).toContain('pass { token }');
    expect(error.message).toContain('HF_TOKEN');
    expect(hub.requests[0]!.authorization).toBeUndefined();
  });

  it('a private repo loads with the right token, and a wrong token is reported as refused', async () => {
    const loaded = await loadSchedulerConfig('org/private', {
      subfolder: 'scheduler',
      endpoint: hub.url,
      token: 'hf_test_token',
    });
    expect(loaded.config._class_name).toBe('EulerDiscreteScheduler');
    const error = await loadError(
      loadSchedulerConfig('org/private', { subfolder: 'scheduler', endpoint: hub.url, token: 'hf_wrong' }),
    );
    expect(error.field).toBe('token');
    expect(error.message).toContain('was refused');
  });

  it('404 for a file names the URL and suggests subfolder "scheduler"', async () => {
    const error = await loadError(
      loadSchedulerConfig('stabilityai/stable-diffusion-2-1', { endpoint: hub.url }),
    );
    expect(error.field).toBe('source');
    expect(error.value).toBe(
      `${hub.url}/stabilityai/stable-diffusion-2-1/resolve/main/scheduler_config.json`,
    );
    expect(error.message).toContain('HTTP 404');
    expect(error.fix).toContain('subfolder: "scheduler"');
  });

  it('404 with a subfolder given points at subfolder and revision', async () => {
    const error = await loadError(
      loadSchedulerConfig('stabilityai/stable-diffusion-2-1', { subfolder: 'unet', endpoint: hub.url }),
    );
    expect(error.fix).toContain('subfolder "unet"');
    expect(error.fix).toContain('revision "main"');
  });

  it('an unknown revision is reported on the revision field', async () => {
    const error = await loadError(
      loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
        subfolder: 'scheduler',
        revision: 'v9',
        endpoint: hub.url,
      }),
    );
    expect(error.field).toBe('revision');
    expect(error.value).toBe('v9');
  });

  it('sends an explicit token as a Bearer header', async () => {
    await loadSchedulerConfig('single', { endpoint: hub.url, token: 'hf_x' });
    expect(hub.requests[0]!.authorization).toBe('Bearer hf_x');
  });
});

describe('URLs', () => {
  it('loads the file URL itself', async () => {
    const url = `${hub.url}/single/resolve/main/scheduler_config.json`;
    const loaded = await loadSchedulerConfig(url);
    expect(loaded.resolvedFrom).toBe(url);
    expect(loaded.config).toEqual(JSON.parse(fixtureText('sd15-pndm.json')));
  });

  it('loads a folder URL plus subfolder', async () => {
    const loaded = await loadSchedulerConfig(`${hub.url}/stabilityai/stable-diffusion-2-1/resolve/main/`, {
      subfolder: 'scheduler',
    });
    expect(loaded.config.prediction_type).toBe('v_prediction');
    expect(hub.requests[0]!.path).toBe(
      '/stabilityai/stable-diffusion-2-1/resolve/main/scheduler/scheduler_config.json',
    );
  });

  it('a 404 URL gets a fix about pointing at the file or its folder', async () => {
    const error = await loadError(loadSchedulerConfig(`${hub.url}/single/resolve/main/nope.json`));
    expect(error.message).toContain('HTTP 404');
    expect(error.fix).toContain('scheduler_config.json');
  });
});

describe('hostile and broken sources', () => {
  function serve(repo: string, handler: (res: import('node:http').ServerResponse) => void): void {
    hub.repos.set(repo, { commit: COMMIT, files: {}, handler: (_req, res) => handler(res) });
  }

  it('5xx is a LoadError saying to retry', async () => {
    serve('bad/server', (res) => {
      res.writeHead(500);
      res.end('boom');
    });
    const error = await loadError(loadSchedulerConfig('bad/server', { endpoint: hub.url }));
    expect(error.message).toContain('HTTP 500');
    expect(error.fix).toContain('try again later');
  });

  it('a non-JSON body is a LoadError', async () => {
    serve('bad/text', (res) => {
      res.writeHead(200);
      res.end('beta_end = 0.012');
    });
    const error = await loadError(loadSchedulerConfig('bad/text', { endpoint: hub.url }));
    expect(error.problem).toContain('is not valid JSON');
  });

  it('an HTML page (a /blob/ URL) gets a fix pointing at /resolve/', async () => {
    serve('bad/html', (res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><body>model page</body></html>');
    });
    const error = await loadError(loadSchedulerConfig('bad/html', { endpoint: hub.url }));
    expect(error.problem).toContain('HTML');
    expect(error.fix).toContain('/resolve/');
  });

  it.each([
    ['an array', '[1, 2]'],
    ['null', 'null'],
    ['a string', '"DDIMScheduler"'],
    ['a number', '42'],
  ])('JSON that is %s, not an object, is a LoadError', async (_kind, body) => {
    serve('bad/shape', (res) => {
      res.writeHead(200);
      res.end(body);
    });
    const error = await loadError(loadSchedulerConfig('bad/shape', { endpoint: hub.url }));
    expect(error.problem).toContain('where a JSON object was expected');
  });

  it('bytes that are not UTF-8 are a LoadError', async () => {
    serve('bad/bytes', (res) => {
      res.writeHead(200);
      res.end(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    });
    const error = await loadError(loadSchedulerConfig('bad/bytes', { endpoint: hub.url }));
    expect(error.problem).toContain('UTF-8');
  });

  it.each([
    ['__proto__ at the top', '{"__proto__": {"polluted": true}, "beta_end": 0.012}', 'config.__proto__'],
    [
      'constructor nested',
      '{"a": {"constructor": {"prototype": {"polluted": true}}}}',
      'config.a.constructor',
    ],
    ['prototype in an array', '{"trained_betas": [{"prototype": 1}]}', 'config.trained_betas[0].prototype'],
  ])('%s is refused, and no prototype is polluted', async (_case, body, field) => {
    serve('bad/proto', (res) => {
      res.writeHead(200);
      res.end(body);
    });
    const error = await loadError(loadSchedulerConfig('bad/proto', { endpoint: hub.url }));
    expect(error.field).toBe(field);
    expect(error.problem).toContain('forbidden key');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('absurd nesting is refused without overflowing the stack', async () => {
    serve('bad/deep', (res) => {
      res.writeHead(200);
      res.end(`{"a": ${'['.repeat(5000)}${']'.repeat(5000)}}`);
    });
    const error = await loadError(loadSchedulerConfig('bad/deep', { endpoint: hub.url }));
    expect(error.problem).toContain('nests deeper than');
  });

  it('wrong value types pass through the loader untouched (the config layer judges them)', async () => {
    serve('bad/types', (res) => {
      res.writeHead(200);
      res.end('{"_class_name": "DDIMScheduler", "num_train_timesteps": "1000", "clip_sample": "no"}');
    });
    const loaded = await loadSchedulerConfig('bad/types', { endpoint: hub.url });
    expect(loaded.config.num_train_timesteps).toBe('1000');
    expect(loaded.config.clip_sample).toBe('no');
  });

  it('a body over 1 MB is cut while it streams, not after buffering it', async () => {
    const endless = endlessBody();
    hub.repos.set('bad/huge', { commit: COMMIT, files: {}, handler: endless.handler });
    const started = Date.now();
    const error = await loadError(loadSchedulerConfig('bad/huge', { endpoint: hub.url, timeoutMs: 20_000 }));
    expect(error.field).toBe('maxBytes');
    expect(error.value).toBe(DEFAULT_MAX_BYTES);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The client hung up long before the server would have stopped (64 MiB).
    await expect.poll(() => endless.clientClosed(), { timeout: 5_000 }).toBe(true);
    expect(endless.sent()).toBeLessThan(8 * 1024 * 1024);
  });

  it('a declared Content-Length over the limit is refused before reading', async () => {
    serve('bad/declared', (res) => {
      res.writeHead(200, { 'content-length': String(5 * 1024 * 1024) });
      res.write('{');
      // never sends the rest: only the header can have stopped the load
    });
    const error = await loadError(
      loadSchedulerConfig('bad/declared', { endpoint: hub.url, timeoutMs: 5_000 }),
    );
    expect(error.field).toBe('maxBytes');
    expect(error.problem).toContain('declares 5242880 bytes');
  });

  it('maxBytes can be lowered', async () => {
    const error = await loadError(loadSchedulerConfig('single', { endpoint: hub.url, maxBytes: 100 }));
    expect(error.field).toBe('maxBytes');
  });

  it('a server that accepts the connection and never answers times out within the bound', async () => {
    const silent = await startSilentServer();
    try {
      const started = Date.now();
      const error = await loadError(
        loadSchedulerConfig('org/name', { endpoint: silent.url, timeoutMs: 300 }),
      );
      const elapsed = Date.now() - started;
      expect(error.field).toBe('timeoutMs');
      expect(error.value).toBe(300);
      // Bounded, not timed: far above the 300 ms timeout, far below a hang.
      expect(elapsed).toBeLessThan(10_000);
      expect(silent.connections()).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it('a body that stalls midway times out too', async () => {
    serve('bad/stall', (res) => {
      res.writeHead(200);
      res.write('{"beta_end": ');
    });
    const error = await loadError(loadSchedulerConfig('bad/stall', { endpoint: hub.url, timeoutMs: 300 }));
    expect(error.field).toBe('timeoutMs');
  });

  it('an injected fetch that ignores the signal still cannot outlive the timeout', async () => {
    const neverSettles = () => new Promise<Response>(() => {});
    const started = Date.now();
    const error = await loadError(loadSchedulerConfig('org/name', { fetch: neverSettles, timeoutMs: 200 }));
    expect(error.field).toBe('timeoutMs');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('the caller aborting gives an AbortError', async () => {
    const silent = await startSilentServer();
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('user gave up')), 100);
      const error = await loadSchedulerConfig('org/name', {
        endpoint: silent.url,
        signal: controller.signal,
        timeoutMs: 10_000,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AbortError);
      expect((error as AbortError).cause).toEqual(new Error('user gave up'));
    } finally {
      await silent.close();
    }
  });

  it('an already-aborted signal fails before any request', async () => {
    const error = await loadSchedulerConfig('single', {
      endpoint: hub.url,
      signal: AbortSignal.abort(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(hub.requests).toHaveLength(0);
  });

  it('a connection refused is a LoadError naming the URL', async () => {
    const silent = await startSilentServer();
    const url = silent.url;
    await silent.close();
    const error = await loadError(loadSchedulerConfig('org/name', { endpoint: url }));
    expect(error.problem).toContain('could not be fetched');
    expect(String(error.value)).toContain(url);
  });
});

describe('sources that must never become a request', () => {
  it.each(['../x', 'a/../../b', 'a/b/c', '-bad/name', 'org/name.', 'org--x/y', 'a/b.git', 'x'.repeat(97)])(
    'repo id %s is a LoadError, with no request made',
    async (id) => {
      const error = await loadError(loadSchedulerConfig(id, { endpoint: hub.url }));
      expect(error.field).toBe('source');
      expect(hub.requests).toHaveLength(0);
    },
  );

  it.each(['../../etc', '/etc', 'a/../b', 'a\\b', 'C:/x', 'a//b'])(
    'subfolder %s is a LoadError',
    async (subfolder) => {
      const error = await loadError(loadSchedulerConfig('single', { endpoint: hub.url, subfolder }));
      expect(error.field).toBe('subfolder');
      expect(hub.requests).toHaveLength(0);
    },
  );

  it.each(['../../x', '/main', 'a/../b', ''])('revision %s is a LoadError', async (revision) => {
    const error = await loadError(loadSchedulerConfig('single', { endpoint: hub.url, revision }));
    expect(error.field).toBe('revision');
    expect(hub.requests).toHaveLength(0);
  });

  it('a local path in the browser build explains that folders need Node', async () => {
    const error = await loadError(loadSchedulerConfig('./my-model', { subfolder: 'scheduler' }));
    expect(error.problem).toContain('local path');
    expect(error.fix).toContain('Node');
  });

  it('localFilesOnly in the browser build is a LoadError, not a request', async () => {
    const error = await loadError(loadSchedulerConfig('single', { endpoint: hub.url, localFilesOnly: true }));
    expect(error.field).toBe('localFilesOnly');
    expect(hub.requests).toHaveLength(0);
  });

  it.each([
    ['timeoutMs', { timeoutMs: -1 }],
    ['timeoutMs', { timeoutMs: 2 ** 31 }],
    ['maxBytes', { maxBytes: 1.5 }],
    ['token', { token: '' }],
    ['fetch', { fetch: 'fetch' }],
    ['endpoint', { endpoint: 'ftp://example.org' }],
    ['localFilesOnly', { localFilesOnly: 'yes' }],
    ['onWarning', { onWarning: 1 }],
  ])('a bad %s option is a LoadError', async (field, options) => {
    const error = await loadError(loadSchedulerConfig('single', options as never));
    expect(error.field).toBe(field);
  });

  it('an empty source is a LoadError', async () => {
    const error = await loadError(loadSchedulerConfig(''));
    expect(error.field).toBe('source');
  });
});

describe('config sources', () => {
  it('a registered source is asked first; undefined falls through to fetch; unregister removes it', async () => {
    const asked: string[] = [];
    const source: ConfigSource = {
      name: 'test-memory',
      async load(src, options) {
        asked.push(`${src}|${options.subfolder ?? ''}|${options.revision}`);
        if (src === 'memory/model') {
          return { config: { _class_name: 'DDIMScheduler' }, resolvedFrom: 'memory', origin: 'file' };
        }
        return undefined;
      },
    };
    const unregister = registerConfigSource(source);
    try {
      const fromMemory = await loadSchedulerConfig('memory/model', { subfolder: 'scheduler' });
      expect(fromMemory.resolvedFrom).toBe('memory');
      const fromHub = await loadSchedulerConfig('single', { endpoint: hub.url });
      expect(fromHub.config._class_name).toBe('PNDMScheduler');
      expect(asked).toEqual(['memory/model|scheduler|main', 'single||main']);
    } finally {
      unregister();
    }
    await expect(loadSchedulerConfig('memory/model', { endpoint: hub.url })).rejects.toBeInstanceOf(
      LoadError,
    );
  });

  it('the injected fetch is the one used', async () => {
    const seen: string[] = [];
    const fake = async (url: string) => {
      seen.push(url);
      return new Response('{"_class_name": "DDIMScheduler", "beta_end": 0.02}', {
        headers: { 'x-repo-commit': COMMIT },
      });
    };
    const loaded = await loadSchedulerConfig('org/name', { fetch: fake, subfolder: 'scheduler' });
    expect(seen).toEqual(['https://huggingface.co/org/name/resolve/main/scheduler/scheduler_config.json']);
    expect(loaded.config.beta_end).toBe(0.02);
    expect(loaded.commit).toBe(COMMIT);
  });
});

describe('real configs', () => {
  it.each(FIXTURE_FILES)('%s loads exactly as written', async (file) => {
    hub.repos.set('fixtures/model', {
      commit: COMMIT,
      files: { 'scheduler/scheduler_config.json': fixtureText(file) },
    });
    const loaded = await loadSchedulerConfig('fixtures/model', { endpoint: hub.url, subfolder: 'scheduler' });
    expect(loaded.config).toEqual(JSON.parse(fixtureText(file)));
  });
});

describe('DDIMScheduler.fromPretrained / savePretrained in the browser build', () => {
  it('loads by Hub id and by URL over fetch, with unused keys warned', async () => {
    const warnings: string[] = [];
    const scheduler = await DDIMScheduler.fromPretrained('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      revision: 'main',
      endpoint: hub.url,
      onWarning: (m) => warnings.push(m),
    });
    expect(scheduler.config.prediction_type).toBe('v_prediction');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"skip_prk_steps"');
    const inverse = await DDIMInverseScheduler.fromPretrained(
      `${hub.url}/single/resolve/main/scheduler_config.json`,
      {
        onWarning: () => {},
      },
    );
    expect(inverse.config.steps_offset).toBe(1);
  });

  it('loading failures stay LoadErrors, config problems ConfigErrors', async () => {
    await expect(DDIMScheduler.fromPretrained('org/private', { endpoint: hub.url })).rejects.toBeInstanceOf(
      LoadError,
    );
    hub.repos.set('bad/betas', {
      commit: COMMIT,
      files: { 'scheduler_config.json': '{"beta_schedule": "cosine", "clip_sample": 1}' },
    });
    await expect(DDIMScheduler.fromPretrained('bad/betas', { endpoint: hub.url })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it('savePretrained throws a LoadError saying it needs Node and pointing at toJSON()', async () => {
    const scheduler = new DDIMScheduler();
    const error = await loadError(scheduler.savePretrained('./out/scheduler'));
    expect(error.problem).toContain('needs a file system');
    expect(error.fix).toContain('toJSON()');
    expect(error.fix).toContain('Node');
  });
});

describe('saving', () => {
  it('saveSchedulerConfig in the browser build throws a LoadError pointing at toJSON()', async () => {
    const error = await loadError(saveSchedulerConfig('./out/scheduler', { _class_name: 'DDIMScheduler' }));
    expect(error.field).toBe('dir');
    expect(error.problem).toContain('needs a file system');
    expect(error.fix).toContain('toJSON()');
  });
});

describe("toDiffusersJsonString: diffusers' save_config text", () => {
  it('writes sorted keys, indent 2, Python floats, _diffusers_version, and a trailing newline', () => {
    expect(toDiffusersJsonString(SD21_DDIM_CONFIG)).toBe(SD21_DDIM_SAVED);
  });

  it("matches Python's repr for floats and json.dumps' ensure_ascii for strings", () => {
    const text = toDiffusersJsonString({
      _class_name: 'X',
      beta_start: 0.00001,
      beta_end: 1e16,
      sample_max_value: 123456789012345680000,
      trained_betas: [0.0001, 0.5, 1e-7],
      steps_offset: 0,
      thresholding: true,
      note: 'café \u007f "q" \\ \n 😀',
      big: 1e21,
      nested: { b: [], a: {} },
    });
    expect(text).toContain('"beta_start": 1e-05,');
    expect(text).toContain('"beta_end": 1e+16,');
    expect(text).toContain('"sample_max_value": 1.2345678901234568e+20,');
    expect(text).toContain('"trained_betas": [\n    0.0001,\n    0.5,\n    1e-07\n  ]');
    expect(text).toContain('"note": "caf\\u00e9 \\u007f \\"q\\" \\\\ \\n \\ud83d\\ude00"');
    expect(text).toContain('"big": 1000000000000000000000,');
    expect(text).toContain('"nested": {\n    "a": {},\n    "b": []\n  }');
    expect(text).toContain('"steps_offset": 0,\n');
    expect(text).toContain('"thresholding": true,\n');
    expect(text.endsWith('  ]\n}\n')).toBe(true);
  });

  it('drops _use_default_values and _ignore_files, and overwrites _diffusers_version', () => {
    const text = toDiffusersJsonString(
      {
        _class_name: 'DDIMScheduler',
        _diffusers_version: '0.1.0',
        _use_default_values: ['a'],
        _ignore_files: [],
      },
      { diffusersVersion: '0.30.0' },
    );
    expect(text).toBe('{\n  "_class_name": "DDIMScheduler",\n  "_diffusers_version": "0.30.0"\n}\n');
  });

  it('writes any typed array as a list, and refuses values JSON cannot hold rather than writing {}', () => {
    const text = toDiffusersJsonString({
      _class_name: 'X',
      counts: Int32Array.of(3, 1),
      trained_betas: Float32Array.of(0.5),
    });
    expect(text).toContain('"counts": [\n    3,\n    1\n  ],');
    expect(text).toContain('"trained_betas": [\n    0.5\n  ]');
    for (const [value, what] of [
      [new Map([['a', 1]]), 'a Map'],
      [new Date(0), 'a Date'],
      [new Set([1]), 'a Set'],
      [1n, 'a bigint'],
      [BigInt64Array.of(1n), 'bigints in a typed array'],
    ] as const) {
      expect(() => toDiffusersJsonString({ _class_name: 'X', value }), what).toThrow(
        /cannot be written to JSON/,
      );
    }
  });

  it('refuses a config without _class_name', () => {
    expect(() => toDiffusersJsonString({ beta_end: 0.012 })).toThrow(/_class_name/);
  });
});

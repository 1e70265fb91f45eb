/**
 * The kernel backend switch (src/wasm/backend.ts) and how the module loads (src/wasm/instance.ts):
 * the default on an engine with WebAssembly SIMD, forcing the JS path, refusing a bad choice, the
 * step-lanes option, which instance a call runs on (an arena's arrays on the arena), and
 * the fallbacks -- no WebAssembly, a module the engine does not validate, a refused synchronous
 * compile that an asynchronous one then replaces. Each fallback case loads the modules afresh
 * (their compile state is per module instance) with the global WebAssembly swapped.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

type Backend = typeof import('../src/wasm/backend.js') & {
  errors: typeof import('../src/errors.js');
};

/** The backend module loaded afresh (with its own error classes: `instanceof` needs the same ones). */
async function freshBackend(): Promise<Backend> {
  vi.resetModules();
  const backend = await import('../src/wasm/backend.js');
  return { ...backend, errors: await import('../src/errors.js') };
}

/** A WebAssembly namespace with some members replaced (its own members are not enumerable: no spread). */
function fakeWebAssembly(overrides: Partial<typeof WebAssembly>): typeof WebAssembly {
  return Object.assign(Object.create(realWebAssembly), overrides) as typeof WebAssembly;
}

const realWebAssembly = globalThis.WebAssembly;

afterEach(() => {
  (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly = realWebAssembly;
});

describe('the backend switch', () => {
  it('runs the kernels by default where WebAssembly SIMD is (Node 20)', async () => {
    const b = await freshBackend();
    expect(b.kernelBackend()).toBe('wasm');
    expect(b.activeKernels()).not.toBeNull();
    await expect(b.kernelsReady()).resolves.toBe('wasm');
  });

  it("forces the JS path with 'js', insists with 'wasm', returns to the default with 'auto'", async () => {
    const b = await freshBackend();
    b.setKernelBackend('js');
    expect(b.kernelBackend()).toBe('js');
    expect(b.activeKernels()).toBeNull();
    b.setKernelBackend('wasm');
    expect(b.kernelBackend()).toBe('wasm');
    b.setKernelBackend('auto');
    expect(b.kernelBackend()).toBe('wasm');
  });

  it('refuses anything else, naming the choices', async () => {
    const b = await freshBackend();
    for (const bad of ['WASM', 'simd', '', null, undefined, 1]) {
      expect(() => b.setKernelBackend(bad as never)).toThrow(b.errors.ArgumentError);
    }
    expect(() => b.setKernelBackend('fast' as never)).toThrow(/'auto', 'wasm' or 'js'/);
    expect(b.kernelBackend()).toBe('wasm');
  });

  it('takes the step lanes as an option, refusing unknown options and values; each call sets every option', async () => {
    const b = await freshBackend();
    expect(b.stepLanes()).toBe('auto');
    b.setKernelBackend('auto', { stepLanes: 'float64' });
    expect(b.stepLanes()).toBe('float64');
    b.setKernelBackend('wasm');
    expect(b.stepLanes()).toBe('auto');
    expect(() => b.setKernelBackend('auto', { stepLanes: 'float32' as never })).toThrow(
      /options.stepLanes must be 'auto' or 'float64'/,
    );
    expect(() => b.setKernelBackend('auto', { lanes: 'float64' } as never)).toThrow(b.errors.ArgumentError);
    expect(() => b.setKernelBackend('auto', { lanes: 'float64' } as never)).toThrow(/lanes/);
    expect(() => b.setKernelBackend('auto', 'float64' as never)).toThrow(/must be an options object/);
    // A refused call changes nothing.
    b.setKernelBackend('js', { stepLanes: 'float64' });
    expect(() => b.setKernelBackend('wasm', { stepLanes: 'fast' as never })).toThrow(b.errors.ArgumentError);
    expect(b.kernelBackend()).toBe('js');
    expect(b.stepLanes()).toBe('float64');
  });

  it("sends calls to the arena an array lives in, else to the shared instance, and nowhere on 'js'", async () => {
    const b = await freshBackend();
    const shared = b.activeKernels();
    const arena = b.newArena(1024, 0);
    expect(arena).not.toBeNull();
    expect(arena).not.toBe(shared);
    const inArena = new Float32Array(arena?.buffer() as ArrayBuffer, arena?.allocateBytes(64), 16);
    expect(b.kernelsFor(inArena)).toBe(arena);
    expect(b.kernelsFor(new Float32Array(16))).toBe(shared);
    // Sealed: it never grows, so what it cannot hold it refuses.
    expect(arena?.allocateBytes(1 << 24)).toBe(-1);
    expect(arena?.buffer()).toBe(inArena.buffer);
    b.setKernelBackend('js');
    expect(b.kernelsFor(inArena)).toBeNull();
    expect(b.newArena(1024, 0)).toBeNull();
  });
});

describe('fallbacks to the JS path', () => {
  it('no WebAssembly at all: the JS path, and a StateError when the kernels are insisted on', async () => {
    (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly = undefined;
    const b = await freshBackend();
    expect(b.kernelBackend()).toBe('js');
    expect(b.activeKernels()).toBeNull();
    expect(() => b.setKernelBackend('wasm')).toThrow(b.errors.StateError);
    expect(() => b.setKernelBackend('wasm')).toThrow(/has no WebAssembly/);
    await expect(b.kernelsReady()).resolves.toBe('js');
  });

  it('an engine without SIMD (the module does not validate): the JS path, saying why', async () => {
    (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly = fakeWebAssembly({
      validate: () => false,
    });
    const b = await freshBackend();
    expect(b.kernelBackend()).toBe('js');
    expect(() => b.setKernelBackend('wasm')).toThrow(/lacks WebAssembly SIMD/);
  });

  it('a refused synchronous compile (Chrome’s main-thread limit): JS until the asynchronous compile is done', async () => {
    let asyncCompiles = 0;
    (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly = fakeWebAssembly({
      Module: function Module() {
        throw new RangeError(
          'WebAssembly.Compile is disallowed on the main thread, if the buffer size is larger than 8MB.',
        );
      } as unknown as typeof WebAssembly.Module,
      compile: (bytes: BufferSource) => {
        asyncCompiles++;
        return realWebAssembly.compile(bytes);
      },
    });
    const b = await freshBackend();
    expect(b.kernelBackend()).toBe('js');
    expect(() => b.setKernelBackend('wasm')).toThrow(/await kernelsReady\(\)/);
    expect(asyncCompiles).toBe(1);
    await expect(b.kernelsReady()).resolves.toBe('wasm');
    expect(b.kernelBackend()).toBe('wasm');
    expect(asyncCompiles).toBe(1);
  });

  it('a compile refused both ways (a Content Security Policy): the JS path for good, saying why', async () => {
    const refused = () =>
      new realWebAssembly.CompileError("Refused to compile: 'wasm-unsafe-eval' is not allowed");
    (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly = fakeWebAssembly({
      Module: function Module() {
        throw refused();
      } as unknown as typeof WebAssembly.Module,
      compile: () => Promise.reject(refused()),
    });
    const b = await freshBackend();
    expect(b.kernelBackend()).toBe('js');
    await expect(b.kernelsReady()).resolves.toBe('js');
    expect(() => b.setKernelBackend('wasm')).toThrow(/compiling the kernels failed: CompileError/);
  });
});

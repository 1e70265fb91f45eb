/**
 * Objects that are small in memory but huge as trees: a DAG of shared objects (40 objects, 2^40
 * paths), a cycle, a sparse `new Array(1e9)`. Every walk over a caller's value must visit each
 * object once and stop at what the caller really allocated, so these cost a few reads, not hours.
 * The DAG nodes count their reads (helpers/hostile.ts `sharedDag`) and throw past a limit: a walk
 * that follows every path fails here at once (there is no timing in these tests).
 */
import { describe, expect, it } from 'vitest';
import { describeValue } from '../src/index.js';
import { sharedDag } from './helpers/hostile.js';

describe('describeValue', () => {
  it('renders a DAG of shared objects from its first few nodes, in a few reads', () => {
    const objects = sharedDag(40, 'object');
    const text = describeValue(objects.root);
    expect(text).toBe(`${'{"a":'.repeat(20).slice(0, 77)}...`);
    expect(text.length).toBe(80);
    expect(objects.reads()).toBeLessThan(200);

    const arrays = sharedDag(40, 'array');
    // The same nesting five levels deep, written by JSON.stringify, with ", " between items.
    let five: unknown = {};
    for (let i = 0; i < 5; i++) five = [five, five];
    const tail = JSON.stringify(five).replaceAll(',', ', ');
    expect(describeValue(arrays.root)).toBe(`${`${'['.repeat(35)}${tail}`.slice(0, 77)}...`);
    expect(arrays.reads()).toBeLessThan(200);
  });

  it('renders a cycle and a sparse 10^9-entry array inside an object without walking them', () => {
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe(`${'{"n":1,"self":'.repeat(10).slice(0, 77)}...`);
    expect(describeValue({ x: new Array(1e9) })).toBe(
      `${`{"x":[${Array(10).fill('undefined').join(', ')}`.slice(0, 77)}...`,
    );
    // Short values render whole, as JSON for objects and with ", " between array items.
    expect(describeValue({ a: [1, 2], b: 'x', c: null })).toBe('{"a":[1, 2],"b":"x","c":null}');
    expect(describeValue([0.5, 'two', { t: NaN }])).toBe('[0.5, "two", {"t":NaN}]');
    expect(describeValue({ d: new Float32Array(3), e: new Date(0) })).toBe(
      '{"d":Float32Array(3),"e":"1970-01-01T00:00:00.000Z"}',
    );
  });
});

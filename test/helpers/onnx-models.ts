/**
 * ONNX models laid out as diffusers' UNet exports (inputs sample, timestep, encoder_hidden_states;
 * output out_sample), built in the tests so that nothing is downloaded.
 *
 * float16 models take and return float16 and compute in float32 inside (Cast in, Cast out): the
 * tests are about the adapter's float16 handling, not about float16 arithmetic.
 */
import type { GaussianMixture } from '../../src/exact/index.js';
import type { PredictionType } from '../../src/index.js';
import { attr, type ElemType, GraphBuilder, type Shape } from './onnx-graph.js';

export interface UnetLayout {
  /** Element type of sample, encoder_hidden_states and out_sample. */
  io?: 'float32' | 'float16';
  timestepType?: ElemType;
  /** Declared timestep shape: diffusers' export has ['batch']. */
  timestepShape?: Shape;
  sampleShape?: Shape;
  ehsShape?: Shape;
  names?: { sample?: string; timestep?: string; ehs?: string; output?: string };
  /** Declare an extra float32 input [1] added to the output (like SDXL's added inputs). */
  extraInput?: string;
}

function io(g: GraphBuilder, layout: UnetLayout) {
  const ioType = layout.io ?? 'float32';
  const names = {
    sample: layout.names?.sample ?? 'sample',
    timestep: layout.names?.timestep ?? 'timestep',
    ehs: layout.names?.ehs ?? 'encoder_hidden_states',
    output: layout.names?.output ?? 'out_sample',
  };
  const sampleShape =
    layout.sampleShape === undefined ? ['batch', 'channels', 'height', 'width'] : layout.sampleShape;
  g.input(names.sample, ioType, sampleShape);
  g.input(
    names.timestep,
    layout.timestepType ?? 'int64',
    layout.timestepShape === undefined ? ['batch'] : layout.timestepShape,
  );
  g.input(
    names.ehs,
    ioType,
    layout.ehsShape === undefined ? ['batch', 'sequence', 'hidden'] : layout.ehsShape,
  );
  g.output(names.output, ioType, sampleShape);
  const x = ioType === 'float32' ? names.sample : g.cast(names.sample, 'float32');
  const e = ioType === 'float32' ? names.ehs : g.cast(names.ehs, 'float32');
  const t = layout.timestepType === 'float32' ? names.timestep : g.cast(names.timestep, 'float32');
  const finish = (out: string) => {
    if (layout.extraInput !== undefined) {
      g.input(layout.extraInput, 'float32', [1]);
      out = g.op('Add', [out, layout.extraInput]);
    }
    if (ioType === 'float32') g.op('Identity', [out], [], names.output);
    else g.cast(out, ioType, names.output);
  };
  return { x, e, t, finish };
}

/**
 * out = sample * timestep / 1000 + mean(encoder_hidden_states[b]) for each batch element b, the
 * timestep broadcast as [-1, 1, 1, 1] (so [1] and [batch] both work).
 */
export function toyUnetModel(layout: UnetLayout = {}): Uint8Array {
  const g = new GraphBuilder();
  const { x, e, t, finish } = io(g, layout);
  const t4 = g.op('Reshape', [t, g.i64([-1, 1, 1, 1])]);
  const scale = g.op('Div', [t4, g.f32([1000], [])]);
  const mean = g.op('ReduceMean', [e], [attr.ints('axes', [1, 2]), attr.int('keepdims', 1)]); // [B, 1, 1]
  const mean4 = g.op('Unsqueeze', [mean, g.i64([3])]); // [B, 1, 1, 1]
  finish(g.op('Add', [g.op('Mul', [x, scale]), mean4]));
  return g.encode();
}

export interface GaussianMixtureModelSpec extends UnetLayout {
  /** alpha_bar_t for every training timestep (the scheduler's alphasCumprod). */
  alphasCumprod: ArrayLike<number>;
  mixture: GaussianMixture;
  predictionType: PredictionType;
  /** [hidden, D] row-major: the means of batch element b are shifted by mean_seq(ehs[b]) @ projection. */
  projection: ArrayLike<number>;
  hidden: number;
}

/**
 * The exact denoiser of a Gaussian mixture x0 ~ sum_k w_k N(mu_k + shift_b, s_k^2 I_D), with
 * shift_b = mean over the sequence of encoder_hidden_states[b], times `projection`. For
 * x_t = sqrt(a) x0 + sqrt(1 - a) eps, a = alpha_bar[timestep]:
 *
 *   v_k   = a s_k^2 + 1 - a
 *   r_k   = softmax_k( log w_k - |x_t - sqrt(a) mu_k|^2 / (2 v_k) - D/2 log v_k )
 *   x0^   = sum_k r_k (mu_k + sqrt(a) s_k^2 / v_k (x_t - sqrt(a) mu_k))
 *   eps^  = (x_t - sqrt(a) x0^) / sqrt(1 - a);   v^ = sqrt(a) eps^ - sqrt(1 - a) x0^
 *
 * The sample [B, ...] is flattened to [B, D]; alpha_bar is gathered from an initializer by the
 * timestep (cast to int64 when it is a float), which has dims [], [1] or [B].
 */
export function gaussianMixtureUnetModel(spec: GaussianMixtureModelSpec): Uint8Array {
  const { weights, means, variances } = spec.mixture;
  const K = weights.length;
  const D = means[0].length;
  const g = new GraphBuilder();
  const { x: xs, e, finish } = io(g, spec);
  const timestepName = spec.names?.timestep ?? 'timestep';
  const tIndex = (spec.timestepType ?? 'int64') === 'int64' ? timestepName : g.cast(timestepName, 'int64');
  const one = g.f32([1], []);

  const xShape = g.op('Shape', [xs]);
  const x = g.op('Reshape', [xs, g.i64([0, -1])]); // [B, D]
  const a = g.op(
    'Gather',
    [g.f32(spec.alphasCumprod, [spec.alphasCumprod.length]), tIndex],
    [attr.int('axis', 0)],
  );
  const a3 = g.op('Reshape', [a, g.i64([-1, 1, 1])]); // [T, 1, 1], T = 1 or B
  const a2 = g.op('Reshape', [a, g.i64([-1, 1])]); // [T, 1]
  const sa3 = g.op('Sqrt', [a3]);

  const eMean = g.op('ReduceMean', [e], [attr.ints('axes', [1]), attr.int('keepdims', 0)]); // [B, hidden]
  const shift = g.op('MatMul', [eMean, g.f32(spec.projection, [spec.hidden, D])]); // [B, D]
  const mu = g.op('Add', [g.op('Unsqueeze', [shift, g.i64([1])]), g.f32(means.flat(), [K, D])]); // [B, K, D]
  const diff = g.op('Sub', [g.op('Unsqueeze', [x, g.i64([1])]), g.op('Mul', [sa3, mu])]); // [B, K, D]

  const s2 = g.f32(variances, [1, K, 1]);
  const v = g.op('Add', [g.op('Mul', [a3, s2]), g.op('Sub', [one, a3])]); // [T, K, 1]
  const sq = g.op('ReduceSum', [g.op('Mul', [diff, diff]), g.i64([2])], [attr.int('keepdims', 1)]); // [B, K, 1]
  const logW = g.f32(
    weights.map((w) => Math.log(w)),
    [1, K, 1],
  );
  const logits = g.op('Sub', [
    g.op('Sub', [logW, g.op('Div', [sq, g.op('Mul', [v, g.f32([2], [])])])]),
    g.op('Mul', [g.op('Log', [v]), g.f32([D / 2], [])]),
  ]);
  const r = g.op('Softmax', [logits], [attr.int('axis', 1)]); // [B, K, 1]
  const gain = g.op('Div', [g.op('Mul', [sa3, s2]), v]); // [T, K, 1]
  const comp = g.op('Add', [mu, g.op('Mul', [gain, diff])]); // [B, K, D]
  const x0 = g.op('ReduceSum', [g.op('Mul', [r, comp]), g.i64([1])], [attr.int('keepdims', 0)]); // [B, D]

  const sa2 = g.op('Sqrt', [a2]);
  const s1a2 = g.op('Sqrt', [g.op('Sub', [one, a2])]);
  const eps = () => g.op('Div', [g.op('Sub', [x, g.op('Mul', [sa2, x0])]), s1a2]);
  let out: string;
  if (spec.predictionType === 'sample') out = x0;
  else if (spec.predictionType === 'epsilon') out = eps();
  else out = g.op('Sub', [g.op('Mul', [sa2, eps()]), g.op('Mul', [s1a2, x0])]);
  finish(g.op('Reshape', [out, xShape]));
  return g.encode();
}

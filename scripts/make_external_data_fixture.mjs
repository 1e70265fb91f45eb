// Makes test/fixtures/tiny-sd-external/: tiny-sd's UNet and VAE decoder re-saved with their weights in
// external data files, the two layouts public Stable Diffusion ONNX exports use:
//
//   unet/model.onnx + unet/weights.pb                  diffusers' convert_stable_diffusion_checkpoint_to_onnx.py
//                                                       (onnx.save_model(..., location="weights.pb"))
//   vae_decoder/model.onnx + vae_decoder/model.onnx_data   Optimum (location = "<model file name>_data")
//
// As onnx's `convert_model_to_external_data(all_tensors_to_one_file=True, size_threshold=1024)` does it:
// every initializer whose raw data is at least 1024 bytes moves to the external file, appended in graph
// order without alignment, its TensorProto keeping name, type and dims and gaining data_location EXTERNAL
// and external_data entries location / offset / length; smaller initializers stay inside the model.
//
// Then it checks that onnxruntime-node loads each new model from its path and gives bit-identical outputs
// to the original on a fixed input (exit code 1 otherwise).
//
// Run from the repository root: node scripts/make_external_data_fixture.mjs
// Needs the devDependencies onnx-proto and onnxruntime-node; never run by the tests.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

const { onnx } = onnxProto;
const SOURCE = 'test/fixtures/tiny-sd';
const TARGET = 'test/fixtures/tiny-sd-external';
const SIZE_THRESHOLD = 1024;

function externalize(component, location) {
  const model = onnx.ModelProto.decode(readFileSync(path.join(SOURCE, component, 'model.onnx')));
  const chunks = [];
  let offset = 0;
  let moved = 0;
  for (const tensor of model.graph.initializer) {
    const raw = tensor.rawData;
    if (!raw || raw.byteLength < SIZE_THRESHOLD) continue;
    chunks.push(raw);
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ];
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.rawData = new Uint8Array(0);
    offset += raw.byteLength;
    moved++;
  }
  const data = Buffer.concat(chunks);
  const bytes = onnx.ModelProto.encode(model).finish();
  mkdirSync(path.join(TARGET, component), { recursive: true });
  writeFileSync(path.join(TARGET, component, 'model.onnx'), bytes);
  writeFileSync(path.join(TARGET, component, location), data);
  console.log(
    `${component}: ${moved} initializers, ${data.byteLength} bytes -> ${location}; model.onnx ${bytes.byteLength} bytes`,
  );
}

function filled(dims, seed) {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37 + seed) * 0.8;
  return new ort.Tensor('float32', data, dims);
}

const FEEDS = {
  unet: () => ({
    sample: filled([1, 4, 8, 8], 1),
    timestep: new ort.Tensor('int64', BigInt64Array.from([501n]), [1]),
    encoder_hidden_states: filled([1, 77, 32], 2),
  }),
  vae_decoder: () => ({ latent_sample: filled([1, 4, 8, 8], 3) }),
};

async function sameOutputs(component) {
  const original = await ort.InferenceSession.create(path.join(SOURCE, component, 'model.onnx'));
  const external = await ort.InferenceSession.create(path.join(TARGET, component, 'model.onnx'));
  const a = await original.run(FEEDS[component]());
  const b = await external.run(FEEDS[component]());
  for (const name of original.outputNames) {
    const x = a[name].data;
    const y = b[name].data;
    if (x.length !== y.length || x.some((v, i) => !Object.is(v, y[i]))) {
      console.error(`${component}: output ${name} differs`);
      return false;
    }
  }
  console.log(`${component}: outputs identical (${original.outputNames.join(', ')})`);
  return true;
}

externalize('unet', 'weights.pb');
externalize('vae_decoder', 'model.onnx_data');
const ok = (await sameOutputs('unet')) && (await sameOutputs('vae_decoder'));
process.exit(ok ? 0 : 1);

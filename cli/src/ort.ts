/**
 * onnxruntime-node, loaded when a command needs it (`ddim generate`, the pipeline benchmark), so
 * that the other commands never load its native library. A missing or broken install is reported
 * as a LoadError saying how to install it, not as a stack trace.
 */
import { LoadError } from 'ddim';
import type { PipelineOrt } from 'ddim/pipeline';

export async function loadOnnxRuntime(): Promise<PipelineOrt> {
  try {
    // A module namespace: the pipeline reads InferenceSession and Tensor from it.
    return (await import('onnxruntime-node')) as unknown as PipelineOrt;
  } catch (cause) {
    throw new LoadError({
      field: 'onnxruntime-node',
      value: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
      problem: 'could not be loaded (the models run in ONNX Runtime)',
      fix: 'install it beside ddim-cli (npm install onnxruntime-node); its CPU build needs no download at install time.',
      cause,
    });
  }
}

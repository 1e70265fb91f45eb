/**
 * What a model loader needs to know about an `.onnx` file's bytes before handing them to ONNX
 * Runtime: that they are a whole ONNX ModelProto (not a file cut short by an interrupted copy or
 * download), and which external data files its weights live in (`weights.pb` from diffusers'
 * export script, `model.onnx_data` from Optimum / torch.onnx), so that a loader reading files
 * itself (a browser's picked files) can pass them as onnxruntime-web's `externalData`.
 *
 * A small walk over the protobuf wire format (onnx.proto3), not a protobuf library: only the
 * fields on the way to tensors are decoded, every other field is skipped by its length, so the
 * walk is linear in the number of fields and never copies the weights.
 *
 *   ModelProto        7: graph (GraphProto)
 *   GraphProto        1: node (NodeProto), 5: initializer (TensorProto),
 *                     15: sparse_initializer (SparseTensorProto: 1 values, 2 indices)
 *   NodeProto         5: attribute (AttributeProto: 5 t, 10 tensors, 6 g, 11 graphs)
 *   TensorProto       13: external_data (StringStringEntryProto: 1 key, 2 value), 14: data_location
 */
import { LoadError } from '../errors.js';

/** What the walk found. */
export interface OnnxFileInfo {
  /** The external data files the tensors name (`location`), relative to the model's folder, in order of first use. */
  externalData: string[];
}

/** Subgraphs nest (If / Loop bodies); deeper than this is not a model we will walk. */
const MAX_DEPTH = 32;

/** A read past the end of the bytes: the file is truncated (or not protobuf). */
class Truncated extends Error {}
/** Bytes that cannot be protobuf (a wire type that does not exist, a 10-byte varint overflow). */
class Malformed extends Error {}

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a number (exact up to 2^53; lengths and field numbers are far below). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Truncated();
      const byte = this.bytes[this.pos++];
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Malformed('a varint longer than 10 bytes');
  }

  /** The sub-range of a length-delimited field. */
  sub(): Reader {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new Truncated();
    this.pos = start + length;
    return new Reader(this.bytes, start, start + length);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.sub();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        // 3 / 4 are proto2 groups, which onnx.proto never uses; 6 / 7 do not exist.
        throw new Malformed(`wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new Truncated();
    this.pos += n;
  }

  /** Each field as (number, wire type); `read` consumes the ones it wants, the rest are skipped. */
  fields(read: (field: number, wireType: number) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wireType = key % 8;
      if (field === 0) throw new Malformed('field number 0');
      if (!read(field, wireType)) this.skip(wireType);
    }
  }

  text(): string {
    const r = this.sub();
    return new TextDecoder().decode(r.bytes.subarray(r.pos, r.end));
  }
}

/**
 * Check that `bytes` are a whole ONNX model and list its external data files. A LoadError names
 * `file` when they are cut short, not protobuf, or not a model (no graph).
 */
export function inspectOnnxModel(bytes: Uint8Array, file: string): OnnxFileInfo {
  const found = new Set<string>();
  let hasGraph = false;
  try {
    const model = new Reader(bytes, 0, bytes.length);
    model.fields((field, wireType) => {
      if (field !== 7 || wireType !== 2) return false;
      hasGraph = true;
      readGraph(model.sub(), found, 0);
      return true;
    });
  } catch (error) {
    if (error instanceof Truncated) {
      throw new LoadError({
        field: file,
        value: `${bytes.length} bytes`,
        problem: 'ends in the middle of its data: the file is truncated (an interrupted copy or download)',
        fix: `download or copy ${file} again.`,
      });
    }
    if (error instanceof Malformed) {
      throw new LoadError({
        field: file,
        value: `${bytes.length} bytes`,
        problem: `is not an ONNX model (${error.message} in its protobuf encoding)`,
        fix: `check that ${file} is the exported model, not another file under its name; download it again.`,
      });
    }
    throw error;
  }
  if (!hasGraph) {
    throw new LoadError({
      field: file,
      value: `${bytes.length} bytes`,
      problem: 'holds no graph: it is not an ONNX model (or is truncated to its header)',
      fix: `download or copy ${file} again.`,
    });
  }
  return { externalData: [...found] };
}

function readGraph(graph: Reader, found: Set<string>, depth: number): void {
  if (depth > MAX_DEPTH) throw new Malformed(`subgraphs nested deeper than ${MAX_DEPTH}`);
  graph.fields((field, wireType) => {
    if (wireType !== 2) return false;
    if (field === 5) readTensor(graph.sub(), found);
    else if (field === 15) {
      const sparse = graph.sub();
      sparse.fields((f, w) => {
        if (w !== 2 || (f !== 1 && f !== 2)) return false;
        readTensor(sparse.sub(), found);
        return true;
      });
    } else if (field === 1) readNode(graph.sub(), found, depth);
    else return false;
    return true;
  });
}

function readNode(node: Reader, found: Set<string>, depth: number): void {
  node.fields((field, wireType) => {
    if (field !== 5 || wireType !== 2) return false;
    const attribute = node.sub();
    attribute.fields((f, w) => {
      if (w !== 2) return false;
      if (f === 5 || f === 10) readTensor(attribute.sub(), found);
      else if (f === 6 || f === 11) readGraph(attribute.sub(), found, depth + 1);
      else return false;
      return true;
    });
    return true;
  });
}

function readTensor(tensor: Reader, found: Set<string>): void {
  let external = false;
  let location: string | undefined;
  tensor.fields((field, wireType) => {
    if (field === 14 && wireType === 0) {
      external = tensor.varint() === 1; // DataLocation.EXTERNAL
      return true;
    }
    if (field !== 13 || wireType !== 2) return false;
    const entry = tensor.sub();
    let key: string | undefined;
    let value: string | undefined;
    entry.fields((f, w) => {
      if (w !== 2 || (f !== 1 && f !== 2)) return false;
      if (f === 1) key = entry.text();
      else value = entry.text();
      return true;
    });
    if (key === 'location') location = value;
    return true;
  });
  if (external && location !== undefined && location !== '') found.add(location);
}

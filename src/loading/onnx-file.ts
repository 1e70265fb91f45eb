/**
 * What a model loader needs to know about an `.onnx` file before handing it to ONNX Runtime: that
 * it is a whole ONNX ModelProto (not a file cut short by an interrupted copy or download, nor an
 * LFS pointer or an HTML error page under its name), and which external data files its weights
 * live in, with the least size each must have.
 *
 * Big models keep their weights outside the `.onnx` file (protobuf caps a message at 2 GB):
 * diffusers' export script writes them to `weights.pb`, Optimum to `model.onnx_data`, and
 * `onnx.save_model` without `all_tensors_to_one_file` to one file per tensor. Rather than guess
 * those names, loaders read the `location` the model names for each tensor, so a folder fetched
 * over HTTP, from the Hub or picked in a browser brings exactly the files ONNX Runtime will open,
 * and a missing or short one is a LoadError naming it before any session is created.
 *
 * A small walk over the protobuf wire format (onnx.proto3), not a protobuf library: only the
 * fields on the way to tensors are decoded, every other field (the weights' raw bytes among them)
 * is skipped by its length, through a {@link ByteReader} with a window, so a 2 GB model with
 * embedded weights costs a few small reads and the walk never copies the weights.
 *
 *   ModelProto        7: graph (GraphProto), 25: functions (FunctionProto: 7 node)
 *   GraphProto        1: node (NodeProto), 5: initializer (TensorProto),
 *                     15: sparse_initializer (SparseTensorProto: 1 values, 2 indices)
 *   NodeProto         5: attribute (AttributeProto: 5 t, 10 tensors, 6 g, 11 graphs, 22 / 23 sparse)
 *   TensorProto       1: dims, 2: data_type, 13: external_data (StringStringEntryProto: 1 key,
 *                     2 value; keys location / offset / length), 14: data_location (1 = EXTERNAL)
 */
import { LoadError } from '../errors.js';

/** One external data file a model reads. */
export interface ExternalDataFile {
  /** The `location` the model gives, relative to the model file's folder, with "/" (e.g. "weights.pb"). */
  location: string;
  /** The least size the file must have: the largest offset + length a tensor reads from it. */
  minBytes: number;
  /** How many tensors read from it. */
  tensors: number;
}

/** Random access to a file's bytes: in memory, or a file handle under Node. */
export interface ByteReader {
  readonly size: number;
  /** Up to `length` bytes at `offset` (fewer only at the end of the file). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A ByteReader over bytes already in memory. */
export function bytesReader(bytes: Uint8Array): ByteReader {
  return {
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.byteLength, offset + length)),
  };
}

const WINDOW = 64 * 1024;
/** Deeper nesting of graphs in attributes than any real model has; the bound keeps a hostile file's walk finite. */
const MAX_DEPTH = 64;
/** external_data keys and values are short ("location", a file name, decimal numbers). */
const MAX_STRING = 64 * 1024;
const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL

/** Bytes per element of TensorProto.DataType values with a fixed size (for a tensor whose entry gives no length). */
const ELEMENT_BYTES: Record<number, number> = {
  1: 4, // FLOAT
  2: 1, // UINT8
  3: 1, // INT8
  4: 2, // UINT16
  5: 2, // INT16
  6: 4, // INT32
  7: 8, // INT64
  9: 1, // BOOL
  10: 2, // FLOAT16
  11: 8, // DOUBLE
  12: 4, // UINT32
  13: 8, // UINT64
  14: 8, // COMPLEX64
  15: 16, // COMPLEX128
  16: 2, // BFLOAT16
};

/** A read past the end of the bytes: the file is truncated. */
class Truncated extends Error {}
/** Bytes that cannot be an ONNX model's protobuf (a wire type that does not exist, a 10-byte varint overflow). */
class Malformed extends Error {}

/** A read position over a ByteReader with a window, so the structural walk makes few reads. */
class Cursor {
  pos = 0;
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  constructor(private readonly reader: ByteReader) {}

  get size(): number {
    return this.reader.size;
  }

  /** Make bytes [pos, pos + n) available (fewer at the end of the file). */
  private async ensure(n: number): Promise<void> {
    const end = Math.min(this.pos + n, this.reader.size);
    if (this.pos >= this.windowStart && end <= this.windowStart + this.window.byteLength) return;
    this.windowStart = this.pos;
    this.window = await this.reader.read(this.pos, Math.max(n, WINDOW));
    if (this.window.byteLength < end - this.pos) throw new Truncated();
  }

  async varint(): Promise<number> {
    await this.ensure(10);
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const index = this.pos - this.windowStart;
      if (index >= this.window.byteLength) throw new Truncated();
      const byte = this.window[index]!;
      this.pos++;
      value += (byte & 0x7f) * scale; // exact below 2^53; larger values are only ever skipped or refused
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Malformed('a number is longer than 10 bytes');
  }

  async bytes(n: number): Promise<Uint8Array> {
    await this.ensure(n);
    const start = this.pos - this.windowStart;
    this.pos += n;
    return this.window.slice(start, start + n);
  }

  skip(n: number, end: number): void {
    if (this.pos + n > end)
      throw end >= this.reader.size ? new Truncated() : new Malformed('a field runs past its message');
    this.pos += n;
  }
}

interface Field {
  number: number;
  wire: number;
  /** For length-delimited fields (wire type 2): where the value ends. */
  end: number;
}

async function nextField(c: Cursor, end: number): Promise<Field> {
  const key = await c.varint();
  const wire = key % 8;
  const number = Math.floor(key / 8);
  if (number === 0) throw new Malformed('a field has number 0');
  if (wire === 2) {
    const length = await c.varint();
    if (c.pos + length > end) {
      throw end >= c.size ? new Truncated() : new Malformed('a field runs past its message');
    }
    return { number, wire, end: c.pos + length };
  }
  if (wire !== 0 && wire !== 1 && wire !== 5) throw new Malformed(`a field has wire type ${wire}`);
  return { number, wire, end: -1 };
}

async function skipField(c: Cursor, f: Field, end: number): Promise<void> {
  switch (f.wire) {
    case 0:
      await c.varint();
      return;
    case 1:
      c.skip(8, end);
      return;
    case 2:
      c.skip(f.end - c.pos, end);
      return;
    case 5:
      c.skip(4, end);
      return;
    default:
      throw new Malformed(`a field has wire type ${f.wire}`);
  }
}

async function finish(c: Cursor, end: number): Promise<void> {
  if (c.pos !== end) throw new Malformed('a message does not end where its length says');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readString(c: Cursor, f: Field): Promise<string> {
  const length = f.end - c.pos;
  if (length > MAX_STRING) throw new Malformed('an external_data entry is implausibly long');
  try {
    return utf8.decode(await c.bytes(length));
  } catch (error) {
    if (error instanceof Malformed) throw error;
    throw new Malformed('an external_data entry is not UTF-8');
  }
}

interface TensorRef {
  location: string;
  end: number;
}

class Walker {
  readonly files = new Map<string, ExternalDataFile>();

  constructor(private readonly c: Cursor) {}

  async model(end: number): Promise<boolean> {
    let graphs = 0;
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.number === 7 && f.wire === 2) {
        graphs++;
        await this.graph(f.end, 1);
      } else if (f.number === 25 && f.wire === 2) {
        await this.functionProto(f.end, 1);
      } else {
        await skipField(this.c, f, end);
      }
    }
    await finish(this.c, end);
    return graphs > 0;
  }

  private async graph(end: number, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) throw new Malformed(`graphs nest deeper than ${MAX_DEPTH} levels`);
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.wire === 2 && f.number === 1) await this.node(f.end, depth);
      else if (f.wire === 2 && f.number === 5) await this.tensor(f.end);
      else if (f.wire === 2 && f.number === 15) await this.sparseTensor(f.end);
      else await skipField(this.c, f, end);
    }
    await finish(this.c, end);
  }

  /** FunctionProto: its nodes (field 7) may hold Constant tensors. */
  private async functionProto(end: number, depth: number): Promise<void> {
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.wire === 2 && f.number === 7) await this.node(f.end, depth);
      else await skipField(this.c, f, end);
    }
    await finish(this.c, end);
  }

  private async node(end: number, depth: number): Promise<void> {
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.wire === 2 && f.number === 5) await this.attribute(f.end, depth);
      else await skipField(this.c, f, end);
    }
    await finish(this.c, end);
  }

  private async attribute(end: number, depth: number): Promise<void> {
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.wire !== 2) await skipField(this.c, f, end);
      else if (f.number === 5 || f.number === 10)
        await this.tensor(f.end); // t, tensors
      else if (f.number === 6 || f.number === 11)
        await this.graph(f.end, depth + 1); // g, graphs
      else if (f.number === 22 || f.number === 23)
        await this.sparseTensor(f.end); // sparse_tensor(s)
      else await skipField(this.c, f, end);
    }
    await finish(this.c, end);
  }

  private async sparseTensor(end: number): Promise<void> {
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.wire === 2 && (f.number === 1 || f.number === 2))
        await this.tensor(f.end); // values, indices
      else await skipField(this.c, f, end);
    }
    await finish(this.c, end);
  }

  private async tensor(end: number): Promise<void> {
    const dims: number[] = [];
    let dataType = 0;
    let dataLocation = 0;
    let location: string | undefined;
    let offset = 0;
    let length: number | undefined;
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.number === 1 && f.wire === 0) {
        dims.push(await this.c.varint());
      } else if (f.number === 1 && f.wire === 2) {
        while (this.c.pos < f.end) dims.push(await this.c.varint());
        await finish(this.c, f.end);
      } else if (f.number === 2 && f.wire === 0) {
        dataType = await this.c.varint();
      } else if (f.number === 14 && f.wire === 0) {
        dataLocation = await this.c.varint();
      } else if (f.number === 13 && f.wire === 2) {
        const [key, value] = await this.entry(f.end);
        if (key === 'location') location = value;
        else if (key === 'offset') offset = decimal(value, 'offset');
        else if (key === 'length') length = decimal(value, 'length');
      } else {
        await skipField(this.c, f, end);
      }
    }
    await finish(this.c, end);
    if (dataLocation !== EXTERNAL) return;
    if (location === undefined) throw new Malformed('a tensor stored externally names no location');
    const bytes = length ?? byteSize(dims, dataType);
    const ref: TensorRef = { location, end: offset + bytes };
    const known = this.files.get(ref.location);
    if (known) {
      known.minBytes = Math.max(known.minBytes, ref.end);
      known.tensors++;
    } else {
      this.files.set(ref.location, { location: ref.location, minBytes: ref.end, tensors: 1 });
    }
  }

  /** StringStringEntryProto: key = 1, value = 2. */
  private async entry(end: number): Promise<[string, string]> {
    let key = '';
    let value = '';
    while (this.c.pos < end) {
      const f = await nextField(this.c, end);
      if (f.wire === 2 && f.number === 1) key = await readString(this.c, f);
      else if (f.wire === 2 && f.number === 2) value = await readString(this.c, f);
      else await skipField(this.c, f, end);
    }
    await finish(this.c, end);
    return [key, value];
  }
}

function decimal(value: string, key: string): number {
  if (!/^\d{1,15}$/.test(value))
    throw new Malformed(`an external_data ${key} is not a whole number (${value})`);
  return Number(value);
}

/** Bytes of a tensor of these dims and type; 0 when the type has no fixed size (strings). */
function byteSize(dims: number[], dataType: number): number {
  const element = ELEMENT_BYTES[dataType];
  if (element === undefined) return 0;
  return dims.reduce((n, d) => n * d, element);
}

/**
 * A location must stay inside the model's folder: ONNX Runtime refuses one that leaves it, and a
 * loader must never fetch or open such a path.
 */
function checkLocation(location: string, file: string, where: string): void {
  const parts = location.split('/');
  const bad =
    location.length === 0 ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    /[\u0000-\u001f\u007f\\]/.test(location) ||
    location.startsWith('/') ||
    /^[A-Za-z]:/.test(location) ||
    parts.some((p) => p === '' || p === '.' || p === '..');
  if (bad) {
    throw new LoadError({
      field: file,
      value: where,
      problem: `names external data at ${JSON.stringify(location)}, which is not a plain path inside the model's folder`,
      fix: 'the model file is damaged or hostile; re-export it, or download it again.',
    });
  }
}

const LFS_POINTER = 'version https://git-lfs.github.com/spec/';

/** What the walk found. */
export interface OnnxFileInfo {
  /** The external data files the tensors name (`location`), relative to the model's folder, in file order. */
  externalData: string[];
  /** The same files, each with the least size its tensors need. */
  externalFiles: ExternalDataFile[];
}

/**
 * Check that the bytes are a whole ONNX model and list its external data files. A LoadError names
 * `file` (the path in the model folder, e.g. "unet/model.onnx"; `where` is the full path or URL,
 * for the message) when they are cut short, not protobuf, not a model (no graph), a Git LFS
 * pointer, or when a location leads outside the model's folder.
 */
export async function inspectOnnxModel(
  source: Uint8Array | ByteReader,
  file: string,
  where?: string,
): Promise<OnnxFileInfo> {
  const reader = source instanceof Uint8Array ? bytesReader(source) : source;
  const value = where ?? `${reader.size} bytes`;
  const head = await reader.read(0, Math.min(reader.size, LFS_POINTER.length));
  if (reader.size > 0 && new TextDecoder().decode(head) === LFS_POINTER) {
    throw new LoadError({
      field: file,
      value,
      problem: 'is a Git LFS pointer file, not the model (the repository was cloned without its LFS files)',
      fix: 'run `git lfs pull` in the repository, or download the model files instead of cloning.',
    });
  }
  const cursor = new Cursor(reader);
  const walker = new Walker(cursor);
  let hasGraph: boolean;
  try {
    hasGraph = reader.size > 0 && (await walker.model(reader.size));
  } catch (error) {
    if (error instanceof Truncated) {
      throw new LoadError({
        field: file,
        value,
        problem: 'ends in the middle of its data: the file is truncated (an interrupted copy or download)',
        fix: `download or copy ${file} again.`,
      });
    }
    if (error instanceof Malformed) {
      throw new LoadError({
        field: file,
        value,
        problem: `is not an ONNX model (${error.message} in its protobuf encoding, at byte ${cursor.pos})`,
        fix: `check that ${file} is the exported model, not another file under its name; download it again.`,
      });
    }
    throw error;
  }
  if (!hasGraph) {
    throw new LoadError({
      field: file,
      value,
      problem: `holds no graph: it is not an ONNX model (or is truncated to its header${reader.size === 0 ? ': it is empty' : ''})`,
      fix: `download or copy ${file} again.`,
    });
  }
  const externalFiles = [...walker.files.values()];
  for (const entry of externalFiles) checkLocation(entry.location, file, value);
  return { externalData: externalFiles.map((f) => f.location), externalFiles };
}

/** The path of an external data file relative to the model folder: `location` next to `modelPath`. */
export function externalDataPath(modelPath: string, location: string): string {
  const slash = modelPath.lastIndexOf('/');
  return slash < 0 ? location : `${modelPath.slice(0, slash + 1)}${location}`;
}

/** The LoadError for an external data file shorter than the tensors stored in it need. */
export function shortExternalData(
  modelFile: string,
  dataFile: string,
  where: string,
  need: number,
  got: number,
): LoadError {
  return new LoadError({
    field: dataFile,
    value: where,
    problem: `holds ${got} bytes, but ${modelFile} stores tensors in it up to byte ${need} (a truncated file)`,
    fix: 'download or copy the file again; it must be whole.',
  });
}

/** A LoadError when an external data file of `size` bytes is shorter than its tensors need. */
export function checkExternalSize(
  modelFile: string,
  dataFile: string,
  where: string,
  external: ExternalDataFile,
  size: number,
): void {
  if (size < external.minBytes) throw shortExternalData(modelFile, dataFile, where, external.minBytes, size);
}

/**
 * A small ONNX graph builder for tests: ModelProto messages from `onnx-proto` (protobufjs over the
 * official onnx.proto), encoded to the bytes `InferenceSession.create` takes. Opset 17, IR 8.
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

export type ElemType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32';
export type Shape = readonly (number | string)[] | null;

export const ONNX_TYPE: Record<ElemType, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
};

type Attr = Onnx.IAttributeProto;
export const attr = {
  int: (name: string, i: number): Attr => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: number[]): Attr => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): Attr => ({ name, type: AttributeType.FLOAT, f }),
};

function valueInfo(name: string, type: ElemType, shape: Shape): Onnx.IValueInfoProto {
  const tensorType: Onnx.TypeProto.ITensor = { elemType: ONNX_TYPE[type] };
  if (shape !== null) {
    tensorType.shape = {
      dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })),
    };
  }
  return { name, type: { tensorType } };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

export class GraphBuilder {
  private readonly nodes: Onnx.INodeProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private readonly inputs: Onnx.IValueInfoProto[] = [];
  private readonly outputs: Onnx.IValueInfoProto[] = [];
  private counter = 0;

  input(name: string, type: ElemType, shape: Shape): string {
    this.inputs.push(valueInfo(name, type, shape));
    return name;
  }

  output(name: string, type: ElemType, shape: Shape): void {
    this.outputs.push(valueInfo(name, type, shape));
  }

  /** A float32 constant (initializer). */
  f32(values: ArrayLike<number>, dims: readonly number[]): string {
    return this.init(Float32Array.from(values), DataType.FLOAT, dims);
  }

  /** An int64 constant (initializer). */
  i64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.init(BigInt64Array.from(values, BigInt), DataType.INT64, dims);
  }

  private init(data: ArrayBufferView, dataType: number, dims: readonly number[]): string {
    const name = `const_${this.counter++}`;
    this.initializers.push({ name, dataType, dims: [...dims], rawData: bytesOf(data) });
    return name;
  }

  /** Add a node; returns its (first) output name. */
  op(opType: string, inputs: string[], attributes: Attr[] = [], output?: string): string {
    const out = output ?? `${opType.toLowerCase()}_${this.counter++}`;
    this.nodes.push({ opType, input: inputs, output: [out], attribute: attributes, name: out });
    return out;
  }

  cast(input: string, to: ElemType, output?: string): string {
    return this.op('Cast', [input], [attr.int('to', ONNX_TYPE[to])], output);
  }

  encode(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'ddim-tests',
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'test_graph',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

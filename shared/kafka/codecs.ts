/**
 * Kafka record-batch compression: kafkajs has gzip built in; snappy, lz4 and zstd are codecs
 * registered in kafkajs's process-wide table (`CompressionCodecs`), so a producer can write them
 * and a consumer can read batches other clients wrote with them. Every codec here installs
 * without a native build (pure JS, WebAssembly, or prebuilt Node-API binaries shipped as npm
 * packages); docs/architecture.md says why each was chosen.
 *
 * - snappy: kafkajs-snappy (the kafkajs author's codec, pure JS snappyjs; reads Java clients'
 *   xerial-framed batches too);
 * - lz4: @2l/kafkajs-lz4 (LZ4 frames through lz4-napi's prebuilt binaries);
 * - zstd: no kafkajs zstd codec installs on Node 20 without compiling, so the codec is the four
 *   lines below: libzstd compiled to WebAssembly (@bokuweb/zstd-wasm) compresses, and fzstd, a pure
 *   JS streaming decoder, decompresses (the WebAssembly decoder needs the content size in the frame
 *   header for output over 1 MiB, which streaming producers such as Java's do not write).
 *
 * The config's names load nothing; kafkajs and the codecs load when registered (a Kafka producer
 * or consumer starting).
 */
import type { CompressionTypes as CompressionType } from 'kafkajs';

/** Compression names of the config (`compression = "lz4"`), as Kafka's `compression.type`. */
export const KAFKA_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type KafkaCompression = (typeof KAFKA_COMPRESSIONS)[number];

/** The record-batch attribute (bits 0–2) of each compression: kafkajs's `CompressionTypes`, Kafka's numbers. */
export const COMPRESSION_TYPES = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const satisfies Record<KafkaCompression, CompressionType>;

/** The shape kafkajs expects of a codec: `encoder.buffer` holds the records to compress. */
export interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** zstd level of produced batches: libzstd's default, Kafka's too. */
const ZSTD_LEVEL = 3;

let registering: Promise<void> | undefined;
/** kafkajs's codec table, once registered. */
let codecs: Partial<Record<number, () => KafkaCodec>> | undefined;

/**
 * Registers the snappy, lz4 and zstd codecs in kafkajs (once per process; later calls return the
 * same promise). Awaited before a producer or consumer starts: the zstd WebAssembly module loads
 * asynchronously.
 */
export function registerKafkaCodecs(): Promise<void> {
  return (registering ??= (async () => {
    const [{ default: kafkajs }, { default: snappy }, lz4Module, zstd, { decompress: unzstd }] = await Promise.all([
      import('kafkajs'),
      import('kafkajs-snappy'),
      import('@2l/kafkajs-lz4'),
      import('@bokuweb/zstd-wasm'),
      import('fzstd'),
    ]);
    // CommonJS whose module.exports is the class itself, though its types declare `export default`.
    const Lz4Codec = lz4Module.default as unknown as typeof lz4Module.default.default;
    await zstd.init();
    const zstdCodec: KafkaCodec = {
      compress: async (encoder) => Buffer.from(zstd.compress(encoder.buffer, ZSTD_LEVEL)),
      decompress: async (buffer) => Buffer.from(unzstd(buffer)),
    };
    const lz4 = new Lz4Codec().codec();
    const { CompressionCodecs } = kafkajs;
    CompressionCodecs[COMPRESSION_TYPES.snappy] = snappy;
    CompressionCodecs[COMPRESSION_TYPES.lz4] = () => lz4;
    CompressionCodecs[COMPRESSION_TYPES.zstd] = () => zstdCodec;
    codecs = CompressionCodecs as Partial<Record<number, () => KafkaCodec>>;
  })());
}

/**
 * The codec of a record batch's compression attribute, after registerKafkaCodecs; undefined for
 * none, an unknown one, or before registering.
 */
export function kafkaCodecOf(attributes: number): KafkaCodec | undefined {
  const type = attributes & 0x07;
  return type === COMPRESSION_TYPES.none ? undefined : codecs?.[type]?.();
}
